"""Reference structures: coarse-graining, chain breaks, ensemble files."""
import gzip

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.structure import (
    StructureError, ca_rmsd, load_structure, read_models, write_models)

Z = {"H": 1, "C": 6, "N": 7, "O": 8, "P": 15, "S": 16}


def atom_line(serial, name, res_name, chain, res_id, xyz, element="",
              icode="", altloc=" ", occupancy=1.0, record="ATOM",
              segid="", pad_name=True):
    """One fixed-column PDB record (names padded as the PDB does)."""
    if pad_name and len(name) < 4:
        name = " " + name
    x, y, z = xyz
    return (f"{record:<6s}{serial:5d} {name:<4s}{altloc}{res_name:>3s} "
            f"{chain:1s}{res_id:4d}{icode:1s}   {x:8.3f}{y:8.3f}{z:8.3f}"
            f"{occupancy:6.2f}{0.0:6.2f}      {segid:<4s}{element:>2s}\n")


def backbone(res_ids, chain="A", start=(0.0, 0.0, 0.0), step=3.8,
             res_name="ALA", elements=True, record="ATOM", first_serial=1,
             hydrogens=False, segid=""):
    """Straight backbone: N, CA, C, O (+CB) per residue, CA-CA = ``step``.

    C(i)-N(i+1) is 1.35 Angstrom, a peptide bond, when ``step`` is 3.8.
    """
    offsets = {"N": (-1.25, 0.5, 0.0), "CA": (0.0, 0.0, 0.0),
               "C": (1.2, 0.5, 0.0), "O": (1.3, 1.7, 0.0),
               "CB": (0.0, -1.0, 1.2)}
    if hydrogens:
        offsets.update({"H": (-1.5, 1.4, 0.0), "HA": (0.0, -0.5, -0.9),
                        "HB1": (0.0, -2.0, 1.0)})
    lines, serial = [], first_serial
    for k, res_id in enumerate(res_ids):
        ca = np.asarray(start) + [k * step, 0.0, 0.0]
        for name, off in offsets.items():
            lines.append(atom_line(serial, name, res_name, chain, res_id,
                                   ca + off, name[0] if elements else "",
                                   record=record, segid=segid))
            serial += 1
    return lines


def write(path, lines):
    path.write_text("".join(lines) + "END\n")
    return path


ALA_HEAVY = 7 + 6 + 6 + 8 + 6  # N CA C O CB


# ------------------------------------------------------------- adenylate kinase

@pytest.fixture(scope="module")
def adk_open(adk_dir):
    return load_structure(adk_dir / "adk_open.pdb")


@pytest.fixture(scope="module")
def adk_closed(adk_dir):
    return load_structure(adk_dir / "adk_closed.pdb")


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


def test_adk_rmsd_and_radius_of_gyration(adk_open, adk_closed):
    rmsd = ca_rmsd(adk_open.coords, adk_closed.coords)
    assert 6.7 < rmsd < 7.1
    assert ca_rmsd(adk_open.coords, adk_closed.coords, superpose=False) > rmsd

    def rg(x):
        return np.sqrt(np.mean(np.sum((x - x.mean(0)) ** 2, axis=1)))
    assert rg(adk_open.coords) == pytest.approx(19.4, abs=0.05)
    assert rg(adk_closed.coords) == pytest.approx(16.4, abs=0.06)


def test_ca_rmsd_is_batched_and_rigid_invariant(adk_open, adk_closed):
    rot = Rotation.from_euler("zyz", [30, 70, -20], degrees=True).as_matrix()
    moved = adk_closed.coords @ rot.T + [10.0, -5.0, 3.0]
    batch = np.stack([adk_closed.coords, moved, adk_open.coords])
    out = ca_rmsd(batch, adk_open.coords)
    assert out.shape == (3,)
    assert out[0] == pytest.approx(out[1], abs=1e-9)
    assert out[2] == pytest.approx(0.0, abs=1e-6)
    mirror = adk_open.coords * [-1.0, 1.0, 1.0]
    assert ca_rmsd(mirror, adk_open.coords) > 1.0  # no reflections


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


