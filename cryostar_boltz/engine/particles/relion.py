"""RELION particle stars: read into ``Particles``, built from arrays, written.

``read_particles_star`` reads RELION 3.0, 3.1 and 5 particle stars (with or
without an optics block; origins in Angstrom or, in older files, pixels).
``particle_table`` is the one place that builds a RELION 3.1 particle table
(``data_optics`` + ``data_particles``) from per-particle arrays: the subset
writer, the simulator and the Scipion side's ``convert.write_particles_star``
all go through it. ``write_particles_star`` writes (a subset of) loaded
particles. Column names are RELION 3.1's (``src/metadata_label.h``).
"""
import os
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from .. import CTF_COLUMNS
from ..geometry import euler_to_matrix
from .cryosparc import cs_ctf_scale, stack_names
from .dataset import Particles
from .errors import DataError
from .relion_fields import (check_random_subset, image_factors, numeric_column,
                            particle_row, positive, refuse_unsupported, underfocus)
from .stacks import ImageStack, resolve_stacks, single_box, stack_locations
from .star import read_star, write_star

__all__ = ["read_particles_star", "particle_table", "write_particles_star",
           "split_image_names", "EULER_LABELS", "ORIGIN_LABELS", "CTF_LABELS"]

#: RELION labels of the Euler angles rot, tilt, psi (degrees).
EULER_LABELS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
#: RELION 3.1 labels of the origin (Angstrom); RELION 3.0 gave pixels.
ORIGIN_LABELS = ("rlnOriginXAngst", "rlnOriginYAngst")
_ORIGIN_PIXEL_LABELS = ("rlnOriginX", "rlnOriginY")
#: RELION label of each column of the engine's CTF arrays (``CTF_COLUMNS``).
CTF_LABELS = dict(zip(CTF_COLUMNS, (
    "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage",
    "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnPhaseShift",
    "rlnCtfBfactor")))
#: CTF parameters RELION 3.1 keeps per optics group, not per particle.
_OPTICS_CTF = ("voltage", "cs", "amplitude_contrast")
#: CTF parameters a star must give (phase shift and B-factor default to 0).
_REQUIRED_CTF = CTF_COLUMNS[:6]


# ------------------------------------------------------------ reading

def read_particles_star(path, datadir=None, require_pose=True, require_ctf=True,
                        require_images=True):
    """Read a RELION particle star into ``Particles`` (see ``load_particles``
    for the arguments). Every column the engine reads is interpreted or
    refused (``docs/conventions.rst``, "Fields of the input files"): every
    problem raises ``DataError`` naming the file, the column and the row."""
    path = Path(path)
    blocks = read_star(path)
    block, table, optics = _particle_blocks(blocks, path)
    n = len(next(iter(table.values())))
    if n == 0:
        raise DataError("%s has no particles" % path)
    rows, groups = _optics_rows(table, optics, path, n, block)

    def column(name):
        """Per-particle float64 values from the particle block or the optics
        group; DataError naming the column and row of a non-number, NaN or
        infinity."""
        if name in table:
            return numeric_column(table[name], name, path, block)
        if optics is not None and name in optics:
            return numeric_column(optics[name], name, path, "optics")[rows]
        return None

    def where(name, row):
        """Where particle ``row`` takes its value of ``name`` from: its
        particle row, or its optics group for a value from data_optics."""
        if name in table or optics is None or name not in optics:
            return particle_row(name, row)
        return "optics group %d" % groups[row]

    refuse_unsupported(column, path, groups)
    apix, apix_source = _star_pixel_size(column, path, where), "particle file"
    size = column("rlnImageSize")
    if size is not None and np.any(size != np.round(size)):
        row = int(np.flatnonzero(size != np.round(size))[0])
        raise DataError("%s: rlnImageSize is %g (%s), not a whole number "
                        "of pixels" % (path, size[row], where("rlnImageSize", row)))
    box = single_box(size, path)
    images = None
    if require_images:
        images = _star_images(table, path, datadir, box, image_factors(column, path))
        box = images.source_box
    if apix is None:
        apix = _header_pixel_size(images, path, n)
        apix_source = "stack header"
    euler, rotations, shifts = _star_pose(column, path, apix, require_pose)
    ctf = _star_ctf(column, path, n, require_ctf, where)
    check_random_subset(column, path)
    return Particles(path=path, images=images, euler=euler, rotations=rotations,
                     shifts=shifts, ctf=ctf, apix=apix, box=box, optics_group=groups,
                     table=table, optics=optics, source_format="star", datadir=datadir,
                     apix_source=apix_source)


