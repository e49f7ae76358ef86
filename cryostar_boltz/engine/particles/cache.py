"""A downsampled copy of the particle images, written once for training."""
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from .errors import DataError
from .stacks import ImageStack, check_box_size, write_stack

__all__ = ["cache_downsampled"]


def cache_downsampled(particles, D_new, path, chunk=2048, apix=None, reuse=True):
    """Write the particle images Fourier-cropped to ``D_new`` once, in chunks
    of ``chunk`` images (bounded memory), and return an ImageStack on them.

    ``particles`` is a ``Particles`` or an ``ImageStack``. With ``reuse`` an
    existing cache of the right shape, newer than every source stack, is
    kept (newer than the particle file too: its data signs and CTF
    scales are applied to the images). ``apix`` is the source pixel size for the header (default: the
    particles' first pixel size).
    """
    path = Path(path)
    is_stack = isinstance(particles, ImageStack)
    stack = particles if is_stack else particles.images
    if stack is None:
        raise DataError("%s: no images loaded to downsample" % particles.path)
    source = stack.downsampled(None)
    D_new = check_box_size(D_new, source.box)
    n = len(source)
    # the particle file too: its signs and CTF scales change the images
    inputs = source.files + ([Path(source.source)] if source.source else [])
    if reuse and _cache_is_current(path, n, D_new, inputs):
        return ImageStack(path, np.arange(n), source=path)
    if apix is None:
        apix = 1.0 if is_stack else float(particles.apix[0])
    cropped = source.downsampled(D_new)
    chunks = (cropped[lo:lo + chunk] for lo in range(0, n, chunk))
    write_stack(path, chunks, apix * source.box / D_new, n=n)
    return ImageStack(path, np.arange(n), source=path)


def _cache_is_current(path, n, D_new, sources):
    if not path.is_file():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.open(path, header_only=True, permissive=True) as mrc:
                shape = (int(mrc.header.nz), int(mrc.header.ny), int(mrc.header.nx))
    except (OSError, ValueError):
        return False
    newest = max((s.stat().st_mtime for s in sources if s.is_file()), default=0.0)
    return shape == (n, D_new, D_new) and path.stat().st_mtime >= newest

