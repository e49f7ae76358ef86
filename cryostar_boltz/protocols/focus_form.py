"""The training form's focus block (what may move): a focus mask, the
residues that may move, free or rigid-domain motion; the command-line
options and the summary lines of those parameters (engine options
``--mask``, ``--move``, ``--motion``, ``--domains``, ``--num-domains``,
``docs/conventions.rst``, "Focus")."""
import os

import pyworkflow.protocol.params as params

from .. import constants as cts
from ..engine.training.config import TrainConfig
from .form import NEW_RUN, add_choice, choice_is

TRAIN = TrainConfig()


def define_focus(form):
    group = form.addGroup("What may move", condition=NEW_RUN)
    group.addParam("moveSelection", params.StringParam, default="",
                   label="Residues that may move",
                   help="Chains and residue ranges of the reference, "
                        "comma-separated, e.g. *B* (all of chain B) or "
                        "*A:120-250,B*. The other residues stay exactly at "
                        "the reference. Empty: every residue may move.")
    add_choice(group, "motion", cts.MOTIONS, TRAIN.motion,
               display=params.EnumParam.DISPLAY_HLIST, label="Motion",
               help="*free*: the decoder moves every residue on its own, "
                    "held together by the restraints (the published "
                    "method);\n*domains*: the decoder moves rigid domains, "
                    "one rotation and translation each, the restraints "
                    "holding the hinges: far fewer outputs, for few or "
                    "noisy particles.")
    group.addParam("domains", params.StringParam, default="",
                   condition=choice_is("motion", cts.MOTIONS, "domains"),
                   label="Domains",
                   help="The rigid domains as residue selections separated "
                        "by ';', e.g. *A:1-120;A:121-214*. Empty: found "
                        "automatically by spectral clustering of the "
                        "reference's elastic network (listed in the run's "
                        "domains.json and the summary).")
    group.addParam("numDomains", params.IntParam, default=0,
                   condition=choice_is("motion", cts.MOTIONS, "domains"),
                   label="Number of domains",
                   help="How many domains to find when none are given; 0 "
                        "chooses from the elastic network (2 to 8).")


def focus_args(protocol):
    """Command-line options of the focus parameters set on ``protocol``
    (mask file, --move, --motion, --domains, --num-domains)."""
    args = []
    mask = protocol.inputMask.get()
    if mask is not None:
        from ..convert import scipion_file_path
        args += ["--mask", scipion_file_path(mask.getFileName())]
    if (protocol.moveSelection.get() or "").strip():
        args += ["--move", protocol.moveSelection.get().strip()]
    motion = cts.MOTIONS[protocol.motion.get()]
    if motion != TRAIN.motion:
        args += ["--motion", motion]
        if (protocol.domains.get() or "").strip():
            args += ["--domains", protocol.domains.get().strip()]
        elif protocol.numDomains.get():
            args += ["--num-domains", protocol.numDomains.get()]
    return args


def focus_summary(config):
    """Summary lines of a run's focus options (its ``config.json`` dict)."""
    lines = []
    if config.get("mask"):
        lines.append("Focus mask: %s." % os.path.basename(config["mask"]))
    if config.get("move"):
        lines.append("Residues that may move: %s (the rest held)." % config["move"])
    if config.get("motion") == "domains":
        lines.append("Rigid-domain motion, %s domains: %s." % (
            config.get("num_domains"), config.get("domains")))
    return lines