def _particle_blocks(blocks, path):
    """(name, particle table, optics table or None) of a star file."""
    optics = blocks.get("optics")
    if "particles" in blocks:
        return "particles", blocks["particles"], optics
    candidates = [name for name, b in blocks.items()
                  if name != "optics" and "rlnImageName" in b]
    if not candidates:
        candidates = [name for name in blocks if name != "optics" and blocks[name]]
    if not candidates:
        raise DataError("%s has no particle table (data_particles or a loop with "
                        "rlnImageName)" % path)
    return candidates[0], blocks[candidates[0]], optics


def _group_ids(values, path, block):
    """An rlnOpticsGroup column as int64; DataError for non-integers."""
    numbers = numeric_column(values, "rlnOpticsGroup", path, block)
    if np.any(numbers != np.round(numbers)):
        row = int(np.flatnonzero(numbers != np.round(numbers))[0])
        raise DataError("%s, data_%s: rlnOpticsGroup in row %d is %g, not a group "
                        "number" % (path, block, row + 1, numbers[row]))
    return numbers.astype(np.int64)


def _optics_rows(table, optics, path, n, block="particles"):
    """Per particle, its row in the optics table and its optics group."""
    group = table.get("rlnOpticsGroup")
    if group is not None:
        group = _group_ids(group, path, block)
    if optics is None or not optics:
        return None, np.ones(n, np.int64) if group is None else group
    ids = optics.get("rlnOpticsGroup")
    count = len(next(iter(optics.values())))
    if ids is None:
        ids = np.arange(1, count + 1)
    ids = _group_ids(ids, path, "optics")
    if len(np.unique(ids)) != len(ids):
        raise DataError("%s, data_optics: rlnOpticsGroup defines a group twice (%s)"
                        % (path, ", ".join(map(str, ids.tolist()))))
    if group is None:
        if count != 1:
            raise DataError("%s: particles carry no rlnOpticsGroup but data_optics "
                            "has %d groups" % (path, count))
        return np.zeros(n, np.int64), np.full(n, ids[0])
    order = np.argsort(ids)
    pos = np.minimum(np.searchsorted(ids[order], group), count - 1)
    unknown = ids[order][pos] != group
    if unknown.any():
        raise DataError("%s: particles refer to optics group %d, which data_optics "
                        "does not define" % (path, group[unknown][0]))
    return order[pos], group


def _star_pixel_size(column, path, where=particle_row):
    """Pixel size (N,) Angstrom: rlnImagePixelSize, else rlnPixelSize, else
    rlnDetectorPixelSize (micrometre) * 1e4 / rlnMagnification (RELION 3.0;
    RELION 3.1 ignores these two when the optics group gives the image
    pixel size, and so does the engine). None when the star gives none."""
    for name in ("rlnImagePixelSize", "rlnPixelSize"):
        values = column(name)
        if values is not None:
            return positive(values, name, path, where)
    detector, magnification = column("rlnDetectorPixelSize"), column("rlnMagnification")
    if detector is not None and magnification is not None:
        return (positive(detector, "rlnDetectorPixelSize", path, where) * 1e4
                / positive(magnification, "rlnMagnification", path, where))
    return None


