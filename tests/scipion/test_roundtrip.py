"""One pose convention from Scipion to the engine.

A Scipion ``Transform`` stored the way pwem's RELION import stores it ->
star file (``convert.write_particles_star``) -> the engine's rotation and
shift reproduce the image the simulator made for that pose.
"""
from pathlib import Path

import numpy as np
import pytest

pwem = pytest.importorskip("pwem")

import pwem.convert.transformations as tfs  # noqa: E402
import pwem.objects as emobj  # noqa: E402

from cryostar_boltz import convert  # noqa: E402

BOX = 64
APIX = 2.0
N_PARTICLES = 6
#: Largest relative image error (L2) accepted for the right convention.
TOLERANCE = 1e-3


# ------------------------------------------------ pwem / RELION reference

def scipion_matrix_from_relion(euler_deg, origin_px):
    """Transform as scipion-em-relion stores it when reading a star row:
    the inverse of euler_matrix(-rot, -tilt, -psi, 'szyz') with translation
    -origin."""
    angles = -np.deg2rad(euler_deg)
    matrix = tfs.euler_matrix(angles[0], angles[1], angles[2], "szyz")
    matrix[:3, 3] = -np.array([origin_px[0], origin_px[1], 0.0])
    return np.linalg.inv(matrix)


def relion_from_scipion_matrix(matrix):
    """Euler angles (deg) and origin (px) as scipion-em-relion writes them."""
    inverse = np.linalg.inv(matrix)
    origin = -tfs.translation_from_matrix(inverse)
    euler = -np.rad2deg(tfs.euler_from_matrix(inverse, axes="szyz"))
    return euler, origin[:2]


def random_poses(n, seed):
    rng = np.random.default_rng(seed)
    euler = np.stack([rng.uniform(-180, 180, n), rng.uniform(1, 179, n),
                      rng.uniform(-180, 180, n)], axis=1)
    return euler, rng.normal(0.0, 3.0, (n, 2))


def rotation_distance(a, b):
    return np.abs(a - b).max()


def test_relion_to_transforms_matches_scipion_em_relion():
    euler, origins_px = random_poses(20, seed=1)
    ours = convert.relion_to_transforms(euler, origins_px * APIX, APIX)
    for k in range(len(euler)):
        expected = scipion_matrix_from_relion(euler[k], origins_px[k])
        np.testing.assert_allclose(ours[k], expected, atol=1e-12)


def test_transforms_to_relion_matches_scipion_em_relion():
    euler, origins_px = random_poses(20, seed=2)
    matrices = np.stack([scipion_matrix_from_relion(e, o)
                         for e, o in zip(euler, origins_px)])
    ours_euler, ours_origins = convert.transforms_to_relion(matrices, APIX)
    for k, matrix in enumerate(matrices):
        ref_euler, ref_origin = relion_from_scipion_matrix(matrix)
        # Euler triples are compared through the matrices they build.
        ours_m = convert.relion_to_transforms(ours_euler[k], [0, 0], 1.0)[0]
        ref_m = convert.relion_to_transforms(ref_euler, [0, 0], 1.0)[0]
        assert rotation_distance(ours_m, ref_m) < 1e-9
        np.testing.assert_allclose(ours_origins[k], ref_origin * APIX, atol=1e-9)
    np.testing.assert_allclose(ours_origins, origins_px * APIX, atol=1e-9)


def test_mirrored_transform_is_refused():
    matrix = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(convert.ConversionError, match="proper rotation"):
        convert.transforms_to_relion(matrix[None], APIX)


# ----------------------------------------------- images through the engine

