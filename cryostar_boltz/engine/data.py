"""Particle data: images, poses and CTF from RELION stars and cryoSPARC files.

Every reader returns the engine's conventions (see ``engine/__init__.py``):

* ``rotations`` are RELION's projection matrices ``A`` (``x_image = A x_model``),
  ``Rotation.from_euler('ZYZ', [rot, tilt, psi], degrees=True).as_matrix().T``.
  cryoSPARC's ``alignments3D/pose`` is the rotation vector of the same
  rotation (``A = Rotation.from_rotvec(pose).as_matrix().T``), the convention
  of pyem's ``csparc2star`` and cryoDRGN.
* ``shifts`` are RELION origins in Angstrom (``rlnOriginX/YAngst``; older
  stars: pixels times the pixel size); cryoSPARC's ``alignments3D/shift`` is
  the same origin in pixels.
* ``ctf`` has the columns of ``CTF_COLUMNS``; voltage, Cs, amplitude
  contrast and pixel size come from each particle's optics group.

Images stay on disk: ``ImageStack`` memory-maps the MRC stacks and reads a
batch at a time, optionally Fourier-cropped, so datasets larger than RAM
work. ``cache_downsampled`` writes a cropped copy once for training.
"""
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import mrcfile
import numpy as np
from scipy import fft as sfft
from scipy.spatial.transform import Rotation

from . import CTF_COLUMNS
from .io import atomic_write, temporary_sibling
from .starfile import DataError, read_star, write_star

__all__ = ["DataError", "read_star", "write_star", "fourier_crop", "ImageStack",
           "write_stack", "cache_downsampled", "Particles", "load_particles",
           "write_particles_star", "write_particles_cs", "CTF_COLUMNS"]

#: Stack files kept open at once by an ImageStack (two descriptors each).
DEFAULT_MAX_OPEN = 128

_EULER_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
_CTF_STAR_COLUMNS = ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle",
                     "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast")
_CTF_CS_FIELDS = ("ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad",
                  "ctf/accel_kv", "ctf/cs_mm", "ctf/amp_contrast")


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
    D_new = _check_new_size(D_new, D)
    if D_new == D:
        return images.astype(np.float32)
    h = D_new // 2
    spectrum = sfft.rfft2(images.astype(np.float32, copy=False))
    spectrum = np.concatenate([spectrum[..., :h, :h + 1],
                               spectrum[..., D - h:, :h + 1]], axis=-2)
    out = sfft.irfft2(spectrum, s=(D_new, D_new))
    out *= (D_new / D) ** 2
    return out.astype(np.float32, copy=False)


def _check_new_size(D_new, D):
    if int(D_new) != D_new or D_new % 2 or not 2 <= D_new <= D:
        raise ValueError("the downsampled box must be an even number of pixels "
                         "between 2 and %d, got %s" % (D, D_new))
    return int(D_new)


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
                 max_open=DEFAULT_MAX_OPEN):
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
        self._setup(unique, file_ids, indices, downsample, box, source, max_open)

    @classmethod
    def from_file_ids(cls, files, file_ids, indices, downsample=None, box=None,
                      source=None, max_open=DEFAULT_MAX_OPEN):
        """Build from the distinct ``files`` and, per particle, the position
        of its file in ``files`` and its 0-based index in that file."""
        stack = cls.__new__(cls)
        stack._setup(list(files), np.asarray(file_ids, dtype=np.int64).ravel(),
                     np.asarray(indices, dtype=np.int64).ravel(),
                     downsample, box, source, max_open)
        return stack

    def _setup(self, files, file_ids, indices, downsample, box, source, max_open):
        if len(file_ids) != len(indices):
            raise ValueError("ImageStack: %d file ids for %d indices"
                             % (len(file_ids), len(indices)))
        self._files = [Path(os.path.abspath(f)) for f in files]
        self._file_ids = file_ids
        self._indices = indices
        self._source = source
        self._stacks = _OpenStacks(self._files, max_open)
        self._source_box = self._validate(box)
        self._downsample = None
        if downsample is not None:
            self._downsample = _check_new_size(downsample, self._source_box)

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

    def _view(self, file_ids, indices, downsample):
        view = ImageStack.__new__(ImageStack)
        view.__dict__.update(self.__dict__)
        view._file_ids, view._indices, view._downsample = file_ids, indices, downsample
        return view

    def subset(self, indices):
        """The images of particles ``indices`` (ints or a boolean mask)."""
        idx = _as_index(indices, len(self))
        return self._view(self._file_ids[idx], self._indices[idx], self._downsample)

    def downsampled(self, D_new):
        """The same images Fourier-cropped to ``D_new`` (None: full size)."""
        size = None if D_new is None else _check_new_size(D_new, self._source_box)
        return self._view(self._file_ids, self._indices, size)

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

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._read(_as_index([key], len(self)))[0]
        return self._read(_as_index(key, len(self)))

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
        if self._downsample and self._downsample != D:
            out = fourier_crop(out, self._downsample)
        return out

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