def _header_pixel_size(images, path, n):
    """Pixel size from the first stack's header when the star has none."""
    if images is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.open(images.files[0], header_only=True, permissive=True) as mrc:
                size = (float(mrc.voxel_size.x), float(mrc.voxel_size.y))
        if size[0] > 0 and abs(size[0] - size[1]) > 1e-4 * size[0]:
            raise DataError("%s gives no pixel size and the header of %s gives "
                            "different ones along x and y %s" % (path, images.files[0],
                                                                 list(size)))
        if np.isfinite(size[0]) and size[0] > 0:
            return np.full(n, size[0])
    raise DataError("%s gives no pixel size (rlnImagePixelSize, or "
                    "rlnDetectorPixelSize and rlnMagnification)" % path)


def _star_images(table, path, datadir, box, factors=None):
    names = table.get("rlnImageName")
    if names is None:
        raise DataError("%s has no rlnImageName column (no images to read)" % path)
    files, file_ids, indices = split_image_names(names, path)
    resolved = resolve_stacks(files, path, datadir)
    return ImageStack.from_file_ids(resolved, file_ids, indices, box=box, source=path,
                                    factors=factors)


def split_image_names(names, path):
    """RELION ``index@stack`` image names (1-based index; a bare stack name
    is image 1) -> (distinct stacks, stack position per particle (N,),
    0-based index (N,)). ``DataError`` naming ``path`` for a bad index."""
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
        row = next(i for i, v in enumerate(numbers) if not v.strip().isdigit())
        raise DataError("%s: rlnImageName in row %d has a bad index %r (expected "
                        "idx@file)" % (path, row + 1, numbers[row])) from None
    if len(indices) and indices.min() < 0:
        row = int(np.argmax(indices < 0))
        raise DataError("%s: rlnImageName in row %d has index %d; RELION counts "
                        "images from 1" % (path, row + 1, indices[row] + 1))
    return list(keys), np.array(ids, dtype=np.int64), indices


def _star_pose(column, path, apix, required):
    angles = [column(c) for c in EULER_LABELS]
    missing = [c for c, a in zip(EULER_LABELS, angles) if a is None]
    if missing:
        if required:
            raise DataError("%s has no poses: missing column(s) %s"
                            % (path, ", ".join(missing)))
        return None, None, None
    euler = np.stack(angles, axis=1).astype(np.float64)
    angstrom = _origin_pair(column, ORIGIN_LABELS, path)
    pixels = _origin_pair(column, _ORIGIN_PIXEL_LABELS, path)
    if pixels is not None:
        pixels = pixels * apix[:, None]
    if angstrom is not None and pixels is not None:
        apart = np.abs(angstrom - pixels).max(1)
        if np.any(apart > 0.01 * apix):
            row = int(np.argmax(apart > 0.01 * apix))
            raise DataError(
                "%s: rlnOriginX/YAngst and rlnOriginX/Y (pixels) disagree in row %d "
                "(%.3f, %.3f A against %.3f, %.3f A); RELION 3.1 reads the Angstrom "
                "columns: remove the pixel ones" % ((path, row + 1) + tuple(angstrom[row])
                                                    + tuple(pixels[row])))
    shifts = angstrom if angstrom is not None else pixels
    if shifts is None:
        shifts = np.zeros((len(euler), 2))
    return euler, euler_to_matrix(euler), shifts


def _origin_pair(column, labels, path):
    """(N, 2) origins from two columns, None when neither is given;
    DataError when only one is."""
    x, y = (column(c) for c in labels)
    if (x is None) != (y is None):
        raise DataError("%s has %s but not %s" % ((path,) + (
            labels if y is None else labels[::-1])))
    return None if x is None else np.stack([x, y], axis=1)


def _star_ctf(column, path, n, required, where=particle_row):
    labels = [CTF_LABELS[c] for c in _REQUIRED_CTF]
    values = [column(c) for c in labels]
    missing = [c for c, v in zip(labels, values) if v is None]
    if missing:
        if required:
            raise DataError("%s has no CTF parameters: missing column(s) %s"
                            % (path, ", ".join(missing)))
        return None
    positive(values[3], CTF_LABELS["voltage"], path, where)
    for k in (0, 1):
        underfocus(values[k], labels[k], path, where)
    w = values[5]
    if np.any((w < 0) | (w >= 1)):
        row = int(np.flatnonzero((w < 0) | (w >= 1))[0])
        raise DataError("%s: rlnAmplitudeContrast is %g (%s); it is a fraction "
                        "in [0, 1)" % (path, w[row], where("rlnAmplitudeContrast", row)))
    extra = [column(CTF_LABELS[c]) for c in CTF_COLUMNS[6:]]
    values += [np.zeros(n) if v is None else v for v in extra]
    return np.stack(values, axis=1).astype(np.float64)


