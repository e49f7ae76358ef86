"""The pose convention, in one place: RELION's Euler angles and rotations.

A particle's rotation is RELION's projection matrix ``A``: it maps the model
frame onto the image frame, ``x_image = A @ x_model``. RELION stores it as
Euler angles ``rot, tilt, psi`` (ZYZ, degrees; ``rlnAngleRot``,
``rlnAngleTilt``, ``rlnAnglePsi``), and with scipy::

    A = Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix().T

which is RELION's ``Euler_angles2matrix`` (``src/euler.cpp``); see
``docs/conventions.rst``. cryoSPARC stores the same rotation as a rotation
vector (``alignments3D/pose``) with ``A = Rotation.from_rotvec(pose)
.as_matrix().T``, the reading of pyem's ``csparc2star`` and cryoDRGN.
Scipion's ``Transform`` holds ``A`` transposed (``cryostar_boltz.convert``).

numpy and scipy only: the Scipion side imports this module.
"""
import warnings

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["euler_to_matrix", "matrix_to_euler", "rotvec_to_matrix",
           "random_euler"]


def euler_to_matrix(euler):
    """RELION projection matrices ``A`` from Euler angles.

    ``euler``: ``(..., 3)`` ``rot, tilt, psi`` in degrees (ZYZ). Returns
    ``(..., 3, 3)`` float64 with ``x_image = A @ x_model``. Raises
    ``ValueError`` when the last axis is not 3.
    """
    euler = np.asarray(euler, dtype=np.float64)
    if euler.shape[-1:] != (3,):
        raise ValueError("Euler angles must have shape (..., 3), got %s"
                         % (euler.shape,))
    flat = euler.reshape(-1, 3)
    mats = Rotation.from_euler("ZYZ", flat, degrees=True).as_matrix()
    return np.swapaxes(mats, -1, -2).reshape(euler.shape[:-1] + (3, 3))


def matrix_to_euler(matrices):
    """Euler angles ``rot, tilt, psi`` (degrees) of RELION matrices ``A``.

    ``matrices``: ``(..., 3, 3)`` proper rotations; returns ``(..., 3)``
    with tilt in [0, 180] and rot, psi in [-180, 180], so that
    ``euler_to_matrix(matrix_to_euler(A)) == A``. At tilt 0 or 180 only
    ``rot + psi`` (or ``rot - psi``) is defined: psi is then 0 (scipy's
    choice; its gimbal-lock warning is silenced). Raises ``ValueError``
    when the last two axes are not 3 x 3.
    """
    mats = np.asarray(matrices, dtype=np.float64)
    if mats.shape[-2:] != (3, 3):
        raise ValueError("rotations must have shape (..., 3, 3), got %s"
                         % (mats.shape,))
    flat = np.swapaxes(mats.reshape(-1, 3, 3), -1, -2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock
        euler = Rotation.from_matrix(flat).as_euler("ZYZ", degrees=True)
    return euler.reshape(mats.shape[:-2] + (3,))


def rotvec_to_matrix(rotvec):
    """RELION matrices ``A`` ``(N, 3, 3)`` of cryoSPARC poses.

    ``rotvec``: ``(N, 3)`` rotation vectors (``alignments3D/pose``,
    radians); ``A = Rotation.from_rotvec(pose).as_matrix().T`` (pyem's
    ``csparc2star``, cryoDRGN's ``parse_pose_csparc``).
    """
    mats = Rotation.from_rotvec(np.asarray(rotvec, dtype=np.float64).reshape(-1, 3))
    return np.ascontiguousarray(np.swapaxes(mats.as_matrix(), -1, -2))


def random_euler(n, rng):
    """``n`` uniformly distributed orientations (Haar measure) as Euler
    angles ``(n, 3)`` in degrees; ``rng`` is a numpy ``Generator``."""
    return Rotation.random(n, random_state=rng).as_euler("ZYZ", degrees=True)
