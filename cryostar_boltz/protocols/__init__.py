"""Scipion protocols of cryostar-boltz."""