# ----------------------------------------------------------- writing ensembles

@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
@pytest.mark.parametrize("full_atom", [False, True])
def test_write_read_round_trip(adk_open, tmp_path, suffix, full_atom):
    rng = np.random.default_rng(0)
    coords = adk_open.coords + rng.normal(scale=0.5, size=(3, adk_open.n, 3))
    path = tmp_path / f"ensemble{suffix}"
    write_models(path, adk_open, coords, full_atom=full_atom)
    assert np.abs(read_models(path) - coords).max() <= 5e-4 + 1e-9
    back = load_structure(path)  # biopython reads it; first model
    assert np.array_equal(back.res_ids, adk_open.res_ids)
    assert np.array_equal(back.res_names, adk_open.res_names)
    assert np.array_equal(back.chain_ids, adk_open.chain_ids)
    assert back.atoms.n == (adk_open.atoms.n if full_atom else adk_open.n)
    if full_atom:
        assert np.array_equal(back.amplitudes, adk_open.amplitudes)
        assert np.array_equal(back.atoms.elements, adk_open.atoms.elements)
    parser = PDBParser(QUIET=True) if suffix == ".pdb" else MMCIFParser(QUIET=True)
    assert len(parser.get_structure("x", str(path))) == 3


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_full_atom_moves_each_residue_rigidly(adk_open, tmp_path, suffix):
    rng = np.random.default_rng(1)
    shift = rng.normal(scale=2.0, size=(2, adk_open.n, 3))
    path = tmp_path / f"full{suffix}"
    write_models(path, adk_open, adk_open.coords + shift, full_atom=True)
    parser = PDBParser(QUIET=True) if suffix == ".pdb" else MMCIFParser(QUIET=True)
    models = list(parser.get_structure("x", str(path)))
    index = adk_open.atoms.residue_index
    for k, model in enumerate(models):
        xyz = np.array([a.coord for a in model.get_atoms()], dtype=np.float64)
        moved = xyz - adk_open.atoms.coords
        assert np.abs(moved - shift[k][index]).max() < 2e-3


def test_pdb_columns_are_exact(adk_open, tmp_path):
    path = tmp_path / "coarse.pdb"
    write_models(path, adk_open, adk_open.coords, bfactors=np.arange(adk_open.n))
    lines = [l for l in path.read_text().splitlines() if l.startswith("ATOM")]
    assert len(lines) == 214 and all(len(l) == 80 for l in lines)
    first = lines[0]
    assert first[:6] == "ATOM  " and first[6:11] == "    1"
    assert first[12:16] == " CA " and first[17:20] == "MET"
    assert first[21] == " " and first[22:26] == "   1"
    assert [float(first[i:i + 8]) for i in (30, 38, 46)] == pytest.approx(
        adk_open.coords[0], abs=5e-4)
    assert first[54:60] == "  1.00" and float(lines[5][60:66]) == 5.0
    assert first[72:76] == "4AKE" and first[76:78] == " C"
    text = path.read_text()
    assert text.count("MODEL ") == 1 and text.count("ENDMDL") == 1


def test_single_structure_and_gzip(adk_open, tmp_path):
    path = tmp_path / "one.cif.gz"
    write_models(path, adk_open, adk_open.coords)
    with gzip.open(path, "rt") as handle:
        assert handle.read().startswith("data_one")
    assert read_models(path).shape == (1, 214, 3)


def test_write_is_atomic(adk_open, tmp_path):
    path = tmp_path / "keep.pdb"
    path.write_text("old content\n")
    far = adk_open.coords.copy()
    far[-1] = 1e5  # beyond PDB columns: fails while writing
    with pytest.raises(ValueError):
        write_models(path, adk_open, far)
    assert path.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pdb"]
    with pytest.raises(ValueError, match="shape"):
        write_models(path, adk_open, far[:10])


