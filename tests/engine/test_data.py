"""Particle I/O on real RELION and cryoSPARC files (tests/data/real)."""
import os
import pickle
import shutil
import warnings

import mrcfile
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import CTF_COLUMNS
from cryostar_boltz.engine.data import (DataError, ImageStack, cache_downsampled,
                                        fourier_crop, load_particles, read_star,
                                        write_particles_cs, write_particles_star,
                                        write_stack, write_star)

# Rows of relion31.star (defocus U, V, angle; rot, tilt, psi; origin X, Y Angstrom).
RELION31_FIRST = dict(ctf=[13108.082418, 12845.582418, -160.39, 300.0, 0.01, 0.1, 0.0, 0.0],
                      euler=[-102.30296, 82.318041, 124.706463], shift=[0.019324, -0.64686])
RELION31_LAST = dict(ctf=[12725.541100, 12463.041100, -160.39, 300.0, 0.01, 0.1, 0.0, 0.0],
                     euler=[162.855018, 84.493794, 140.014019], shift=[-0.33773, 0.385262])


def stack_data(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # headers without map ID
        with mrcfile.open(path, permissive=True) as mrc:
            return np.array(mrc.data, dtype=np.float32)


def relion_matrix(rot, tilt, psi):
    """RELION's Euler_angles2matrix (euler.cpp), written out."""
    a, b, g = np.radians([rot, tilt, psi])
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def cryosparc_pose(A):
    """cryoSPARC's rotation vector for RELION matrix A, as pyem's csparc2star
    and cryoDRGN read it (A is the exponential map of the vector, transposed)."""
    angle = np.arccos(np.clip((np.trace(A) - 1) / 2, -1, 1))
    axis = np.array([A[1, 2] - A[2, 1], A[2, 0] - A[0, 2], A[0, 1] - A[1, 0]])
    return axis * angle / (2 * np.sin(angle))


# ------------------------------------------------------------ RELION stars

@pytest.mark.parametrize("name", ["relion31.star", "relion31.v2.star"])
def test_relion31_metadata_and_images(real_data, name):
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


def test_rotations_are_relion_projection_matrices(real_data):
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


def test_read_star_types(real_data):
    blocks = read_star(real_data / "relion31.6opticsgroups.star")
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnOpticsGroup"].dtype == np.int64
    assert optics["rlnVoltage"].dtype == np.float64
    assert optics["rlnOddZernike"].dtype.kind == "U"
    assert particles["rlnImageName"][0] == "3@Polish/job520/Micrographs/0003_shiny.mrcs"
    assert len(particles["rlnDefocusU"]) == 139


def test_star_round_trip(real_data, tmp_path):
    blocks = read_star(real_data / "relion31.6opticsgroups.star")
    blocks["particles"]["rlnComment"] = np.array(["a b"] + ["x"] * 138)
    write_star(tmp_path / "copy.star", blocks)
    text = (tmp_path / "copy.star").read_text()
    assert "# version 30001" in text
    again = read_star(tmp_path / "copy.star")
    assert list(again) == list(blocks)
    for name, block in blocks.items():
        assert list(again[name]) == list(block)
        for column, values in block.items():
            assert again[name][column].dtype == values.dtype
            np.testing.assert_array_equal(again[name][column], values)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_read_star_loops_pairs_quotes_and_mixed_columns(tmp_path):
    star = tmp_path / "mixed.star"
    star.write_text("# version 30001\ndata_general\n_rlnImageSize 64\n_rlnName 'two words'\n\n"
                    "data_particles\nloop_\n_rlnA #1\n_rlnB #2\n1 x\n2.5 y\nnan z\n"
                    "loop_\n_rlnC\n1\nabc\n\n# version 30001\n")
    blocks = read_star(star)
    assert blocks["general"]["rlnImageSize"].tolist() == [64]
    assert blocks["general"]["rlnName"].tolist() == ["two words"]
    particles = blocks["particles"]
    np.testing.assert_array_equal(particles["rlnA"], [1.0, 2.5, np.nan])
    assert particles["rlnB"].tolist() == ["x", "y", "z"]
    assert particles["rlnC"].tolist() == ["1", "abc"]


def test_read_star_malformed(tmp_path):
    bad = tmp_path / "bad.star"
    bad.write_text("data_particles\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3\n")
    with pytest.raises(DataError, match="bad.star.*3 values"):
        read_star(bad)
    with pytest.raises(DataError, match="missing.star"):
        read_star(tmp_path / "missing.star")


# ------------------------------------------------------------ cryoSPARC

def test_cryosparc_metadata(real_data):
    p = load_particles(real_data / "cryosparc_P12_J24_001_particles.cs", require_images=False)
    assert (p.n, p.box, p.source_format) == (2019, 180, "cs")
    np.testing.assert_allclose(p.apix, 2.95, rtol=1e-6)
    raw = p.raw
    np.testing.assert_allclose(p.ctf[:, 0], raw["ctf/df1_A"])
    np.testing.assert_allclose(p.ctf[:, 2], np.degrees(raw["ctf/df_angle_rad"]), rtol=1e-6)
    np.testing.assert_allclose(p.ctf[:, 3:6], [[200.0, 2.0, 0.07]] * 2019, rtol=1e-6)
    np.testing.assert_allclose(p.shifts, raw["alignments3D/shift"] * 2.95, rtol=1e-6)
    # rotations are proper and agree with the Euler angles
    np.testing.assert_allclose(np.linalg.det(p.rotations), 1.0, atol=1e-9)
    np.testing.assert_allclose(
        Rotation.from_euler("ZYZ", p.euler, degrees=True).as_matrix().transpose(0, 2, 1),
        p.rotations, atol=1e-9)


def test_star_and_cs_of_the_same_particles_agree(real_data):
    star = load_particles(real_data / "empiar_10076_7.star", require_pose=False)
    cs = load_particles(real_data / "empiar_10076_7.cs", require_pose=False)
    assert star.n == cs.n == 7 and star.box == cs.box == 320
    np.testing.assert_allclose(star.apix, 5e4 / 38168)
    np.testing.assert_allclose(star.apix, cs.apix, rtol=1e-6)
    np.testing.assert_allclose(star.ctf[:, :2], cs.ctf[:, :2], atol=0.01)    # defocus
    np.testing.assert_allclose(star.ctf[:, 2:6], cs.ctf[:, 2:6], rtol=1e-6)  # angle, kV, Cs, w
    np.testing.assert_array_equal(star.images[:], cs.images[:])
    np.testing.assert_array_equal(star.images[:], stack_data(real_data / "empiar_10076_7.mrc"))


def test_cs_pose_convention_matches_star(real_data, tmp_path):
    """Real poses (relion31.6opticsgroups.star) written into copies of the
    empiar_10076_7 star (pixel origins, RELION 3.0 style) and .cs (rotation
    vectors and pixel shifts as cryoSPARC stores them) load identically."""
    poses = read_star(real_data / "relion31.6opticsgroups.star")["particles"]
    euler = np.stack([poses[c][:7] for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], 1)
    origin = np.stack([poses["rlnOriginXAngst"][:7], poses["rlnOriginYAngst"][:7]], 1)
    apix = 5e4 / 38168

    blocks = read_star(real_data / "empiar_10076_7.star")
    block = blocks[""]
    block.update(rlnAngleRot=euler[:, 0], rlnAngleTilt=euler[:, 1], rlnAnglePsi=euler[:, 2],
                 rlnOriginX=origin[:, 0] / apix, rlnOriginY=origin[:, 1] / apix)
    write_star(tmp_path / "posed.star", blocks)

    raw = np.load(real_data / "empiar_10076_7.cs")
    extra = [("alignments3D/pose", "<f4", (3,)), ("alignments3D/shift", "<f4", (2,)),
             ("alignments3D/psize_A", "<f4")]
    posed = np.zeros(len(raw), dtype=raw.dtype.descr + extra)
    for name in raw.dtype.names:
        posed[name] = raw[name]
    posed["alignments3D/pose"] = [cryosparc_pose(relion_matrix(*e)) for e in euler]
    posed["alignments3D/shift"] = origin / raw["blob/psize_A"][:, None]
    posed["alignments3D/psize_A"] = raw["blob/psize_A"]
    with open(tmp_path / "posed.cs", "wb") as fh:
        np.save(fh, posed)

    star = load_particles(tmp_path / "posed.star", datadir=real_data)
    cs = load_particles(tmp_path / "posed.cs", datadir=real_data)
    np.testing.assert_allclose(cs.rotations, star.rotations, atol=1e-3)
    np.testing.assert_allclose(star.rotations[0], relion_matrix(*euler[0]), atol=1e-12)
    np.testing.assert_allclose(star.shifts, origin, atol=1e-9)
    np.testing.assert_allclose(cs.shifts, star.shifts, atol=1e-3)
    np.testing.assert_allclose(cs.ctf[:, 2:6], star.ctf[:, 2:6], rtol=1e-6)


# ------------------------------------------------------------ images

def test_fourier_crop_constant_and_band_limited_cosine():
    np.testing.assert_allclose(fourier_crop(np.full((2, 64, 64), 3.5), 16), 3.5, rtol=1e-6)
    D, D_new = 64, 24
    y, x = np.mgrid[:D, :D]
    fine = np.cos(2 * np.pi * (5 * x - 7 * y) / D + 0.3) + 0.5 * np.cos(2 * np.pi * 11 * y / D)
    yc, xc = np.mgrid[:D_new, :D_new]
    coarse = (np.cos(2 * np.pi * (5 * xc - 7 * yc) / D_new + 0.3)
              + 0.5 * np.cos(2 * np.pi * 11 * yc / D_new))
    out = fourier_crop(fine, D_new)
    assert out.shape == (D_new, D_new) and out.dtype == np.float32
    np.testing.assert_allclose(out, coarse, atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        fourier_crop(fine, 23)


def test_image_stack_order_files_and_downsampling(real_data, tmp_path):
    data = stack_data(real_data / "relion31.mrcs")
    negated = write_stack(tmp_path / "negated.mrcs", -data, apix=2.806)
    files = [real_data / "relion31.mrcs", negated, real_data / "relion31.mrcs", negated]
    stack = ImageStack(files, [4, 4, 0, 2])
    assert len(stack) == 4 and stack.box == 256
    np.testing.assert_array_equal(stack[[3, 0, 1]], np.stack([-data[2], data[4], -data[4]]))
    np.testing.assert_array_equal(stack[1:3], np.stack([-data[4], data[0]]))
    small = ImageStack(real_data / "relion31.mrcs", np.arange(5), downsample=64)
    assert small.box == 64 and small.source_box == 256
    np.testing.assert_allclose(small[[4, 0]], fourier_crop(data[[4, 0]], 64), atol=1e-5)
    np.testing.assert_allclose(stack.downsampled(128)[2], fourier_crop(data[0], 128), atol=1e-5)
    with mrcfile.open(negated) as mrc:
        assert mrc.voxel_size.x == pytest.approx(2.806, rel=1e-6)
    copy = pickle.loads(pickle.dumps(stack))  # as DataLoader workers get it
    np.testing.assert_array_equal(copy[[2, 1]], stack[[2, 1]])
    stack.close()
    np.testing.assert_array_equal(stack[0], data[4])  # reopens after close


def test_cache_downsampled(real_data, tmp_path):
    p = load_particles(real_data / "relion31.star")
    cache = cache_downsampled(p, 64, tmp_path / "cache.mrcs", chunk=2)
    assert len(cache) == 5 and cache.box == 64
    np.testing.assert_allclose(cache[:], fourier_crop(p.images[:], 64), atol=1e-5)
    with mrcfile.open(tmp_path / "cache.mrcs") as mrc:
        assert mrc.voxel_size.x == pytest.approx(2.806 * 4, rel=1e-6)
        assert mrc.header.dmax == pytest.approx(cache[:].max(), rel=1e-5)
    written = (tmp_path / "cache.mrcs").stat().st_mtime_ns
    cache_downsampled(p, 64, tmp_path / "cache.mrcs")
    assert (tmp_path / "cache.mrcs").stat().st_mtime_ns == written


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


def test_cs_subset_as_cs_and_star(real_data, tmp_path):
    p = load_particles(real_data / "empiar_10076_7.cs", require_pose=False)
    write_particles_cs(tmp_path / "subset.cs", p, [6, 2, 3])
    again = load_particles(tmp_path / "subset.cs", datadir=real_data, require_pose=False)
    assert again.raw.dtype == p.raw.dtype
    np.testing.assert_array_equal(again.raw["uid"], p.raw["uid"][[6, 2, 3]])
    np.testing.assert_array_equal(again.images[:], p.images[[6, 2, 3]])
    star = write_particles_star(tmp_path / "subset.star", p, [6, 2, 3])
    converted = load_particles(star, require_pose=False)
    np.testing.assert_allclose(converted.ctf, p.ctf[[6, 2, 3]])
    np.testing.assert_allclose(converted.apix, p.apix[[6, 2, 3]])
    np.testing.assert_array_equal(converted.images[:], p.images[[6, 2, 3]])


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


def test_stack_shorter_than_star(star_copy):
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
