"""train --half-sets: the split follows rlnRandomSubset, both halves train
as ordinary runs, a resume trains only the unfinished half, the agreement
report holds its documented fields, and bad requests are refused before
anything is written."""
import json
import shutil

import numpy as np
import pytest

from cryostar_boltz.engine import layout as names
from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.layout import RunLayout
from cryostar_boltz.engine.particles import load_particles, write_particles_star
from cryostar_boltz.engine.training.config import TrainConfig

N = 64  # particles of the tiny_dataset fixture


def snapshot(folder):
    """{relative path: bytes} of everything under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def refused(capsys, argv, words):
    """Run ``argv``: exit code 1 and one error line holding ``words``."""
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    return err[0]


@pytest.fixture(scope="module")
def half_run(tiny_dataset, train_options, tmp_path_factory):
    import torch
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("half_sets") / "run"
    # the encoder sees images turned and centred by their poses, as by default
    assert main(["train", "--out", str(run), "--half-sets",
                 *train_options(tiny_dataset, **{"--encoder-input": "aligned"})]) == 0
    return run


def test_split_follows_rln_random_subset(half_run, tiny_dataset):
    subset = np.asarray(load_particles(tiny_dataset.star).table["rlnRandomSubset"],
                        dtype=float).astype(int)
    layout = RunLayout(half_run)
    split = np.load(layout.half_split)
    assert np.array_equal(split, subset)
    for half in (1, 2):
        part = load_particles(layout.half_particles(half))
        assert part.n == (subset == half).sum()
        assert np.array_equal(part.rotations, load_particles(
            tiny_dataset.star).rotations[subset == half])
        # a half's particles are all one half-set: the column is left out
        assert "rlnRandomSubset" not in part.table


def test_both_halves_are_ordinary_runs(half_run, tiny_dataset, tmp_path):
    layout = RunLayout(half_run)
    assert layout.is_finished() and TrainConfig.load(half_run).half_sets is True
    parent = TrainConfig.load(half_run)
    for half in (1, 2):
        sub = layout.half_run(half)
        assert sub.is_finished()
        cfg = TrainConfig.load(sub.root)
        assert cfg.half_sets is False and cfg.seed == parent.seed + half
        # the full set's values, and reasons that say so
        assert set(cfg.derived) == set(parent.derived) and parent.derived
        for name, reason in cfg.derived.items():
            assert getattr(cfg, name) == getattr(parent, name)
            assert reason == ("as the full set, so that both halves train alike (the "
                              "full set's reason: %s)" % parent.derived[name])
        assert cfg.particles == str(layout.half_particles(half).absolute())
        assert len(np.load(sub.latents)) == (np.load(layout.half_split) == half).sum()
    # another command accepts a half's run
    out = tmp_path / "rec"
    assert main(["reconstruct", "--run", str(layout.half_run(1).root),
                 "--out", str(out)]) == 0
    assert (out / names.FULL_MAP).is_file()
    summary = json.loads((out / names.SUMMARY).read_text())
    assert summary["half_sets"] == "seeded split" and summary["n_selected"] == N // 2


def test_agreement_report(half_run):
    layout = RunLayout(half_run)
    report = json.loads(layout.agreement.read_text())
    assert layout.agreement_plot.is_file()
    assert report["half_sets"] == "rlnRandomSubset"
    assert sum(report["counts"]) == report["n_particles"] == N
    assert report["n_points"] == 10 and report["latent_dim"] == 8
    assert len(report["components"]) == 3
    assert sorted(c["half1"] for c in report["components"]) == [1, 2, 3]
    assert sorted(c["half2"] for c in report["components"]) == [1, 2, 3]
    for c in report["components"]:
        assert -1 <= c["correlation"] <= 1
        assert len(c["rmsd"]) == 10 and all(v >= 0 for v in c["rmsd"])
        assert c["rmsd_mean"] == pytest.approx(np.mean(c["rmsd"]))
        assert c["rmsd_max"] == pytest.approx(max(c["rmsd"]))
        assert c["motion"] >= 0
    clusters = report["clusters"]
    assert 0 < clusters["matched_fraction"] <= 1
    states = clusters["states"]
    assert len(states) == report["k"] == 5
    assert sorted(s["half2"] for s in states) == list(range(5))
    assert sum(s["shared"] for s in states) == pytest.approx(clusters["matched_fraction"] * N)
    for s in states:
        assert 0 <= s["jaccard"] <= 1 and s["rmsd"] >= 0
        assert s["shared"] <= min(s["sizes"])
        if min(s["particles"]) > 0:
            # resolution between Nyquist (2 x 3.2 A) and the box (32 x 3.2 A)
            assert 6.4 - 1e-6 <= s["resolution_0.143"] <= 102.4
            assert s["resolution_0.143"] <= s["resolution_0.5"]
        else:
            assert s["resolution_0.143"] is None


def test_resume_trains_only_the_unfinished_half(half_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(half_run, run)
    layout = RunLayout(run)
    (layout.half_run(2).model).unlink()  # as if killed while finishing half 2
    kept = {p: p.stat().st_mtime_ns for p in (layout.model, layout.half_run(1).model)}
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "half-set 1: finished" in out and "run on all particles: finished" in out
    assert "half-set 2: training" in out and "half-set 1: training" not in out
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert layout.half_run(2).is_finished() and layout.agreement.is_file()


def _star_with_subsets(dataset, path, subsets):
    particles = load_particles(dataset.star)
    particles.table["rlnRandomSubset"] = np.asarray(subsets)
    return write_particles_star(path, particles)


@pytest.mark.parametrize("subsets, words", [
    (np.r_[np.ones(N - 3, int), 2, 2, 2], "has 61 particles in half-set 1 and 3 in "
     "half-set 2 (rlnRandomSubset): each half needs at least 10"),
    (np.r_[np.ones(N // 2, int), np.full(N // 2, 3)], "rlnRandomSubset in row 33 is 3; "
     "RELION's half sets are 1 and 2"),
])
def test_half_sets_refused_before_writing(tiny_dataset, train_options, tmp_path,
                                          capsys, subsets, words):
    star = _star_with_subsets(tiny_dataset, tiny_dataset.star.parent / "bad_halves.star",
                              subsets)
    out = tmp_path / "run"
    line = refused(capsys, ["train", "--out", out, "--half-sets",
                            *train_options(tiny_dataset, **{"--particles": star})], words)
    assert str(star) in line
    assert not out.exists()


def test_resume_with_half_sets_of_a_run_without(tiny_run, capsys):
    before = snapshot(tiny_run)
    refused(capsys, ["train", "--resume", "--half-sets", "--out", tiny_run],
            "was trained without half-sets")
    assert snapshot(tiny_run) == before


def test_overwrite_removes_the_halves(half_run):
    from cryostar_boltz.engine.outputs import owned_files
    owned = {p.name for p in owned_files(half_run, "train")}
    assert {names.HALVES, *names.HALF_RUNS} <= owned


def test_agreement_encodes_each_half_as_it_was_trained(half_run):
    """The agreement report encodes every particle with each half's encoder
    given what it trained on (images turned and centred by their poses by
    default): on a half's own particles that is the half's z.npy."""
    from cryostar_boltz.engine.halfset_agreement import encode_all, open_particles
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.training.config import TrainConfig, input_path
    layout = RunLayout(half_run)
    cfg = TrainConfig.load(half_run)
    data = open_particles(input_path(cfg, "particles"), input_path(cfg, "datadir"),
                          cfg.box, half_run)
    split = np.load(layout.half_split)
    for half in (1, 2):
        run = TrainedRun(layout.half_run(half).root)
        assert run.config.encoder_input == "aligned"
        z, _ = encode_all(run, data)
        np.testing.assert_allclose(z[split == half], run.latents(), atol=1e-5)


@pytest.mark.parametrize("half_sets, components, words", [
    (False, 100, "100 components (--prior-option components) need at least 100 "
                 "particles to place them, got 64"),
    (True, 40, "--half-sets: "),
])
def test_a_gmm_of_more_components_than_particles_is_refused_before_writing(
        tiny_dataset, train_options, tmp_path, capsys, half_sets, components, words):
    out = tmp_path / "run"
    argv = ["train", "--out", out, *train_options(tiny_dataset, **{
        "--prior": "gmm", "--prior-option": "components=%d" % components})]
    line = refused(capsys, argv + (["--half-sets"] if half_sets else []), words)
    assert "--prior-option components" in line and str(tiny_dataset.star) in line
    assert not out.exists()
