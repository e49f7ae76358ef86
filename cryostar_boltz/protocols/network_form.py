"""The training form's network block: where each residue is rendered, what
the encoder sees and its layer widths; their command-line options and the
form's check of the widths and the box (engine options ``--pseudo-atoms``,
``--encoder-input``, ``--pose-search``, ``--encoder-box``, ``--encoder-hidden``;
``engine/models.py``)."""
import pyworkflow.protocol.params as params

from .. import constants as cts
from ..engine.options import OptionError, box_or_whole, layer_widths
from ..engine.training.config import TrainConfig
from ..engine.training.derived import RULES
from .form import add_choice
from .settings_form import NonNegativeOrEmpty, auto_help

TRAIN = TrainConfig()
#: The block's choice parameters and the engine names they list.
NETWORK_CHOICES = {"pseudoAtoms": cts.PSEUDO_ATOM_CHOICES,
                   "encoderInput": cts.ENCODER_INPUT_CHOICES,
                   "poseSearch": cts.POSE_SEARCH_CHOICES}
#: The encoder's hidden-layer widths by default (the published 512 ... 32),
#: as the form shows them.
ENCODER_HIDDEN = ",".join(map(str, TRAIN.encoder_hidden))


def define_network(group):
    add_choice(group, "pseudoAtoms", cts.PSEUDO_ATOM_CHOICES, "auto",
               display=params.EnumParam.DISPLAY_HLIST, label="Render residues at",
               help="Where each residue's Gaussian is projected:\n*auto*: "
                    "derived (%s; with the cryostar settings, ca);\n*ca*: at "
                    "its CA (C1' for nucleotides), as the published method "
                    "does;\n*centroid*: at its heavy-atom centroid, which "
                    "follows the backbone and matches images of real atoms "
                    "better;\n*atoms*: every heavy atom of the reference, "
                    "carried by its residue (closest to a real map; about 8 "
                    "times the projection work)." % RULES["pseudo_atoms"])
    add_choice(group, "encoderInput", cts.ENCODER_INPUT_CHOICES, "auto",
               display=params.EnumParam.DISPLAY_HLIST, label="Encoder input",
               help="*auto*: %s (with the cryostar settings, raw);\n*aligned*: "
                    "the conformation does not depend on the view's in-plane "
                    "angle or shift;\n*raw*: the image as recorded, as the "
                    "published method does." % RULES["encoder_input"])
    group.addParam("encoderBox", params.IntParam, default=None, allowsNull=True,
                   expertLevel=params.LEVEL_ADVANCED, label="Encoder box (px)",
                   validators=[NonNegativeOrEmpty()],
                   help=auto_help("The box the encoder's images are Fourier-cropped "
                                  "to: an even number of pixels up to the training "
                                  "box, or 0 for the whole training box (the "
                                  "published method's).", "encoder_box"))
    group.addParam("encoderHidden", params.StringParam, default=ENCODER_HIDDEN,
                   expertLevel=params.LEVEL_ADVANCED, label="Encoder layer widths",
                   help="Widths of the encoder's hidden layers, from the image "
                        "to the latent code, comma-separated whole numbers "
                        "(default %s, the published encoder). Narrower layers "
                        "train faster and need less memory on large boxes."
                        % ENCODER_HIDDEN)
    add_choice(group, "poseSearch", cts.POSE_SEARCH_CHOICES, "auto",
               display=params.EnumParam.DISPLAY_HLIST, expertLevel=params.LEVEL_ADVANCED,
               label="Search poses of flagged particles",
               help="After training, the particles whose pose screen flags their "
                    "consensus pose as wrong (junk score above the pose screen's "
                    "threshold) reach the encoder misaligned:\n*auto*: %s (with the "
                    "cryostar settings, off);\n*flagged*: search their poses "
                    "(global, then local) and take their latents from the searched "
                    "poses where those fit their images better (the run's "
                    "searched_poses.npz records them);\n*off*: keep their "
                    "latents from the consensus poses." % RULES["pose_search"])


def encoder_hidden(protocol):
    """The widths in the form as a tuple of integers; ValueError (an
    ``OptionError``) for text that is not comma-separated integers >= 1."""
    return layer_widths((protocol.encoderHidden.get() or "").strip())


def network_args(protocol):
    """Command-line options of the network parameters: the rendering, the
    encoder input and the pose search (``auto`` included), and ``--encoder-hidden`` only
    when the widths differ from the default."""
    args = ["--pseudo-atoms", protocol._choice("pseudoAtoms"),
            "--encoder-input", protocol._choice("encoderInput"),
            "--pose-search", protocol._choice("poseSearch")]
    widths = encoder_hidden(protocol)
    if widths != tuple(TRAIN.encoder_hidden):
        args += ["--encoder-hidden", ",".join(map(str, widths))]
    return args


def network_errors(protocol, training_box=0):
    """The form's errors for encoder widths that are not comma-separated
    integers >= 1 and for an encoder box that is odd or larger than the
    ``training_box`` (px; 0: unknown) (the engine's rules)."""
    errors = []
    try:
        encoder_hidden(protocol)
    except (OptionError, ValueError) as err:
        errors.append("Encoder layer widths: %s (comma-separated whole numbers of at "
                      "least 1, e.g. %s)." % (err, ENCODER_HIDDEN))
    box = protocol.encoderBox.get()
    if box is not None:
        try:
            box_or_whole(box)
        except (OptionError, ValueError) as err:
            errors.append("Encoder box: %s." % err)
        else:
            if training_box and box > training_box:
                errors.append("Encoder box: %d px is larger than the %d px training "
                              "box; give at most %d, or 0 for the whole box."
                              % (box, training_box, training_box))
    return errors
