"""The training form's network block: where each residue is rendered, what
the encoder sees and its layer widths; their command-line options and the
form's check of the widths (engine options ``--pseudo-atoms``,
``--encoder-input``, ``--encoder-hidden``; ``engine/models.py``)."""
import pyworkflow.protocol.params as params

from .. import constants as cts
from ..engine.options import OptionError, layer_widths
from ..engine.training.config import TrainConfig
from ..engine.training.derived import RULES
from .form import add_choice

TRAIN = TrainConfig()
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
    group.addParam("encoderHidden", params.StringParam, default=ENCODER_HIDDEN,
                   expertLevel=params.LEVEL_ADVANCED, label="Encoder layer widths",
                   help="Widths of the encoder's hidden layers, from the image "
                        "to the latent code, comma-separated whole numbers "
                        "(default %s, the published encoder). Narrower layers "
                        "train faster and need less memory on large boxes."
                        % ENCODER_HIDDEN)


def encoder_hidden(protocol):
    """The widths in the form as a tuple of integers; ValueError (an
    ``OptionError``) for text that is not comma-separated integers >= 1."""
    return layer_widths((protocol.encoderHidden.get() or "").strip())


def network_args(protocol):
    """Command-line options of the network parameters: the rendering and
    the encoder input (``auto`` included), and ``--encoder-hidden`` only
    when the widths differ from the default."""
    args = ["--pseudo-atoms", protocol._choice("pseudoAtoms"),
            "--encoder-input", protocol._choice("encoderInput")]
    widths = encoder_hidden(protocol)
    if widths != tuple(TRAIN.encoder_hidden):
        args += ["--encoder-hidden", ",".join(map(str, widths))]
    return args


def network_errors(protocol):
    """The form's error for encoder widths that are not comma-separated
    integers >= 1, or none."""
    try:
        encoder_hidden(protocol)
    except (OptionError, ValueError) as err:
        return ["Encoder layer widths: %s (comma-separated whole numbers of at "
                "least 1, e.g. %s)." % (err, ENCODER_HIDDEN)]
    return []
