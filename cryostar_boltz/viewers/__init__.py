"""Scipion viewers of cryostar-boltz."""
