"""Scipion sets <-> engine files (RELION 3.1 star files and MRC stacks in;
latents, multi-model PDB files, MRC maps and cluster labels out).

Poses follow the scipion-em-relion plugin, so a set converted here and one
converted by RELION's protocols give the same star file. Scipion stores one
4x4 ``Transform`` ``M`` per particle, shifts in pixels; for projection
alignment (``ALIGN_PROJ``)::

    M[:3, :3] = Rz(rot) Ry(tilt) Rz(psi)      (= RELION's A transposed)
    M[:3, 3]  = M[:3, :3] @ (ox, oy, 0)        (ox, oy: rlnOrigin in pixels)

that is ``M[:3, :3] = euler_matrix(psi, tilt, rot, 'szyz')`` in
``pwem.convert.transformations`` and ``origin = M[:3, :3].T @ M[:3, 3]``.
"""
import os
from pathlib import Path

import numpy as np

import pwem.constants as emcts
import pwem.objects as emobj
from pyworkflow.object import Float, Integer

from .engine.geometry import euler_to_matrix, matrix_to_euler
from .engine.io import write_text
from .engine.particles.relion import particle_table
from .engine.particles.star import read_star, write_star

#: Optics group name for particles whose acquisition does not name one.
DEFAULT_OPTICS_GROUP = "opticsGroup1"
#: Stack file extensions the engine reads directly (MRC format).
MRC_EXTENSIONS = (".mrcs", ".mrc", ".st")
#: Magnification recorded with imported acquisitions: Scipion treats an
#: acquisition without one as missing; RELION 3.1 files do not carry it.
DEFAULT_MAGNIFICATION = 50000.0


class ConversionError(ValueError):
    """A Scipion set or a star file cannot be converted."""


# ------------------------------------------------------------ set helpers

def get_sampling_rate(particles):
    """Pixel size (Angstrom) of a set of particles; an error if it is unset."""
    apix = particles.getSamplingRate()
    if not apix or apix <= 0:
        raise ConversionError("the set of particles %s has no sampling rate"
                              % _set_name(particles))
    return float(apix)


def get_box_size(particles):
    """Box size (pixels) of a set of square particle images."""
    dim = particles.getDim()
    if not dim or not dim[0]:
        raise ConversionError("the set of particles %s has no image size"
                              % _set_name(particles))
    x, y = int(dim[0]), int(dim[1])
    if x != y:
        raise ConversionError("particles of %s are %d x %d pixels: square "
                              "images are needed" % (_set_name(particles), x, y))
    return x


def _set_name(particles):
    return particles.getFileName() or particles.getObjName() or "(unsaved)"


# -------------------------------------------------------------- poses

def transforms_to_relion(matrices, apix):
    """RELION poses of Scipion projection transforms.

    ``matrices`` (N, 4, 4) Scipion ``Transform`` matrices (shifts in pixels);
    returns Euler angles ``rot, tilt, psi`` (N, 3, degrees) and origins
    ``rlnOriginX/YAngst`` (N, 2, Angstrom). The rotation block is RELION's
    ``A`` transposed (``engine.geometry`` holds the convention).
    """
    matrices = np.asarray(matrices, dtype=np.float64).reshape(-1, 4, 4)
    rotations = matrices[:, :3, :3]
    det = np.linalg.det(rotations)
    bad = np.flatnonzero(np.abs(det - 1.0) > 1e-3)
    if len(bad):
        raise ConversionError(
            "transform %d is not a proper rotation (determinant %.4f): "
            "mirrored or scaled poses cannot be converted" % (bad[0], det[bad[0]]))
    euler = matrix_to_euler(np.swapaxes(rotations, -1, -2))
    origins = np.einsum("nji,nj->ni", rotations, matrices[:, :3, 3])
    return euler, origins[:, :2] * apix


def relion_to_transforms(euler, origins, apix):
    """Scipion projection transforms (N, 4, 4) of RELION poses.

    ``euler`` (N, 3) ``rot, tilt, psi`` in degrees; ``origins`` (N, 2)
    ``rlnOriginX/YAngst`` in Angstrom. The inverse of ``transforms_to_relion``
    and the matrix scipion-em-relion builds when it reads a star file.
    """
    euler = np.asarray(euler, dtype=np.float64).reshape(-1, 3)
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
    rotations = np.swapaxes(euler_to_matrix(euler), -1, -2)
    shifts = np.zeros((len(euler), 3))
    shifts[:, :2] = origins / apix
    matrices = np.zeros((len(euler), 4, 4))
    matrices[:, :3, :3] = rotations
    matrices[:, :3, 3] = np.einsum("nij,nj->ni", rotations, shifts)
    matrices[:, 3, 3] = 1.0
    return matrices


