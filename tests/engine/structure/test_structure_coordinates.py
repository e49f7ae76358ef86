"""Pseudo-atom coordinates of every model: fast line reader and any valid
mmCIF layout (rows spanning lines, text fields)."""
import numpy as np
import pytest

from cryostar_boltz.engine.structure import (StructureError, load_structure,
                                             read_models, write_models)
from structure_records import backbone, write

COLUMNS = ("group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id",
           "label_comp_id", "label_asym_id", "label_seq_id",
           "pdbx_PDB_ins_code", "Cartn_x",
           "Cartn_y", "Cartn_z", "occupancy", "B_iso_or_equiv", "auth_seq_id",
           "auth_comp_id", "auth_asym_id", "auth_atom_id", "pdbx_PDB_model_num")

#: Two models of three residues (ids 5, 6, 7); CA of model k, residue i at
#: (3.8 i + 0.25, 10 k + 0.5, -1.125); the backbone atoms N, CA, C.
RES_IDS = [5, 6, 7]
RES_NAMES = ["GLY", "ALA", "SER"]


def expected_ca():
    return np.array([[[3.8 * i + 0.25, 10.0 * k + 0.5, -1.125]
                      for i in range(3)] for k in range(2)])


def atom_rows():
    """Rows of the _atom_site loop as token lists (in file order)."""
    rows, serial = [], 1
    offsets = {"N": (-1.25, 0.5, 0.0), "CA": (0.0, 0.0, 0.0), "C": (1.2, 0.5, 0.0)}
    for k, ca_model in enumerate(expected_ca()):
        for i, ca in enumerate(ca_model):
            for name, off in offsets.items():
                x, y, z = ca + off
                rows.append(["ATOM", str(serial), name[0], name, ".",
                             RES_NAMES[i], "A", str(i + 1), "?", f"{x:.3f}",
                             f"{y:.3f}", f"{z:.3f}", "1.00", "'20.5'",
                             str(RES_IDS[i]), RES_NAMES[i], "A", name,
                             str(k + 1)])
                serial += 1
    return rows


def cif_text(body):
    return ("data_test\n#\nloop_\n"
            + "".join(f"_atom_site.{c}\n" for c in COLUMNS) + body + "#\n")


def check(path):
    assert np.allclose(read_models(path), expected_ca(), atol=1e-9)
    m = load_structure(path)
    assert list(m.res_ids) == RES_IDS and list(m.res_names) == RES_NAMES
    assert np.allclose(m.coords, expected_ca()[0], atol=1e-6)


def test_cif_rows_spanning_lines(tmp_path):
    # each row over three lines (6 + 7 + 6 values); in row 2 the B-factor
    # is a text field, which takes lines of its own
    lines = []
    for row in atom_rows():
        lines += [" ".join(row[:6]), "  " + " ".join(row[6:13]),
                  "  " + " ".join(row[13:])]
    lines[5] = ";20.5\n;\n" + " ".join(atom_rows()[1][14:])
    path = tmp_path / "spanning.cif"
    path.write_text(cif_text("\n".join(lines) + "\n"))
    check(path)


def test_cif_rows_offset_from_lines(tmp_path):
    # every line but the first and the last holds as many values as a row,
    # yet each starts in the middle of a row: reading line by line would
    # take the wrong values
    tokens = [t for row in atom_rows() for t in row]
    n = len(COLUMNS)
    lines = [" ".join(tokens[:n - 5])]
    lines += [" ".join(tokens[i:i + n]) for i in range(n - 5, len(tokens) - 5, n)]
    lines += [" ".join(tokens[len(tokens) - 5:])]
    assert all(len(line.split()) == n for line in lines[1:-1])
    path = tmp_path / "offset.cif"
    path.write_text(cif_text("\n".join(lines) + "\n"))
    check(path)


def test_cif_one_row_per_line_with_quotes(tmp_path):
    rows = atom_rows()
    rows[0][6] = "'A X'"  # a quoted value with a space (label_asym_id)
    body = "".join(" ".join(row) + "\n" for row in rows)
    path = tmp_path / "quoted.cif"
    path.write_text(cif_text(body))
    check(path)


def test_written_cif_reads_the_same_in_any_layout(adk_open, tmp_path):
    rng = np.random.default_rng(3)
    coords = adk_open.coords + rng.normal(scale=0.5, size=(2, adk_open.n, 3))
    path = tmp_path / "rows.cif"
    write_models(path, adk_open, coords, full_atom=True)
    text = path.read_text()
    head, _, body = text.rpartition("_atom_site.pdbx_PDB_model_num\n")
    tokens = body.rstrip("#\n").split()
    wrapped = "\n".join(" ".join(tokens[i:i + 7]) for i in range(0, len(tokens), 7))
    other = tmp_path / "wrapped.cif"
    other.write_text(head + "_atom_site.pdbx_PDB_model_num\n" + wrapped + "\n#\n")
    assert np.array_equal(read_models(other), read_models(path))
    assert np.abs(read_models(other) - coords).max() <= 5e-4 + 1e-9
    assert np.array_equal(load_structure(other).res_ids, adk_open.res_ids)


def test_calcium_ions_are_not_c_alphas(tmp_path):
    lines = backbone([1, 2])
    lines.append("HETATM   11 CA    CA A 101      20.000   0.000   0.000"
                 "  1.00  0.00          CA  \n")
    path = write(tmp_path / "calcium.pdb", lines)
    assert read_models(path).shape == (1, 2, 3)
    rows = atom_rows()[:3] + [["HETATM", "10", "CA", "CA", ".", "CA", "B", ".",
                               "?", "20.0", "0.0", "0.0", "1.00", "0.0", "101", "CA",
                               "B", "CA", "1"]]
    cif = tmp_path / "calcium.cif"
    cif.write_text(cif_text("".join(" ".join(r) + "\n" for r in rows)))
    assert np.allclose(read_models(cif), expected_ca()[:1, :1])


def test_models_of_different_sizes_are_an_error(tmp_path):
    lines = (["MODEL        1\n"] + backbone([1, 2]) + ["ENDMDL\n", "MODEL        2\n"]
             + backbone([1]) + ["ENDMDL\n"])
    with pytest.raises(StructureError, match=r"sizes.pdb: models have different"):
        read_models(write(tmp_path / "sizes.pdb", lines))
    with pytest.raises(StructureError, match="noloop.cif: no _atom_site loop"):
        (tmp_path / "noloop.cif").write_text("data_x\n_cell.length_a 10\n")
        read_models(tmp_path / "noloop.cif")
