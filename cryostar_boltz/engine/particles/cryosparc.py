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
"""
from pathlib import Path

import numpy as np

from ..geometry import matrix_to_euler, rotvec_to_matrix
from ..io import save_array
from .dataset import Particles
from .errors import DataError
from .stacks import ImageStack, as_index, resolve_stacks, single_box, stack_locations

__all__ = ["read_particles_cs", "write_particles_cs", "stack_names"]

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
    box = single_box(raw["blob/shape"][:, -1], path) if "blob/shape" in fields else None
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


def stack_names(raw):
    """The stack file of each row, as written (``blob/path``), as str (N,)."""
    return np.char.decode(raw["blob/path"], "utf-8")


def _cs_images(raw, path, datadir, box):
    missing = [f for f in ("blob/path", "blob/idx") if f not in raw.dtype.names]
    if missing:
        raise DataError("%s has no images: missing field(s) %s" % (path, ", ".join(missing)))
    keys = {}
    file_ids = np.fromiter((keys.setdefault(p, len(keys)) for p in stack_names(raw).tolist()),
                           dtype=np.int64)
    resolved = resolve_stacks(list(keys), path, datadir)
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
    rotations = rotvec_to_matrix(raw["alignments3D/pose"])
    euler = matrix_to_euler(rotations)
    pixel = (raw["alignments3D/psize_A"].astype(np.float64)
             if "alignments3D/psize_A" in fields else apix)
    shifts = raw["alignments3D/shift"].astype(np.float64) * pixel[:, None]
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
    optional = {f: raw[f].astype(np.float64) if f in fields else np.zeros(n)
                for f in ("ctf/phase_shift_rad", "ctf/bfactor")}
    return np.stack([raw["ctf/df1_A"], raw["ctf/df2_A"],
                     np.degrees(raw["ctf/df_angle_rad"].astype(np.float64)),
                     raw["ctf/accel_kv"], raw["ctf/cs_mm"], raw["ctf/amp_contrast"],
                     np.degrees(optional["ctf/phase_shift_rad"]),
                     optional["ctf/bfactor"]], axis=1).astype(np.float64)


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
