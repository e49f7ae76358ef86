"""One text per model of a multi-model PDB or mmCIF file (Scipion keeps
one file per atomic structure; the engine writes an ensemble as one
multi-model file).

PDB: the records between ``MODEL`` and ``ENDMDL``, each with the header
records before the first model (a file without MODEL records is one
model). mmCIF: the ``_atom_site`` rows grouped by ``pdbx_PDB_model_num``,
each with the file's text before the rows and after them; the loop must
hold one row per line (files the engine writes, and the PDB's).
"""
from .coordinates import _CIF_TOKEN, _atom_site_loop, _unquote
from .files import StructureError, input_format, read_text


def _pdb_models(text, path):
    models, header, current = [], [], None
    for line in text.splitlines(keepends=True):
        record = line[:6].rstrip()
        if record == "MODEL":
            current = []
        elif record == "ENDMDL":
            if current is not None:
                models.append(current)
            current = None
        elif record in ("END", "MASTER"):
            continue
        elif current is not None:
            current.append(line)
        elif not models:
            header.append(line)
    if not models:  # a single model without MODEL records
        models = [[line for line in header if not line.startswith("REMARK")]]
        header = [line for line in header if line.startswith("REMARK")]
    if not any(line.startswith(("ATOM", "HETATM")) for m in models for line in m):
        raise StructureError(f"{path}: holds no atoms")
    return ["".join(header + lines) + "END\n" for lines in models]


def _cif_models(text, path):
    lines = text.splitlines(keepends=True)
    columns, first = _atom_site_loop([line.rstrip("\n") for line in lines], path)
    if "pdbx_PDB_model_num" not in columns:
        return [text]
    model_col = columns.index("pdbx_PDB_model_num")
    rows, end = {}, len(lines)
    for i in range(first, len(lines)):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] in "#_" or stripped.lower().startswith(
                ("loop_", "data_", "save_", "global_", "stop_")):
            end = i
            break
        if line[0] == ";":
            raise StructureError(f"{path}: _atom_site rows span lines; cannot "
                                 f"split its models")
        tokens = [_unquote(t) for t in _CIF_TOKEN.findall(line)]
        if len(tokens) != len(columns):
            raise StructureError(f"{path}: _atom_site rows span lines; cannot "
                                 f"split its models")
        rows.setdefault(tokens[model_col], []).append(line)
    if not rows:
        raise StructureError(f"{path}: holds no atoms")
    head, tail = "".join(lines[:first]), "".join(lines[end:])
    return [head + "".join(model) + tail for model in rows.values()]


def model_texts(path):
    """The text of each model of the PDB / mmCIF file ``path`` (optionally
    .gz), in file order, each a complete file of the same format.
    StructureError naming the file when it holds no atoms or cannot be
    split."""
    kind = input_format(path)
    text = read_text(path)
    return _pdb_models(text, path) if kind == "pdb" else _cif_models(text, path)