# ---------------------------------------------------- Scipion -> star

def _optics_key(acquisition, fallback):
    """Optics group identity of a particle's acquisition; values it lacks
    come from ``fallback`` (the set's acquisition)."""
    name = getattr(acquisition, "opticsGroupName", None)
    name = name.get() if hasattr(name, "get") else name
    if acquisition.getVoltage() is None:
        acquisition = fallback
    return (name or DEFAULT_OPTICS_GROUP, acquisition.getVoltage(),
            acquisition.getSphericalAberration(),
            acquisition.getAmplitudeContrast())


class _ParticleColumns:
    """Per-particle values gathered in one pass over a set."""

    def __init__(self, n, has_ctf, has_poses, acquisition):
        self.acquisition = acquisition
        self.ids = np.zeros(n, dtype=np.int64)
        self.index = np.zeros(n, dtype=np.int64)
        self.files = []
        self.optics = np.zeros(n, dtype=np.int64)
        self.ctf = np.zeros((n, 4)) if has_ctf else None
        self.matrices = np.zeros((n, 4, 4)) if has_poses else None
        self.groups = {}  # optics key -> 1-based group number
        self.count = 0

    def add(self, particle):
        i = self.count
        self.ids[i] = particle.getObjId()
        index, filename = particle.getLocation()
        self.index[i] = index if index else 1
        self.files.append(filename)
        key = _optics_key(particle.getAcquisition(), self.acquisition)
        self.optics[i] = self.groups.setdefault(key, len(self.groups) + 1)
        if self.ctf is not None:
            ctf = particle.getCTF()
            if ctf is None:
                raise ConversionError("particle %d has no CTF" % self.ids[i])
            phase = ctf.getPhaseShift() if ctf.hasPhaseShift() else 0.0
            self.ctf[i] = (ctf.getDefocusU(), ctf.getDefocusV(),
                           ctf.getDefocusAngle(), phase or 0.0)
        if self.matrices is not None:
            transform = particle.getTransform()
            if transform is None:
                raise ConversionError("particle %d has no transform" % self.ids[i])
            self.matrices[i] = transform.getMatrix()
        self.count += 1

    def trimmed(self):
        """Drop the rows of disabled particles never added."""
        n = self.count
        self.ids, self.index, self.optics = (self.ids[:n], self.index[:n],
                                             self.optics[:n])
        if self.ctf is not None:
            self.ctf = self.ctf[:n]
        if self.matrices is not None:
            self.matrices = self.matrices[:n]
        return self


def _gather(particles):
    has_ctf = bool(particles.hasCTF())
    alignment = particles.getAlignment()
    if alignment not in (emcts.ALIGN_PROJ, emcts.ALIGN_NONE):
        raise ConversionError(
            "the set of particles %s has %s alignment: 3D projection "
            "alignment (poses from a 3D refinement) is needed"
            % (_set_name(particles), alignment))
    columns = _ParticleColumns(particles.getSize(), has_ctf,
                               alignment == emcts.ALIGN_PROJ,
                               particles.getAcquisition())
    for particle in particles.iterItems(orderBy="id", direction="ASC"):
        if particle.isEnabled():
            columns.add(particle)
    if not columns.count:
        raise ConversionError("the set of particles %s is empty"
                              % _set_name(particles))
    return columns.trimmed()


def _stack_paths(files, star_dir, stack_dir):
    """Star-file paths of the stacks: relative to the star file's folder;
    with ``stack_dir``, links (or MRC copies) there named ``*.mrcs``."""
    unique = list(dict.fromkeys(files))
    mapped = {}
    for k, filename in enumerate(unique):
        source = Path(os.path.abspath(_strip_format_hint(filename)))
        if not source.exists():
            raise ConversionError("particle stack %s does not exist" % source)
        is_mrc = source.suffix.lower() in MRC_EXTENSIONS
        if stack_dir is None:
            if not is_mrc:
                raise ConversionError(
                    "particle stack %s is not in MRC format: give a stack "
                    "folder to convert it" % source)
            target = source
        else:
            target = Path(stack_dir).absolute() / ("%03d_%s.mrcs" % (k + 1, source.stem))
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            if is_mrc:
                os.symlink(source, target)
            else:
                _convert_to_mrc(source, target)
        mapped[filename] = os.path.relpath(target, star_dir)
    return [mapped[f] for f in files]


