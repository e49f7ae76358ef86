"""RELION particle stars (tests/data/real): reading, tables, subsets, bad input."""
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import CTF_COLUMNS
from cryostar_boltz.engine.particles import (DataError, load_particles, particle_table,
                                             read_star, write_particles_star, write_stack,
                                             write_star)

# Rows of relion31.star (defocus U, V, angle; rot, tilt, psi; origin X, Y Angstrom).
RELION31_FIRST = dict(ctf=[13108.082418, 12845.582418, -160.39, 300.0, 0.01, 0.1, 0.0, 0.0],
                      euler=[-102.30296, 82.318041, 124.706463], shift=[0.019324, -0.64686])
RELION31_LAST = dict(ctf=[12725.541100, 12463.041100, -160.39, 300.0, 0.01, 0.1, 0.0, 0.0],
                     euler=[162.855018, 84.493794, 140.014019], shift=[-0.33773, 0.385262])


@pytest.mark.parametrize("name", ["relion31.star", "relion31.v2.star"])
def test_relion31_metadata_and_images(real_data, name, stack_data):
    p = load_particles(real_data / name)
    assert (p.n, p.box, p.source_format) == (5, 256, "star")
    np.testing.assert_allclose(p.apix, 2.806)
    for row, expected in ((0, RELION31_FIRST), (4, RELION31_LAST)):
        np.testing.assert_allclose(p.ctf[row], expected["ctf"])
        np.testing.assert_allclose(p.euler[row], expected["euler"])
        np.testing.assert_allclose(p.shifts[row], expected["shift"])
    assert p.ctf.shape == (5, len(CTF_COLUMNS))
    images = p.images[:]
    assert images.dtype == np.float32 and images.shape == (5, 256, 256)
    np.testing.assert_array_equal(images, stack_data(real_data / "relion31.mrcs"))
    np.testing.assert_array_equal(p.images[3], images[3])


def test_rotations_are_relion_projection_matrices(real_data, relion_matrix):
    p = load_particles(real_data / "relion31.star")
    for euler, A in zip(p.euler, p.rotations):
        np.testing.assert_allclose(A, relion_matrix(*euler), atol=1e-12)
    expected = Rotation.from_euler("ZYZ", p.euler, degrees=True).as_matrix().transpose(0, 2, 1)
    np.testing.assert_allclose(p.rotations, expected, atol=1e-12)


def test_six_optics_groups_per_particle(real_data):
    p = load_particles(real_data / "relion31.6opticsgroups.star", require_images=False)
    assert p.n == 139 and p.box == 196
    voltage, cs, apix = p.ctf[:, 3], p.ctf[:, 4], p.apix
    # Optics table: group 2 and 5 have 1.24 A, group 4 Cs 2.6, group 6 1.25 A.
    expected = {1: (2.7, 1.25), 2: (2.7, 1.24), 3: (2.7, 1.25), 4: (2.6, 1.25),
                5: (2.7, 1.24), 6: (2.7, 1.25)}
    assert set(np.unique(p.optics_group)) == set(expected)
    for group, (group_cs, group_apix) in expected.items():
        mine = p.optics_group == group
        np.testing.assert_allclose(cs[mine], group_cs)
        np.testing.assert_allclose(apix[mine], group_apix)
    np.testing.assert_allclose(voltage, 200.0)
    # First particle of the file: group 6, defocus 10352.805929 / 8905.919375.
    assert p.optics_group[0] == 6
    np.testing.assert_allclose(p.ctf[0, :3], [10352.805929, 8905.919375, 60.889370])
    np.testing.assert_allclose(p.shifts[0], [13.284554, -3.21701])


def test_relion5_metadata(real_data):
    p = load_particles(real_data / "relion5.star", require_images=False)
    assert (p.n, p.box, p.images) == (17, 448, None)
    np.testing.assert_allclose(p.apix, 0.89)
    np.testing.assert_allclose(p.ctf[0], [11949.061330, 11800.493288, 49.059993,
                                          100.0, 1.6, 0.1, 0.0, 0.0])
    np.testing.assert_allclose(p.euler[0], [111.508618, 36.742536, 141.158035])
    with pytest.raises(DataError, match="toy_images"):
        load_particles(real_data / "relion5.star")


# ------------------------------------------------------------ subsets

def test_star_subset_round_trip(real_data, tmp_path):
    p = load_particles(real_data / "relion31.star")
    out = write_particles_star(tmp_path / "sub" / "subset.star", p, [4, 1])
    again = load_particles(out)
    assert again.n == 2 and again.optics is not None
    np.testing.assert_array_equal(again.euler, p.euler[[4, 1]])
    np.testing.assert_array_equal(again.table["rlnCoordinateX"], p.table["rlnCoordinateX"][[4, 1]])
    np.testing.assert_array_equal(again.images[:], p.images[[4, 1]])
    assert set(again.table) == set(p.table)


def test_star_subset_names_relative_below_the_star(real_data, tmp_path):
    shutil.copy(real_data / "relion31.star", tmp_path)
    shutil.copy(real_data / "relion31.mrcs", tmp_path)
    p = load_particles(tmp_path / "relion31.star")
    write_particles_star(tmp_path / "odd.star", p, np.array([True, False, True, False, True]))
    names = read_star(tmp_path / "odd.star")["particles"]["rlnImageName"]
    assert names.tolist() == ["000001@relion31.mrcs", "000003@relion31.mrcs",
                              "000005@relion31.mrcs"]


