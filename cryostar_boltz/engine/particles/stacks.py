"""Particle image stacks: memory-mapped MRC reading, writing, Fourier cropping.

Images stay on disk: ``ImageStack`` memory-maps the MRC stacks (through
``mrcfile``) and reads a batch at a time, optionally Fourier-cropped
(``fourier_crop``), so datasets larger than RAM work. ``write_stack`` writes
a stack atomically, in bounded memory when given chunks. Images are float32
arrays ``[..., y, x]``.
"""
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import mrcfile
import numpy as np
from scipy import fft as sfft

from ..io import atomic_path, reserve
from ..options import even_box
from .errors import DataError

__all__ = ["ImageStack", "write_stack", "fourier_crop", "check_box", "DEFAULT_MAX_OPEN"]

#: Stack files kept open at once by an ImageStack (two descriptors each).
DEFAULT_MAX_OPEN = 128


# ------------------------------------------------------------ Fourier crop

def fourier_crop(images, D_new):
    """Downsample ``(..., D, D)`` images to ``(..., D_new, D_new)`` by keeping
    the central ``D_new x D_new`` Fourier coefficients.

    Exact for band-limited images (nothing above the new Nyquist frequency)
    and alias-free otherwise; the mean is preserved, so a constant image
    stays the same constant. ``D_new`` must be even and at most ``D``.
    """
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[-1] != images.shape[-2]:
        raise ValueError("fourier_crop needs square images (..., D, D), got shape %s"
                         % (images.shape,))
    D = images.shape[-1]
    D_new = check_box_size(D_new, D)
    if D_new == D:
        return images.astype(np.float32)
    h = D_new // 2
    spectrum = sfft.rfft2(images.astype(np.float32, copy=False))
    spectrum = np.concatenate([spectrum[..., :h, :h + 1],
                               spectrum[..., D - h:, :h + 1]], axis=-2)
    out = sfft.irfft2(spectrum, s=(D_new, D_new))
    out *= (D_new / D) ** 2
    return out.astype(np.float32, copy=False)


def check_box_size(D_new, D):
    """``D_new`` as an int; ``ValueError`` unless it is even and in [2, D]."""
    return check_box(D_new, "the downsampled box", D)


def check_box(box, name="--box", largest=None):
    """``box`` (pixels) as an int: the one check of every box the engine is
    given (``place --box``, ``train --box``, ``simulate --box``, downsampling),
    with the rule of ``options.even_box`` (the argparse type). ``ValueError``
    naming ``name`` unless it is a whole, even number of at least 2 pixels
    (and at most ``largest``): the engine's box centre is pixel ``D//2`` and
    its Fourier grids need even boxes."""
    try:
        D = even_box(box)
    except ValueError as err:
        raise ValueError("%s %s" % (name, err)) from None
    if largest is not None and D > largest:
        raise ValueError("%s must be at most %d pixels (the particles' box), got %d"
                         % (name, largest, D))
    return D


# ------------------------------------------------------------ image stacks