# ------------------------------------------------------------ tables from arrays

def particle_table(image_names, apix, box=None, euler=None, origins=None, ctf=None,
                   optics_group=None, optics_names=None, columns=None):
    """RELION 3.1 particle star blocks from per-particle arrays.

    ``image_names`` (N,) ``index@stack`` (index from 1) or None (no
    ``rlnImageName``); ``apix`` Angstrom per pixel, a number or (N,);
    ``box`` the image size in pixels or None; ``euler`` (N, 3) ``rot, tilt,
    psi`` in degrees; ``origins`` (N, 2) ``rlnOriginX/YAngst`` in Angstrom;
    ``ctf`` (N, 8) in ``CTF_COLUMNS`` order, or a mapping from some of the
    ``CTF_COLUMNS`` names to (N,) arrays: voltage, Cs and amplitude contrast
    go to the optics block, the others to the particles.

    ``optics_group`` (N,) ids, one row of ``data_optics`` per distinct id
    (default: one group per distinct voltage, Cs, amplitude contrast and
    pixel size, numbered from 1 in sorted order); ``optics_names`` the
    names of the groups in ascending id order (default ``opticsGroupK``).
    ``columns`` adds particle columns ``{label: (N,) values}`` after the
    others. Returns ``{"optics": {...}, "particles": {...}}`` for
    ``write_star``; ``ValueError`` when a group mixes optics values or
    lengths differ.
    """
    arrays = [a for a in (image_names, euler, origins, optics_group) if a is not None]
    ctf = _ctf_columns(ctf)
    arrays += list(ctf.values()) + list((columns or {}).values())
    if np.ndim(apix):
        arrays.append(apix)
    if not arrays:
        raise ValueError("particle_table needs at least one per-particle array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("particle_table: per-particle arrays of different "
                         "lengths %s" % sorted({len(a) for a in arrays}))
    per_particle_apix = np.broadcast_to(np.asarray(apix, dtype=np.float64), (n,))
    optics_values = [ctf[c] for c in _OPTICS_CTF if c in ctf] + [per_particle_apix]
    keys = np.stack(optics_values, axis=1)
    if optics_group is None:
        combos, inverse = np.unique(keys, axis=0, return_inverse=True)
        ids = np.arange(1, len(combos) + 1)
        group = ids[np.asarray(inverse).ravel()]
    else:
        group = np.asarray(optics_group).astype(np.int64)
        ids, first, inverse = np.unique(group, return_index=True, return_inverse=True)
        combos = keys[first]
        mixed = np.flatnonzero(np.any(keys != combos[np.asarray(inverse).ravel()], axis=1))
        if len(mixed):
            raise ValueError("optics group %d mixes voltage, Cs, amplitude contrast "
                             "or pixel size (particle %d)" % (group[mixed[0]], mixed[0]))
    if optics_names is None:
        optics_names = ["opticsGroup%d" % g for g in ids]
    if len(optics_names) != len(ids):
        raise ValueError("%d optics group names for %d groups"
                         % (len(optics_names), len(ids)))
    optics = {"rlnOpticsGroup": ids, "rlnOpticsGroupName": np.asarray(optics_names, str)}
    for k, name in enumerate(c for c in _OPTICS_CTF if c in ctf):
        optics[CTF_LABELS[name]] = combos[:, k]
    optics["rlnImagePixelSize"] = combos[:, -1]
    if box:
        optics["rlnImageSize"] = np.full(len(ids), int(box), dtype=np.int64)
    optics["rlnImageDimensionality"] = np.full(len(ids), 2, dtype=np.int64)

    particles = {}
    if image_names is not None:
        particles["rlnImageName"] = np.asarray(image_names)
    if euler is not None:
        euler = np.asarray(euler, dtype=np.float64)
        particles.update(zip(EULER_LABELS, euler.T))
    if origins is not None:
        particles.update(zip(ORIGIN_LABELS, np.asarray(origins, dtype=np.float64).T))
    for name in CTF_COLUMNS:
        if name in ctf and name not in _OPTICS_CTF:
            particles[CTF_LABELS[name]] = ctf[name]
    particles["rlnOpticsGroup"] = group
    particles.update(columns or {})
    return {"optics": optics, "particles": particles}


