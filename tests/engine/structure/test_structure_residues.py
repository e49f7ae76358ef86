"""Polymer residues: waters, ions and ligands dropped; linked modified residues kept."""
from cryostar_boltz.engine.structure import load_structure
from structure_records import ALA_HEAVY, atom_line, backbone, write


def test_waters_ions_and_ligands_are_dropped(tmp_path):
    lines = backbone([1, 2, 3])
    lines += [atom_line(40, "O", "HOH", "A", 101, (20, 0, 0), "O", record="HETATM"),
              atom_line(41, "CA", "CA", "A", 102, (22, 0, 0), "CA", record="HETATM"),
              atom_line(42, "ZN", "ZN", "A", 103, (24, 0, 0), "", record="HETATM",
                        pad_name=False),
              # a ligand with a C-alpha-like atom and a nucleotide-like one
              atom_line(43, "N", "LIG", "A", 104, (30, 0, 0), "N", record="HETATM"),
              atom_line(44, "CA", "LIG", "A", 104, (31, 0, 0), "C", record="HETATM"),
              atom_line(45, "C1'", "ATP", "A", 105, (35, 0, 0), "C", record="HETATM"),
              atom_line(46, "P", "ATP", "A", 105, (36, 0, 0), "P", record="HETATM")]
    m = load_structure(write(tmp_path / "het.pdb", lines))
    assert m.n == 3
    assert set(m.atoms.res_names) == {"ALA"}
    assert m.atoms.n == 15


def test_linked_modified_residue_is_kept(tmp_path):
    lines = (backbone([1]) + backbone([2], res_name="MSE", record="HETATM",
                                      start=(3.8, 0, 0), first_serial=10)
             + backbone([3], start=(7.6, 0, 0), first_serial=20))
    lines.insert(10, atom_line(9, "SE", "MSE", "A", 2, (3.8, -2, 2), "SE",
                               record="HETATM", pad_name=False))
    m = load_structure(write(tmp_path / "mse.pdb", lines))
    assert list(m.res_names) == ["ALA", "MSE", "ALA"]
    assert m.amplitudes[1] == ALA_HEAVY + 34
    assert len(m.bonds) == 2