@pytest.fixture(scope="module")
def simulated(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("roundtrip_sim")
    result = simulate_dataset([adk_dir / "adk_closed.pdb"], out,
                              n_particles=N_PARTICLES, box=BOX, apix=APIX,
                              snr=None, seed=7)
    return result, dict(np.load(result.truth))


def scipion_particles(sqlite_path, stack, truth, disabled=()):
    """A SetOfParticles holding the simulator's poses and CTF, built with
    pwem objects and scipion-em-relion's matrix convention; ids from 100."""
    particles = emobj.SetOfParticles(filename=str(sqlite_path))
    particles.setSamplingRate(APIX)
    acquisition = emobj.Acquisition(
        magnification=50000.0, voltage=float(truth["ctf"][0, 3]),
        sphericalAberration=float(truth["ctf"][0, 4]),
        amplitudeContrast=float(truth["ctf"][0, 5]))
    particles.setAcquisition(acquisition)
    particles.setHasCTF(True)
    particles.setAlignmentProj()
    for i in range(len(truth["euler"])):
        particle = emobj.Particle(location=(i + 1, str(stack)))
        particle.setObjId(100 + i)
        particle.setEnabled(100 + i not in disabled)
        ctf = emobj.CTFModel()
        ctf.setDefocusU(float(truth["ctf"][i, 0]))
        ctf.setDefocusV(float(truth["ctf"][i, 1]))
        ctf.setDefocusAngle(float(truth["ctf"][i, 2]))
        ctf.setPhaseShift(float(truth["ctf"][i, 6]))
        particle.setCTF(ctf)
        particle.setAcquisition(acquisition.clone())
        particle.setTransform(emobj.Transform(scipion_matrix_from_relion(
            truth["euler"][i], truth["shifts"][i] / APIX)))
        particles.append(particle)
    particles.write()
    return particles


@pytest.fixture(scope="module")
def converted(simulated, tmp_path_factory):
    """The simulated particles as a Scipion set, written by convert and
    loaded by the engine."""
    from cryostar_boltz.engine.particles import load_particles
    result, truth = simulated
    folder = tmp_path_factory.mktemp("roundtrip_scipion")
    particles = scipion_particles(folder / "particles.sqlite", result.stack, truth)
    star = folder / "engine" / "particles.star"
    ids = convert.write_particles_star(star, particles)
    particles.close()
    return ids, load_particles(star)


def render(truth, rotations, shifts, ctf, pdb):
    """Noiseless images exactly as the simulator renders them."""
    from cryostar_boltz.engine import simulate
    ensemble = simulate.ensemble_from_structures([pdb])
    coords = ensemble.atom_coords[0] - truth["centre"]
    images = simulate.render_particles(coords, ensemble.atomic_numbers,
                                       rotations, shifts, ctf, BOX, APIX)
    return images.numpy().astype(np.float64)


def relative_errors(images, reference):
    diff = np.linalg.norm((images - reference).reshape(len(images), -1), axis=1)
    return diff / np.linalg.norm(reference.reshape(len(reference), -1), axis=1)


def test_star_keeps_scipion_ids(converted):
    ids, _ = converted
    np.testing.assert_array_equal(ids, 100 + np.arange(N_PARTICLES))


def test_engine_reads_the_poses_and_ctf(converted, simulated):
    _, data = converted
    _, truth = simulated
    from cryostar_boltz.engine.geometry import euler_to_matrix
    np.testing.assert_allclose(data.rotations, euler_to_matrix(truth["euler"]),
                               atol=1e-9)
    np.testing.assert_allclose(data.shifts, truth["shifts"], atol=1e-9)
    np.testing.assert_allclose(data.ctf[:, :7], truth["ctf"][:, :7], atol=1e-9)


def stored_images(data):
    return np.stack([np.asarray(data.images[i], dtype=np.float64)
                     for i in range(N_PARTICLES)])


def test_scipion_pose_reproduces_simulated_image(converted, simulated, adk_dir):
    _, data = converted
    _, truth = simulated
    rendered = render(truth, data.rotations, data.shifts, data.ctf,
                      adk_dir / "adk_closed.pdb")
    errors = relative_errors(rendered, stored_images(data))
    assert errors.max() < TOLERANCE, errors


@pytest.mark.parametrize("mistake", ["transposed rotation", "flipped shift"])
def test_wrong_convention_fails_the_comparison(converted, simulated, adk_dir,
                                               mistake):
    _, data = converted
    _, truth = simulated
    rotations, shifts = data.rotations, data.shifts
    if mistake == "transposed rotation":
        rotations = np.swapaxes(rotations, -1, -2)
    else:
        shifts = -shifts
    rendered = render(truth, rotations, shifts, data.ctf,
                      adk_dir / "adk_closed.pdb")
    errors = relative_errors(rendered, stored_images(data))
    # Particles whose shift is near zero cannot reveal a flipped shift.
    telling = np.linalg.norm(truth["shifts"], axis=1) > 0.5 * APIX
    if mistake == "flipped shift":
        assert telling.sum() >= 2
        errors = errors[telling]
    assert errors.min() > 100 * TOLERANCE, errors


# ----------------------------------------------------- star writer options

def test_stack_dir_links_the_stacks(simulated, tmp_path):
    from cryostar_boltz.engine.particles import load_particles
    result, truth = simulated
    particles = scipion_particles(tmp_path / "particles.sqlite", result.stack, truth)
    star = tmp_path / "engine" / "particles.star"
    convert.write_particles_star(star, particles, stack_dir=tmp_path / "stacks")
    particles.close()
    data = load_particles(star)
    linked = {Path(f) for f in data.images.files}
    assert len(linked) == 1
    link = linked.pop()
    assert link.parent == tmp_path / "stacks" and link.suffix == ".mrcs"
    assert link.is_symlink() and link.resolve() == result.stack.resolve()
    direct = load_particles(result.star)
    np.testing.assert_array_equal(stored_images(data), stored_images(direct))


def test_disabled_particles_are_left_out(simulated, tmp_path):
    from cryostar_boltz.engine.particles import read_star
    result, truth = simulated
    particles = scipion_particles(tmp_path / "particles.sqlite", result.stack,
                                  truth, disabled={101, 103})
    ids = convert.write_particles_star(tmp_path / "particles.star", particles)
    particles.close()
    np.testing.assert_array_equal(ids, [100, 102, 104, 105])
    table = read_star(tmp_path / "particles.star")["particles"]
    np.testing.assert_array_equal(table["rlnImageId"], ids)
    assert [name.split("@")[0] for name in table["rlnImageName"]] == \
        ["000001", "000003", "000005", "000006"]


def test_2d_alignment_is_refused(simulated, tmp_path):
    result, truth = simulated
    particles = scipion_particles(tmp_path / "particles.sqlite", result.stack, truth)
    particles.setAlignment2D()
    with pytest.raises(convert.ConversionError, match="projection"):
        convert.write_particles_star(tmp_path / "particles.star", particles)
    particles.close()


def test_format_hint_in_file_name_is_dropped(simulated, tmp_path):
    from cryostar_boltz.engine.particles import load_particles
    result, truth = simulated
    particles = scipion_particles(tmp_path / "particles.sqlite",
                                  "%s:mrcs" % result.stack, truth)
    star = tmp_path / "particles.star"
    convert.write_particles_star(star, particles)
    particles.close()
    assert ":mrcs" not in star.read_text()
    np.testing.assert_array_equal(stored_images(load_particles(star)),
                                  stored_images(load_particles(result.star)))
