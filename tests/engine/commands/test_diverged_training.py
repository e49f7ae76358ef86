"""A training run that diverges stops with one line ("training diverged at
step N (...); lower --lr ...") and exit code 1, and never leaves a run that
looks finished: no model.pt, no z.npy, no analysis."""
import pytest

from cryostar_boltz.engine.cli import main


def diverges(capsys, argv):
    """Run ``argv``; assert exit 1 and one 'training diverged' error line."""
    assert main([str(a) for a in argv]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "training diverged at step" in err[0], err
    assert "lower --lr" in err[0] and "Traceback" not in err[0]
    # the per-step notes name the non-finite terms, never an empty "()"
    assert "({})" not in captured.out and "()" not in captured.out
    return err[0], captured.out


@pytest.mark.parametrize("lr", ["1", "1e9"])
def test_train_with_a_huge_learning_rate_stops(tiny_dataset, train_options,
                                               tmp_path, capsys, lr):
    run = tmp_path / "run"
    err, out = diverges(capsys, ["train", "--out", run, "--epochs", 2, "--box", 32,
                                 *train_options(tiny_dataset, **{"--lr": lr,
                                                                 "--batch-size": 8})])
    # a new run that diverged is removed whole (--resume would keep its --lr)
    assert not run.exists()


def test_skipped_step_names_its_terms(tiny_dataset, train_options, tmp_path, capsys):
    run = tmp_path / "run"
    _, out = diverges(capsys, ["train", "--out", run, "--box", 32,
                               *train_options(tiny_dataset, **{"--lr": "1e9",
                                                               "--batch-size": 8})])
    notes = [line for line in out.splitlines() if "batch skipped" in line]
    assert notes
    for line in notes:
        assert "non-finite loss" in line or "non-finite gradient" in line, line


def test_density_training_with_a_huge_learning_rate_stops(tiny_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "density", ignore_errors=True)
    diverges(capsys, ["train-density", "--run", run, "--epochs", 2, "--lr", "1e9",
                      "--batch-size", 8, "--threads", 1, "--device", "cpu"])
    assert not (run / "density").exists()
