"""Stage 1 searches the poses of the particles its pose screen flags,
takes their latents from the searched poses where those fit better, and
records them in searched_poses.npz; runs that cannot use a search make
none."""
import json

import numpy as np
import pytest
import torch

from conftest import star_with_random_poses


N_JUNK = 6


@pytest.fixture(scope="module")
def searched_runs(tiny_dataset, tmp_path_factory, train_options):
    """One-epoch runs on the tiny dataset, the encoder on aligned images and
    the pose screen on, whose last N_JUNK particles got random rotations in
    the star: with --pose-search flagged ("flagged"; "unchecked": the
    search's check on kept particles waived) and off."""
    from cryostar_boltz.engine.cli import main
    from cryostar_boltz.engine.training import stage1
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("searched")
    star, n = star_with_random_poses(tiny_dataset, folder, N_JUNK)
    runs = {}
    for name, search, recovery in (("flagged", "flagged", stage1.MIN_RECOVERY),
                                   ("unchecked", "flagged", 0.0), ("off", "off", 0.0)):
        runs[name] = folder / name
        argv = ["train", "--out", str(runs[name]), *train_options(
            tiny_dataset, **{"--encoder-input": "aligned", "--outlier-z": 1.0,
                             "--pose-search": search})]
        argv[argv.index("--particles") + 1] = str(star)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stage1, "MIN_RECOVERY", recovery)
            assert main(argv) == 0
    return runs, n


def searched(run):
    """The run's flagged particles (junk score above 1) and searched_poses.npz."""
    flagged = np.flatnonzero(np.load(run / "junk_score.npy") > 1.0)
    return flagged, np.load(run / "searched_poses.npz")


def test_stage1_searches_the_flagged_particles(searched_runs):
    runs, n = searched_runs
    run = runs["unchecked"]
    assert json.loads((run / "config.json").read_text())["pose_search"] == "flagged"
    flagged, found = searched(run)
    assert len(flagged) and (flagged >= n - N_JUNK).any()   # random poses among them
    np.testing.assert_array_equal(found["particles"], flagged)
    assert found["angles"].shape == (len(flagged), 3)
    assert found["origins"].shape == (len(flagged), 2)
    # a latent comes from the searched pose exactly where that pose fits
    # better and lies more than 15 degrees from the consensus one
    accepted = found["accepted"]
    moved = found["angle_to_consensus"]
    assert moved.shape == (len(flagged),) and (moved >= 0).all() and (moved <= 180).all()
    np.testing.assert_array_equal(
        accepted, (found["searched_loss"] < found["consensus_loss"]) & (moved > 15.0))
    assert accepted.any()
    # the same training without the search: only the accepted latents differ
    z, z_off = np.load(run / "z.npy"), np.load(runs["off"] / "z.npy")
    changed = np.flatnonzero(np.abs(z - z_off).max(1) > 1e-6)
    np.testing.assert_array_equal(changed, flagged[accepted])
    np.testing.assert_array_equal(np.load(run / "junk_score.npy"),
                                  np.load(runs["off"] / "junk_score.npy"))
    assert not (runs["off"] / "searched_poses.npz").exists()
    log = (run / "run.log").read_text()
    assert ("for %d of the %d particles the searched pose lies over 15 degrees from the "
            "consensus pose and fits better" % (accepted.sum(), len(flagged))) in log


def test_kept_particles_check_the_search(searched_runs):
    """64 kept particles (here all 56 of them) are searched alike; unless the
    search finds at least half of their consensus poses, no latent is
    replaced, and the log says why."""
    runs, n = searched_runs
    flagged, found = searched(runs["flagged"])
    control = found["control_particles"]
    assert len(control) == min(64, n - len(flagged))
    assert not np.isin(control, flagged).any()
    recovered = found["control_angle_to_consensus"] <= 15.0
    for key in ("control_consensus_loss", "control_searched_loss"):
        assert found[key].shape == control.shape and np.isfinite(found[key]).all()
    log = (runs["flagged"] / "run.log").read_text()
    assert ("the search finds the consensus pose (within 15 degrees) of %d of %d kept "
            "particles" % (recovered.sum(), len(control))) in log
    if recovered.mean() >= 0.5:
        assert found["accepted"].any()
    else:
        assert not found["accepted"].any()
        assert "every latent comes from its consensus pose" in log
        np.testing.assert_array_equal(np.load(runs["flagged"] / "z.npy"),
                                      np.load(runs["off"] / "z.npy"))


def test_the_search_is_off_where_nothing_would_use_it(tiny_run):
    """The cryostar preset (raw encoder input, no screen): no search, no file."""
    assert json.loads((tiny_run / "config.json").read_text())["pose_search"] == "off"
    assert not (tiny_run / "searched_poses.npz").exists()
