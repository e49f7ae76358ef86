"""The training form's network block: the encoder's box and layer widths
(expert fields after the encoder input), checked in the form and passed
as --encoder-box when given and --encoder-hidden only when they differ
from the engine's default."""
import pytest

pytest.importorskip("pwem")

import pyworkflow.protocol.params as params  # noqa: E402

from cryostar_boltz.engine.training.config import TrainConfig  # noqa: E402
from cryostar_boltz.protocols import CryoStarBoltzProtTrain, train_form  # noqa: E402


class Particles:
    """What the option checks read of a SetOfParticles."""

    def getDim(self):
        return (64, 64, 1)


def train_args(protocol):
    protocol._getReferenceFile = lambda: "ref.pdb"
    protocol._getMapFile = lambda: None
    return [str(a) for a in protocol._trainArgs()]


def test_the_field_is_expert_next_to_the_encoder_input_with_the_engines_default():
    protocol = CryoStarBoltzProtTrain()
    param = protocol.getParam("encoderHidden")
    assert param.expertLevel.get() == params.LEVEL_ADVANCED
    assert protocol.encoderHidden.get() == "512,256,128,64,32"
    assert tuple(int(w) for w in protocol.encoderHidden.get().split(",")) == \
        TrainConfig().encoder_hidden
    names = [name for name, _ in protocol._definition.iterParams()]
    assert names.index("encoderHidden") == names.index("encoderInput") + 2
    assert names.index("encoderBox") == names.index("encoderInput") + 1
    assert names.index("poseSearch") == names.index("encoderHidden") + 1
    assert train_form.network_args(protocol) == ["--pseudo-atoms", "auto",
                                                 "--encoder-input", "auto",
                                                 "--pose-search", "auto"]


@pytest.mark.parametrize("text, passed", [
    ("512,256,128,64,32", None),          # the default: no option
    (" 512, 256,128 ,64,32 ", None),
    ("256,64", "256,64"),
    (" 1024 , 128 ", "1024,128"),
])
def test_widths_are_passed_only_when_they_differ_from_the_default(text, passed):
    args = train_args(CryoStarBoltzProtTrain(useGpu=False, encoderHidden=text))
    if passed is None:
        assert "--encoder-hidden" not in args
    else:
        assert args[args.index("--encoder-hidden") + 1] == passed
    assert args[args.index("--encoder-input") + 1] == "auto"
    assert args[args.index("--pseudo-atoms") + 1] == "auto"
    assert args[args.index("--pose-search") + 1] == "auto"


@pytest.mark.parametrize("text, words", [
    ("", "must be an integer, got ''"),
    ("256,,64", "must be an integer, got ''"),
    ("256;64", "must be an integer, got '256;64'"),
    ("256,0", "must be widths >= 1, got 0"),
    ("128,-4", "must be widths >= 1, got -4"),
    ("64.5", "must be an integer, got '64.5'"),
])
def test_the_form_refuses_widths_that_are_not_integers_of_at_least_one(text, words):
    protocol = CryoStarBoltzProtTrain(useGpu=False, encoderHidden=text)
    errors = protocol._validateOptions(Particles())
    assert errors == ["Encoder layer widths: %s (comma-separated whole numbers of at "
                      "least 1, e.g. 512,256,128,64,32)." % words]
    assert CryoStarBoltzProtTrain(useGpu=False)._validateOptions(Particles()) == []


def test_the_flag_is_the_engines(capsys):
    from cryostar_boltz.engine.cli import main
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--encoder-hidden" in capsys.readouterr().out


def test_the_encoder_box_is_auto_when_empty_and_passed_when_given():
    protocol = CryoStarBoltzProtTrain(useGpu=False)
    assert protocol.getParam("encoderBox").expertLevel.get() == params.LEVEL_ADVANCED
    assert protocol.encoderBox.get() is None is TrainConfig().encoder_box
    assert "--encoder-box" not in train_args(protocol)
    for box in (0, 40):
        args = train_args(CryoStarBoltzProtTrain(useGpu=False, encoderBox=box))
        assert args[args.index("--encoder-box") + 1] == str(box)


@pytest.mark.parametrize("box, words", [
    (33, "must be 0 (the whole box) or an even number of pixels >= 2, got 33"),
    (1, "must be 0 (the whole box) or an even number of pixels >= 2, got 1"),
])
def test_the_form_refuses_an_odd_encoder_box(box, words):
    protocol = CryoStarBoltzProtTrain(useGpu=False, encoderBox=box)
    assert protocol._validateOptions(Particles()) == ["Encoder box: %s." % words]


def test_the_form_refuses_an_encoder_box_larger_than_the_training_box():
    protocol = CryoStarBoltzProtTrain(useGpu=False, encoderBox=80)
    assert protocol._validateOptions(Particles()) == [
        "Encoder box: 80 px is larger than the 64 px training box; give at most 64, "
        "or 0 for the whole box."]
    # downsampled to 32 px for training: 40 no longer fits
    protocol = CryoStarBoltzProtTrain(useGpu=False, encoderBox=40, boxSize=32)
    assert protocol._validateOptions(Particles())[-1].startswith(
        "Encoder box: 40 px is larger than the 32 px training box")
    assert CryoStarBoltzProtTrain(useGpu=False, encoderBox=64)._validateOptions(
        Particles()) == []
