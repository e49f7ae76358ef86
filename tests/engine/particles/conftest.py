"""Reference formulas the particle tests compare against."""
import warnings

import mrcfile
import numpy as np
import pytest


def _stack_data(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # headers without map ID
        with mrcfile.open(path, permissive=True) as mrc:
            return np.array(mrc.data, dtype=np.float32)


def _relion_matrix(rot, tilt, psi):
    """RELION's Euler_angles2matrix (euler.cpp), written out."""
    a, b, g = np.radians([rot, tilt, psi])
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def _cryosparc_pose(A):
    """cryoSPARC's rotation vector for RELION matrix A, as pyem's csparc2star
    and cryoDRGN read it (A is the exponential map of the vector, transposed)."""
    angle = np.arccos(np.clip((np.trace(A) - 1) / 2, -1, 1))
    axis = np.array([A[1, 2] - A[2, 1], A[2, 0] - A[0, 2], A[0, 1] - A[1, 0]])
    return axis * angle / (2 * np.sin(angle))


@pytest.fixture(scope="session")
def stack_data():
    """``stack_data(path)``: the images of an MRC stack as float32."""
    return _stack_data


@pytest.fixture(scope="session")
def relion_matrix():
    """``relion_matrix(rot, tilt, psi)``: RELION's A, written out."""
    return _relion_matrix


@pytest.fixture(scope="session")
def cryosparc_pose():
    """``cryosparc_pose(A)``: cryoSPARC's rotation vector of RELION's A."""
    return _cryosparc_pose
