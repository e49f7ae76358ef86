"""Checks of option values, shared by every command line and config file.

Each check is a function of a value that returns the value converted (int
or float) or raises ``ValueError`` with the reason ("must be an integer
>= 1, got 0"). Commands use them as argparse ``type=`` (argparse then
names the option: ``argument --epochs: must be an integer >= 1, got 0``);
the option dataclasses of ``training.config`` use :func:`check` so a
``config.json`` edited by hand or a ``--resume`` override meets the same
rules. Torch-free and numpy-free: Scipion's process and ``--help`` import
this module.
"""
import argparse
import math


#: The largest finite float32 (``numpy.finfo(numpy.float32).max``): the
#: engine computes in float32, so a larger number overflows there.
FLOAT32_MAX = 3.4028234663852886e38


class OptionError(ValueError, argparse.ArgumentTypeError):
    """An option value out of range; argparse reports it with the option's
    name, other callers as a ValueError."""


def _number(value, kind):
    if isinstance(value, bool):
        raise OptionError("must be a number, got %r" % value)
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise OptionError("must be an integer, got %r" % value)
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise OptionError("must be an integer, got %r" % (value,)) from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError("must be a number, got %r" % (value,)) from None
    if not math.isfinite(number):
        raise OptionError("must be a finite number, got %r" % (value,))
    if abs(number) > FLOAT32_MAX:
        raise OptionError("must be within +-%.4g (the engine computes in float32), "
                          "got %s" % (FLOAT32_MAX, _show(number)))
    return number


def _show(value):
    return "%g" % value if isinstance(value, float) else str(value)


def at_least(low, kind=int):
    """A check: a ``kind`` (int or float) >= ``low``."""
    word = "an integer" if kind is int else "a number"

    def check_value(value):
        number = _number(value, kind)
        if number < low:
            raise OptionError("must be %s >= %s, got %s" % (word, _show(low), _show(number)))
        return number
    check_value.__name__ = "%s_at_least_%s" % (kind.__name__, low)
    return check_value


def greater_than(low, kind=float):
    """A check: a finite ``kind`` > ``low``."""
    word = "an integer" if kind is int else "a number"

    def check_value(value):
        number = _number(value, kind)
        if not number > low:
            raise OptionError("must be %s > %s, got %s" % (word, _show(low), _show(number)))
        return number
    check_value.__name__ = "%s_above_%s" % (kind.__name__, low)
    return check_value


def between(low, high, kind=int, why=None):
    """A check: a ``kind`` (int or float) in [``low``, ``high``]; ``why``
    (the reason for the limit) is added to the message."""
    word = "an integer" if kind is int else "a number"

    def check_value(value):
        number = _number(value, kind)
        if number < low:
            raise OptionError("must be %s >= %s, got %s" % (word, _show(low), _show(number)))
        if number > high:
            raise OptionError("must be %s <= %s%s, got %s" % (
                word, _show(high), " (%s)" % why if why else "", _show(number)))
        return number
    check_value.__name__ = "%s_in_%s_%s" % (kind.__name__, low, high)
    return check_value


#: Integers >= 1 (counts: epochs, batch size, samples, clusters...).
positive_int = at_least(1)
positive_int.__name__ = "positive_int"
#: Integers >= 0 (seeds, optional counts where 0 means "none" or "off").
nonnegative_int = at_least(0)
nonnegative_int.__name__ = "nonnegative_int"
#: Finite numbers > 0 (pixel sizes, learning rates, widths in Angstrom...).
positive_float = greater_than(0.0)
positive_float.__name__ = "positive_float"
#: Finite numbers >= 0 (weights, tolerances).
nonnegative_float = at_least(0.0, float)
nonnegative_float.__name__ = "nonnegative_float"


def screen_threshold(value):
    """A robust-z threshold that turns a screen on: 0 (off) or a finite
    number >= 1 (below 1 standard deviation a screen leaves out a large
    share of good particles: 16 % of a normal sample lies above 1)."""
    number = _number(value, float)
    if number != 0 and not number >= 1:
        raise OptionError("must be 0 (off) or a number >= 1 (robust standard "
                          "deviations), got %s" % _show(number))
    return number


def finite_float(value):
    """Any finite number."""
    return _number(value, float)


def fraction(value):
    """A finite number in (0, 1]."""
    number = _number(value, float)
    if not 0 < number <= 1:
        raise OptionError("must be a fraction in (0, 1], got %s" % _show(number))
    return number


def even_box(value):
    """A box size in pixels: an even integer >= 2."""
    number = _number(value, int)
    if number < 2 or number % 2:
        raise OptionError("must be an even number of pixels >= 2, got %d" % number)
    return number


