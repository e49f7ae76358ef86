"""Elements from atom names where the element column is blank or CHARMM's."""
import pytest

from cryostar_boltz.engine.structure import load_structure
from structure_records import ALA_HEAVY, atom_line, backbone, write


def test_blank_and_charmm_element_columns(tmp_path):
    lines = backbone([1, 2, 3], elements=False)
    # CHARMM style: names from column 13, segid in 73-76, no element
    lines += [atom_line(100, "CA", "VAL", "B", 1, (0, 20, 0), pad_name=False,
                        segid="PROB"),
              atom_line(101, "HG11", "VAL", "B", 1, (1, 20, 0), pad_name=False,
                        segid="PROB"),
              atom_line(102, "CG1", "VAL", "B", 1, (1, 21, 0), pad_name=False,
                        segid="PROB")]
    m = load_structure(write(tmp_path / "blank.pdb", lines))
    assert m.n == 4
    assert list(m.atoms.elements[:5]) == ["N", "C", "C", "O", "C"]
    assert list(m.atoms.elements[-3:]) == ["C", "H", "C"]
    assert m.amplitudes[:3] == pytest.approx([ALA_HEAVY] * 3)
    assert m.amplitudes[3] == 12
    assert list(m.chain_ids) == ["A", "A", "A", "B"]
