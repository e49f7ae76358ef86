"""Per-residue motion of a multi-model ensemble: what the structure
pictures plot and the ChimeraX displacement models carry in their B-factor
column. Coordinates are (M models, N residues, 3) in Angstrom, all models in
one frame (the engine's decoded models are)."""
import numpy as np


def rmsf(coords):
    """(N,) root-mean-square fluctuation (Angstrom) of each residue about
    its mean position over the models of ``coords`` (M, N, 3)."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.sqrt(((coords - coords.mean(0)) ** 2).sum(-1).mean(0))


def displacement(coords):
    """(N,) distance (Angstrom) each residue moves from the first to the
    last model of ``coords`` (M, N, 3)."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.linalg.norm(coords[-1] - coords[0], axis=-1)