def box_or_whole(value):
    """A box in pixels (:func:`even_box`), or 0 for the whole box."""
    number = _number(value, int)
    if number == 0:
        return 0
    try:
        return even_box(number)
    except OptionError:
        raise OptionError("must be 0 (the whole box) or an even number of pixels "
                          ">= 2, got %d" % number) from None


def seed(value):
    """A random seed: an integer in [0, 2^32) (numpy's and dimod's range)."""
    number = _number(value, int)
    if not 0 <= number < 2 ** 32:
        raise OptionError("must be an integer in [0, 2^32), got %d" % number)
    return number


def layer_widths(value):
    """Hidden-layer widths of a network: integers >= 1, as a tuple or a
    comma-separated text (``256,128,64``)."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        raise OptionError("must be widths like 256,128,64, got %r" % (value,)) from None
    if not items:
        raise OptionError("must give at least one layer width, got %r" % (value,))
    widths = []
    for item in items:
        number = _number(item.strip() if isinstance(item, str) else item, int)
        if number < 1:
            raise OptionError("must be widths >= 1, got %s" % _show(number))
        widths.append(number)
    return tuple(widths)


def check(name, value, rule, optional=False):
    """``rule(value)``, or a ValueError naming ``name`` (``--epochs``); a
    None value passes when ``optional``."""
    if value is None and optional:
        return None
    try:
        return rule(value)
    except ValueError as err:
        raise OptionError("%s %s" % (name, err)) from None


def one_of(name, value, choices):
    """``value`` when it is one of ``choices``, else a ValueError naming
    ``name`` and the choices."""
    if value not in choices:
        raise OptionError("%s must be one of %s, got %r"
                          % (name, ", ".join(map(str, choices)), value))
    return value


# Upper bounds of counts whose memory or time grows with them (the arrays
# are allocated at once): far above any real use, far below what exhausts a
# workstation or runs for days.
#: Prior samples of one sample-prior: 1 million (z, energies, states and the
#: sampler's own copies).
MAX_SAMPLES = 1_000_000
#: Decoded models of one command (generate --n and --k): 10,000 models, each
#: a full-atom model in one multi-model file.
MAX_MODELS = 10_000
#: Prior samples descended (annealing runs for rbm) to find basins (--basin-reads): 100,000.
MAX_READS = 100_000

#: sample-prior -n: 0 (basins only) to MAX_SAMPLES.
sample_count = between(0, MAX_SAMPLES, why="samples held in memory at once")
sample_count.__name__ = "sample_count"
#: generate --n / --k: 1 to MAX_MODELS.
model_count = between(1, MAX_MODELS, why="each point is decoded to a full-atom model")
model_count.__name__ = "model_count"
#: --basin-reads: 1 to MAX_READS.
read_count = between(1, MAX_READS, why="reads held in memory at once")
read_count.__name__ = "read_count"


def physical(low, high, unit, what):
    """A check: a number > 0 within [``low``, ``high``] ``unit``, the range
    of ``what`` (stated in the message)."""
    def check_value(value):
        number = positive_float(value)
        if not low <= number <= high:
            raise OptionError("must be within %s-%s %s (%s), got %s" % (
                _show(float(low)), _show(float(high)), unit, what, _show(number)))
        return number
    check_value.__name__ = "physical_%s_%s" % (low, high)
    return check_value


#: Pixel sizes (Angstrom): 0.1 to 100, from sub-Angstrom super-resolution
#: pixels to heavily binned tomographic data.
MIN_APIX, MAX_APIX = 0.1, 100.0
pixel_size = physical(MIN_APIX, MAX_APIX, "A", "cryo-EM pixel sizes")
pixel_size.__name__ = "pixel_size"
#: Accelerating voltages (kV): 10 to 3000, around every microscope built
#: (cryo-EM uses 100-300 kV).
MIN_KV, MAX_KV = 10.0, 3000.0
voltage_kv = physical(MIN_KV, MAX_KV, "kV", "electron microscope voltages")
voltage_kv.__name__ = "voltage_kv"

#: Most sweeps (Gibbs, SA) or Langevin steps per sample: a million sweeps
#: of even a small model take hours; beyond is a typo, not a request.
MAX_SWEEPS = 1_000_000
sweeps = between(1, MAX_SWEEPS, why="sweeps or steps per sample")
sweeps.__name__ = "sweeps"

#: Inverse temperatures of prior sampling: beta scales the energy, so below
#: 1e-6 the prior is flat over any latent range a decoder was trained on
#: (samples thousands of units out), above 1e6 every chain freezes at once.
BETA_RANGE = (1e-6, 1e6)
inverse_temperature = between(BETA_RANGE[0], BETA_RANGE[1], kind=float,
                              why="inverse temperature")
inverse_temperature.__name__ = "inverse_temperature"
