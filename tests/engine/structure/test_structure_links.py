"""Chain breaks from the chain id, the polymer type and the bond geometry,
never from the residue numbering."""
import numpy as np

from cryostar_boltz.engine.structure import BOND_DISTANCE, load_structure
from structure_records import backbone, nucleotide_lines, write


def renumbered(path, out, number_of, keep=lambda res_id: True):
    """A copy of a PDB file with residue ``r`` numbered ``number_of(r)``
    (an int, or (int, insertion code)), residues failing ``keep`` dropped."""
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith(("ATOM", "HETATM")):
            res_id = int(line[22:26])
            if not keep(res_id):
                continue
            new = number_of(res_id)
            number, icode = new if isinstance(new, tuple) else (new, " ")
            line = line[:22] + "%4d%s" % (number, icode) + line[27:]
        lines.append(line)
    out.write_text("".join(lines))
    return out


def test_adk_renumbered_with_gaps_keeps_its_213_links(adk_dir, tmp_path):
    plain = load_structure(adk_dir / "adk_open.pdb")
    # antibody / alignment style: skips of 1 to 7 numbers, an insertion code
    skips = renumbered(adk_dir / "adk_open.pdb", tmp_path / "skips.pdb",
                       lambda r: r + 3 * (r // 20) + (r > 150) * 1000
                       if r != 60 else (59 + 3 * 2, "A"))
    m = load_structure(skips)
    assert m.res_ids[-1] == 214 + 30 + 1000 and "A" in m.icodes
    assert m.n == plain.n == 214
    assert len(plain.bonds) == 213 and len(m.bonds) == 213
    assert np.array_equal(m.bonds, plain.bonds)
    assert np.all(m.segment_index == 0)


def test_removed_loop_breaks_even_with_consecutive_numbers(adk_dir, tmp_path):
    # residues 120-124 removed, the rest numbered 1..209 without a gap
    cut = renumbered(adk_dir / "adk_open.pdb", tmp_path / "cut.pdb",
                     lambda r: r if r < 120 else r - 5,
                     keep=lambda r: not 120 <= r <= 124)
    m = load_structure(cut)
    assert m.n == 209
    assert np.array_equal(m.res_ids, np.arange(1, 210))
    assert len(m.bonds) == 207
    assert list(np.unique(m.segment_index)) == [0, 1]
    assert np.flatnonzero(np.diff(m.segment_index)).tolist() == [118]


def test_two_chains_never_link(tmp_path):
    # chain B starts where a peptide bond from chain A's last C would
    lines = backbone([1, 2, 3], chain="A") + backbone(
        [4, 5], chain="B", start=(3 * 3.8, 0, 0), first_serial=50)
    m = load_structure(write(tmp_path / "two.pdb", lines))
    assert list(m.chain_index) == [0, 0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [1, 2], [3, 4]]


def test_stretched_peptide_bond_breaks(tmp_path):
    # CA-CA 4.48 A (under the CA-only limit) but C-N 2.03 A: no bond
    lines = backbone([1, 2], step=3.8) + backbone(
        [3, 4], start=(3.8 + 4.48, 0, 0), first_serial=20)
    m = load_structure(write(tmp_path / "stretched.pdb", lines))
    c_n = np.linalg.norm(m.atoms.coords[m.atoms.names == "C"][1]
                         - m.atoms.coords[m.atoms.names == "N"][2])
    assert c_n > BOND_DISTANCE["protein"]
    assert np.linalg.norm(m.coords[2] - m.coords[1]) < 4.5
    assert m.bonds.tolist() == [[0, 1], [2, 3]]


def test_ca_only_model_breaks_at_long_ca_steps_only(tmp_path):
    lines = [l for l in backbone([1, 2, 3, 10, 11]) + backbone(
        [12, 13], start=(5 * 3.8 + 5.0, 0, 0), first_serial=40)
        if l[12:16] == " CA "]
    m = load_structure(write(tmp_path / "ca.pdb", lines))
    assert m.atoms.n == 7
    assert m.bonds.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [5, 6]]


def test_nucleic_acid_breaks_from_o3_p_bonds(tmp_path):
    # numbers skip (1, 2, 5, 6) along a bonded strand: one segment
    strand = nucleotide_lines(4, "B", res_ids=[1, 2, 5, 6])
    m = load_structure(write(tmp_path / "dna.pdb", strand))
    assert m.bonds.tolist() == [[0, 1], [1, 2], [2, 3]]
    # consecutive numbers, but the third nucleotide moved 3 A away along z
    # (C1'-C1' still under 8 A, O3'-P no longer a bond): a break
    moved = [l[:46] + "%8.3f" % (float(l[46:54]) + 3.0) + l[54:]
             if int(l[22:26]) >= 3 else l
             for l in nucleotide_lines(4, "B")]
    m = load_structure(write(tmp_path / "dna_moved.pdb", moved))
    assert np.linalg.norm(m.coords[2] - m.coords[1]) < 8.0
    assert m.bonds.tolist() == [[0, 1], [2, 3]]


def test_polymer_type_change_breaks(tmp_path):
    # a protein and a nucleic acid in one chain are two segments
    lines = backbone([1, 2], chain="A") + nucleotide_lines(2, "A", first_serial=40,
                                                           res_ids=[3, 4])
    m = load_structure(write(tmp_path / "mixed.pdb", lines))
    assert list(m.is_nucleic) == [False, False, True, True]
    assert list(m.chain_index) == [0, 0, 0, 0]
    assert m.bonds.tolist() == [[0, 1], [2, 3]]
