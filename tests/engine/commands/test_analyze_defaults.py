"""A run of fewer particles than the default number of clusters: analyze's
refusal says --k was not given and why its default cannot apply (it said
``--k 10`` as if the user had typed it); an option the user gave is
quoted as given; reconstruct's basins name its own option."""
import shutil

import numpy as np
import pytest

from cryostar_boltz.engine.cli import main

N_SMALL = 8


@pytest.fixture(scope="module")
def small_run(tiny_dataset, train_options, tmp_path_factory):
    """A finished run of 8 particles (the tiny dataset's first 8)."""
    import torch

    from cryostar_boltz.engine.particles import load_particles, write_particles_star
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("small")
    particles = load_particles(tiny_dataset.star)
    star = write_particles_star(folder / "eight.star",
                                particles.subset(np.arange(particles.n) < N_SMALL))
    run = folder / "run"
    argv = ["train", "--out", run, *train_options(tiny_dataset, **{"--particles": star})]
    assert main([str(a) for a in argv]) == 0
    return run


def refused(capsys, argv):
    """Run ``argv``: exit 1 and one error line, returned without its prefix."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0].split(": error: ", 1)[1]


def test_analyze_without_k_says_the_default_and_why(small_run, tmp_path, capsys):
    out = tmp_path / "a"
    assert refused(capsys, ["analyze", "--run", small_run, "--out", out]) == (
        "--k not given: its default, 10 clusters, needs at least 10 particles but the "
        "run has 8; give --k 8 or fewer")
    assert not out.exists()


def test_analyze_quotes_a_k_the_user_gave(small_run, tmp_path, capsys):
    out = tmp_path / "a"
    assert refused(capsys, ["analyze", "--run", small_run, "--out", out, "--k", 10]) == (
        "--k 10: need 1 <= k <= 8 (the number of particles)")
    assert not out.exists()


def test_analyze_without_k_of_the_particles_exclude_junk_keeps(small_run, tmp_path,
                                                               capsys):
    from cryostar_boltz.engine.particle_scores import junk_exclusion
    _, junk = junk_exclusion(small_run, N_SMALL, 0.0)
    kept = int((~junk).sum())
    assert 0 < kept < N_SMALL
    out = tmp_path / "a"
    assert refused(capsys, ["analyze", "--run", small_run, "--out", out,
                            "--exclude-junk", 0]) == (
        "--k not given: its default, 10 clusters, needs at least 10 particles but "
        "--exclude-junk keeps %d; give --k %d or fewer" % (kept, kept))


def test_exclude_junk_without_a_value_is_not_quoted_as_given(small_run, tmp_path, capsys):
    """Every particle above the threshold of a bare --exclude-junk (its
    default, 2): the line names the option and the threshold, not
    ``--exclude-junk 2`` as if typed."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    np.save(run / "junk_score.npy", np.full(N_SMALL, 5.0, dtype=np.float32))
    assert refused(capsys, ["analyze", "--run", run, "--out", tmp_path / "a",
                            "--exclude-junk", "--k", 2]) == (
        "--exclude-junk: every one of the 8 particles has a junk score above 2")


def test_reconstruct_basins_name_max_basins_not_k(small_run, tmp_path, capsys):
    out = tmp_path / "r"
    assert refused(capsys, ["reconstruct", "--run", small_run, "--out", out,
                            "--basin", 0]) == (
        "--basin 0: the basins are searched among 10 (--max-basins), more than the "
        "run's 8 particles; give --max-basins 8 or fewer")
    assert refused(capsys, ["reconstruct", "--run", small_run, "--out", out,
                            "--basin", 9]) == (
        "--basin 9: the run's 8 particles populate at most 8 basins (0..7)")
    assert not out.exists()