# ------------------------------------------------------------ bad input

@pytest.fixture
def star_copy(real_data, tmp_path):
    """relion31.star and its stack copied into tmp_path (to be edited)."""
    shutil.copy(real_data / "relion31.star", tmp_path)
    shutil.copy(real_data / "relion31.mrcs", tmp_path)
    return tmp_path / "relion31.star"


def test_missing_stack(star_copy):
    (star_copy.parent / "relion31.mrcs").unlink()
    with pytest.raises(DataError, match=r"relion31\.star refers to image stack relion31\.mrcs"):
        load_particles(star_copy)


def test_stack_shorter_than_star(star_copy, stack_data):
    data = stack_data(star_copy.parent / "relion31.mrcs")
    write_stack(star_copy.parent / "relion31.mrcs", data[:3], apix=2.806)
    with pytest.raises(DataError, match=r"relion31\.mrcs has 3 images but .*relion31\.star "
                                        r"refers to image 5"):
        load_particles(star_copy)


def test_box_mismatch(star_copy):
    blocks = read_star(star_copy)
    blocks["optics"]["rlnImageSize"] = np.array([128])
    write_star(star_copy, blocks)
    with pytest.raises(DataError, match=r"relion31\.mrcs holds 256x256 images but "
                                        r".*relion31\.star gives a box of 128"):
        load_particles(star_copy)


def test_star_without_ctf(star_copy):
    blocks = read_star(star_copy)
    for column in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"):
        del blocks["particles"][column]
    write_star(star_copy, blocks)
    with pytest.raises(DataError, match=r"relion31\.star has no CTF parameters: missing "
                                        r"column\(s\) rlnDefocusU, rlnDefocusV, rlnDefocusAngle"):
        load_particles(star_copy)
    assert not load_particles(star_copy, require_ctf=False).has_ctf


def test_star_without_pose(real_data):
    with pytest.raises(DataError, match=r"empiar_10076_7\.star has no poses"):
        load_particles(real_data / "empiar_10076_7.star")


# ------------------------------------------------------------ tables from arrays

def _arrays(n=6, seed=3):
    rng = np.random.default_rng(seed)
    euler = rng.uniform([-180, 0, -180], [180, 180, 180], (n, 3))
    origins = rng.normal(0, 3, (n, 2))
    ctf = np.zeros((n, len(CTF_COLUMNS)))
    ctf[:, 0] = rng.uniform(1e4, 3e4, n)
    ctf[:, 1] = ctf[:, 0] - 200
    ctf[:, 2] = rng.uniform(-180, 180, n)
    ctf[:, 3] = np.where(np.arange(n) < 4, 300.0, 200.0)
    ctf[:, 4], ctf[:, 5] = 2.7, 0.1
    ctf[:, 6], ctf[:, 7] = 5.0, 20.0
    names = np.array(["%06d@stack.mrcs" % (i + 1) for i in range(n)])
    return names, euler, origins, ctf


def test_particle_table_round_trips_through_the_reader(tmp_path):
    names, euler, origins, ctf = _arrays()
    blocks = particle_table(names, 1.5, 64, euler=euler, origins=origins, ctf=ctf,
                            columns={"rlnImageId": np.arange(10, 16)})
    optics, particles = blocks["optics"], blocks["particles"]
    # one optics group per distinct voltage, in sorted order (200 kV first)
    assert optics["rlnOpticsGroup"].tolist() == [1, 2]
    assert optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1", "opticsGroup2"]
    assert optics["rlnVoltage"].tolist() == [200.0, 300.0]
    assert optics["rlnImageSize"].tolist() == [64, 64]
    assert particles["rlnOpticsGroup"].tolist() == [2, 2, 2, 2, 1, 1]
    assert "rlnVoltage" not in particles and "rlnOriginX" not in particles
    star = tmp_path / "table.star"
    write_star(star, blocks)
    p = load_particles(star, require_images=False)
    np.testing.assert_array_equal(p.euler, euler)
    np.testing.assert_array_equal(p.shifts, origins)
    np.testing.assert_array_equal(p.ctf, ctf)
    np.testing.assert_array_equal(p.apix, 1.5)
    assert p.box == 64 and p.table["rlnImageId"].tolist() == list(range(10, 16))


def test_particle_table_given_groups_and_partial_ctf():
    names, euler, origins, ctf = _arrays()
    partial = {"voltage": ctf[:, 3], "cs": ctf[:, 4], "amplitude_contrast": ctf[:, 5]}
    group = np.where(ctf[:, 3] == 300.0, 7, 3)
    blocks = particle_table(names, 1.5, None, ctf=partial, optics_group=group,
                            optics_names=["low", "high"])
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnOpticsGroup"].tolist() == [3, 7]
    assert optics["rlnOpticsGroupName"].tolist() == ["low", "high"]
    assert optics["rlnVoltage"].tolist() == [200.0, 300.0]
    assert "rlnImageSize" not in optics
    assert set(particles) == {"rlnImageName", "rlnOpticsGroup"}
    with pytest.raises(ValueError, match="optics group 3 mixes"):
        particle_table(names, 1.5, ctf=partial, optics_group=np.full(6, 3))
    with pytest.raises(ValueError, match="different lengths"):
        particle_table(names, 1.5, euler=euler[:5])
    with pytest.raises(ValueError, match="unknown CTF parameters defocus"):
        particle_table(names, 1.5, ctf={"defocus": ctf[:, 0]})