def scipion_file_path(filename):
    """The file behind a Scipion file name (without a ``:mrc``-style
    format hint)."""
    return _strip_format_hint(filename)


def _strip_format_hint(filename):
    """Scipion may append a format to a file name (``stack.mrc:mrcs``)."""
    base, sep, hint = filename.rpartition(":")
    return base if sep and hint.isalpha() and "/" not in hint else filename


def _convert_to_mrc(source, target):
    from pwem.emlib.image import ImageHandler
    try:
        ImageHandler().convertStack(str(source), str(target))
    except Exception as err:  # the image library's errors are not typed
        raise ConversionError("cannot convert %s to MRC: %s" % (source, err)) from err


def _optics_values(groups):
    """(names, (G, 3) voltage, Cs, amplitude contrast) of the optics groups
    ``{key: id}`` in id order; an error for a value the acquisition lacks."""
    keys = sorted(groups, key=groups.get)
    values = np.array([[_required(k[1], "voltage", k[0]),
                        _required(k[2], "spherical aberration", k[0]),
                        _required(k[3], "amplitude contrast", k[0])] for k in keys])
    return [k[0] for k in keys], values


def _required(value, what, group):
    if value is None:
        raise ConversionError("optics group %s has no %s" % (group, what))
    return float(value)


def write_particles_star(star_path, particles, stack_dir=None):
    """Write a set of particles as a RELION 3.1 star file for the engine.

    Rows follow the set's ids (ascending; disabled particles left out) and
    carry the Scipion id in ``rlnImageId``, so engine outputs (one row per
    particle, in star order) map back to the set. Stacks are referenced
    where they are, relative to the star file; with ``stack_dir``, through
    ``.mrcs`` links (or converted copies, for non-MRC stacks) in that
    folder. The table is the engine's (``particles.relion.particle_table``).
    Returns the Scipion ids in star order.
    """
    star_path = Path(star_path)
    star_path.parent.mkdir(parents=True, exist_ok=True)
    apix = get_sampling_rate(particles)
    box = get_box_size(particles)
    columns = _gather(particles)
    paths = _stack_paths(columns.files, star_path.parent.absolute(), stack_dir)
    names, acquisition = _optics_values(columns.groups)
    per_particle = acquisition[columns.optics - 1]
    ctf = dict(zip(("voltage", "cs", "amplitude_contrast"), per_particle.T))
    if columns.ctf is not None:
        ctf.update(zip(("defocus_u", "defocus_v", "defocus_angle", "phase_shift"),
                       columns.ctf.T))
    euler = origins = None
    if columns.matrices is not None:
        euler, origins = transforms_to_relion(columns.matrices, apix)
    image_names = np.array(["%06d@%s" % (i, p) for i, p in zip(columns.index, paths)])
    write_star(star_path, particle_table(
        image_names, apix, box, euler=euler, origins=origins, ctf=ctf,
        optics_group=columns.optics, optics_names=names,
        columns={"rlnImageId": columns.ids}))
    return columns.ids


# ---------------------------------------------------- star -> Scipion

def _column(block, name, star_path, default=None):
    if name in block:
        return np.asarray(block[name])
    if default is not None:
        return default
    raise ConversionError("%s has no column _%s" % (star_path, name))


def _split_image_names(names, star_path):
    index = np.empty(len(names), dtype=np.int64)
    files = []
    for i, name in enumerate(names):
        number, sep, filename = str(name).partition("@")
        if not sep or not number.isdigit():
            raise ConversionError("%s: image name %r is not 'index@stack'"
                                  % (star_path, name))
        index[i] = int(number)
        files.append(filename)
    return index, files


def _sqlite_relative(stack, star_dir, sqlite_dir):
    """Stack path as the Scipion import finds it: relative to the sqlite
    file's folder when the stack lies under it, absolute otherwise."""
    path = Path(stack)
    if not path.is_absolute():
        path = star_dir / path
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(sqlite_dir))
    except ValueError:
        return str(path)


