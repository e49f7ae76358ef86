"""The protocol forms offer the engine's names and defaults.

Scipion's process never imports the engine's registries (they import
torch), so ``constants.py`` restates them; here, where torch may load,
they are compared with the engine's own: a prior, sampler, latent source,
clustering method or rendering added to the engine and missing from the
forms fails here. The training form's defaults are the engine's options,
and every flag a protocol passes is one the engine command takes.
"""
import inspect
import json
from dataclasses import asdict

import pytest

pwem = pytest.importorskip("pwem")

import pyworkflow.protocol.params as params  # noqa: E402

from pwem.protocols import EMProtocol  # noqa: E402

from cryostar_boltz import constants as cts  # noqa: E402
from cryostar_boltz.engine.analysis import METHODS  # noqa: E402
from cryostar_boltz.engine.cli import main  # noqa: E402
from cryostar_boltz.engine.training.config import (DensityConfig, ENCODER_INPUTS, MOTIONS,  # noqa: E402
                                                   POSE_SEARCHES, TrainConfig)
from cryostar_boltz.engine.latents import SOURCES  # noqa: E402
from cryostar_boltz.engine.training.derived import AUTO_FIELDS, PRESETS  # noqa: E402
from cryostar_boltz.engine.priors import PRIORS, build_prior  # noqa: E402
from cryostar_boltz.engine.pseudoatoms import MODES  # noqa: E402
from cryostar_boltz.engine.samplers import CONTINUOUS_SAMPLERS, SAMPLERS  # noqa: E402
from cryostar_boltz.engine.structure.formats import FORMAT_CHOICES  # noqa: E402
from cryostar_boltz.engine.selection import SPACES  # noqa: E402
from cryostar_boltz.protocols import (CryoStarBoltzProtAnalyze,  # noqa: E402
                                      CryoStarBoltzProtGenerate,
                                      CryoStarBoltzProtSamplePrior,
                                      CryoStarBoltzProtSelect,
                                      CryoStarBoltzProtTrain, train_form)

#: constants.py tuple -> the engine's names, in the engine's order.
REGISTRIES = {
    "PRIORS": tuple(PRIORS),
    "SAMPLERS": tuple(SAMPLERS),
    "CONTINUOUS_SAMPLERS": tuple(CONTINUOUS_SAMPLERS),
    "GENERATE_SOURCES": tuple(SOURCES) + ("file",),
    "CLUSTER_METHODS": tuple(METHODS),
    "PSEUDO_ATOMS": tuple(MODES),
    "STRUCTURE_FORMATS": tuple(FORMAT_CHOICES),
    "SELECT_SPACES": tuple(SPACES),
    "MOTIONS": tuple(MOTIONS),
    "PSEUDO_ATOM_CHOICES": ("auto",) + tuple(MODES),
    "ENCODER_INPUT_CHOICES": ("auto",) + tuple(ENCODER_INPUTS),
    "POSE_SEARCH_CHOICES": ("auto",) + tuple(POSE_SEARCHES),
    "PRESETS": tuple(PRESETS),
}
PROTOCOLS = [CryoStarBoltzProtTrain, CryoStarBoltzProtSamplePrior,
             CryoStarBoltzProtGenerate, CryoStarBoltzProtAnalyze,
             CryoStarBoltzProtSelect]
#: Parameters pyworkflow puts in every form (its run mode is an EnumParam).
STANDARD_PARAMS = {name for name, _ in EMProtocol().getDefinition().iterParams()}


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_form_choices_are_the_engine_registries(name):
    assert getattr(cts, name) == REGISTRIES[name]


def test_generate_source_options_are_the_engines():
    from cryostar_boltz.engine.latents import SOURCE_OPTIONS
    assert cts.GENERATE_SOURCE_OPTIONS == SOURCE_OPTIONS


def test_the_default_sampler_is_the_engines():
    from cryostar_boltz.engine.sampling import draw_samples
    _, facts = draw_samples(build_prior("grbm", 2, hidden_units=2), 1,
                            log=lambda *a: None)
    assert facts["sampler"] == cts.DEFAULT_SAMPLER


def test_boltzmann_priors_are_the_priors_with_a_binary_model():
    binary = tuple(name for name in PRIORS
                   if build_prior(name, 2).to_bqm() is not None)
    assert cts.BOLTZMANN_PRIORS == binary


def test_each_priors_sampler_and_binary_code_are_the_engines():
    assert cts.PRIOR_SAMPLERS == {name: cls.default_sampler for name, cls in PRIORS.items()}
    assert cts.BINARY_CODE_PRIORS == tuple(
        name for name in PRIORS if build_prior(name, 2).extra_encoder_dim)


