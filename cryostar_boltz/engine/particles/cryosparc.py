"""cryoSPARC particle files (``.cs``): read into ``Particles``, written back.

A ``.cs`` file is a numpy structured array (``np.save`` format), one row
per particle, with cryoSPARC's field names: ``blob/path``, ``blob/idx``
(0-based), ``blob/psize_A``, ``blob/shape``; ``alignments3D/pose`` (a
rotation vector: ``engine.geometry.rotvec_to_matrix``),
``alignments3D/shift`` (the RELION origin in pixels of
``alignments3D/psize_A``); ``ctf/df1_A``, ``ctf/df2_A``,
``ctf/df_angle_rad``, ``ctf/accel_kv``, ``ctf/cs_mm``, ``ctf/amp_contrast``,
``ctf/phase_shift_rad``, ``ctf/bfactor``; ``ctf/exp_group_id``. The field
meanings are those pyem's ``csparc2star`` and cryoDRGN read.

Every field the engine reads is a finite number or refused naming the file,
the field and the row. ``blob/sign`` (cryoSPARC's data sign) and
``ctf/scale`` are applied to the images as they are read: cryoSPARC's CTF
has the opposite sign of RELION's (as cryoDRGN's, ``docs/conventions.rst``)
and models an image as ``blob/sign * ctf/scale * CTF_cs * projection``, so
in the engine's convention (``CTF_relion * projection``) a stored image is
multiplied by ``-blob/sign / ctf/scale``: the usual ``blob/sign = -1``
leaves it as stored (white particles, as in RELION stacks), ``+1`` inverts
it.
"""
from pathlib import Path

import numpy as np

from ..geometry import matrix_to_euler, rotvec_to_matrix
from ..io import save_array
from .dataset import Particles
from .errors import DataError
from .stacks import ImageStack, as_index, resolve_stacks, single_box, stack_locations

__all__ = ["read_particles_cs", "write_particles_cs", "stack_names", "cs_ctf_scale"]

_CTF_FIELDS = ("ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad",
               "ctf/accel_kv", "ctf/cs_mm", "ctf/amp_contrast")


def read_particles_cs(path, datadir=None, require_pose=True, require_ctf=True,
                      require_images=True):
    """Read a cryoSPARC ``.cs`` file into ``Particles`` (see
    ``load_particles`` for the arguments). Every problem raises
    ``DataError`` naming the file."""
    path = Path(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except EOFError:
        raise DataError("%s is not a cryoSPARC .cs file (it is empty)" % path) from None
    except (OSError, ValueError) as err:
        if "pickled" in str(err):  # numpy's word for any non-.npy content
            raise DataError("%s is not a cryoSPARC .cs file (not a numpy record "
                            "array; a .cs file is written by cryoSPARC's export)"
                            % path) from None
        raise DataError("%s is not a cryoSPARC .cs file: %s" % (path, err)) from None
    if not isinstance(raw, np.ndarray):
        raise DataError("%s is not a cryoSPARC .cs file (a .npz archive)" % path)
    if raw.dtype.names is None or raw.ndim != 1:
        raise DataError("%s is not a cryoSPARC .cs file (no named fields)" % path)
    if len(raw) == 0:
        raise DataError("%s has no particles" % path)
    fields = set(raw.dtype.names)
    if "blob/psize_A" not in fields:
        raise DataError("%s has no blob/psize_A (pixel size)" % path)
    apix = _positive(raw, "blob/psize_A", path)
    box = single_box(raw["blob/shape"][:, -1], path) if "blob/shape" in fields else None
    _refuse_unsupported(raw, path)
    images = (_cs_images(raw, path, datadir, box, _image_factors(raw, path))
              if require_images else None)
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


def stack_names(raw):
    """The stack file of each row, as written (``blob/path``), as str (N,)."""
    return np.char.decode(raw["blob/path"], "utf-8")


def field(raw, name, path):
    """Field ``name`` of a .cs array as float64 ``(N,)`` or ``(N, k)``;
    ``DataError`` naming the file, the field and the first row (counting
    from 0, like ``blob/idx``) holding NaN or infinity."""
    values = raw[name].astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))[0])
        raise DataError("%s: %s in row %d (from 0) is %s, not a finite number"
                        % (path, name, row, values[row].tolist()))
    return values