def _as_index(indices, n):
    """Integer positions from ints, a slice or a boolean mask, bounds-checked."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        with mrcfile.new_mmap(tmp, shape=(n, D, D), mrc_mode=2) as mrc:
            mrc.set_image_stack()
            mrc.voxel_size = float(apix)
            stats = _fill(mrc.data, first, chunks, path)
            mrc.header.dmin, mrc.header.dmax, mrc.header.dmean, mrc.header.rms = stats
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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


def cache_downsampled(particles, D_new, path, chunk=2048, apix=None, reuse=True):
    """Write the particle images Fourier-cropped to ``D_new`` once, in chunks
    of ``chunk`` images (bounded memory), and return an ImageStack on them.

    ``particles`` is a ``Particles`` or an ``ImageStack``. With ``reuse`` an
    existing cache of the right shape, newer than every source stack, is
    kept. ``apix`` is the source pixel size for the header (default: the
    particles' first pixel size).
    """
    path = Path(path)
    stack = particles.images if isinstance(particles, Particles) else particles
    if stack is None:
        raise DataError("%s: no images loaded to downsample" % getattr(particles, "path", ""))
    source = stack.downsampled(None)
    D_new = _check_new_size(D_new, source.box)
    n = len(source)
    if reuse and _cache_is_current(path, n, D_new, source.files):
        return ImageStack(path, np.arange(n), source=path)
    if apix is None:
        apix = float(particles.apix[0]) if isinstance(particles, Particles) else 1.0
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
    newest = max((s.stat().st_mtime for s in sources), default=0.0)
    return shape == (n, D_new, D_new) and path.stat().st_mtime >= newest


# ------------------------------------------------------------ particles

@dataclass(eq=False, repr=False)
class Particles:
    """Particles with their images, poses and CTF in the engine's conventions.

    ``euler``/``rotations``/``shifts`` are None without poses, ``ctf``
    without CTF, ``images`` when loaded with ``require_images=False``.
    ``table`` (the particle columns) and ``optics`` keep the input's own
    metadata for writing subsets; ``raw`` is the .cs structured array.
    """
    path: Path
    images: "ImageStack | None"
    euler: "np.ndarray | None"
    rotations: "np.ndarray | None"
    shifts: "np.ndarray | None"
    ctf: "np.ndarray | None"
    apix: np.ndarray
    box: "int | None"
    optics_group: np.ndarray
    table: dict
    optics: "dict | None"
    source_format: str
    raw: "np.ndarray | None" = None
    datadir: "Path | None" = None

    @property
    def n(self):
        return len(self.apix)

    def __repr__(self):
        return "Particles(%d from %s, box %s, %s%s%s)" % (
            self.n, self.path, self.box, self.source_format,
            ", poses" if self.has_pose else "", ", CTF" if self.has_ctf else "")

    def __len__(self):
        return self.n

    @property
    def has_pose(self):
        return self.rotations is not None

    @property
    def has_ctf(self):
        return self.ctf is not None

    def subset(self, indices):
        """The particles at ``indices`` (ints or a boolean mask), in that order."""
        idx = _as_index(indices, self.n)
        pick = (lambda a: None if a is None else a[idx])
        return replace(
            self,
            images=None if self.images is None else self.images.subset(idx),
            euler=pick(self.euler), rotations=pick(self.rotations),
            shifts=pick(self.shifts), ctf=pick(self.ctf), apix=self.apix[idx],
            optics_group=self.optics_group[idx],
            table={k: v[idx] for k, v in self.table.items()}, raw=pick(self.raw))


def load_particles(path, datadir=None, require_pose=True, require_ctf=True,
                   require_images=True):
    """Read a RELION ``.star`` or cryoSPARC ``.cs`` particle file.

    Stacks are looked up as written, relative to ``datadir`` or to the
    file's folder and its parents (RELION and cryoSPARC paths are relative
    to the project folder), then by file name in ``datadir`` and the
    file's folder. ``require_images=False`` reads the metadata only.
    Every problem raises ``DataError`` naming the file.
    """
    path = Path(path)
    loaders = {".star": _load_star, ".cs": _load_cs}
    loader = loaders.get(path.suffix.lower())
    if loader is None:
        raise DataError("%s: particle files must be RELION .star or cryoSPARC .cs"
                        % path)
    if not path.is_file():
        raise DataError("particle file %s not found" % path)
    datadir = None if datadir is None else Path(datadir)
    if datadir is not None and not datadir.is_dir():
        raise DataError("data folder %s (for %s) not found" % (datadir, path))
    return loader(path, datadir, require_pose, require_ctf, require_images)


# -- RELION star

def _load_star(path, datadir, require_pose, require_ctf, require_images):
    blocks = read_star(path)
    table, optics = _particle_blocks(blocks, path)
    n = len(next(iter(table.values())))
    if n == 0:
        raise DataError("%s has no particles" % path)
    rows, groups = _optics_rows(table, optics, path, n)

    def column(name):
        """Per-particle values from the particle block or the optics group."""
        if name in table:
            return table[name]
        if optics is not None and name in optics:
            return optics[name][rows]
        return None

    apix = _star_pixel_size(column)
    box = _single_box(column("rlnImageSize"), path)
    images = None
    if require_images:
        images = _star_images(table, path, datadir, box)
        box = images.source_box
    if apix is None:
        apix = _header_pixel_size(images, path, n)
    euler, rotations, shifts = _star_pose(column, path, apix, require_pose)
    ctf = _star_ctf(column, path, n, require_ctf)
    return Particles(path=path, images=images, euler=euler, rotations=rotations,
                     shifts=shifts, ctf=ctf, apix=apix, box=box, optics_group=groups,
                     table=table, optics=optics, source_format="star", datadir=datadir)


def _particle_blocks(blocks, path):
    """(particle table, optics table or None) of a star file."""
    optics = blocks.get("optics")
    if "particles" in blocks:
        return blocks["particles"], optics
    candidates = [name for name, b in blocks.items()
                  if name != "optics" and "rlnImageName" in b]
    if not candidates:
        candidates = [name for name in blocks if name != "optics" and blocks[name]]
    if not candidates:
        raise DataError("%s has no particle table (data_particles or a loop with "
                        "rlnImageName)" % path)
    return blocks[candidates[0]], optics


def _optics_rows(table, optics, path, n):
    """Per particle, its row in the optics table and its optics group."""
    group = table.get("rlnOpticsGroup")
    if optics is None or not optics:
        return None, np.ones(n, np.int64) if group is None else group.astype(np.int64)
    ids = optics.get("rlnOpticsGroup")
    count = len(next(iter(optics.values())))
    if ids is None:
        ids = np.arange(1, count + 1)
    ids = np.asarray(ids).astype(np.int64)
    if group is None:
        if count != 1:
            raise DataError("%s: particles carry no rlnOpticsGroup but data_optics "
                            "has %d groups" % (path, count))
        return np.zeros(n, np.int64), np.full(n, ids[0])
    group = group.astype(np.int64)
    order = np.argsort(ids)
    pos = np.minimum(np.searchsorted(ids[order], group), count - 1)
    unknown = ids[order][pos] != group
    if unknown.any():
        raise DataError("%s: particles refer to optics group %d, which data_optics "
                        "does not define" % (path, group[unknown][0]))
    return order[pos], group


def _star_pixel_size(column):
    for name in ("rlnImagePixelSize", "rlnPixelSize"):
        values = column(name)
        if values is not None:
            return values.astype(np.float64)
    detector, magnification = column("rlnDetectorPixelSize"), column("rlnMagnification")
    if detector is not None and magnification is not None:
        return detector * 1e4 / magnification.astype(np.float64)
    return None


def _header_pixel_size(images, path, n):
    """Pixel size from the first stack's header when the star has none."""
    if images is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.open(images.files[0], header_only=True, permissive=True) as mrc:
                size = float(mrc.voxel_size.x)
        if size > 0:
            return np.full(n, size)
    raise DataError("%s gives no pixel size (rlnImagePixelSize, or "
                    "rlnDetectorPixelSize and rlnMagnification)" % path)


