"""What the protocols read back from the engine's records (protocols/jobs.py):
the convergence and half-set agreement lines of the train protocol's
summary, and the half-set option on its command line."""
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


def test_agreement_line_of_the_summary(tmp_path):
    import json

    from cryostar_boltz.protocols.jobs import agreement_summary
    report = {"components": [{"half1": 1, "half2": 2, "rmsd_mean": 0.4213,
                              "motion": 5.1}],
              "clusters": {"matched_fraction": 0.871, "states": [
                  {"resolution_0.143": 9.41}, {"resolution_0.143": None},
                  {"resolution_0.143": 7.93}]}}
    path = write(tmp_path / "agreement.json", json.dumps(report))
    assert agreement_summary(path) == (
        "PC1 paths differ by 0.42 A on average (motion 5.10 A); 87% of the "
        "particles in matched states; state FSC 0.143: 7.9-9.4 A")
    assert agreement_summary(tmp_path / "missing.json") is None


@pytest.mark.parametrize("half_sets", [False, True])
def test_training_command_line_carries_half_sets(monkeypatch, tmp_path, half_sets):
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.protocols import CryoStarBoltzProtTrain
    protocol = CryoStarBoltzProtTrain()
    assert protocol.halfSets.get() is False  # the engine's default
    protocol.halfSets.set(half_sets)
    for name, value in (("_starFile", "p.star"), ("_getReferenceFile", "ref.pdb"),
                        ("_getMapFile", None), ("_engineDeviceArgs", [])):
        monkeypatch.setattr(protocol, name, lambda v=value: v)
    monkeypatch.setattr(protocol, "_runLayout", lambda: RunLayout(tmp_path / "run"))
    args = [str(a) for a in protocol._trainArgs()]
    assert ("--half-sets" in args) is half_sets


def test_the_training_summary_counts_epochs_and_steps_in_words():
    from cryostar_boltz.protocols.jobs import counted_field
    assert (counted_field("1", "epoch"), counted_field("12", "step")) == \
        ("1 epoch", "12 steps")
    assert counted_field("3.0", "epoch") == "3 epochs"   # a float in the table
    assert counted_field("", "step") == " steps"         # an empty field as it is
