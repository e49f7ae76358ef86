"""Pseudo-atom (CA / C1') coordinates of every model of a multi-model file.

Ensembles written by the engine reach 1,000 models of 3,341 atoms; reading
them through Biopython (``PDBParser``, ``MMCIF2Dict``) takes 13 to 18 times
the CPU time (1,000 models: 82 and 151 s against 5 and 12 s;
``benchmarks/bench_structure_io.py``), so this reader picks the
pseudo-atom records out of the text instead. PDB records are
read by their fixed columns. An mmCIF ``_atom_site`` loop is read one row
per line when every line of it holds exactly one row (files from the PDB
and from :func:`~.writing.write_models`); any other valid layout (rows
spanning lines, text fields) is read by Biopython's ``MMCIF2Dict``.
"""
import io
import re

import numpy as np

from .files import StructureError, input_format, read_text
from .residues import NUCLEIC_CENTRE

PSEUDO_ATOM_NAMES = ("CA",) + NUCLEIC_CENTRE

#: A CIF token on one line: quoted ('...' or "..." closed before white
#: space) or bare (CIF 1.1 syntax, International Tables G, 2.2.7).
_CIF_TOKEN = re.compile(r"""'[^']*'(?=\s|$)|"[^"]*"(?=\s|$)|\S+""")
#: CIF reserved words that end a loop.
_RESERVED = ("data_", "loop_", "save_", "global_", "stop_")


# ------------------------------------------------------------------------ PDB

def _pdb_pseudo_atoms(text, path):
    """Per model: list of pseudo-atom coordinates, in file order."""
    models, current, seen_model = [], [], False
    for line in text.splitlines():
        record = line[:6]
        if record == "MODEL ":
            current, seen_model = [], True
        elif record == "ENDMDL":
            models.append(current)
            current = []
        elif record in ("ATOM  ", "HETATM"):
            if (line[16] not in " A"
                    or line[12:16].strip() not in PSEUDO_ATOM_NAMES):
                continue
            if line[12:16] == "CA  " or line[17:20].strip() == "CA":
                continue  # calcium ion, not a C-alpha
            try:
                current.append((float(line[30:38]), float(line[38:46]),
                                float(line[46:54])))
            except ValueError as exc:
                raise StructureError(f"{path}: bad coordinates in {line!r}") from exc
    if current or not seen_model:
        models.append(current)
    return models


# ---------------------------------------------------------------------- mmCIF

def _unquote(token):
    if len(token) > 1 and token[0] in "'\"" and token[-1] == token[0]:
        return token[1:-1]
    return token


def _atom_site_loop(lines, path):
    """(column names, index of the first data line) of the _atom_site loop."""
    for start, line in enumerate(lines):
        if (line.startswith("_atom_site.") and start > 0
                and lines[start - 1].strip() == "loop_"):
            break
    else:
        raise StructureError(f"{path}: no _atom_site loop")
    columns, i = [], start
    while i < len(lines) and lines[i].startswith("_atom_site."):
        columns.append(lines[i].split()[0][len("_atom_site."):])
        i += 1
    return columns, i


def _rows_one_per_line(lines, first, n_columns, name_col, names):
    """The loop's rows whose atom name is in ``names``, or None unless every
    line of the loop holds exactly one row (then each line starts a row)."""
    rows = []
    for line in lines[first:]:
        tokens = line.split()
        if not tokens:
            continue
        head = tokens[0][0]
        if line[0] == ";":
            return None  # a text field: values span lines
        if head in "#_" or (head in "dlsgDLSG"
                            and tokens[0].lower().startswith(_RESERVED)):
            break  # the loop has ended
        if "'" in line or '"' in line:
            tokens = [_unquote(t) for t in _CIF_TOKEN.findall(line)]
        if len(tokens) != n_columns:
            return None
        if tokens[name_col] in names:
            rows.append(tokens)
    return rows


def _rows_any_layout(text, path, columns, name_col, names):
    """The loop's rows whose atom name is in ``names``, by MMCIF2Dict."""
    from Bio.PDB.MMCIF2Dict import MMCIF2Dict

    try:
        table = MMCIF2Dict(io.StringIO(text))
    except Exception as exc:  # Biopython raises ValueError and others
        raise StructureError(f"{path}: not a readable mmCIF file ({exc})") from exc
    values = [table.get(f"_atom_site.{c}") for c in columns]
    if any(v is None for v in values) or len({len(v) for v in values}) != 1:
        raise StructureError(f"{path}: the _atom_site loop has rows of "
                             f"unequal length")
    return [row for row in zip(*values) if row[name_col] in names]


def cif_atom_site(text, path, names):
    """Columns of the ``_atom_site`` rows whose atom name is in ``names``:
    ``{column: (R,) str array}`` (values unquoted), ``{}`` when none.

    StructureError naming ``path`` without an ``_atom_site`` loop or atom
    names in it."""
    lines = text.splitlines()
    columns, first = _atom_site_loop(lines, path)
    name_col = next((columns.index(c) for c in ("label_atom_id", "auth_atom_id")
                     if c in columns), None)
    if name_col is None:
        raise StructureError(f"{path}: _atom_site loop without atom names")
    rows = _rows_one_per_line(lines, first, len(columns), name_col, names)
    if rows is None:
        rows = _rows_any_layout(text, path, columns, name_col, names)
    return {c: np.array(v) for c, v in zip(columns, zip(*rows))} if rows else {}


def _cif_pseudo_atoms(text, path):
    table = cif_atom_site(text, path, PSEUDO_ATOM_NAMES)
    if not table:
        return []
    n = len(next(iter(table.values())))
    comp = table.get("label_comp_id", table.get("auth_comp_id"))
    alt = table.get("label_alt_id", np.full(n, "."))
    element = table.get("type_symbol", np.full(n, "C"))
    model_num = table.get("pdbx_PDB_model_num", np.full(n, "1"))
    keep = (comp != "CA") & (element != "CA") & np.isin(alt, (".", "?", "A"))
    try:
        xyz = np.column_stack([table[f"Cartn_{k}"][keep].astype(np.float64)
                               for k in "xyz"])
    except (KeyError, ValueError) as exc:
        raise StructureError(f"{path}: bad or missing Cartn_x/y/z ({exc})") from exc
    models = model_num[keep]
    return [xyz[models == m] for m in dict.fromkeys(models.tolist())]


def read_models(path):
    """(M, N, 3) float64 pseudo-atom (CA / C1') coordinates, in Angstrom, of
    every model of a .pdb/.ent/.cif/.mmcif file (optionally .gz).

    Reads files written by :func:`~.writing.write_models`, coarse or full
    atom; other files work when every model has the same residues
    (alternate locations other than blank or 'A' are skipped). Calcium ions
    named CA are not C-alphas. StructureError naming the file when it has
    no pseudo-atom or models of different sizes.
    """
    kind = input_format(path)
    text = read_text(path)
    models = (_pdb_pseudo_atoms(text, path) if kind == "pdb"
              else _cif_pseudo_atoms(text, path))
    models = [m for m in models if len(m)]
    if not models:
        raise StructureError(f"{path}: no CA or C1' atoms")
    sizes = {len(m) for m in models}
    if len(sizes) != 1:
        raise StructureError(
            f"{path}: models have different numbers of pseudo-atoms {sorted(sizes)}")
    return np.asarray(models, dtype=np.float64).reshape(len(models), -1, 3)