class _OpenStacks:
    """Memory-mapped MRC files, each opened once and kept while it is among
    the ``max_open`` most recently used (file descriptors are limited)."""

    def __init__(self, paths, max_open=DEFAULT_MAX_OPEN):
        self.paths = paths
        self.max_open = max(1, int(max_open))
        self._open = OrderedDict()

    def data(self, file_id):
        """The (n, ny, nx) image array of file ``file_id``."""
        entry = self._open.get(file_id)
        if entry is None:
            entry = self._open[file_id] = self._map(self.paths[file_id])
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)[1][0].close()
        else:
            self._open.move_to_end(file_id)
        return entry[1]

    @staticmethod
    def _map(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mrc = mrcfile.mmap(path, mode="r", permissive=True)
        except (OSError, ValueError) as err:
            raise DataError("cannot read image stack %s: %s" % (path, err)) from None
        data = mrc.data
        if data is None or data.ndim not in (2, 3):
            mrc.close()
            raise DataError("%s is not a readable MRC image stack (truncated or "
                            "not 2D images)" % path)
        header = mrc.header
        order = (int(header.mapc), int(header.mapr), int(header.maps))
        problem = None
        if np.iscomplexobj(data):
            problem = "MRC mode %d holds complex values, not images" % header.mode
        elif order != (1, 2, 3) and sorted(order) == [1, 2, 3] and order[2] != 3:
            problem = ("MAPC/MAPR/MAPS = %d,%d,%d: the sections are not images "
                       "(particle stacks are 1,2,3)" % order)
        elif order == (2, 1, 3):
            data = data.transpose(0, 2, 1) if data.ndim == 3 else data.T
        elif order != (1, 2, 3):
            problem = "MAPC/MAPR/MAPS = %d,%d,%d is not an axis order" % order
        if problem:
            mrc.close()
            raise DataError("%s: %s" % (path, problem))
        return mrc, data[None] if data.ndim == 2 else data

    def close(self):
        while self._open:
            self._open.popitem()[1][0].close()


class ImageStack:
    """Particle images read lazily from memory-mapped MRC stacks.

    Built from per-particle ``(file, 0-based index)`` pairs; ``files`` may be
    one path for all particles. Indexing with an int gives one ``(D, D)``
    image, with a slice, an index array or a boolean mask a float32
    ``(B, D, D)`` batch in the requested order (reads are grouped by file
    and in file order). With ``downsample=D_new`` images are Fourier-cropped
    on the fly. Construction checks every stack: it exists, holds the
    images referred to, and has the expected ``box``; ``source`` (the star
    or .cs file) is named in the errors.
    """

    def __init__(self, files, indices, downsample=None, box=None, source=None,
                 max_open=DEFAULT_MAX_OPEN, factors=None):
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if isinstance(files, (str, os.PathLike)):
            unique, file_ids = [files], np.zeros(len(indices), dtype=np.int64)
        else:
            keys = {}
            file_ids = np.fromiter((keys.setdefault(os.fspath(f), len(keys)) for f in files),
                                   dtype=np.int64)
            unique = list(keys)
            if len(file_ids) != len(indices):
                raise ValueError("ImageStack needs one file per index: %d files, "
                                 "%d indices" % (len(file_ids), len(indices)))
        self._setup(unique, file_ids, indices, downsample, box, source, max_open,
                    factors)

    @classmethod
    def from_file_ids(cls, files, file_ids, indices, downsample=None, box=None,
                      source=None, max_open=DEFAULT_MAX_OPEN, factors=None):
        """Build from the distinct ``files`` and, per particle, the position
        of its file in ``files`` and its 0-based index in that file."""
        stack = cls.__new__(cls)
        stack._setup(list(files), np.asarray(file_ids, dtype=np.int64).ravel(),
                     np.asarray(indices, dtype=np.int64).ravel(),
                     downsample, box, source, max_open, factors)
        return stack

    def _setup(self, files, file_ids, indices, downsample, box, source, max_open,
               factors=None):
        if len(file_ids) != len(indices):
            raise ValueError("ImageStack: %d file ids for %d indices"
                             % (len(file_ids), len(indices)))
        self._files = [Path(os.path.abspath(f)) for f in files]
        self._file_ids = file_ids
        self._indices = indices
        self._rows = np.arange(len(indices), dtype=np.int64)
        self._factors = None
        if factors is not None:
            self._factors = np.asarray(factors, dtype=np.float32).ravel()
            if self._factors.shape != indices.shape:
                raise ValueError("ImageStack: %d factors for %d images"
                                 % (len(self._factors), len(indices)))
        self._source = source
        self._stacks = _OpenStacks(self._files, max_open)
        self._source_box = self._validate(box)
        self._downsample = None
        if downsample is not None:
            self._downsample = check_box_size(downsample, self._source_box)

    def _validate(self, box):
        """Check the stacks against the particles; return the image size."""
        where = " (referred to by %s)" % self._source if self._source else ""
        used = np.unique(self._file_ids)
        for file_id in used:
            if not self._files[file_id].is_file():
                raise DataError("image stack %s not found%s"
                                % (self._files[file_id], where))
        if len(self._indices) and self._indices.min() < 0:
            raise DataError("negative image index in the particles%s" % where)
        last = np.full(len(self._files), -1, dtype=np.int64)
        np.maximum.at(last, self._file_ids, self._indices)
        sizes = {}
        for file_id in used:
            path, data = self._files[file_id], self._stacks.data(file_id)
            if last[file_id] >= len(data):
                raise DataError("%s has %d images but %s refers to image %d"
                                % (path, len(data), self._source or "the particle list",
                                   last[file_id] + 1))
            ny, nx = data.shape[-2:]
            if ny != nx:
                raise DataError("%s holds %dx%d images; particles must be square"
                                % (path, nx, ny))
            if box is not None and nx != box:
                raise DataError("%s holds %dx%d images but %s gives a box of %d px"
                                % (path, nx, ny, self._source or "the particle list", box))
            sizes.setdefault(nx, path)
        if len(sizes) > 1:
            raise DataError("image stacks%s have different sizes: %s" % (
                where, ", ".join("%d px (%s)" % (d, p) for d, p in sizes.items())))
        if sizes:
            return next(iter(sizes))
        return int(box) if box is not None else 0

    # -- views ---------------------------------------------------------

    def _view(self, idx, downsample):
        view = ImageStack.__new__(ImageStack)
        view.__dict__.update(self.__dict__)
        if idx is not None:
            view._file_ids, view._indices = self._file_ids[idx], self._indices[idx]
            view._rows = self._rows[idx]
            view._factors = None if self._factors is None else self._factors[idx]
        view._downsample = downsample
        return view

    def subset(self, indices):
        """The images of particles ``indices`` (ints or a boolean mask)."""
        return self._view(as_index(indices, len(self)), self._downsample)

    def downsampled(self, D_new):
        """The same images Fourier-cropped to ``D_new`` (None: full size)."""
        size = None if D_new is None else check_box_size(D_new, self._source_box)
        return self._view(None, size)

    # -- access --------------------------------------------------------

    def __len__(self):
        return len(self._indices)

    @property
    def box(self):
        """Size of the images this stack returns (after downsampling)."""
        return self._downsample or self._source_box

    @property
    def source_box(self):
        """Size of the images stored on disk."""
        return self._source_box

    @property
    def files(self):
        """The distinct stack files (absolute paths)."""
        return list(self._files)

    @property
    def file_ids(self):
        """Per particle, the position of its stack in ``files``."""
        return self._file_ids

    @property
    def indices(self):
        """Per particle, its 0-based index in its stack."""
        return self._indices

    @property
    def source(self):
        """The particle file (star or .cs) the stack was built from, or None."""
        return self._source

    @property
    def factors(self):
        """Per particle, the factor its stored image is multiplied by when
        read (None: 1), e.g. the data sign and CTF scale of the particle
        file (``docs/conventions.rst``)."""
        return self._factors

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._read(as_index([key], len(self)))[0]
        return self._read(as_index(key, len(self)))

    def _read(self, idx):
        if not len(idx):
            return np.empty((0, self.box, self.box), dtype=np.float32)
        D = self._source_box
        out = np.empty((len(idx), D, D), dtype=np.float32)
        file_ids, local = self._file_ids[idx], self._indices[idx]
        order = np.argsort(file_ids, kind="stable")
        cuts = np.flatnonzero(np.diff(file_ids[order])) + 1
        for group in np.split(order, cuts):
            if not len(group):
                continue
            data = self._stacks.data(file_ids[group[0]])
            rows = local[group]
            in_file_order = np.argsort(rows, kind="stable")
            out[group[in_file_order]] = data[rows[in_file_order]]
        self._check_finite(out, idx)
        if self._factors is not None:
            out *= self._factors[idx][:, None, None]
        if self._downsample and self._downsample != D:
            out = fourier_crop(out, self._downsample)
        return out

    def _check_finite(self, images, idx):
        """``DataError`` naming the stack, the image and the particle when a
        batch holds NaN or infinite values (checked on every batch read, so
        a stack is never scanned twice; nothing is skipped)."""
        if np.isfinite(images).all():
            return
        k = int(np.flatnonzero(~np.isfinite(images).reshape(len(images), -1)
                               .all(axis=1))[0])
        particle = idx[k]
        if not self._source:
            where = " (particle %d, counting from 1)" % (particle + 1)
        elif str(self._source).endswith(".cs"):  # .cs messages count rows from 0
            where = " (row %d (from 0) of %s)" % (self._rows[particle], self._source)
        else:  # star data rows count from 1, as RELION's messages do
            where = " (particle row %d of %s)" % (self._rows[particle] + 1, self._source)
        raise DataError("%s: image %d holds NaN or infinite values%s; the run "
                        "stops here (images are checked as they are read and none "
                        "is skipped): remove that particle or re-extract it"
                        % (self._files[self._file_ids[particle]],
                           self._indices[particle] + 1, where))

    def close(self):
        """Close the open stack files (they reopen on the next read)."""
        self._stacks.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_stacks"] = _OpenStacks(self._files, self._stacks.max_open)
        return state

    def __repr__(self):
        return "ImageStack(%d images of %d px from %d files%s)" % (
            len(self), self.box, len(self._files),
            ", cropped from %d px" % self._source_box if self._downsample else "")


def as_index(indices, n):
    """Integer positions ``(k,)`` int64 of ``n`` particles from ints
    (negative ones count from the end), a slice or a boolean mask ``(n,)``;
    ``IndexError`` when out of range or of another kind."""
    if isinstance(indices, slice):
        return np.arange(n)[indices]
    idx = np.asarray(indices)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError("boolean mask of shape %s for %d particles" % (idx.shape, n))
        return np.flatnonzero(idx)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise IndexError("particle indices must be a 1-D integer array, a slice "
                         "or a boolean mask")
    idx = np.where(idx < 0, idx + n, idx).astype(np.int64)
    if idx.min() < 0 or idx.max() >= n:
        raise IndexError("particle index out of range for %d particles" % n)
    return idx


# ------------------------------------------------------------ writing stacks

def write_stack(path, images, apix, n=None):
    """Write images to an MRC stack (float32, voxel size ``apix``) atomically.

    ``images`` is an array ``(N, D, D)`` or an iterable of ``(D, D)`` images
    or ``(B, D, D)`` chunks. Give ``n`` (the total count) to stream an
    iterable in bounded memory; without it the iterable is collected first.
    """
    path = Path(path)
    chunks, n = _image_chunks(images, n)
    try:
        first = next(chunks)
    except StopIteration:
        raise ValueError("no images to write to %s" % path) from None
    D = first.shape[-1]
    with atomic_path(path, "image stack of %d images of %d px" % (n, D)) as tmp:
        with mrcfile.new_mmap(tmp, shape=(n, D, D), mrc_mode=2) as mrc:
            reserve(tmp)  # a full disk: ENOSPC here, not SIGBUS mid-write
            mrc.set_image_stack()
            mrc.voxel_size = float(apix)
            stats = _fill(mrc.data, first, chunks, path)
            mrc.header.dmin, mrc.header.dmax, mrc.header.dmean, mrc.header.rms = stats
    return path


def _image_chunks(images, n):
    if isinstance(images, np.ndarray):
        images = images[None] if images.ndim == 2 else images
        return iter([images]), len(images)
    if n is None:
        chunks = [np.asarray(c) for c in images]
        chunks = [c[None] if c.ndim == 2 else c for c in chunks]
        return iter(chunks), sum(len(c) for c in chunks)
    return (c[None] if c.ndim == 2 else c for c in map(np.asarray, images)), int(n)


def _fill(out, first, chunks, path):
    """Copy the chunks into ``out``; return (min, max, mean, rms)."""
    pos, lo, hi, total, squares = 0, np.inf, -np.inf, 0.0, 0.0
    for chunk in _chain(first, chunks):
        if chunk.ndim != 3 or chunk.shape[1:] != out.shape[1:]:
            raise ValueError("images for %s must all be %dx%d, got shape %s"
                             % (path, out.shape[2], out.shape[1], chunk.shape))
        if pos + len(chunk) > len(out):
            raise ValueError("more than the announced %d images for %s" % (len(out), path))
        out[pos:pos + len(chunk)] = chunk
        block = out[pos:pos + len(chunk)]
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        total += float(block.sum(dtype=np.float64))
        squares += float(np.square(block, dtype=np.float64).sum())
        pos += len(chunk)
    if pos != len(out):
        raise ValueError("%d images announced for %s but %d given" % (len(out), path, pos))
    count = out.size
    mean = total / count
    return lo, hi, mean, np.sqrt(max(squares / count - mean * mean, 0.0))


def _chain(first, rest):
    yield first
    yield from rest


# ------------------------------------------------------------ stacks named in particle files

def resolve_stacks(files, path, datadir):
    """Absolute paths of the stacks ``files`` named in the particle file
    ``path``: looked up as written, relative to ``datadir`` or to the file's
    folder and its parents (RELION and cryoSPARC paths are relative to the
    project folder), then by file name in ``datadir`` and the file's folder.
    ``DataError`` naming ``path``, the stack and the places tried when one
    is missing."""
    folder = path.absolute().parent
    roots = ([datadir.absolute()] if datadir is not None else []) + [folder, *folder.parents]
    flat = ([datadir.absolute()] if datadir is not None else []) + [folder]
    resolved, missing, first_root = [], [], None
    for name in files:
        candidates = _candidates(Path(name.lstrip(">")), roots, flat, first_root)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append((name, candidates))
            found = candidates[0]
        elif first_root is None and not Path(name).is_absolute():
            first_root = next((r for r in roots if found == r / name.lstrip(">")), None)
        resolved.append(found)
    if missing:
        name, tried = missing[0]
        more = " (and %d more stacks)" % (len(missing) - 1) if len(missing) > 1 else ""
        tried = [str(t) for t in dict.fromkeys(tried)]
        tried = ", ".join(tried[:3]) + (", ..." if len(tried) > 3 else "")
        raise DataError("%s refers to image stack %s, which was not found%s (looked "
                        "for %s); give the folder of the stacks with --datadir"
                        % (path, name, more, tried))
    return resolved


def stack_locations(files, path, datadir=None):
    """Absolute paths of the stacks ``files`` named in the particle file
    ``path``, found as :func:`resolve_stacks` finds them; a stack that is
    not found keeps the first place it was looked for (relative to
    ``datadir`` or to the file's folder). For writers that name the stacks
    from another folder."""
    datadir = Path(datadir) if datadir is not None else None
    try:
        return resolve_stacks(list(files), Path(path), datadir)
    except DataError:
        base = (datadir or Path(path).parent).absolute()
        return [Path(f) if Path(f.lstrip(">")).is_absolute() else base / f.lstrip(">")
                for f in files]


def _candidates(name, roots, flat, preferred):
    if name.is_absolute():
        return [name] + [d / name.name for d in flat]
    first = [preferred / name] if preferred is not None else []
    return first + [r / name for r in roots] + [d / name.name for d in flat]


def single_box(values, path):
    """The one box size (pixels) of per-particle ``values`` (None: None);
    ``DataError`` naming ``path`` when they differ."""
    if values is None:
        return None
    sizes = np.unique(values.astype(np.int64))
    if len(sizes) > 1:
        raise DataError("%s mixes particle box sizes %s; the engine needs one box"
                        % (path, ", ".join(map(str, sizes))))
    return int(sizes[0])

