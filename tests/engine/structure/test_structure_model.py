"""Coarse model: pseudo-atoms, amplitudes, chains, segments and bonds."""
import numpy as np

from cryostar_boltz.engine.structure import load_structure, read_models, write_models
from structure_records import backbone, nucleotide_lines, write


Z = {"H": 1, "C": 6, "N": 7, "O": 8, "P": 15, "S": 16}


def heavy_sum_from_text(path, res_id):
    """Sum of atomic numbers of a residue's heavy atoms, read independently."""
    total = 0
    for line in path.read_text().splitlines():
        if line.startswith("ATOM") and int(line[22:26]) == res_id:
            element = line[12:16].strip()[0]  # CHARMM names start with it
            if element != "H":
                total += Z[element]
    return total


def test_adk_coarse_model(adk_open, adk_dir):
    m = adk_open
    assert m.n == 214
    assert np.all(m.atoms.names[m.atom_index] == "CA")
    assert np.all(m.atoms.elements[m.atom_index] == "C")
    assert set(m.chain_ids) == {"4AKE"}
    assert np.array_equal(m.res_ids, np.arange(1, 215))
    assert not m.is_nucleic.any()
    assert m.bonds.shape == (213, 2)
    assert np.array_equal(m.bonds, np.column_stack([np.arange(213), np.arange(1, 214)]))
    assert np.all(m.segment_index == 0) and np.all(m.chain_index == 0)
    assert m.atoms.n == 3341
    assert set(m.atoms.elements) == {"C", "H", "N", "O", "S"}
    path = adk_dir / "adk_open.pdb"
    for res_id in (1, 7, 100, 214):
        assert m.amplitudes[res_id - 1] == heavy_sum_from_text(path, res_id)
    assert m.res_names[6] == "GLY" and m.amplitudes[6] == 7 + 6 + 6 + 8
    coords, z = m.heavy_atoms()
    assert coords.shape == (3341 - 1685, 3) and np.all(z > 1)
    assert z.sum() == m.amplitudes.sum()


def test_translated_and_centre(adk_open):
    shift = np.array([1.5, -2.0, 4.0])
    moved = adk_open.translated(shift)
    assert np.allclose(moved.centre(), adk_open.centre() + shift)
    assert np.allclose(moved.atoms.coords, adk_open.atoms.coords + shift)
    assert np.allclose(moved.coords, moved.atoms.coords[moved.atom_index])
    assert not np.allclose(adk_open.coords, moved.coords)  # original kept
    weights = adk_open.amplitudes[:, None]
    expected = (adk_open.coords * weights).sum(0) / weights.sum()
    assert np.allclose(adk_open.centre(), expected)
    assert not np.allclose(expected, adk_open.coords.mean(0), atol=0.05)


def test_hydrogens_do_not_change_the_model(tmp_path):
    bare = load_structure(write(tmp_path / "bare.pdb", backbone([1, 2, 3])))
    with_h = load_structure(write(tmp_path / "h.pdb",
                                  backbone([1, 2, 3], hydrogens=True)))
    assert with_h.atoms.n == bare.atoms.n + 9
    assert np.array_equal(with_h.amplitudes, bare.amplitudes)
    assert np.array_equal(with_h.coords, bare.coords)
    assert len(with_h.heavy_atoms()[0]) == bare.atoms.n


def test_numbering_gap_does_not_break_a_bonded_chain(tmp_path):
    # residue numbers skip, but every C(i)-N(i+1) is a peptide bond
    m = load_structure(write(tmp_path / "gap.pdb", backbone([1, 2, 3, 5, 6])))
    assert list(m.segment_index) == [0, 0, 0, 0, 0]
    assert m.bonds.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4]]


def test_long_ca_distance_breaks_the_chain(tmp_path):
    lines = backbone([1, 2]) + backbone([3, 4], start=(3.8 + 4.6, 0, 0),
                                        first_serial=20)
    m = load_structure(write(tmp_path / "far.pdb", lines))
    assert list(m.segment_index) == [0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [2, 3]]
    assert list(m.chain_index) == [0, 0, 0, 0]


def test_nucleic_acid_coarse_grained_at_c1prime(tmp_path):
    lines = nucleotide_lines(4, "B") + backbone([1, 2], chain="A", start=(40, 0, 0),
                                                first_serial=100)
    path = write(tmp_path / "dna.pdb", lines)
    m = load_structure(path)
    assert m.n == 6
    assert list(m.is_nucleic) == [True] * 4 + [False] * 2
    assert np.all(m.atoms.names[m.atom_index[:4]] == "C1'")
    assert m.amplitudes[0] == 15 + 8 + 6 + 8 + 6 + 7
    step = np.linalg.norm(np.diff(m.coords[:4], axis=0), axis=1)
    assert np.allclose(step, 4.95, atol=0.05)
    assert m.bonds.tolist() == [[0, 1], [1, 2], [2, 3], [4, 5]]
    assert list(m.chain_index) == [0, 0, 0, 0, 1, 1]
    out = tmp_path / "dna_out.cif"  # primes need quoting in mmCIF
    write_models(out, m, np.stack([m.coords, m.coords + 1.0]), full_atom=True)
    assert np.allclose(read_models(out)[1], m.coords + 1.0, atol=1e-3)
    assert np.array_equal(load_structure(out).amplitudes, m.amplitudes)
    coarse = tmp_path / "dna_coarse.pdb"
    write_models(coarse, m, np.stack([m.coords, m.coords - 1.0]))
    text = coarse.read_text()
    assert text.count("TER\n") == 4  # two chains, two models
    assert " C1'  DA B   1" in text
    back = load_structure(coarse)
    assert list(back.is_nucleic) == list(m.is_nucleic)
    assert back.bonds.tolist() == m.bonds.tolist()
    assert np.allclose(read_models(coarse)[1], m.coords - 1.0, atol=1e-3)
