"""What the protocols read back from the engine's records (protocols/jobs.py):
the convergence line of the train protocol's summary."""
import pytest

pytest.importorskip("pwem")

from cryostar_boltz.protocols.jobs import convergence_summary  # noqa: E402

HEADER = "step,epoch,loss,latent_corr,pc1_rmsd\n"


def write(path, text):
    path.write_text(text)
    return path


def test_summary_gives_the_last_epochs_values_and_their_reading(tmp_path):
    table = write(tmp_path / "metrics.csv", HEADER +
                  "1,1,0.5,,\n2,1,0.4,nan,nan\n3,2,0.3,,\n4,2,0.2,0.95,0.8\n"
                  "5,3,0.1,,\n6,3,0.1,0.998,0.05\n7,4,0.1,,\n")
    assert convergence_summary(table) == (
        "epoch 3: latent correlation with the previous epoch 0.998; PC1 path "
        "moved 0.05 A: more epochs would change little")


def test_one_epoch_runs_and_older_tables(tmp_path):
    one = write(tmp_path / "one.csv", HEADER + "1,1,0.5,,\n2,1,0.4,nan,nan\n")
    assert convergence_summary(one) == ("measured from the second epoch on "
                                        "(one epoch trained so far)")
    old = write(tmp_path / "old.csv", "step,epoch,loss\n1,1,0.5\n")
    assert convergence_summary(old) is None
    assert convergence_summary(tmp_path / "missing.csv") is None