def _positive(raw, name, path):
    values = field(raw, name, path)
    if np.any(values <= 0):
        row = int(np.flatnonzero(values <= 0)[0])
        raise DataError("%s: %s in row %d (from 0) is %g; it must be positive"
                        % (path, name, row, values[row]))
    return values


#: Largest departure of ``ctf/anisomag`` from none accepted (not applied),
#: as for RELION's rlnMagMat.
MAX_ANISOMAG = 0.05
#: Largest ``ctf/shift_A`` accepted (not applied), Angstrom.
MAX_CTF_SHIFT_A = 0.01


def _refuse_unsupported(raw, path):
    """Refuse the optics the engine does not model: anisotropic
    magnification beyond ``MAX_ANISOMAG`` (cryoSPARC writes zeros when it
    was not refined; an identity matrix is accepted too), a CTF image
    shift, half-set labels other than 0 and 1."""
    fields = raw.dtype.names
    if "ctf/anisomag" in fields:
        mag = field(raw, "ctf/anisomag", path).reshape(len(raw), -1)
        off = np.abs(mag).max(1)
        if mag.shape[1] == 4:
            off = np.minimum(off, np.abs(mag - [1.0, 0.0, 0.0, 1.0]).max(1))
        if np.any(off > MAX_ANISOMAG):
            row = int(np.argmax(off > MAX_ANISOMAG))
            raise DataError("%s: ctf/anisomag in row %d (from 0) is %s; the engine "
                            "does not model anisotropic magnification beyond %g"
                            % (path, row, mag[row].tolist(), MAX_ANISOMAG))
    if "ctf/shift_A" in fields:
        shift = np.abs(field(raw, "ctf/shift_A", path).reshape(len(raw), -1)).max(1)
        if np.any(shift > MAX_CTF_SHIFT_A):
            row = int(np.argmax(shift > MAX_CTF_SHIFT_A))
            raise DataError("%s: ctf/shift_A in row %d (from 0) is %s A; the engine "
                            "does not apply cryoSPARC's CTF shift"
                            % (path, row, raw["ctf/shift_A"][row].tolist()))
    if "alignments3D/split" in fields:
        split = field(raw, "alignments3D/split", path)
        if not np.all(np.isin(split, (0, 1))):
            row = int(np.flatnonzero(~np.isin(split, (0, 1)))[0])
            raise DataError("%s: alignments3D/split in row %d (from 0) is %g; "
                            "cryoSPARC's half sets are 0 and 1" % (path, row, split[row]))


def _image_factors(raw, path):
    """Per-particle factor ``-blob/sign / ctf/scale`` the stored images are
    multiplied by (module docstring), or None when it is 1 everywhere."""
    fields = raw.dtype.names
    sign = (field(raw, "blob/sign", path) if "blob/sign" in fields
            else -np.ones(len(raw)))
    if not np.all(np.isin(sign, (-1.0, 1.0))):
        row = int(np.flatnonzero(~np.isin(sign, (-1.0, 1.0)))[0])
        raise DataError("%s: blob/sign in row %d (from 0) is %g; cryoSPARC's data "
                        "sign is -1 or +1" % (path, row, sign[row]))
    scale = _positive(raw, "ctf/scale", path) if "ctf/scale" in fields else 1.0
    factors = -sign / scale
    return None if np.all(factors == 1.0) else factors


def cs_ctf_scale(raw):
    """RELION's ``rlnCtfScalefactor`` (N,) for the rows of a .cs array, the
    inverse of ``_image_factors``: ``-blob/sign * ctf/scale`` (RELION
    multiplies its CTF by it); None when it is 1 everywhere."""
    factors = _image_factors(raw, "cryoSPARC particles")
    return None if factors is None else 1.0 / factors


def _cs_images(raw, path, datadir, box, factors=None):
    missing = [f for f in ("blob/path", "blob/idx") if f not in raw.dtype.names]
    if missing:
        raise DataError("%s has no images: missing field(s) %s" % (path, ", ".join(missing)))
    keys = {}
    file_ids = np.fromiter((keys.setdefault(p, len(keys)) for p in stack_names(raw).tolist()),
                           dtype=np.int64)
    resolved = resolve_stacks(list(keys), path, datadir)
    return ImageStack.from_file_ids(resolved, file_ids, raw["blob/idx"].astype(np.int64),
                                    box=box, source=path, factors=factors)


