"""Multi-model PDB / mmCIF output."""
import gzip

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.structure import (atom_positions, load_ensemble, load_structure,
                                             read_models, write_models)


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
def test_full_atom_models_turn_with_the_backbone(adk_open, tmp_path, suffix):
    """Model 1: the reference; model 2: the whole trace turned 40 degrees
    about an axis through its centre and shifted: every atom reads back
    turned (each residue's atoms follow its local frame, as in training)."""
    matrix = Rotation.from_rotvec(np.radians(40.0) * np.array([0.48, 0.6, 0.64])).as_matrix()
    centre, shift = adk_open.coords.mean(0), np.array([2.0, -3.0, 1.5])
    turned = (adk_open.coords - centre) @ matrix.T + centre + shift
    path = tmp_path / f"full{suffix}"
    write_models(path, adk_open, np.stack([adk_open.coords, turned]), full_atom=True)
    expected = (adk_open.atoms.coords - centre) @ matrix.T + centre + shift
    first, atoms = load_ensemble(path)
    assert np.array_equal(first.atoms.names, adk_open.atoms.names)
    assert np.abs(atoms[0] - adk_open.atoms.coords).max() < 6e-4
    assert np.abs(atoms[1] - expected).max() < 1e-3
    parser = PDBParser(QUIET=True) if suffix == ".pdb" else MMCIFParser(QUIET=True)
    models = list(parser.get_structure("x", str(path)))
    xyz = np.array([a.coord for a in models[1].get_atoms()], dtype=np.float64)
    assert np.abs(xyz - expected).max() < 1e-3


def test_full_atom_residues_move_rigidly_with_their_pseudo_atom(adk_open, tmp_path):
    rng = np.random.default_rng(1)
    coords = adk_open.coords + rng.normal(scale=2.0, size=(2, adk_open.n, 3))
    path = tmp_path / "full.cif"
    write_models(path, adk_open, coords, full_atom=True)
    _, atoms = load_ensemble(path)  # float32 coordinates
    assert np.abs(atoms - atom_positions(adk_open, coords)).max() < 6e-4
    assert np.abs(atoms[:, adk_open.atom_index] - coords).max() < 6e-4


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


def test_gzip_pdb_is_named_and_complete(adk_open, tmp_path):
    path = tmp_path / "sub" / "two.pdb.gz"  # a missing folder is created
    coords = np.stack([adk_open.coords, adk_open.coords + 1.0])
    write_models(path, adk_open, coords, full_atom=True)
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[10:18] == b"two.pdb\0"  # FNAME
    assert np.abs(read_models(path) - coords).max() <= 5e-4 + 1e-9
    assert load_structure(path).atoms.n == adk_open.atoms.n
    assert [p.name for p in path.parent.iterdir()] == ["two.pdb.gz"]
