"""The training form's settings: recommended (empty options derived by the
engine) or the published CryoSTAR method (--preset cryostar); empty
parameters pass no option, given ones win, and the summary lists what a run
chose itself."""
import pytest

pytest.importorskip("pwem")

from cryostar_boltz import constants as cts  # noqa: E402
from cryostar_boltz.engine.training.derived import RULES  # noqa: E402
from cryostar_boltz.protocols import CryoStarBoltzProtTrain, train_form  # noqa: E402

DERIVED_FLAGS = ("--epochs", "--batch-size", "--low-pass", "--elastic-weight",
                 "--elastic-keep", "--lr", "--kl-warmup", "--elastic-weight-final")


def train_args(protocol):
    protocol._getReferenceFile = lambda: "ref.pdb"
    protocol._getMapFile = lambda: None
    return [str(a) for a in protocol._trainArgs()]


def test_recommended_settings_pass_no_derived_option():
    args = train_args(CryoStarBoltzProtTrain(useGpu=False))
    assert not set(DERIVED_FLAGS) & set(args) and "--preset" not in args
    assert args[args.index("--pseudo-atoms") + 1] == "auto"


def test_cryostar_settings_pass_the_preset_and_given_values_win():
    protocol = CryoStarBoltzProtTrain(useGpu=False, settings=cts.PRESETS.index("cryostar"),
                                      lowPass=7.0, numberOfEpochs=3,
                                      pseudoAtoms=cts.PSEUDO_ATOM_CHOICES.index("centroid"))
    args = train_args(protocol)
    assert args[args.index("--preset") + 1] == "cryostar"
    assert args[args.index("--low-pass") + 1] == "7.0"
    assert args[args.index("--epochs") + 1] == "3"
    assert args[args.index("--pseudo-atoms") + 1] == "centroid"
    assert "--batch-size" not in args


def test_the_gpu_check_uses_the_batch_the_run_will_take():
    assert train_form.planned_batch(CryoStarBoltzProtTrain()) == 128
    assert train_form.planned_batch(CryoStarBoltzProtTrain(
        settings=cts.PRESETS.index("cryostar"))) == 64
    assert train_form.planned_batch(CryoStarBoltzProtTrain(batchSize=30)) == 30


def test_empty_is_valid_zero_is_not():
    param = CryoStarBoltzProtTrain().getParam("lowPass")
    assert param.validate(None) == [] and param.validate(5.0) == []
    assert param.validate(0.0) == ["Value should be empty (auto) or greater than 0"]


def test_help_says_what_auto_chooses():
    help_text = CryoStarBoltzProtTrain().getParam("lowPass").help.get()
    assert RULES["low_pass"] in help_text and "the published 10.0" in help_text
    assert "ca);" in CryoStarBoltzProtTrain().getParam("pseudoAtoms").help.get()


def test_continuing_without_epochs_keeps_the_runs():
    protocol = CryoStarBoltzProtTrain(doContinue=True, useGpu=False)
    args = [str(a) for a in protocol._resumeArgs()]
    assert args[0] == "--resume" and "--epochs" not in args
    protocol.numberOfEpochs.set(30)
    assert "30" in [str(a) for a in protocol._resumeArgs()]


def test_summary_lists_what_the_run_chose():
    config = {"preset": "auto", "low_pass": 10.4, "epochs": 39,
              "derived": {"low_pass": "auto: 4 x ...", "epochs": "auto: ..."}}
    assert train_form.settings_summary(config) == [
        "Settings auto, chosen by the engine: low_pass 10.4, epochs 39."]
    assert train_form.settings_summary({"epochs": 20}) == []  # an older run