@pytest.mark.parametrize("protocol_class", PROTOCOLS)
def test_every_enum_param_lists_an_engine_registry(protocol_class):
    protocol = protocol_class()
    enums = {name: param for name, param in protocol.getDefinition().iterParams()
             if isinstance(param, params.EnumParam) and name not in STANDARD_PARAMS}
    assert set(enums) == set(protocol_class._engineChoices)
    for name, param in enums.items():
        assert tuple(param.choices) == protocol_class._engineChoices[name], name
        assert tuple(param.choices) in REGISTRIES.values(), name
        # the default selects a name, which _choice reads back
        assert protocol._choice(name) == param.choices[int(param.default.get())]


def test_training_form_defaults_are_train_config():
    protocol, config = CryoStarBoltzProtTrain(), TrainConfig()
    fields = dict(train_form.STAGE1_FIELDS, **train_form.STAGE1_OPTIONAL)
    for param, field in fields.items():
        assert getattr(protocol, param).get() == getattr(config, field), param
    assert protocol.boxSize.get() == (config.box or 0)
    assert protocol._choice("prior") == config.prior
    # options the engine derives are empty (auto) in the form as in the engine
    derived = set(AUTO_FIELDS) - {"pseudo_atoms", "lr_schedule", "encoder_input",
                                  "pose_search"}
    assert set(train_form.DERIVED_PARAMS.values()) == derived
    for param, field in train_form.DERIVED_PARAMS.items():
        assert getattr(protocol, param).get() is None is getattr(config, field), param
    assert (protocol._choice("pseudoAtoms"), config.pseudo_atoms) == ("auto", None)
    assert (protocol._choice("encoderInput"), config.encoder_input) == ("auto", None)
    assert (protocol._choice("poseSearch"), config.pose_search) == ("auto", None)
    assert protocol._choice("settings") == config.preset == "auto"
    assert train_form.settings_args(protocol) == []
    assert protocol._choice("structureFormat") == config.format == "auto"
    assert protocol._choice("motion") == config.motion == "free"
    assert train_form.focus_args(protocol) == []


def test_stage2_form_defaults_are_density_config():
    protocol, config = CryoStarBoltzProtTrain(), asdict(DensityConfig())
    assert train_form.DENSITY == DensityConfig()
    for param, field in train_form.DENSITY_FIELDS.items():
        assert getattr(protocol, param).get() == config[field], param
    assert protocol.densityEpochs.get() == config["epochs"]
    assert protocol.densityBox.get() == (config["box"] or 0)
    assert not protocol.densityExcludeJunk and config["exclude_junk"] is None


@pytest.mark.parametrize("option", sorted(train_form.PRIOR_DEFAULTS))
def test_prior_option_defaults_are_the_priors(option):
    defaults = {name: inspect.signature(cls.__init__).parameters[option].default
                for name, cls in PRIORS.items()
                if option in inspect.signature(cls.__init__).parameters}
    assert defaults, "no prior takes %s" % option
    assert set(defaults.values()) == {train_form.PRIOR_DEFAULTS[option]}, defaults


def engine_options(command, capsys):
    """The option flags in ``cryostar-boltz COMMAND --help``."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return {word.strip(",[]") for word in capsys.readouterr().out.split()
            if word.startswith("--")}


def test_the_flags_the_training_protocol_passes_exist(capsys):
    train = engine_options("train", capsys)
    fields = list(train_form.STAGE1_FIELDS.values()) + list(
        train_form.STAGE1_OPTIONAL.values()) + ["box", "prior", "pseudo_atoms",
                                                "format", "mask", "move", "motion",
                                                "domains", "num_domains", "preset"]
    assert {train_form.flag(f) for f in fields} <= train
    density = engine_options("train-density", capsys)
    fields = list(train_form.DENSITY_FIELDS.values()) + ["epochs", "box", "exclude_junk"]
    assert {train_form.flag(f) for f in fields} <= density


def test_the_flags_the_select_protocol_passes_exist(capsys, tmp_path):
    flags = engine_options("select", capsys)
    protocol = CryoStarBoltzProtSelect(polygon="[[0, 0], [1, 0], [0, 1]]",
                                       ranges="1:0:1 pc2::0", clusters="0",
                                       invert=True)
    protocol._getRunDir = lambda: "run"
    protocol._getExtraPath = lambda *p: str(tmp_path.joinpath(*p))
    args = [str(a) for a in protocol._selectArgs()]
    passed = {a for a in args if a.startswith("--")}
    assert passed <= flags, passed - flags
    assert {"--polygon", "--space", "--range", "--clusters", "--invert"} <= passed
    assert args[args.index("--space") + 1] == "pca"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--range"] == \
        ["1:0:1", "pc2::0"]
    assert json.loads((tmp_path / "polygon.json").read_text()) == {
        "space": "pca", "vertices": [[0, 0], [1, 0], [0, 1]]}