def _acquisitions(optics, star_path):
    groups = _column(optics, "rlnOpticsGroup", star_path).astype(np.int64)
    result = {}
    for row, group in enumerate(groups):
        acquisition = emobj.Acquisition(
            voltage=float(_column(optics, "rlnVoltage", star_path)[row]),
            sphericalAberration=float(
                _column(optics, "rlnSphericalAberration", star_path)[row]),
            amplitudeContrast=float(
                _column(optics, "rlnAmplitudeContrast", star_path)[row]),
            magnification=DEFAULT_MAGNIFICATION)
        names = optics.get("rlnOpticsGroupName")
        acquisition.opticsGroupName = emobj.String(
            str(names[row]) if names is not None else "opticsGroup%d" % group)
        result[int(group)] = acquisition
    return result


def particles_star_to_sqlite(star_path, sqlite_path):
    """Build a Scipion ``SetOfParticles`` sqlite from an engine star file.

    The set has the CTF, the acquisition of the first optics group,
    ``ALIGN_PROJ`` poses (Scipion transforms, shifts in pixels) and the
    stacks' locations, so ``ProtImportParticles`` (import from Scipion)
    brings simulated or converted particles into a project. Particle ids
    are ``rlnImageId`` when the star has it, else row numbers from 1.
    Returns the number of particles written.
    """
    star_path = Path(star_path)
    sqlite_path = Path(sqlite_path).absolute()
    blocks = read_star(star_path)
    if "particles" not in blocks or "optics" not in blocks:
        raise ConversionError("%s is not a RELION 3.1 particle star file (it "
                              "needs data_optics and data_particles)" % star_path)
    optics, block = blocks["optics"], blocks["particles"]
    apix = float(_column(optics, "rlnImagePixelSize", star_path)[0])
    box = int(_column(optics, "rlnImageSize", star_path)[0])
    names = _column(block, "rlnImageName", star_path)
    n = len(names)
    index, files = _split_image_names(names, star_path)
    star_dir = star_path.parent.absolute()
    stacks = {f: _sqlite_relative(f, star_dir, sqlite_path.parent)
              for f in dict.fromkeys(files)}
    ids = _column(block, "rlnImageId", star_path, np.arange(1, n + 1))
    groups = _column(block, "rlnOpticsGroup", star_path, np.ones(n)).astype(np.int64)
    acquisitions = _acquisitions(optics, star_path)
    euler = np.stack([_column(block, "rlnAngle" + a, star_path)
                      for a in ("Rot", "Tilt", "Psi")], axis=1)
    origins = np.stack([_column(block, "rlnOrigin%sAngst" % a, star_path,
                                np.zeros(n)) for a in "XY"], axis=1)
    matrices = relion_to_transforms(euler, origins, apix)
    defocus = np.stack([_column(block, c, star_path) for c in
                        ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle")], axis=1)
    phase = _column(block, "rlnPhaseShift", star_path, np.zeros(n))

    if sqlite_path.exists():
        sqlite_path.unlink()
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    particles = emobj.SetOfParticles(filename=str(sqlite_path))
    particles.setSamplingRate(apix)
    particles.setAcquisition(acquisitions[int(groups[0])].clone())
    particles.setHasCTF(True)
    particles.setAlignmentProj()
    for i in range(n):
        particle = emobj.Particle()
        particle.setObjId(int(ids[i]))
        particle.setLocation(int(index[i]), stacks[files[i]])
        particle.setAcquisition(acquisitions[int(groups[i])].clone())
        ctf = emobj.CTFModel()
        ctf.setDefocusU(float(defocus[i, 0]))
        ctf.setDefocusV(float(defocus[i, 1]))
        ctf.setDefocusAngle(float(defocus[i, 2]))
        ctf.setPhaseShift(float(phase[i]))
        particle.setCTF(ctf)
        particle.setTransform(emobj.Transform(matrices[i].copy()))
        particles.append(particle)
    particles.setDim((box, box, 1))
    particles.write()
    particles.close()
    return n


# ------------------------------------------- engine outputs -> Scipion sets
#
# A training run lists its particles in star order (``write_particles_star``
# returns their Scipion ids); every per-particle array the engine writes
# (z.npy, cluster labels) follows that order, so ids map rows back to items.

def save_particle_ids(path, ids):
    """Keep the Scipion ids of a run's rows (``.npy``) next to its star."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(ids, dtype=np.int64))
    return path


def load_particle_ids(path):
    """Scipion ids of a run's rows, saved by ``save_particle_ids``."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError("particle id file %s does not exist" % path)
    return np.load(path).astype(np.int64).ravel()


def read_latents(path, n_rows=None):
    """A (N, d) latent array from an engine ``.npy`` file; with ``n_rows``,
    checked to hold that many rows."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError("latent file %s does not exist" % path)
    z = np.load(path)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ConversionError("%s holds an array of shape %s, not (N, d) "
                              "latents" % (path, z.shape))
    if n_rows is not None and len(z) != n_rows:
        raise ConversionError("%s holds %d latents for %d particles"
                              % (path, len(z), n_rows))
    return z


def _row_lookup(ids):
    return {int(i): row for row, i in enumerate(ids)}


#: Item attributes of the training protocol's output particles: the
#: engine's per-particle scores (``engine.particle_scores``; runs without
#: them leave the attributes out).
JUNK_SCORE_ATTR = "_cryostarJunkScore"
IMAGE_LOSS_ATTR = "_cryostarImageLoss"


def particle_score_values(run_dir, n_rows):
    """``{item attribute: (N,) array}`` of the run's per-particle scores
    (junk score and image loss) for ``fill_particles_flex``; empty for a
    run trained before the engine wrote them."""
    from .engine.particle_scores import ScoresUnavailable, load_particle_scores
    try:
        scores = load_particle_scores(run_dir, n_rows)
    except ScoresUnavailable:
        return {}
    except ValueError as err:
        raise ConversionError(str(err)) from None
    return {JUNK_SCORE_ATTR: scores["z"], IMAGE_LOSS_ATTR: scores["loss"]}


def fill_particles_flex(out_set, particles, ids, z, prog_name, z_red=None, values=None):
    """Append to ``out_set`` (a ``SetOfParticlesFlex``) each particle of
    ``particles`` whose id is in ``ids``, with latent ``z[row]`` (and the
    reduced coordinates ``z_red[row]``, e.g. PCA scores; and, for each
    ``name -> array`` of ``values``, the item attribute ``name``, a
    ``Float``); ids are kept, so the output relates item by item to the
    input. Returns the count."""
    rows = _row_lookup(ids)
    z = np.asarray(z)
    if len(z) != len(rows):
        raise ConversionError("%d latents for %d particle ids" % (len(z), len(rows)))
    count = 0
    for particle in particles.iterItems(orderBy="id", direction="ASC"):
        row = rows.get(particle.getObjId())
        if row is None:
            continue
        item = emobj.ParticleFlex(progName=prog_name)
        item.copy(particle)
        item.getFlexInfo().setProgName(prog_name)
        item.setZFlex(z[row].tolist())
        if z_red is not None:
            item.setZRed(np.asarray(z_red[row]).tolist())
        _set_item_values(item, values, row)
        out_set.append(item)
        count += 1
    if count != len(rows):
        raise ConversionError("%d of the run's %d particles are missing from "
                              "the set %s" % (len(rows) - count, len(rows),
                                              _set_name(particles)))
    return count


def fill_particle_subsets(subsets, particles, ids, labels):
    """Distribute the particles of ``particles`` into ``subsets`` (cluster
    label -> plain ``SetOfParticles``) by ``labels`` (one per row of
    ``ids``), in one pass, as plain ``Particle`` items (no flexibility
    attributes) that any refinement protocol reads. Particles without a
    row, or whose label has no subset, are left out. Returns the counts by
    label."""
    rows = _row_lookup(ids)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(rows):
        raise ConversionError("%d cluster labels for %d particle ids"
                              % (len(labels), len(rows)))
    flex_attributes = ["_flexInfo", "_zFlex", "_zRed", JUNK_SCORE_ATTR, IMAGE_LOSS_ATTR]
    counts = dict.fromkeys(subsets, 0)
    for particle in particles.iterItems(orderBy="id", direction="ASC"):
        row = rows.get(particle.getObjId())
        label = None if row is None else int(labels[row])
        if label not in subsets:
            continue
        item = emobj.Particle()
        item.copy(particle, ignoreAttrs=flex_attributes)
        subsets[label].append(item)
        counts[label] += 1
    return counts


def split_models(model_path, out_dir, stem=None):
    """One file per model of a multi-model PDB or mmCIF file
    (``stem_001.pdb``... or ``stem_001.cif``..., the input's format); a
    file without MODEL records is one model. Returns the paths in order.

    Scipion atomic structures are one file each; the engine writes an
    ensemble as one multi-model file (``engine.structure.splitting``).
    """
    from .engine.layout import STRUCTURE_SUFFIXES
    from .engine.structure.files import StructureError, input_format
    from .engine.structure.splitting import model_texts

    model_path = Path(model_path)
    try:
        suffix = STRUCTURE_SUFFIXES[input_format(model_path)]
        texts = model_texts(model_path)
    except StructureError as err:
        raise ConversionError(str(err)) from err
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or model_path.name.split(".")[0]
    width = max(3, len(str(len(texts))))
    paths = []
    for k, text in enumerate(texts, start=1):
        path = out_dir / ("%s_%0*d%s" % (stem, width, k, suffix))
        write_text(path, text)
        paths.append(path)
    return paths


def _set_item_values(item, values, row):
    for name, array in (values or {}).items():
        value = array[row]
        if isinstance(value, (np.integer, int)):
            setattr(item, name, Integer(int(value)))
        else:
            setattr(item, name, Float(float(value)))


def fill_structures_flex(out_set, files, z, prog_name, values=None):
    """Append one ``AtomStructFlex`` per file to ``out_set`` (a
    ``SetOfAtomStructFlex``), with latent ``z[i]`` and, for each
    ``name -> array`` of ``values``, the item attribute ``name``
    (``Float`` or ``Integer``). Returns the count."""
    z = np.atleast_2d(np.asarray(z))
    if len(z) != len(files):
        raise ConversionError("%d latents for %d structures" % (len(z), len(files)))
    for row, path in enumerate(files):
        item = emobj.AtomStructFlex(progName=prog_name, filename=str(path))
        item.getFlexInfo().setProgName(prog_name)
        item.setZFlex(z[row].tolist())
        _set_item_values(item, values, row)
        out_set.append(item)
    return len(files)


def map_sampling_rate(path):
    """Voxel size (Angstrom) in an MRC map's header, read by the engine's
    one map reader (``engine.mapfile``: anisotropic voxels, a missing voxel
    size or a file that is not MRC are refused); ConversionError naming
    the file."""
    from .engine.mapfile import MapError, read_map_header
    try:
        return float(read_map_header(path).voxel_size)
    except (OSError, MapError) as err:
        raise ConversionError("cannot read the map %s: %s" % (path, err)) from err


def fill_volumes_flex(out_set, files, z, prog_name, values=None):
    """Append one ``VolumeFlex`` per MRC map to ``out_set`` (a
    ``SetOfVolumesFlex``) with latent ``z[i]``; the set takes the maps'
    voxel size. Returns the count."""
    z = np.atleast_2d(np.asarray(z))
    if len(z) != len(files):
        raise ConversionError("%d latents for %d maps" % (len(z), len(files)))
    if not len(files):
        return 0
    apix = map_sampling_rate(files[0])
    out_set.setSamplingRate(apix)
    for row, path in enumerate(files):
        item = emobj.VolumeFlex(progName=prog_name)
        item.setLocation(str(path))
        item.setSamplingRate(apix)
        item.getFlexInfo().setProgName(prog_name)
        item.setZFlex(z[row].tolist())
        _set_item_values(item, values, row)
        out_set.append(item)
    return len(files)


def fill_classes_flex(classes, labels, ids, centres, prog_name, maps=None):
    """Classify the images of ``classes`` (a ``SetOfClassesFlex`` whose
    images are the particles with latents) by ``labels`` (0-based, one per
    row of ``ids``): class ``k + 1`` holds cluster ``k``, its representative
    a ``VolumeFlex`` at latent ``centres[k]`` (the map ``maps[k]`` when
    given). Particles not in ``ids``, or of label -1 (left out of the
    clustering as junk), are left out. Returns the class sizes by
    cluster."""
    rows = _row_lookup(ids)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(rows):
        raise ConversionError("%d cluster labels for %d particle ids"
                              % (len(labels), len(rows)))
    centres = np.atleast_2d(np.asarray(centres))
    apix = map_sampling_rate(maps[0]) if maps else None

    def update_item(item, _row):
        row = rows.get(item.getObjId())
        if row is None or labels[row] < 0:
            item._appendItem = False
        else:
            item.setClassId(int(labels[row]) + 1)

    def update_class(cls):
        k = cls.getObjId() - 1
        representative = emobj.VolumeFlex(progName=prog_name)
        representative.getFlexInfo().setProgName(prog_name)
        representative.setZFlex(centres[k].tolist())
        if maps:
            representative.setLocation(str(maps[k]))
            representative.setSamplingRate(apix)
        cls.setRepresentative(representative)

    classes.classifyItems(updateItemCallback=update_item,
                          updateClassCallback=update_class)
    return np.bincount(labels[labels >= 0], minlength=len(centres))