def _ctf_columns(ctf):
    """``{CTF_COLUMNS name: (N,) float64}`` from an (N, 8) array or a mapping."""
    if ctf is None:
        return {}
    if isinstance(ctf, dict):
        unknown = set(ctf) - set(CTF_COLUMNS)
        if unknown:
            raise ValueError("unknown CTF parameters %s (known: %s)"
                             % (", ".join(sorted(unknown)), ", ".join(CTF_COLUMNS)))
        return {c: np.asarray(ctf[c], dtype=np.float64) for c in CTF_COLUMNS if c in ctf}
    ctf = np.asarray(ctf, dtype=np.float64)
    if ctf.ndim != 2 or ctf.shape[1] != len(CTF_COLUMNS):
        raise ValueError("CTF arrays must have shape (N, %d), got %s"
                         % (len(CTF_COLUMNS), ctf.shape))
    return dict(zip(CTF_COLUMNS, ctf.T))


# ------------------------------------------------------------ writing subsets

def write_particles_star(path, particles, indices=None):
    """Write (a subset of) ``Particles`` as a RELION 3.1 star, atomically.

    ``indices``: ints or a boolean mask (None: all). Star input keeps all
    its columns and its optics table; .cs input goes through
    ``particle_table`` (image names, poses, CTF, one optics group per
    distinct voltage, Cs, amplitude contrast and pixel size, and
    ``rlnRandomSubset`` from cryoSPARC's half-set split, and
    ``rlnCtfScalefactor = -blob/sign * ctf/scale`` when that is not 1
    everywhere, so that RELION and this reader see the images the .cs
    file describes). Image names point
    to the stacks from the new file's folder: relative when the stacks lie
    below it, absolute otherwise. Returns ``path``.
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
        extra = {}
        if sub.raw is not None and "alignments3D/split" in sub.raw.dtype.names:
            extra["rlnRandomSubset"] = sub.raw["alignments3D/split"].astype(np.int64) + 1
        scale = cs_ctf_scale(sub.raw) if sub.raw is not None else None
        if scale is not None:
            extra["rlnCtfScalefactor"] = scale
        blocks = particle_table(names, sub.apix, sub.box, euler=sub.euler,
                                origins=sub.shifts, ctf=sub.ctf, columns=extra)
    write_star(path, blocks)
    return path


def _image_names(particles, folder):
    """``idx@file`` names relative to ``folder`` (None without image names)."""
    if particles.images is not None:
        files = particles.images.files
        file_ids, indices = particles.images.file_ids, particles.images.indices
    else:  # metadata only: the stacks as the readers would find them
        if particles.source_format == "star":
            if "rlnImageName" not in particles.table:
                return None
            files, file_ids, indices = split_image_names(
                particles.table["rlnImageName"], particles.path)
        else:
            if "blob/path" not in particles.table:
                return None
            keys = {}
            file_ids = np.array([keys.setdefault(p, len(keys))
                                 for p in stack_names(particles.raw).tolist()],
                                dtype=np.int64)
            files, indices = list(keys), particles.table["blob/idx"].astype(np.int64)
        files = stack_locations(files, particles.path, particles.datadir)
    written = [_relative_if_below(Path(f), folder) for f in files]
    return np.array(["%06d@%s" % (i + 1, written[f])
                     for f, i in zip(file_ids.tolist(), indices.tolist())])


def _relative_if_below(file, folder):
    file = Path(os.path.abspath(file))
    try:
        return file.relative_to(folder).as_posix()
    except ValueError:
        return str(file)
