"""Multi-model PDB and mmCIF output of decoded pseudo-atom positions.

The engine writes ensembles of up to about 1,000 models of 3,341 atoms;
Biopython's ``PDBIO`` / ``MMCIFIO`` need Structure objects holding the
models and take 5 (PDB) and 45 (mmCIF) times the CPU time there (1,000
models: 34 and 317 s against 7 s; ``benchmarks/bench_structure_io.py``),
so each model's records are formatted here from one template per file.

PDB records follow the wwPDB format 3.3 (fixed columns: atom names of
one-letter elements start in column 14, segment id in 73-76, element in
77-78); mmCIF rows follow the PDBx/mmCIF ``_atom_site`` category.
"""
import gzip
import re
from pathlib import Path

import numpy as np

from ..io import atomic_write
from .files import StructureError, is_gzip, structure_format
from .formats import pdb_problem
from .frames import atom_positions


def _output_table(model, full_atom):
    """Rows of ``model.atoms`` to write, and their pseudo-atom index."""
    if full_atom:
        rows = np.arange(model.atoms.n)
    else:
        rows = model.atom_index
    return rows, model.atoms.residue_index[rows]


def _positions(model, coords, full_atom):
    """(M, A, 3) output positions: every atom carried by its residue's
    local frame, as in training (:func:`~.frames.atom_positions`)."""
    if not full_atom:
        return coords
    return atom_positions(model, coords)


def _per_model_bfactors(bfactors, model, rows, residue, n_models):
    """(M, A) B-factor column: given per residue, or the file's."""
    if bfactors is None:
        return np.broadcast_to(model.atoms.bfactors[rows], (n_models, len(rows)))
    values = np.asarray(bfactors, dtype=np.float64)
    if values.shape not in ((model.n,), (n_models, model.n)):
        raise ValueError(f"bfactors must have shape ({model.n},) or "
                         f"({n_models}, {model.n}), not {values.shape}")
    return np.broadcast_to(values, (n_models, model.n))[:, residue]


# ------------------------------------------------------------------------ PDB

def _pdb_atom_name(name, element):
    """Atom name in columns 13-16: one-letter elements start at column 14."""
    if len(name) < 4 and len(element) < 2 and not name[:1].isdigit():
        name = " " + name
    return f"{name:<4s}"[:4]


def _pdb_chain_columns(label, segid):
    """(chain column, segid column) for a chain label: a one-character id,
    or a blank chain named by its segment id (checked by ``pdb_problem``)."""
    if len(label) <= 1:
        return (label or " "), segid
    return " ", label


def _pdb_template(model, rows, chain_ends):
    """Per-model %-format string of the ATOM/HETATM records (and TERs)."""
    atoms = model.atoms
    parts = []
    for k, row in enumerate(rows):
        name, element = atoms.names[row], atoms.elements[row]
        chain, segid = _pdb_chain_columns(atoms.chain_ids[row], atoms.segids[row])
        record = "HETATM" if atoms.hetero[row] else "ATOM  "
        line = (f"{record}{k + 1:5d} "
                f"{_pdb_atom_name(name, element)} {atoms.res_names[row]:>3s} {chain}"
                f"{atoms.res_ids[row]:4d}{(atoms.icodes[row] or ' '):1s}   ")
        parts.append(line.replace("%", "%%") + "%8.3f%8.3f%8.3f%6.2f%6.2f"
                     + f"      {segid:<4s}{element:>2s}  \n".replace("%", "%%"))
        if k in chain_ends:
            parts.append("TER\n")
    return "".join(parts)


def _pdb_chunks(model, positions, occupancy, bfactors, rows):
    chain = model.atoms.chain_ids[rows]
    ends = set(np.flatnonzero(np.r_[chain[1:] != chain[:-1], True]).tolist())
    template = _pdb_template(model, rows, ends)
    occ = np.clip(occupancy, 0.0, 999.99)
    yield "REMARK   1 MODELS WRITTEN BY CRYOSTAR-BOLTZ\n"
    for m, xyz in enumerate(positions):
        values = np.column_stack([xyz, occ, np.clip(bfactors[m], -99.99, 999.99)])
        yield f"MODEL     {m + 1:4d}\n"
        yield template % tuple(values.ravel().tolist())
        yield "ENDMDL\n"
    yield "END\n"


# ---------------------------------------------------------------------- mmCIF

_CIF_COLUMNS = ("group_PDB", "id", "type_symbol", "label_atom_id",
                "label_alt_id", "label_comp_id", "label_asym_id",
                "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code",
                "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
                "B_iso_or_equiv", "auth_seq_id", "auth_comp_id",
                "auth_asym_id", "auth_atom_id", "pdbx_PDB_model_num")


def _cif_value(text):
    """A CIF token (CIF 1.1 syntax): '.' when empty; quoted when it holds
    white space or quotes, starts with a reserved character, or is a
    reserved word or '.' / '?'."""
    if not text:
        return "."
    if (any(c in text for c in " \t'\"") or text[0] in "_#$;[]"
            or text in (".", "?")
            or text.lower().startswith(("data_", "loop_", "save_", "global_",
                                        "stop_"))):
        return f'"{text}"' if '"' not in text else f"'{text}'"
    return text


