"""benchmarks/perturb_poses.py: a simulated dataset with consensus-pose
errors (rotation and origin errors of a given RMS, a fraction of junk)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cryostar_boltz.engine.geometry import euler_to_matrix
from cryostar_boltz.engine.particles import load_particles, read_star

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "perturb_poses.py"


@pytest.fixture(scope="module")
def perturb_poses():
    spec = importlib.util.spec_from_file_location("perturb_poses", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("pose_sim")
    simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"], out,
                     1000, 16, 6.0, snr=1.0, seed=1)
    return out


def test_errors_have_the_asked_rms_and_junk_count(perturb_poses, dataset, tmp_path):
    out = tmp_path / "perturbed"
    assert perturb_poses.main(["--data", str(dataset), "--out", str(out),
                               "--rot-error", "3", "--shift-error", "1",
                               "--junk", "0.05", "--seed", "0"]) == 0
    truth = np.load(out / "particles_truth.npz")
    junk = truth["junk"]
    assert junk.dtype == bool and junk.sum() == 50  # 5 % of 1000
    good = ~junk
    # what was written to the star, measured against the true poses
    particles = load_particles(out / "particles.star")
    true = euler_to_matrix(truth["euler"])
    angle = perturb_poses.rotation_angle_deg(particles.rotations, true)
    np.testing.assert_allclose(angle, truth["rotation_error_deg"], atol=1e-4)
    rms_rot = np.sqrt(np.mean(angle[good] ** 2))
    assert abs(rms_rot - 3.0) < 0.3
    shift = np.linalg.norm(particles.shifts - truth["shifts"], axis=1)
    np.testing.assert_allclose(shift, truth["shift_error_A"], atol=1e-6)
    assert abs(np.sqrt(np.mean(shift[good] ** 2)) - 1.0) < 0.1
    # junk: random orientations (mean angle to the truth about 126 degrees)
    assert np.median(angle[junk]) > 60
    assert np.abs(particles.shifts[junk]).max() <= perturb_poses.JUNK_SHIFT
    # everything else kept: CTF, image names, the optics table; stack linked
    np.testing.assert_allclose(particles.ctf, load_particles(dataset / "particles.star").ctf)
    before, after = read_star(dataset / "particles.star"), read_star(out / "particles.star")
    assert list(after) == list(before)
    assert (after["particles"]["rlnImageName"] == before["particles"]["rlnImageName"]).all()
    assert (out / "particles.mrcs").is_symlink()
    assert (out / "reference.pdb").read_bytes() == (dataset / "reference.pdb").read_bytes()
    for key in ("state", "euler", "shifts", "state_coords"):
        np.testing.assert_array_equal(truth[key], np.load(dataset / "particles_truth.npz")[key])


def test_same_seed_same_errors(perturb_poses, dataset, tmp_path):
    a = perturb_poses.perturb_dataset(dataset, tmp_path / "a", seed=4)
    b = perturb_poses.perturb_dataset(dataset, tmp_path / "b", seed=4)
    np.testing.assert_array_equal(a["rotation_error_deg"], b["rotation_error_deg"])
    np.testing.assert_array_equal(a["junk"], b["junk"])


@pytest.mark.parametrize("options, message", [
    (["--junk", "1.5"], "--junk 1.5: must be a fraction in [0, 1)"),
    (["--rot-error", "-1"], "--rot-error -1: must be a finite number >= 0"),
])
def test_bad_options_refused_before_writing(perturb_poses, dataset, tmp_path, capsys,
                                            options, message):
    out = tmp_path / "never"
    assert perturb_poses.main(["--data", str(dataset), "--out", str(out)] + options) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_data_without_a_star_refused(perturb_poses, tmp_path, capsys):
    assert perturb_poses.main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no particles.star" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