def test_adk_mmcif_gives_the_same_model(adk_open, tmp_path):
    path = tmp_path / "adk_open.cif"
    write_models(path, adk_open, adk_open.coords, full_atom=True)
    cif = load_structure(path)
    assert cif.n == adk_open.n
    assert np.allclose(cif.coords, adk_open.coords, atol=1e-3)
    assert np.array_equal(cif.amplitudes, adk_open.amplitudes)
    assert np.array_equal(cif.bonds, adk_open.bonds)
    assert np.array_equal(cif.chain_ids, adk_open.chain_ids)
    assert np.array_equal(cif.atoms.names, adk_open.atoms.names)


# ------------------------------------------------------------- synthetic files

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


def test_hydrogens_do_not_change_the_model(tmp_path):
    bare = load_structure(write(tmp_path / "bare.pdb", backbone([1, 2, 3])))
    with_h = load_structure(write(tmp_path / "h.pdb",
                                  backbone([1, 2, 3], hydrogens=True)))
    assert with_h.atoms.n == bare.atoms.n + 9
    assert np.array_equal(with_h.amplitudes, bare.amplitudes)
    assert np.array_equal(with_h.coords, bare.coords)
    assert len(with_h.heavy_atoms()[0]) == bare.atoms.n


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


def test_first_model_is_used(tmp_path):
    lines = (["MODEL        1\n"] + backbone([1, 2]) + ["ENDMDL\n", "MODEL        2\n"]
             + backbone([1, 2], start=(50, 0, 0)) + ["ENDMDL\n"])
    m = load_structure(write(tmp_path / "models.pdb", lines))
    assert m.n == 2 and m.coords[0] == pytest.approx([0, 0, 0])


def test_numbering_gap_breaks_the_chain(tmp_path):
    m = load_structure(write(tmp_path / "gap.pdb", backbone([1, 2, 3, 5, 6])))
    assert list(m.segment_index) == [0, 0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [1, 2], [3, 4]]


def test_long_ca_distance_breaks_the_chain(tmp_path):
    lines = backbone([1, 2]) + backbone([3, 4], start=(3.8 + 4.6, 0, 0),
                                        first_serial=20)
    m = load_structure(write(tmp_path / "far.pdb", lines))
    assert list(m.segment_index) == [0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [2, 3]]
    assert list(m.chain_index) == [0, 0, 0, 0]


def test_segids_with_blank_chains_stay_apart(tmp_path):
    lines = (backbone([1, 2], chain=" ", segid="PROA")
             + backbone([1, 2], chain=" ", segid="PROB", start=(0, 10, 0),
                        first_serial=20))
    m = load_structure(write(tmp_path / "segids.pdb", lines))
    assert list(m.chain_ids) == ["PROA", "PROA", "PROB", "PROB"]
    assert list(m.chain_index) == [0, 0, 1, 1]
    assert m.bonds.tolist() == [[0, 1], [2, 3]]
    assert m.atoms.n == 20


def nucleotide_lines(n, chain, res_name="DA", first_serial=1):
    """B-DNA-like strand: C1' on a helix (radius 5.86, 36 deg, rise 3.38)."""
    lines, serial = [], first_serial
    for k in range(n):
        angle = np.radians(36.0 * k)
        c1 = np.array([5.86 * np.cos(angle), 5.86 * np.sin(angle), 3.38 * k])
        atoms = {"P": (2.5, 1.0, -2.0), "O5'": (2.0, 0.5, -1.2),
                 "C4'": (1.2, 0.8, -0.5), "O3'": (1.8, -1.0, 0.2),
                 "C1'": (0.0, 0.0, 0.0), "N9": (-1.4, 0.2, 0.1),
                 "H1'": (0.2, -1.0, -0.3)}
        for name, off in atoms.items():
            lines.append(atom_line(serial, name, res_name, chain, k + 1,
                                   c1 + off, name[0]))
            serial += 1
    return lines


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


# ---------------------------------------------------------------------- errors

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
    with pytest.raises(StructureError, match="unknown structure format"):
        load_structure(tmp_path / "model.xyz")
    with pytest.raises(StructureError, match="no such file"):
        load_structure(tmp_path / "missing.pdb")
