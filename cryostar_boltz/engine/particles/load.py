"""``load_particles``: a RELION ``.star`` or cryoSPARC ``.cs`` file, by suffix."""
from pathlib import Path

import numpy as np

from .cryosparc import read_particles_cs
from .errors import DataError
from .relion import read_particles_star

__all__ = ["load_particles"]

_READERS = {".star": read_particles_star, ".cs": read_particles_cs}


def load_particles(path, datadir=None, require_pose=True, require_ctf=True,
                   require_images=True):
    """Read a RELION ``.star`` or cryoSPARC ``.cs`` particle file into
    ``Particles`` (``dataset.py`` gives the conventions).

    Stacks are looked up as written, relative to ``datadir`` or to the
    file's folder and its parents (RELION and cryoSPARC paths are relative
    to the project folder), then by file name in ``datadir`` and the
    file's folder. ``require_images=False`` reads the metadata only;
    ``require_pose``/``require_ctf=False`` accept files without poses or
    CTF (those fields are then None). Every problem raises ``DataError``
    naming the file.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError("%s: particle files must be RELION .star or cryoSPARC .cs"
                        % path)
    if not path.is_file():
        raise DataError("particle file %s not found" % path)
    datadir = None if datadir is None else Path(datadir)
    if datadir is not None and not datadir.is_dir():
        raise DataError("--datadir %s: folder not found (stacks of %s)" % (datadir, path))
    particles = reader(path, datadir, require_pose, require_ctf, require_images)
    check_origins(particles)
    return particles


def check_origins(particles):
    """DataError naming the file when a particle's origin (RELION
    ``rlnOriginX/YAngst``, cryoSPARC ``alignments3D/shift``) puts its centre
    outside its image (beyond half the box along x or y): no refinement
    gives that; it is usually an origin in pixels read as Angstrom or a
    corrupted row. Particles without poses or a known box pass."""
    if particles.shifts is None or not particles.box:
        return
    half = 0.5 * particles.box * np.asarray(particles.apix, dtype=np.float64)
    outside = np.flatnonzero((np.abs(particles.shifts) > half[:, None]).any(axis=1))
    if len(outside):
        first = outside[0]
        raise DataError(
            "%s: %d of %d particles have an origin beyond half the box (%.4g A), "
            "their centre outside the image; first at row %d (origin %.4g, %.4g A)"
            % (particles.path, len(outside), particles.n, half[first], first + 1,
               particles.shifts[first, 0], particles.shifts[first, 1]))
