"""Structure files: their format (from the suffix), their text (plain or
gzip), and the error raised for a file that cannot be used."""
import gzip
from pathlib import Path

PDB_SUFFIXES = (".pdb", ".ent")
CIF_SUFFIXES = (".cif", ".mmcif")


class StructureError(ValueError):
    """A structure file that cannot be read or holds no usable polymer.

    The message is one line that starts with the file's path."""


def structure_format(path):
    """``'pdb'`` or ``'cif'`` from the suffix of ``path`` (a trailing
    ``.gz`` allowed); StructureError for any other suffix."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PDB_SUFFIXES:
        return "pdb"
    if suffix in CIF_SUFFIXES:
        return "cif"
    raise StructureError(
        f"{path}: unknown structure format {suffix!r}; expected one of "
        f"{', '.join(PDB_SUFFIXES + CIF_SUFFIXES)} (optionally .gz)")


def input_format(path):
    """``'pdb'`` or ``'cif'`` of a structure file to read; StructureError
    naming ``path`` when it is missing, a folder, or of an unknown suffix."""
    path = Path(path)
    if path.is_dir():
        raise StructureError(f"{path}: is a folder, not a structure file "
                             f"(give a {', '.join(PDB_SUFFIXES + CIF_SUFFIXES)} file)")
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    return structure_format(path)


def is_gzip(path):
    """Whether ``path`` names a gzip file (``.gz`` suffix)."""
    return Path(path).suffix.lower() == ".gz"


def read_text(path):
    """The whole text of ``path``, decompressed when it ends in ``.gz``.

    StructureError when the file is missing or cannot be read as text."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise StructureError(f"{path}: cannot read the file ({exc})") from exc