def _cs_pose(raw, path, apix, required):
    fields = raw.dtype.names
    missing = [f for f in ("alignments3D/pose", "alignments3D/shift") if f not in fields]
    if missing:
        if required:
            raise DataError("%s has no 3D poses: missing field(s) %s"
                            % (path, ", ".join(missing)))
        return None, None, None
    rotations = rotvec_to_matrix(field(raw, "alignments3D/pose", path))
    euler = matrix_to_euler(rotations)
    pixel = (_positive(raw, "alignments3D/psize_A", path)
             if "alignments3D/psize_A" in fields else apix)
    shifts = field(raw, "alignments3D/shift", path) * pixel[:, None]
    return euler, rotations, shifts


def _cs_ctf(raw, path, required):
    fields = raw.dtype.names
    missing = [f for f in _CTF_FIELDS if f not in fields]
    if missing:
        if required:
            raise DataError("%s has no CTF parameters: missing field(s) %s"
                            % (path, ", ".join(missing)))
        return None
    n = len(raw)
    values = {f: field(raw, f, path) for f in _CTF_FIELDS}
    values.update({f: field(raw, f, path) if f in fields else np.zeros(n)
                   for f in ("ctf/phase_shift_rad", "ctf/bfactor")})
    _positive(raw, "ctf/accel_kv", path)
    for name in ("ctf/df1_A", "ctf/df2_A"):
        if np.any(values[name] < 0):
            row = int(np.flatnonzero(values[name] < 0)[0])
            raise DataError("%s: %s in row %d (from 0) is %g; defocus is positive for "
                            "underfocus and overfocused images are not supported"
                            % (path, name, row, values[name][row]))
    w = values["ctf/amp_contrast"]
    if np.any((w < 0) | (w >= 1)):
        row = int(np.flatnonzero((w < 0) | (w >= 1))[0])
        raise DataError("%s: ctf/amp_contrast in row %d (from 0) is %g; it is a "
                        "fraction in [0, 1)" % (path, row, w[row]))
    return np.stack([values["ctf/df1_A"], values["ctf/df2_A"],
                     np.degrees(values["ctf/df_angle_rad"]),
                     values["ctf/accel_kv"], values["ctf/cs_mm"], w,
                     np.degrees(values["ctf/phase_shift_rad"]),
                     values["ctf/bfactor"]], axis=1)


def write_particles_cs(path, particles, indices=None):
    """Write (a subset of) ``Particles`` read from a .cs file as a cryoSPARC
    ``.cs`` file (the structured array's rows, unchanged), atomically.

    ``indices``: ints or a boolean mask (None: all). ``DataError`` when the
    particles did not come from a .cs file, ``ValueError`` when ``path``
    does not end in ``.cs``. Returns ``path``.
    """
    path = Path(path)
    if particles.raw is None:
        raise DataError("%s was not read from a cryoSPARC .cs file; write a star "
                        "file instead" % particles.path)
    if path.suffix != ".cs":
        raise ValueError("cryoSPARC particle files end in .cs, got %s" % path)
    rows = particles.raw if indices is None else particles.raw[as_index(indices, particles.n)]
    if "blob/path" in rows.dtype.names:
        rows = _with_blob_paths(rows, particles, path.absolute().parent)
    save_array(path, rows)
    return path


def _with_blob_paths(rows, particles, folder):
    """``rows`` with ``blob/path`` naming each stack from ``folder`` (the new
    file's): relative when the stack lies below it, absolute otherwise, so
    the file loads back from where it is written. The field (fixed-width
    bytes) is widened when a path needs it."""
    from .relion import _relative_if_below
    names = stack_names(rows)
    unique = list(dict.fromkeys(names.tolist()))
    resolved = stack_locations(unique, particles.path, particles.datadir)
    written = {n: _relative_if_below(r, folder).encode("utf-8")
               for n, r in zip(unique, resolved)}
    values = np.array([written[n] for n in names.tolist()])
    width = max(values.dtype.itemsize, rows.dtype["blob/path"].itemsize)
    dtype = np.dtype([(name, ("S%d" % width) if name == "blob/path"
                       else rows.dtype.fields[name][0]) for name in rows.dtype.names])
    out = np.empty(rows.shape, dtype=dtype)
    for name in rows.dtype.names:
        out[name] = values if name == "blob/path" else rows[name]
    return out