def _asym_label(index):
    """mmCIF label_asym_id of the ``index``-th chain: A..Z, AA, AB..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cif_chunks(model, positions, occupancy, bfactors, rows, name):
    """The _atom_site loop: label_* columns name the engine's chains
    (label_asym_id A, B... per chain, one entity per chain, label_seq_id
    1, 2... along it); auth_* columns and pdbx_PDB_ins_code keep the
    reference's chain ids, residue numbers and insertion codes."""
    atoms = model.atoms
    residue = atoms.residue_index[rows]
    seq = np.zeros(model.n, dtype=np.int64)
    for c in np.unique(model.chain_index):
        members = np.flatnonzero(model.chain_index == c)
        seq[members] = np.arange(1, len(members) + 1)
    lines = []
    for row, res in zip(rows, residue):
        atom = _cif_value(atoms.names[row])
        comp = _cif_value(atoms.res_names[row])
        chain = _cif_value(atoms.chain_ids[row])
        icode = _cif_value(atoms.icodes[row]) if atoms.icodes[row] else "?"
        record = "HETATM" if atoms.hetero[row] else "ATOM"
        c = model.chain_index[res]
        head = (f" {atoms.elements[row]} {atom} . {comp} {_asym_label(c)} "
                f"{c + 1} {seq[res]} {icode} ")
        tail = f" {atoms.res_ids[row]} {comp} {chain} {atom} "
        lines.append(record + " %d" + head.replace("%", "%%")
                     + "%.3f %.3f %.3f %.2f %.2f" + tail.replace("%", "%%")
                     + "%d\n")
    template = "".join(lines)
    yield f"data_{re.sub(r'[^A-Za-z0-9_.-]', '_', name) or 'model'}\n#\nloop_\n"
    yield "".join(f"_atom_site.{c}\n" for c in _CIF_COLUMNS)
    n = len(rows)
    values = np.empty((n, 7), dtype=np.float64)
    values[:, 4] = occupancy
    for m, xyz in enumerate(positions):
        values[:, 0] = np.arange(m * n + 1, (m + 1) * n + 1)
        values[:, 1:4] = xyz
        values[:, 5] = bfactors[m]
        values[:, 6] = m + 1
        yield template % tuple(values.ravel().tolist())
    yield "#\n"


# ---------------------------------------------------------------------- files

def _write_chunks(path, chunks):
    """Write an iterable of strings to ``path`` atomically, gzip-compressed
    when ``path`` ends in ``.gz`` (the archive names the file without it)."""
    path = Path(path)
    if not is_gzip(path):
        return atomic_write(path, lambda fh: fh.writelines(chunks))

    def write(fh):
        with gzip.GzipFile(filename=path.name, mode="wb", fileobj=fh,
                           compresslevel=6) as out:
            for chunk in chunks:
                out.write(chunk.encode())
    return atomic_write(path, write, binary=True)


def write_models(path, model, coords, full_atom=False, bfactors=None):
    """Write pseudo-atom positions as a multi-model PDB or mmCIF file.

    ``coords`` is (M, N, 3) or (N, 3) in Angstrom, residues in the order of
    ``model`` (a :class:`~.model.CoarseModel`). Coarse files hold one CA /
    C1' atom per residue; full-atom files carry every atom of residue i
    rigidly with the local frame of pseudo-atom i and its two sequence
    neighbours, as training renders them (:func:`~.frames.atom_positions`:
    ``coords = model.coords`` writes the reference's atoms; residues in
    segments of fewer than three residues are translated). ``bfactors`` (N,) or (M, N), e.g.
    per-residue RMSF, fills the B-factor column (else the reference's). The
    format follows the suffix (.pdb/.ent or .cif/.mmcif, optionally .gz).
    The file appears complete or not at all (written through
    :func:`cryostar_boltz.engine.io.atomic_write`). Atoms are numbered
    1, 2, ... in each model; a TER record ends each chain. Chain ids,
    residue numbers, insertion codes, residue and atom names are the
    model's, exactly (mmCIF: the auth_* columns and pdbx_PDB_ins_code).
    ValueError for coordinates of another shape or not finite;
    StructureError naming ``path`` for a PDB file that cannot hold the
    model (:func:`~.formats.pdb_problem`: write .cif then).
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim == 2:
        coords = coords[None]
    if coords.ndim != 3 or coords.shape[1:] != (model.n, 3):
        raise ValueError(f"coords must have shape (M, {model.n}, 3) or "
                         f"({model.n}, 3), not {coords.shape}")
    if not np.all(np.isfinite(coords)):
        raise ValueError("coords hold NaN or infinite values")
    kind = structure_format(path)
    rows, residue = _output_table(model, full_atom)
    positions = _positions(model, coords, full_atom)
    if kind == "pdb":
        problem = pdb_problem(model, full_atom, positions)
        if problem:
            raise StructureError(f"{path}: {problem}; write mmCIF (.cif) instead")
    occupancy = model.atoms.occupancy[rows]
    b = _per_model_bfactors(bfactors, model, rows, residue, len(coords))
    if kind == "pdb":
        chunks = _pdb_chunks(model, positions, occupancy, b, rows)
    else:
        name = Path(path).name.split(".")[0]
        chunks = _cif_chunks(model, positions, occupancy, b, rows, name)
    _write_chunks(path, chunks)
