"""Per-particle junk scores end to end: a run trained on particles of which
some carry random poses writes particle_loss.npy, pose_contrast.npy and
junk_score.npy, and the junk score singles them out; analyze and select --exclude-junk leave them out;
runs without the scores keep working."""
import json
import shutil

import numpy as np
import pytest

from conftest import star_with_random_poses
from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.particles import read_star

N_JUNK = 12


@pytest.fixture(scope="module")
def junk_run(tiny_dataset, tmp_path_factory, train_options):
    """A one-epoch run on the tiny dataset whose last N_JUNK particles got
    uniformly random rotations in the star."""
    import torch
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("junk")
    star, n = star_with_random_poses(tiny_dataset, folder, N_JUNK)
    run = folder / "run"
    argv = ["train", "--out", str(run), *train_options(tiny_dataset)]
    argv[argv.index("--particles") + 1] = str(star)
    assert main(argv) == 0
    junk = np.zeros(n, bool)
    junk[n - N_JUNK:] = True
    return run, junk


def test_training_writes_scores_that_single_out_junk(junk_run):
    run, junk = junk_run
    loss = np.load(run / "particle_loss.npy")
    contrast = np.load(run / "pose_contrast.npy")
    z = np.load(run / "junk_score.npy")
    assert loss.shape == contrast.shape == z.shape == (len(junk),)
    assert loss.dtype == contrast.dtype == z.dtype == np.float32
    # minus a correlation: good particles fit (negative), lower is better
    assert np.median(loss[~junk]) < -0.3
    # good poses fit much better than random orientations, junk ones do not
    assert np.median(contrast[~junk]) < -0.1 < np.median(contrast[junk]) < 0.05
    # the junk score ranks them: ROC AUC (0.92 here; the loss alone 0.73)
    from scipy.stats import mannwhitneyu
    auc = mannwhitneyu(z[junk], z[~junk]).statistic / (junk.sum() * (~junk).sum())
    assert auc > 0.85


def junk_above(run, threshold):
    return np.load(run / "junk_score.npy") > threshold


def test_analyze_exclude_junk_leaves_them_out(junk_run, tmp_path):
    run, _ = junk_run
    junk = junk_above(run, 1.0)
    N_JUNK = int(junk.sum())
    assert N_JUNK >= 5
    out = tmp_path / "clusters"
    assert main(["analyze", "--run", str(run), "--k", "3", "--exclude-junk", "1",
                 "--no-maps", "--out", str(out)]) == 0
    labels = np.load(out / "labels.npy")
    assert (labels[junk] == -1).all() and (labels[~junk] >= 0).all()
    np.testing.assert_array_equal(np.load(out / "kept.npy"), np.flatnonzero(~junk))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_excluded"] == N_JUNK and summary["n_kept"] == len(junk) - N_JUNK
    assert summary["junk_threshold"] == 1.0 and summary["kept"] == "kept.npy"
    assert summary["exclusion"].startswith("%d of %d particles excluded as junk"
                                           % (N_JUNK, len(junk)))
    assert sum(summary["sizes"]) == len(junk) - N_JUNK
    assert not set(summary["centers_particles"]) & set(np.flatnonzero(junk).tolist())
    # the subsets hold no junk; every particle has a PCA score
    subsets = [read_star(out / s["star"])["particles"] for s in summary["subsets"]]
    assert sum(len(t["rlnImageName"]) for t in subsets) == len(junk) - N_JUNK
    assert np.load(out / "pca.npz")["scores"].shape[0] == len(junk)


def test_select_exclude_junk_alone_keeps_the_rest(junk_run, tmp_path):
    run, _ = junk_run
    junk = junk_above(run, 2.0)  # the default threshold
    out = tmp_path / "clean"
    assert main(["select", "--run", str(run), "--out", str(out), "--exclude-junk"]) == 0
    np.testing.assert_array_equal(np.load(out / "indices.npy"), np.flatnonzero(~junk))
    # with --invert, the junk still stays out
    out2 = tmp_path / "rest"
    assert main(["select", "--run", str(run), "--out", str(out2), "--range", "1::0",
                 "--invert", "--exclude-junk", "0.5"]) == 0
    assert not np.isin(np.load(out2 / "indices.npy"),
                       np.flatnonzero(junk_above(run, 0.5))).any()


def test_a_run_without_scores_refuses_only_the_exclusion(junk_run, tmp_path, capsys):
    run, _ = junk_run
    old = tmp_path / "old_run"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns(
        "particle_loss.npy", "pose_contrast.npy", "junk_score.npy", "analysis_*"))
    out = tmp_path / "never"
    assert main(["analyze", "--run", str(old), "--k", "2", "--exclude-junk",
                 "--no-maps", "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "--exclude-junk: %s: no per-particle scores" % old in err
    assert not out.exists()
    assert main(["analyze", "--run", str(old), "--k", "2", "--no-maps",
                 "--out", str(tmp_path / "plain")]) == 0
    assert main(["select", "--run", str(old), "--out", str(tmp_path / "s"),
                 "--exclude-junk"]) != 0
    assert "no per-particle scores" in capsys.readouterr().err


def test_pose_screening_leaves_the_junk_out_of_the_image_loss(junk_run, tmp_path, capsys,
                                                              tiny_dataset, train_options):
    import csv

    import torch
    run, junk = junk_run
    screened = tmp_path / "screened"
    argv = ["train", "--out", str(screened),
            *train_options(tiny_dataset, **{"--epochs": 2, "--outlier-z": 1.0})]
    argv[argv.index("--particles") + 1] = str(run.parent / "particles.star")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "outlier_z = 1 (given)" in out  # given, not derived
    line = next(l for l in out.splitlines() if "pose screen" in l)
    assert line.startswith("epoch 1: pose screen: ")
    state = torch.load(next((screened / "checkpoints").glob("last*")), weights_only=False)
    left_out = state["pose_screen"]["keep"].numpy() == 0
    # mostly junk (12 of the 64 particles, 19 %; here 4 of the 6 left out
    # after one epoch of this tiny, noisy run)
    assert left_out.sum() >= 3 and junk[left_out].mean() >= 0.6
    # from the second epoch on (2 steps of 32: every particle once), the
    # metrics count them
    rows = list(csv.DictReader(open(screened / "metrics.csv")))
    assert float(rows[0]["outliers"]) == 0
    assert sum(float(r["outliers"]) for r in rows if r["epoch"] == "2") == left_out.sum()
    assert json.loads((screened / "config.json").read_text())["outlier_z"] == 1.0


@pytest.mark.parametrize("command", ["analyze", "select"])
def test_a_negative_junk_threshold_is_refused(junk_run, tmp_path, capsys, command):
    run, _ = junk_run
    argv = [command, "--run", str(run), "--exclude-junk", "-1"]
    if command == "select":
        argv += ["--out", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "--exclude-junk: must be a number >= 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