def _single_box(values, path):
    if values is None:
        return None
    sizes = np.unique(values.astype(np.int64))
    if len(sizes) > 1:
        raise DataError("%s mixes particle box sizes %s; the engine needs one box"
                        % (path, ", ".join(map(str, sizes))))
    return int(sizes[0])


def _star_images(table, path, datadir, box):
    names = table.get("rlnImageName")
    if names is None:
        raise DataError("%s has no rlnImageName column (no images to read)" % path)
    files, file_ids, indices = _split_image_names(names, path)
    resolved = _resolve_stacks(files, path, datadir)
    return ImageStack.from_file_ids(resolved, file_ids, indices, box=box, source=path)


def _split_image_names(names, path):
    """``idx@file`` names -> (distinct files, file id per particle, 0-based index)."""
    keys, ids, numbers = {}, [], []
    for name in names.tolist():
        number, at, stack = name.partition("@")
        if not at:
            number, stack = "1", number
        ids.append(keys.setdefault(stack, len(keys)))
        numbers.append(number)
    try:
        indices = np.array(numbers, dtype=np.int64) - 1
    except ValueError:
        bad = next(v for v in numbers if not v.strip().isdigit())
        raise DataError("%s: image name with a bad index %r (expected idx@file)"
                        % (path, bad)) from None
    return list(keys), np.array(ids, dtype=np.int64), indices


