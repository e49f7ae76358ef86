"""The form pieces the protocols share: outputs named from their one
declaration, conditions written by choice name, and the engine's one-line
errors read back from a command."""
import pytest

pytest.importorskip("pwem")

from cryostar_boltz.protocols.form import (Outputs, add_choice, choice_is,  # noqa: E402
                                           choice_is_not)
from cryostar_boltz.program import error_line  # noqa: E402

CHOICES = ("gaussian", "gmm", "grbm", "rbm")


def test_outputs_name_themselves_and_refuse_unknown_names():
    outputs = Outputs(Particles=int, Reference=str)
    assert dict(outputs) == {"Particles": int, "Reference": str}
    assert outputs.Particles == "Particles" and outputs.Reference == "Reference"
    with pytest.raises(AttributeError, match="Particle"):
        outputs.Particle


@pytest.mark.parametrize("names, text, true_for", [
    (("rbm",), "prior == 3", {"rbm"}),
    (("grbm", "rbm"), "prior in (2, 3)", {"grbm", "rbm"}),
])
def test_conditions_are_written_by_name(names, text, true_for):
    condition = choice_is("prior", CHOICES, *names)
    negated = choice_is_not("prior", CHOICES, *names)
    assert condition == text
    for index, name in enumerate(CHOICES):
        assert eval(condition, {}, {"prior": index}) == (name in true_for)
        assert eval(negated, {}, {"prior": index}) == (name not in true_for)
    with pytest.raises(ValueError):
        choice_is("prior", CHOICES, "vamp")


def test_a_choice_param_selects_its_default_by_name():
    from pyworkflow.protocol.params import Form
    form = Form(None)
    form.addSection(label="Input")
    param = add_choice(form, "prior", CHOICES, "grbm", label="Prior", help="h")
    assert param.choices == list(CHOICES) and int(param.default.get()) == 2
    with pytest.raises(ValueError):
        add_choice(form, "other", CHOICES, "vamp", label="x", help="h")


def test_error_line_is_the_engine_error_without_its_prefix():
    stderr = ("note: something\n"
              "cryostar-boltz place: error: ref.pdb: the model's centre is "
              "60.0 A from the box centre\n")
    assert error_line(stderr, "place") == ("ref.pdb: the model's centre is 60.0 A "
                                           "from the box centre")
    assert error_line("Traceback...\nImportError: no module gemmi\n", "place") == (
        "ImportError: no module gemmi")
    assert error_line("", "place") is None


def test_a_junk_threshold_must_be_a_finite_number():
    from types import SimpleNamespace

    from cryostar_boltz.protocols.form import junk_threshold_errors

    def form(exclude, value):
        return SimpleNamespace(excludeJunk=exclude,
                               junkThreshold=SimpleNamespace(get=lambda: value))
    assert junk_threshold_errors(form(True, 2.0)) == []
    assert junk_threshold_errors(form(False, float("nan"))) == []   # not used
    for bad in (float("nan"), float("inf"), 1e300, None):
        (error,) = junk_threshold_errors(form(True, bad))
        assert "must be a finite number" in error
