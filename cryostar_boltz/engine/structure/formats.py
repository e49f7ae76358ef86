"""Which file format can hold a model: PDB's fixed columns or mmCIF.

The engine writes a model in PDB format when the PDB format can hold it
exactly, and in mmCIF otherwise, so that written models keep the
reference's chain ids, residue numbers, insertion codes, residue and atom
names. Limits of the PDB format (wwPDB format 3.3, ATOM record): chain id
1 character (column 22), residue number -999..9999 (columns 23-26),
residue name 3 characters (18-20), atom name 4 characters (13-16), atom
serial 1..99,999 (7-11), coordinates -999.999..9999.999 Angstrom
(8 columns, 3 decimals). A chain without a chain id whose name is its
segment id (CHARMM files: blank column 22, up to 4 characters in columns
73-76) fits as it came.

The choice is made once, from the reference, before anything is written:
``auto`` (mmCIF only when PDB cannot hold the model), ``pdb`` (refused
when it cannot) or ``cif``.
"""
import numpy as np

from .files import StructureError

#: Output formats of structure files, and the choices a user has.
FORMATS = ("pdb", "cif")
FORMAT_CHOICES = ("auto",) + FORMATS
#: PDB ATOM-record limits (wwPDB format 3.3).
PDB_MAX_SERIAL = 99999
PDB_RES_ID_RANGE = (-999, 9999)
PDB_COORD_RANGE = (-999.999, 9999.999)
#: Room (Angstrom) kept between the reference's atoms and PDB's coordinate
#: limits in the choice, for decoded models that move away from it.
COORD_MARGIN = 100.0


def pdb_problem(model, full_atom=True, coords=None, margin=0.0):
    """Why a PDB file cannot hold ``model`` (a :class:`~.model.CoarseModel`)
    exactly, as a phrase, or None when it can.

    ``full_atom``: judge the full-atom output (every atom) rather than the
    coarse one (one pseudo-atom per residue); ``coords``: (..., A, 3)
    positions of the written rows in Angstrom (default: the model's own);
    ``margin``: Angstrom kept from the coordinate limits."""
    atoms = model.atoms
    rows = np.arange(atoms.n) if full_atom else model.atom_index
    for label, segid in dict.fromkeys(zip(atoms.chain_ids[rows].tolist(),
                                          atoms.segids[rows].tolist())):
        if len(label) > 1 and not (label == segid and len(label) <= 4):
            return ("chain id %r does not fit a PDB file (1 character)" % label)
    res_ids = atoms.res_ids[rows]
    lo, hi = PDB_RES_ID_RANGE
    outside = res_ids[(res_ids < lo) | (res_ids > hi)]
    if len(outside):
        return ("residue number %d does not fit a PDB file (%d to %d)"
                % (outside[0], lo, hi))
    for kind, values, width in (("residue name", atoms.res_names[rows], 3),
                                ("atom name", atoms.names[rows], 4)):
        long = [v for v in np.unique(values) if len(v) > width]
        if long:
            return ("%s %r does not fit a PDB file (%d characters)"
                    % (kind, long[0], width))
    if len(rows) > PDB_MAX_SERIAL:
        return ("%d atoms do not fit a PDB file (%d serial numbers)"
                % (len(rows), PDB_MAX_SERIAL))
    xyz = atoms.coords[rows] if coords is None else np.asarray(coords)
    lo, hi = PDB_COORD_RANGE
    if xyz.size and (xyz.min() < lo + margin or xyz.max() > hi - margin):
        return ("coordinates from %.1f to %.1f A do not fit a PDB file "
                "(%g to %g A%s)" % (xyz.min(), xyz.max(), lo, hi,
                                   ", with %g A to spare" % margin if margin else ""))
    return None


def output_format(model, requested="auto", source=None, option="--format"):
    """The format (``'pdb'`` or ``'cif'``) to write ``model``'s outputs in.

    ``requested``: ``'auto'`` (PDB when it holds the full-atom model
    exactly, with :data:`COORD_MARGIN` to spare, else mmCIF), ``'pdb'`` or
    ``'cif'``; None means ``'auto'``. StructureError naming ``source``
    (default: the model's file) when ``'pdb'`` is asked for a model PDB
    cannot hold, or for an unknown choice."""
    requested = requested or "auto"
    source = source or model.source
    if requested not in FORMAT_CHOICES:
        raise StructureError("%s %r: expected one of %s"
                             % (option, requested, ", ".join(FORMAT_CHOICES)))
    if requested == "cif":
        return "cif"
    problem = pdb_problem(model, full_atom=True, margin=COORD_MARGIN)
    if problem is None:
        return "pdb"
    if requested == "pdb":
        raise StructureError("%s: %s; use %s cif (or auto)"
                             % (source, problem, option))
    return "cif"