def _resolve_stacks(files, path, datadir):
    """Absolute paths of stacks named in ``path`` (see ``load_particles``)."""
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
                        "for %s); give the folder of the stacks as datadir"
                        % (path, name, more, tried))
    return resolved


def _candidates(name, roots, flat, preferred):
    if name.is_absolute():
        return [name] + [d / name.name for d in flat]
    first = [preferred / name] if preferred is not None else []
    return first + [r / name for r in roots] + [d / name.name for d in flat]


def _star_pose(column, path, apix, required):
    angles = [column(c) for c in _EULER_COLUMNS]
    missing = [c for c, a in zip(_EULER_COLUMNS, angles) if a is None]
    if missing:
        if required:
            raise DataError("%s has no poses: missing column(s) %s"
                            % (path, ", ".join(missing)))
        return None, None, None
    euler = np.stack(angles, axis=1).astype(np.float64)
    origin = [column(c) for c in ("rlnOriginXAngst", "rlnOriginYAngst")]
    if origin[0] is not None and origin[1] is not None:
        shifts = np.stack(origin, axis=1).astype(np.float64)
    else:
        pixels = [column(c) for c in ("rlnOriginX", "rlnOriginY")]
        if pixels[0] is not None and pixels[1] is not None:
            shifts = np.stack(pixels, axis=1) * apix[:, None]
        else:
            shifts = np.zeros((len(euler), 2))
    return euler, euler_to_matrix(euler), shifts


def _star_ctf(column, path, n, required):
    values = [column(c) for c in _CTF_STAR_COLUMNS]
    missing = [c for c, v in zip(_CTF_STAR_COLUMNS, values) if v is None]
    if missing:
        if required:
            raise DataError("%s has no CTF parameters: missing column(s) %s"
                            % (path, ", ".join(missing)))
        return None
    extra = [column(c) for c in ("rlnPhaseShift", "rlnCtfBfactor")]
    values += [np.zeros(n) if v is None else v for v in extra]
    return np.stack(values, axis=1).astype(np.float64)


def euler_to_matrix(euler):
    """RELION projection matrices A (N, 3, 3) from [rot, tilt, psi] degrees.

    RELION's ``Euler_angles2matrix`` written out (vectorised); equal to
    ``Rotation.from_euler('ZYZ', euler, degrees=True).as_matrix().T``.
    """
    rot, tilt, psi = np.radians(np.asarray(euler, np.float64)).T
    ca, sa, cb, sb = np.cos(rot), np.sin(rot), np.cos(tilt), np.sin(tilt)
    cg, sg = np.cos(psi), np.sin(psi)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.stack([np.stack([cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb], -1),
                     np.stack([-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb], -1),
                     np.stack([sc, ss, cb], -1)], -2)


# -- cryoSPARC .cs

