"""The training form's settings: recommended (options left empty are derived
from the data by the engine) or the published CryoSTAR method (engine
option ``--preset``, ``engine/training/derived.py``); the help of each
derived parameter, and the summary line of what a run chose."""
import pyworkflow.protocol.params as params

from .. import constants as cts
from ..engine.training.config import TrainConfig
from ..engine.training.derived import BATCH_SIZE, PUBLISHED, RULES
from .form import NEW_RUN, add_choice

TRAIN = TrainConfig()

#: Form parameter -> engine option derived when the parameter is empty.
DERIVED_PARAMS = {
    "numberOfEpochs": "epochs", "batchSize": "batch_size", "lowPass": "low_pass",
    "elasticWeight": "elastic_weight", "elasticKeep": "elastic_keep",
    "learningRate": "lr", "klWarmup": "kl_warmup",
    "elasticWeightFinal": "elastic_weight_final", "outlierZ": "outlier_z",
    "encoderBox": "encoder_box",
}


class EmptyOr(params.Conditional):
    """A parameter left empty (derived) or a finite value meeting
    ``condition``, described by ``words`` in the form's message."""

    def __init__(self, condition, words):
        params.Conditional.__init__(self, "Value should be empty (auto) or %s" % words,
                                    allowsNull=True)
        self._condition = lambda value: value < float("inf") and condition(value)


def PositiveOrEmpty():
    """Empty, or greater than 0 (counts, sizes)."""
    return EmptyOr(lambda value: value > 0, "greater than 0")


def NonNegativeOrEmpty():
    """Empty, or at least 0 (weights, thresholds where 0 is off)."""
    return EmptyOr(lambda value: value >= 0, "at least 0")


def define_settings(form):
    add_choice(form, "settings", cts.PRESETS, TRAIN.preset, condition=NEW_RUN,
               display=params.EnumParam.DISPLAY_HLIST, label="Settings",
               help="*auto*: the recommended settings: every option below left "
                    "empty (or auto) is derived from the data when training "
                    "starts (the pixel size, the number of particles and "
                    "residues); the run's log and summary say what each became "
                    "and why.\n*cryostar*: options left empty take the values "
                    "of the published CryoSTAR method (Li et al. 2024).\n"
                    "A value you give always wins.")


def auto_help(text, field):
    """``text`` followed by what an empty parameter means: the rule of the
    engine's option ``field`` and its published value."""
    published = PUBLISHED[field]
    return ("%s\nEmpty: derived from the data (%s); with the cryostar settings, "
            "%s." % (text, RULES[field], "none" if published is None
                     else "the published %s" % published))


def settings_args(protocol):
    """``--preset cryostar`` when the form asks for the published method."""
    preset = cts.PRESETS[protocol.settings.get()]
    return [] if preset == TRAIN.preset else ["--preset", preset]


def planned_batch(protocol):
    """The global batch the run will use: the one given, else the preset's
    or the recommended one (for the GPU-count check)."""
    given = protocol.batchSize.get()
    if given is not None:
        return given
    return PUBLISHED["batch_size"] if cts.PRESETS[protocol.settings.get()] == \
        "cryostar" else BATCH_SIZE


def settings_summary(config):
    """The summary line of the options a run chose itself (its
    ``config.json`` dict), e.g. ``Settings auto: low_pass 10.4, epochs 39``."""
    chosen = config.get("derived") or {}
    if not chosen:
        return []
    values = ", ".join("%s %s" % (name, _show(config.get(name))) for name in chosen)
    return ["Settings %s, chosen by the engine: %s." % (config.get("preset", "auto"),
                                                        values)]


def _show(value):
    return "%.4g" % value if isinstance(value, float) else str(value)
