"""Pieces of the protocol forms: choices by name, output declarations and
the help texts several forms share.

An ``EnumParam`` stores the index of the chosen item; the engine takes
names. Forms list the engine's names themselves (``constants.py`` tuples,
pinned to the engine's registries by ``tests/scipion/test_form_choices.py``)
and conditions are written by name through :func:`choice_is`, so a new
prior or sampler never shifts a condition onto the wrong item.
"""
import math

import pyworkflow.protocol.params as params

#: Condition of the parameters that only a new run takes (not a continued one).
NEW_RUN = "not doContinue"

GPU_HELP = ("GPU ids to use, e.g. *0* or *0 1* (several GPUs train one model "
            "in data-parallel processes; the results do not depend on their "
            "number). The ids are those of the machine that runs the job "
            "(or those the queue assigns).")
THREADS_HELP = ("CPU threads the engine uses (torch intra-op threads) when "
                "it runs on the CPU.")


class Outputs(dict):
    """A protocol's outputs, output name -> class: pyworkflow's
    ``_possibleOutputs`` (a dict, since several outputs share a class),
    whose names are also attributes (``OUTPUTS.Particles == "Particles"``),
    so code names an output from its one declaration and a misspelt name
    raises ``AttributeError``."""

    def __getattr__(self, name):
        if name in self:
            return name
        raise AttributeError("no output %r; declared: %s" % (name, ", ".join(self)))


def add_choice(form, name, choices, default, display=params.EnumParam.DISPLAY_COMBO,
               **kwargs):
    """Add an ``EnumParam`` listing ``choices`` (engine names) with the item
    called ``default`` selected; ``ValueError`` if it is not among them."""
    return form.addParam(name, params.EnumParam, choices=list(choices),
                         default=list(choices).index(default), display=display,
                         **kwargs)


def choice_is(param, choices, *names):
    """A form condition, true when ``EnumParam`` ``param`` listing ``choices``
    has one of ``names`` selected: ``choice_is("prior", PRIORS, "rbm")`` is
    ``"prior == 3"``. ``ValueError`` for a name not in ``choices``."""
    return _condition(param, choices, names, "==", "in")


def choice_is_not(param, choices, *names):
    """The negation of :func:`choice_is` (``"prior != 0"``)."""
    return _condition(param, choices, names, "!=", "not in")


def _condition(param, choices, names, equal, member):
    indices = [list(choices).index(name) for name in names]
    if len(indices) == 1:
        return "%s %s %d" % (param, equal, indices[0])
    return "%s %s (%s)" % (param, member, ", ".join(str(i) for i in indices))


def add_junk_params(form, what):
    """``excludeJunk`` (``what`` says what leaving junk out means for the
    protocol) and its ``junkThreshold`` (``--exclude-junk Z``)."""
    form.addParam("excludeJunk", params.BooleanParam, default=False,
                  label="Exclude junk particles?", help=what)
    form.addParam("junkThreshold", params.FloatParam, default=2.0,
                  condition="excludeJunk", label="Junk score threshold",
                  help="Particles scoring above it are left out (a robust "
                       "z-score: 2 left out 0-0.4 % of good particles on "
                       "the adk benchmarks; higher keeps more).")


def junk_threshold_errors(protocol):
    """The form's error for a junk score threshold (``junkThreshold``, used
    when ``excludeJunk`` is set) that is not a finite number, or none."""
    value = protocol.junkThreshold.get()
    if protocol.excludeJunk and (value is None or not math.isfinite(value)
                                 or abs(value) > 1e6):
        return ["The junk score threshold must be a finite number (a robust "
                "z-score, 2 by default), got %s." % value]
    return []
