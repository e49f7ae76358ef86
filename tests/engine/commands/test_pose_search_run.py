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
    """Two one-epoch runs on the tiny dataset, the encoder on aligned images
    and the pose screen on, whose last N_JUNK particles got random rotations
    in the star: one with --pose-search flagged, one with off."""
    from cryostar_boltz.engine.cli import main
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("searched")
    star, n = star_with_random_poses(tiny_dataset, folder, N_JUNK)
    runs = {}
    for search in ("flagged", "off"):
        runs[search] = folder / search
        argv = ["train", "--out", str(runs[search]), *train_options(
            tiny_dataset, **{"--encoder-input": "aligned", "--outlier-z": 1.0,
                             "--pose-search": search})]
        argv[argv.index("--particles") + 1] = str(star)
        assert main(argv) == 0
    return runs, n


def test_stage1_searches_the_flagged_particles(searched_runs):
    runs, n = searched_runs
    run = runs["flagged"]
    assert json.loads((run / "config.json").read_text())["pose_search"] == "flagged"
    junk_score = np.load(run / "junk_score.npy")
    found = np.load(run / "searched_poses.npz")
    flagged = np.flatnonzero(junk_score > 1.0)
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
    assert ("pose search: %d particles above junk score 1 searched; for %d the searched "
            "pose lies over 15 degrees from the consensus pose and fits better"
            % (len(flagged), accepted.sum())) in log


def test_the_search_is_off_where_nothing_would_use_it(tiny_run):
    """The cryostar preset (raw encoder input, no screen): no search, no file."""
    assert json.loads((tiny_run / "config.json").read_text())["pose_search"] == "off"
    assert not (tiny_run / "searched_poses.npz").exists()
