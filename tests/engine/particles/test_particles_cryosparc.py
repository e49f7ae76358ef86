"""cryoSPARC .cs files (tests/data/real): metadata, pose convention, subsets."""
import numpy as np
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.particles import (load_particles, read_star, write_particles_cs,
                                             write_particles_star, write_star)


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


def test_star_and_cs_of_the_same_particles_agree(real_data, stack_data):
    star = load_particles(real_data / "empiar_10076_7.star", require_pose=False)
    cs = load_particles(real_data / "empiar_10076_7.cs", require_pose=False)
    assert star.n == cs.n == 7 and star.box == cs.box == 320
    np.testing.assert_allclose(star.apix, 5e4 / 38168)
    np.testing.assert_allclose(star.apix, cs.apix, rtol=1e-6)
    np.testing.assert_allclose(star.ctf[:, :2], cs.ctf[:, :2], atol=0.01)    # defocus
    np.testing.assert_allclose(star.ctf[:, 2:6], cs.ctf[:, 2:6], rtol=1e-6)  # angle, kV, Cs, w
    np.testing.assert_array_equal(star.images[:], cs.images[:])
    np.testing.assert_array_equal(star.images[:], stack_data(real_data / "empiar_10076_7.mrc"))


def test_cs_pose_convention_matches_star(real_data, tmp_path, relion_matrix, cryosparc_pose):
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
