"""Simulated particles and the reference model enter a Scipion project.

One headless project per module: the simulator's star becomes a Scipion
sqlite (``convert.particles_star_to_sqlite``), imported with
``ProtImportParticles`` (from Scipion); the reference PDB with
``ProtImportPdb``. The outputs must hold what was simulated.
"""
import os

import numpy as np
import pytest

pwem = pytest.importorskip("pwem")

from pwem.constants import ALIGN_PROJ  # noqa: E402
from pwem.protocols import ProtImportParticles, ProtImportPdb  # noqa: E402

from cryostar_boltz import convert  # noqa: E402
from cryostar_boltz.engine.particles import read_star  # noqa: E402

BOX = 64
APIX = 2.0
N_PARTICLES = 10


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("import_sim")
    result = simulate_dataset([adk_dir / "adk_closed.pdb"], out,
                              n_particles=N_PARTICLES, box=BOX, apix=APIX,
                              snr=1.0, seed=11)
    return result, dict(np.load(result.truth))


def launch(project, protocol_class, **params):
    protocol = project.newProtocol(protocol_class, **params)
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        log = protocol.getLogPaths()
        text = "".join(open(p).read() for p in log if os.path.exists(p))
        pytest.fail("%s ended %s:\n%s" % (protocol_class.__name__,
                                          protocol.getStatus(), text[-4000:]))
    return protocol


@pytest.fixture(scope="module")
def imported_particles(project, simulated, tmp_path_factory):
    result, truth = simulated
    sqlite = tmp_path_factory.mktemp("import_sqlite") / "particles.sqlite"
    assert convert.particles_star_to_sqlite(result.star, sqlite) == N_PARTICLES
    protocol = launch(
        project, ProtImportParticles,
        importFrom=ProtImportParticles.IMPORT_FROM_SCIPION,
        sqliteFile=str(sqlite), samplingRate=APIX,
        voltage=float(truth["ctf"][0, 3]),
        sphericalAberration=float(truth["ctf"][0, 4]),
        amplitudeContrast=float(truth["ctf"][0, 5]))
    return protocol.outputParticles


@pytest.fixture(scope="module")
def imported_pdb(project, adk_dir):
    protocol = launch(project, ProtImportPdb,
                      inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                      pdbFile=str(adk_dir / "adk_closed.pdb"), skipChimera=True)
    return protocol.outputPdb


def test_particle_set_properties(imported_particles):
    particles = imported_particles
    assert particles.getSize() == N_PARTICLES
    assert particles.hasCTF()
    assert particles.getAlignment() == ALIGN_PROJ
    assert particles.getSamplingRate() == pytest.approx(APIX)
    assert convert.get_sampling_rate(particles) == pytest.approx(APIX)
    assert convert.get_box_size(particles) == BOX
    assert particles.getAcquisition().getVoltage() == pytest.approx(300.0)


def test_particle_ctf_and_transform_equal_the_simulation(imported_particles,
                                                         simulated):
    _, truth = simulated
    expected = convert.relion_to_transforms(truth["euler"], truth["shifts"], APIX)
    particles = [p.clone() for p in imported_particles.iterItems(orderBy="id")]
    assert [p.getObjId() for p in particles] == list(range(1, N_PARTICLES + 1))
    for k in (0, N_PARTICLES - 1):
        particle = particles[k]
        ctf = particle.getCTF()
        assert ctf.getDefocusU() == pytest.approx(truth["ctf"][k, 0])
        assert ctf.getDefocusV() == pytest.approx(truth["ctf"][k, 1])
        assert ctf.getDefocusAngle() == pytest.approx(truth["ctf"][k, 2])
        np.testing.assert_allclose(particle.getTransform().getMatrix(),
                                   expected[k], atol=1e-9)
        assert particle.getIndex() == k + 1
        assert os.path.exists(particle.getFileName())
        # Scipion keeps shifts in pixels: the origin in Angstrom / pixel size.
        matrix = particle.getTransform().getMatrix()
        origin_px = matrix[:3, :3].T @ matrix[:3, 3]
        np.testing.assert_allclose(origin_px[:2], truth["shifts"][k] / APIX,
                                   atol=1e-9)


def test_imported_set_converts_back_to_the_simulated_star(imported_particles,
                                                          simulated, tmp_path):
    result, truth = simulated
    star = tmp_path / "particles.star"
    ids = convert.write_particles_star(star, imported_particles)
    np.testing.assert_array_equal(ids, np.arange(1, N_PARTICLES + 1))
    ours = read_star(star)
    original = read_star(result.star)
    for name in ("rlnOriginXAngst", "rlnOriginYAngst", "rlnDefocusU",
                 "rlnDefocusV", "rlnDefocusAngle"):
        np.testing.assert_allclose(ours["particles"][name],
                                   original["particles"][name], atol=1e-9)
    ours_m = convert.relion_to_transforms(
        np.stack([ours["particles"]["rlnAngle" + a] for a in ("Rot", "Tilt", "Psi")], 1),
        np.zeros((N_PARTICLES, 2)), APIX)
    truth_m = convert.relion_to_transforms(truth["euler"], np.zeros((N_PARTICLES, 2)), APIX)
    np.testing.assert_allclose(ours_m, truth_m, atol=1e-9)
    for name in ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast",
                 "rlnImagePixelSize", "rlnImageSize"):
        np.testing.assert_allclose(ours["optics"][name], original["optics"][name])
    # Image names point at the imported stack, relative to the star file.
    index, stack = ours["particles"]["rlnImageName"][0].split("@")
    assert int(index) == 1
    assert os.path.realpath(star.parent / stack) == \
        os.path.realpath(imported_particles.getFirstItem().getFileName())


def test_reference_structure_imported(imported_pdb, adk_dir):
    assert os.path.exists(imported_pdb.getFileName())
    with open(imported_pdb.getFileName()) as imported, \
            open(adk_dir / "adk_closed.pdb") as original:
        assert imported.read() == original.read()
