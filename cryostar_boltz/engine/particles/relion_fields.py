"""Checks of RELION star fields, shared by the particle reader
(``relion.read_particles_star``): numbers that must be finite, optics
settings the engine does not model (refused), the CTF scale factor (applied
to the images), half-set labels. Each check raises ``DataError`` naming the
file, the column and the row; ``docs/conventions.rst`` ("Fields of the
input files") lists what is done with every field.
"""
import numpy as np

from .errors import DataError

__all__ = ["numeric_column", "positive", "refuse_unsupported", "image_factors",
           "check_random_subset", "MAX_ANISOMAG"]


def numeric_column(values, name, path, block):
    """A STAR column as float64 (N,); ``DataError`` naming ``path``, the
    block, the column and the first row (counting from 1) that is not a
    number, or is NaN or infinite."""
    try:
        numbers = np.asarray(values).astype(np.float64)
    except ValueError:
        text = np.asarray(values).astype(str)
        row = next(i for i, v in enumerate(text.tolist()) if not _is_number(v))
        raise DataError("%s, data_%s: %s in row %d is %r, not a number"
                        % (path, block, name, row + 1, text[row])) from None
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise DataError("%s, data_%s: %s in row %d is %s (%d row%s not finite)"
                        % (path, block, name, bad[0] + 1, numbers[bad[0]], len(bad),
                           "" if len(bad) == 1 else "s"))
    return numbers


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Optics flags of images the engine cannot model: refused when not 0.
_REFUSED_FLAGS = {
    "rlnCtfDataAreCtfPremultiplied":
        "the images already carry their CTF (premultiplied), which the engine "
        "would apply a second time; extract the particles without CTF "
        "premultiplication and give that star file",
    "rlnCtfDataArePhaseFlipped":
        "the images are phase-flipped, which loses the CTF sign the engine "
        "models; extract the particles without phase flipping and give that "
        "star file",
}
#: Largest departure of rlnMagMat from the identity accepted (not applied):
#: 5% moves a point 100 A from the box centre by 5 A, half the engine's
#: usual 10 A low-pass.
MAX_ANISOMAG = 0.05


def refuse_unsupported(column, path, groups):
    """Refuse the optics settings the engine does not model."""
    for name, why in _REFUSED_FLAGS.items():
        flag = column(name)
        if flag is not None and np.any(flag != 0):
            first = int(np.flatnonzero(flag != 0)[0])
            raise DataError("%s: %s = %g (optics group %d): %s"
                            % (path, name, flag[first], groups[first], why))
    dims = column("rlnImageDimensionality")
    if dims is not None and np.any(dims != 2):
        first = int(np.flatnonzero(dims != 2)[0])
        raise DataError("%s: rlnImageDimensionality = %g (optics group %d): the "
                        "engine reads 2D particle images only"
                        % (path, dims[first], groups[first]))
    for name in ("rlnOriginZAngst", "rlnOriginZ"):
        values = column(name)
        if values is not None and np.any(values != 0):
            raise DataError("%s: %s is not 0 (row %d): 3D origins are for "
                            "subtomograms; the engine reads 2D particle images"
                            % (path, name, int(np.flatnonzero(values != 0)[0]) + 1))
    mag = [column("rlnMagMat%s" % ij) for ij in ("00", "01", "10", "11")]
    if all(m is not None for m in mag):
        deviation = np.abs(np.stack(mag, 1) - [1.0, 0.0, 0.0, 1.0]).max(1)
        if np.any(deviation > MAX_ANISOMAG):
            first = int(np.argmax(deviation > MAX_ANISOMAG))
            raise DataError("%s: rlnMagMat00..11 of optics group %d depart from the "
                            "identity by %.3f; the engine does not model anisotropic "
                            "magnification beyond %g" % (path, groups[first],
                                                         deviation[first], MAX_ANISOMAG))


def image_factors(column, path):
    """Per-particle factor the images are multiplied by when read: 1 /
    rlnCtfScalefactor (RELION multiplies its CTF by it, ``ctf.h``; negative
    for the inverted images of a cryoSPARC ``blob/sign`` +1), or None when
    every factor is 1."""
    scale = column("rlnCtfScalefactor")
    if scale is None or np.all(scale == 1.0):
        return None
    if np.any(scale == 0):
        row = int(np.flatnonzero(scale == 0)[0])
        raise DataError("%s: rlnCtfScalefactor in row %d is 0; it multiplies the "
                        "CTF and must not be 0" % (path, row + 1))
    return 1.0 / scale


def check_random_subset(column, path):
    halves = column("rlnRandomSubset")
    if halves is not None and not np.all(np.isin(halves, (1, 2))):
        row = int(np.flatnonzero(~np.isin(halves, (1, 2)))[0])
        raise DataError("%s: rlnRandomSubset in row %d is %g; RELION's half sets "
                        "are 1 and 2" % (path, row + 1, halves[row]))


def particle_row(name, row):
    """Where a per-particle value of column ``name`` comes from: its row
    (from 0) in the particle table, named from 1."""
    return "particle row %d" % (row + 1)


def underfocus(values, name, path, where=particle_row):
    """``values`` of a defocus column (Angstrom); ``DataError`` naming the
    file, column and row (``where(name, row)``: :func:`particle_row`, or
    the optics group for a value from ``data_optics``) for a negative one:
    RELION's defocus is positive for underfocus, and overfocused images are
    not supported."""
    if np.any(values < 0):
        row = int(np.flatnonzero(values < 0)[0])
        raise DataError("%s: %s is %g (%s); defocus is positive for "
                        "underfocus (RELION's convention) and overfocused images are "
                        "not supported" % (path, name, values[row], where(name, row)))
    return values


def positive(values, name, path, where=particle_row):
    """``values`` of column ``name``; ``DataError`` naming the file, column
    and where (as :func:`underfocus`) the first value that is not positive."""
    if np.any(values <= 0):
        row = int(np.flatnonzero(values <= 0)[0])
        raise DataError("%s: %s is %g (%s); it must be positive"
                        % (path, name, values[row], where(name, row)))
    return values