def _load_cs(path, datadir, require_pose, require_ctf, require_images):
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError("%s is not a cryoSPARC .cs file: %s" % (path, err)) from None
    if raw.dtype.names is None or raw.ndim != 1:
        raise DataError("%s is not a cryoSPARC .cs file (no named fields)" % path)
    if len(raw) == 0:
        raise DataError("%s has no particles" % path)
    fields = set(raw.dtype.names)
    if "blob/psize_A" not in fields:
        raise DataError("%s has no blob/psize_A (pixel size)" % path)
    apix = raw["blob/psize_A"].astype(np.float64)
    box = _single_box(raw["blob/shape"][:, -1], path) if "blob/shape" in fields else None
    images = _cs_images(raw, path, datadir, box) if require_images else None
    if images is not None:
        box = images.source_box
    euler, rotations, shifts = _cs_pose(raw, path, apix, require_pose)
    ctf = _cs_ctf(raw, path, require_ctf)
    group = (raw["ctf/exp_group_id"].astype(np.int64) if "ctf/exp_group_id" in fields
             else np.zeros(len(raw), np.int64))
    table = {name: raw[name] for name in raw.dtype.names}
    return Particles(path=path, images=images, euler=euler, rotations=rotations,
                     shifts=shifts, ctf=ctf, apix=apix, box=box, optics_group=group,
                     table=table, optics=None, source_format="cs", raw=raw,
                     datadir=datadir)


def _cs_paths(raw):
    return np.char.decode(raw["blob/path"], "utf-8")


def _cs_images(raw, path, datadir, box):
    missing = [f for f in ("blob/path", "blob/idx") if f not in raw.dtype.names]
    if missing:
        raise DataError("%s has no images: missing field(s) %s" % (path, ", ".join(missing)))
    keys = {}
    file_ids = np.fromiter((keys.setdefault(p, len(keys)) for p in _cs_paths(raw).tolist()),
                           dtype=np.int64)
    resolved = _resolve_stacks(list(keys), path, datadir)
    return ImageStack.from_file_ids(resolved, file_ids, raw["blob/idx"].astype(np.int64),
                                    box=box, source=path)


