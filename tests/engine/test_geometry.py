"""The pose convention (engine/geometry.py): RELION Euler angles <-> A."""
import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.geometry import (euler_to_matrix, matrix_to_euler, random_euler,
                                            rotvec_to_matrix)


def relion_euler_angles2matrix(euler):
    """RELION's Euler_angles2matrix (src/euler.cpp) written out, vectorised:
    the engine's previous star-reader conversion."""
    rot, tilt, psi = np.radians(np.asarray(euler, np.float64)).T
    ca, sa, cb, sb = np.cos(rot), np.sin(rot), np.cos(tilt), np.sin(tilt)
    cg, sg = np.cos(psi), np.sin(psi)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.stack([np.stack([cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb], -1),
                     np.stack([-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb], -1),
                     np.stack([sc, ss, cb], -1)], -2)


def random_angles(n, seed):
    return np.random.default_rng(seed).uniform([-180, 0, -180], [180, 180, 180], (n, 3))


def test_euler_to_matrix_is_relion_projection_matrix():
    euler = np.array([[30.0, 60.0, -45.0], [-120.0, 10.0, 170.0]])
    expected = Rotation.from_euler("ZYZ", euler, degrees=True).as_matrix().transpose(0, 2, 1)
    np.testing.assert_allclose(euler_to_matrix(euler), expected, atol=1e-12)
    # rot = 90 alone turns the model x axis onto the image -y axis.
    A = euler_to_matrix([[90.0, 0.0, 0.0]])[0]
    np.testing.assert_allclose(A @ [1.0, 0.0, 0.0], [0.0, -1.0, 0.0], atol=1e-12)


def test_euler_to_matrix_agrees_with_relion_written_out():
    euler = random_angles(200, seed=1)
    np.testing.assert_allclose(euler_to_matrix(euler), relion_euler_angles2matrix(euler),
                               atol=1e-12)


def test_euler_to_matrix_keeps_leading_axes():
    euler = random_angles(12, seed=2).reshape(3, 4, 3)
    mats = euler_to_matrix(euler)
    assert mats.shape == (3, 4, 3, 3)
    np.testing.assert_allclose(mats[2, 1], euler_to_matrix(euler[2, 1]), atol=1e-15)


def test_euler_round_trip():
    euler = np.random.default_rng(0).uniform([-180, 1, -180], [180, 179, 180], (50, 3))
    rotations = euler_to_matrix(euler)
    back = matrix_to_euler(rotations)
    np.testing.assert_allclose(back, euler, atol=1e-8)
    np.testing.assert_allclose(euler_to_matrix(back), rotations, atol=1e-12)


def test_gimbal_lock_round_trips_the_matrix_without_warning():
    euler = np.array([[40.0, 0.0, 25.0], [-70.0, 180.0, 10.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = matrix_to_euler(euler_to_matrix(euler))
    np.testing.assert_allclose(back[:, 2], 0.0, atol=1e-12)
    # scipy's angles at gimbal lock are good to about 1e-6 degrees
    np.testing.assert_allclose(euler_to_matrix(back), euler_to_matrix(euler), atol=1e-7)


def test_bad_euler_shape_raises():
    with pytest.raises(ValueError, match="Euler"):
        euler_to_matrix(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="rotations"):
        matrix_to_euler(np.zeros((4, 3, 2)))


def test_rotvec_to_matrix_is_transposed_rodrigues():
    rotvec = np.random.default_rng(3).normal(size=(20, 3))
    mats = rotvec_to_matrix(rotvec)
    for v, A in zip(rotvec, mats):
        angle = np.linalg.norm(v)
        k = v / angle
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        R = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
        np.testing.assert_allclose(A, R.T, atol=1e-12)


def test_random_euler_is_uniform_and_seeded():
    euler = random_euler(20000, np.random.default_rng(4))
    # what the simulator drew before: scipy's Haar-random rotations
    expected = Rotation.random(20000, random_state=np.random.default_rng(4))
    np.testing.assert_array_equal(euler, expected.as_euler("ZYZ", degrees=True))
    mats = euler_to_matrix(euler)
    # Haar measure: every matrix entry has mean 0 and variance 1/3.
    np.testing.assert_allclose(mats.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose((mats ** 2).mean(0), 1 / 3, atol=0.02)
