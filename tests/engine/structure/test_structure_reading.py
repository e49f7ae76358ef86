"""Reading PDB / mmCIF files through Biopython: models, alternate locations, chains, errors."""
import numpy as np
import pytest

from cryostar_boltz.engine.structure import (StructureError, load_ensemble, load_structure,
                                             read_models)
from structure_records import atom_line, backbone, write


def test_alternate_locations_keep_one(tmp_path):
    lines = backbone([1, 3])
    lines[5:5] = [  # residue 2 between them, with two CA positions
        atom_line(50, "N", "ALA", "A", 2, (2.55, 0.5, 0.0), "N"),
        atom_line(51, "CA", "ALA", "A", 2, (3.8, 0.3, 0.0), "C", altloc="A",
                  occupancy=0.4),
        atom_line(52, "CA", "ALA", "A", 2, (3.8, -0.3, 0.0), "C", altloc="B",
                  occupancy=0.6),
        atom_line(53, "C", "ALA", "A", 2, (5.0, 0.5, 0.0), "C")]
    lines = lines[:5] + lines[5:9] + backbone([3], start=(7.6, 0, 0),
                                              first_serial=60)
    m = load_structure(write(tmp_path / "alt.pdb", lines))
    assert m.n == 3
    assert m.coords[1] == pytest.approx([3.8, -0.3, 0.0])
    assert np.sum((m.atoms.residue_index == 1) & (m.atoms.names == "CA")) == 1


def test_insertion_codes_are_distinct_residues(tmp_path):
    lines = (backbone([52]) + backbone([52], start=(3.8, 0, 0), first_serial=10)
             + backbone([53], start=(7.6, 0, 0), first_serial=20))
    lines[5:10] = [l[:26] + "A" + l[27:] for l in lines[5:10]]
    m = load_structure(write(tmp_path / "icode.pdb", lines))
    assert m.n == 3
    assert list(m.res_ids) == [52, 52, 53] and list(m.icodes) == ["", "A", ""]
    assert len(m.bonds) == 2 and len(set(m.segment_index)) == 1


def test_first_model_is_used(tmp_path):
    lines = (["MODEL        1\n"] + backbone([1, 2]) + ["ENDMDL\n", "MODEL        2\n"]
             + backbone([1, 2], start=(50, 0, 0)) + ["ENDMDL\n"])
    m = load_structure(write(tmp_path / "models.pdb", lines))
    assert m.n == 2 and m.coords[0] == pytest.approx([0, 0, 0])


def test_segids_with_blank_chains_stay_apart(tmp_path):
    lines = (backbone([1, 2], chain=" ", segid="PROA")
             + backbone([1, 2], chain=" ", segid="PROB", start=(0, 10, 0),
                        first_serial=20))
    m = load_structure(write(tmp_path / "segids.pdb", lines))
    assert list(m.chain_ids) == ["PROA", "PROA", "PROB", "PROB"]
    assert list(m.chain_index) == [0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [2, 3]]
    assert m.atoms.n == 20


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.pdb"
    path.write_text("")
    with pytest.raises(StructureError, match="empty.pdb.*contains no atoms"):
        load_structure(path)


def test_file_without_ca_is_an_error(tmp_path):
    lines = [atom_line(1, "O", "HOH", "A", 1, (0, 0, 0), "O", record="HETATM"),
             atom_line(2, "N", "ALA", "A", 2, (3, 0, 0), "N")]
    with pytest.raises(StructureError, match=r"noca.pdb.*no residue with a CA or C1'"):
        load_structure(write(tmp_path / "noca.pdb", lines))


def test_unreadable_files_are_errors(tmp_path):
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\nloop_\n_something.else\n1\n")
    with pytest.raises(StructureError, match="bad.cif"):
        load_structure(bad)
    (tmp_path / "model.xyz").write_text("ATOM\n")
    with pytest.raises(StructureError, match="unknown structure format"):
        load_structure(tmp_path / "model.xyz")
    with pytest.raises(StructureError, match="no such file"):
        load_structure(tmp_path / "missing.pdb")


@pytest.mark.parametrize("reader", [load_structure, load_ensemble, read_models])
def test_every_reader_refuses_bad_paths_in_one_line(tmp_path, reader):
    folder = tmp_path / "some_folder"
    folder.mkdir()
    (tmp_path / "empty.cif").write_text("")
    (tmp_path / "junk.pdb").write_text("not a structure\n")
    (tmp_path / "model.txt").write_text("ATOM\n")
    cases = {folder: "some_folder: is a folder, not a structure file",
             tmp_path / "missing.cif": "missing.cif: no such file",
             tmp_path / "model.txt": "model.txt: unknown structure format '.txt'",
             tmp_path / "empty.cif": "empty.cif: ",
             tmp_path / "junk.pdb": "junk.pdb: "}
    for path, message in cases.items():
        with pytest.raises(StructureError) as err:
            reader(path)
        text = str(err.value)
        assert text.startswith(str(path)) and "\n" not in text
        assert message in text


def test_hybrid36_serials_are_read(tmp_path):
    # serials past 99999 in hybrid-36 ('A0000' is 100000), as VMD and
    # CCTBX write them: read, with the serial left at 0
    lines = backbone([1, 2, 3], first_serial=99996)
    codes = iter(["A0000", "A0001", "A0002", "A0003", "A0004", "A0005",
                  "A0006", "A0007", "A0008", "A0009", "A000A"])
    lines = [line if int(line[6:12].split()[0]) <= 99999  # 6 digits past it
             else line[:6] + next(codes) + line[12:] for line in lines]
    assert lines[4][6:11] == "A0000" and len(lines[4]) == len(lines[0])
    m = load_structure(write(tmp_path / "h36.pdb", lines))
    assert m.n == 3 and m.atoms.n == 15
    assert list(m.atoms.serials[:4]) == [99996, 99997, 99998, 99999]
    assert np.all(m.atoms.serials[4:] == 0)
    assert m.coords[2] == pytest.approx([7.6, 0.0, 0.0])


def test_ensemble_shares_one_topology(tmp_path):
    lines = (["MODEL        1\n"] + backbone([1, 2]) + ["ENDMDL\n", "MODEL        2\n"]
             + backbone([1, 2], start=(1.0, 2.0, 3.0)) + ["ENDMDL\n"])
    model, coords = load_ensemble(write(tmp_path / "morph.pdb", lines))
    assert model.n == 2 and coords.shape == (2, 10, 3)
    assert np.allclose(coords[0], model.atoms.coords)
    assert np.allclose(coords[1] - coords[0], [1.0, 2.0, 3.0])
    lines[-2:-1] = []  # model 2 loses its last atom
    with pytest.raises(StructureError, match="bad.pdb: model 2 has other atoms"):
        load_ensemble(write(tmp_path / "bad.pdb", lines))