def _cs_pose(raw, path, apix, required):
    fields = raw.dtype.names
    missing = [f for f in ("alignments3D/pose", "alignments3D/shift") if f not in fields]
    if missing:
        if required:
            raise DataError("%s has no 3D poses: missing field(s) %s"
                            % (path, ", ".join(missing)))
        return None, None, None
    rotation = Rotation.from_rotvec(raw["alignments3D/pose"].astype(np.float64))
    rotations = np.ascontiguousarray(rotation.as_matrix().transpose(0, 2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock at tilt 0
        euler = rotation.as_euler("ZYZ", degrees=True)
    pixel = (raw["alignments3D/psize_A"].astype(np.float64)
             if "alignments3D/psize_A" in fields else apix)
    shifts = raw["alignments3D/shift"].astype(np.float64) * pixel[:, None]
    return euler, rotations, shifts


def _cs_ctf(raw, path, required):
    fields = raw.dtype.names
    missing = [f for f in _CTF_CS_FIELDS if f not in fields]
    if missing:
        if required:
            raise DataError("%s has no CTF parameters: missing field(s) %s"
                            % (path, ", ".join(missing)))
        return None
    n = len(raw)
    optional = {f: raw[f].astype(np.float64) if f in fields else np.zeros(n)
                for f in ("ctf/phase_shift_rad", "ctf/bfactor")}
    return np.stack([raw["ctf/df1_A"], raw["ctf/df2_A"],
                     np.degrees(raw["ctf/df_angle_rad"].astype(np.float64)),
                     raw["ctf/accel_kv"], raw["ctf/cs_mm"], raw["ctf/amp_contrast"],
                     np.degrees(optional["ctf/phase_shift_rad"]),
                     optional["ctf/bfactor"]], axis=1).astype(np.float64)


# ------------------------------------------------------------ writing subsets

def write_particles_star(path, particles, indices=None):
    """Write (a subset of) the particles as a RELION 3.1 star.

    Star input keeps all its columns and its optics table; .cs input is
    converted (image names, poses, CTF, one optics group per distinct
    voltage, Cs, amplitude contrast and pixel size). Image names point to
    the stacks from the new file's folder: relative when the stacks lie
    below it, absolute otherwise.
    """
    path = Path(path)
    sub = particles if indices is None else particles.subset(indices)
    names = _image_names(sub, path.absolute().parent)
    if sub.source_format == "star":
        table = dict(sub.table)
        if names is not None:
            table["rlnImageName"] = names
        blocks = {"optics": sub.optics} if sub.optics else {}
        blocks["particles"] = table
    else:
        blocks = _star_blocks_from_arrays(sub, names)
    write_star(path, blocks)
    return path


def _image_names(particles, folder):
    """``idx@file`` names relative to ``folder`` (None without image names)."""
    if particles.images is not None:
        files = particles.images.files
        file_ids, indices = particles.images.file_ids, particles.images.indices
    else:
        base = (particles.datadir or particles.path.parent).absolute()
        if particles.source_format == "star":
            if "rlnImageName" not in particles.table:
                return None
            files, file_ids, indices = _split_image_names(
                particles.table["rlnImageName"], particles.path)
        else:
            if "blob/path" not in particles.table:
                return None
            keys = {}
            file_ids = np.array([keys.setdefault(p, len(keys))
                                 for p in _cs_paths(particles.raw).tolist()], dtype=np.int64)
            files, indices = list(keys), particles.table["blob/idx"].astype(np.int64)
        files = [base / f.lstrip(">") for f in files]
    written = [_relative_if_below(Path(f), folder) for f in files]
    return np.array(["%06d@%s" % (i + 1, written[f])
                     for f, i in zip(file_ids.tolist(), indices.tolist())])


def _relative_if_below(file, folder):
    file = Path(os.path.abspath(file))
    try:
        return file.relative_to(folder).as_posix()
    except ValueError:
        return str(file)


def _star_blocks_from_arrays(particles, names):
    """RELION 3.1 tables for particles that came from a .cs file."""
    block = {}
    if names is not None:
        block["rlnImageName"] = names
    optics_keys = [particles.apix]
    if particles.has_ctf:
        ctf = particles.ctf
        optics_keys = [ctf[:, 3], ctf[:, 4], ctf[:, 5], particles.apix]
    combos, group = np.unique(np.stack(optics_keys, axis=1), axis=0, return_inverse=True)
    group = np.asarray(group).ravel() + 1
    optics = {"rlnOpticsGroup": np.arange(1, len(combos) + 1),
              "rlnOpticsGroupName": np.array(["opticsGroup%d" % g
                                              for g in range(1, len(combos) + 1)])}
    if particles.has_ctf:
        optics.update(rlnVoltage=combos[:, 0], rlnSphericalAberration=combos[:, 1],
                      rlnAmplitudeContrast=combos[:, 2])
    optics["rlnImagePixelSize"] = combos[:, -1]
    if particles.box:
        optics["rlnImageSize"] = np.full(len(combos), particles.box)
    optics["rlnImageDimensionality"] = np.full(len(combos), 2)
    block["rlnOpticsGroup"] = group
    if particles.has_pose:
        block.update(rlnAngleRot=particles.euler[:, 0], rlnAngleTilt=particles.euler[:, 1],
                     rlnAnglePsi=particles.euler[:, 2],
                     rlnOriginXAngst=particles.shifts[:, 0],
                     rlnOriginYAngst=particles.shifts[:, 1])
    if particles.has_ctf:
        block.update(rlnDefocusU=ctf[:, 0], rlnDefocusV=ctf[:, 1], rlnDefocusAngle=ctf[:, 2],
                     rlnPhaseShift=ctf[:, 6], rlnCtfBfactor=ctf[:, 7])
    if particles.raw is not None and "alignments3D/split" in particles.raw.dtype.names:
        block["rlnRandomSubset"] = particles.raw["alignments3D/split"].astype(np.int64) + 1
    return {"optics": optics, "particles": block}


def write_particles_cs(path, particles, indices=None):
    """Write (a subset of) particles read from a .cs file as a cryoSPARC
    .cs file (the structured array's rows, unchanged), atomically."""
    path = Path(path)
    if particles.raw is None:
        raise DataError("%s was not read from a cryoSPARC .cs file; write a star "
                        "file instead" % particles.path)
    if path.suffix != ".cs":
        raise ValueError("cryoSPARC particle files end in .cs, got %s" % path)
    rows = particles.raw if indices is None else particles.raw[_as_index(indices, particles.n)]
    atomic_write(path, lambda fh: np.save(fh, rows), binary=True)
    return path
