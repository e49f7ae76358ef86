"""``load_particles``: a RELION ``.star`` or cryoSPARC ``.cs`` file, by suffix."""
from pathlib import Path

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
    return reader(path, datadir, require_pose, require_ctf, require_images)
