"""Which format can hold a model, and models written and read back
exactly (names, elements, residue names, numbers, insertion codes, chain
ids, coordinates to the file's precision)."""
import dataclasses

import numpy as np
import pytest

from cryostar_boltz.engine.structure import (StructureError, load_structure,
                                             output_format, pdb_problem,
                                             read_models, write_models)


def renumbered(model, res_ids, icodes):
    """``model`` with residue i numbered ``res_ids[i]``, code ``icodes[i]``."""
    res_ids, icodes = np.asarray(res_ids), np.asarray(icodes, dtype="<U1")
    index = model.atoms.residue_index
    atoms = dataclasses.replace(model.atoms, res_ids=res_ids[index],
                                icodes=icodes[index])
    return dataclasses.replace(model, atoms=atoms, res_ids=res_ids, icodes=icodes)


def same_atoms(back, model, full_atom, tolerance):
    rows = np.arange(model.atoms.n) if full_atom else model.atom_index
    a, b = back.atoms, model.atoms
    assert a.n == len(rows)
    for key in ("names", "elements", "res_names", "res_ids", "icodes", "chain_ids"):
        assert np.array_equal(getattr(a, key), getattr(b, key)[rows]), key
    assert np.abs(a.coords - b.coords[rows]).max() <= tolerance


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
@pytest.mark.parametrize("full_atom", [False, True])
def test_written_and_read_back_gives_the_same_atoms(adk_open, tmp_path, suffix,
                                                    full_atom):
    # insertion codes and a numbering skip, within PDB's columns
    res_ids = np.arange(1, adk_open.n + 1) + 50 * (np.arange(adk_open.n) > 100)
    icodes = np.where(np.arange(adk_open.n) % 7 == 3, "B", "")
    model = renumbered(adk_open, res_ids, icodes)
    path = tmp_path / ("models" + suffix)
    write_models(path, model, np.stack([model.coords, model.coords + 2.0]),
                 full_atom=full_atom)
    back = load_structure(path)
    same_atoms(back, model, full_atom, 5e-4 + 1e-9)
    assert np.array_equal(back.bonds, adk_open.bonds)
    assert np.abs(read_models(path)[1] - (model.coords + 2.0)).max() <= 5e-4 + 1e-9


def test_residue_numbers_past_9999_and_insertion_codes_go_to_mmcif(adk_open,
                                                                   tmp_path):
    res_ids = 9990 + np.arange(adk_open.n)  # 9990 .. 10203
    icodes = np.where(np.arange(adk_open.n) == 20, "A", "")
    model = renumbered(adk_open, res_ids, icodes)
    assert pdb_problem(model) == ("residue number 10000 does not fit a PDB "
                                  "file (-999 to 9999)")
    assert output_format(model) == "cif"
    with pytest.raises(StructureError, match=r"ref.cif: residue number 10000 "
                       r"does not fit a PDB file \(-999 to 9999\); use --format cif"):
        output_format(model, "pdb", "ref.cif")
    with pytest.raises(StructureError, match="out.pdb: residue number 10000"):
        write_models(tmp_path / "out.pdb", model, model.coords)
    path = tmp_path / "out.cif"
    write_models(path, model, model.coords, full_atom=True)
    back = load_structure(path)
    same_atoms(back, model, True, 5e-4 + 1e-9)
    assert back.res_ids[-1] == 10203 and back.icodes[20] == "A"
    assert len(back.bonds) == 213


def test_what_pdb_cannot_hold(adk_open):
    assert pdb_problem(adk_open) is None  # blank chain named by its segid
    assert output_format(adk_open) == "pdb" and output_format(adk_open, "cif") == "cif"
    atoms = adk_open.atoms

    def changed(**values):
        return dataclasses.replace(adk_open, atoms=dataclasses.replace(atoms, **values))

    long_name = atoms.res_names.astype("<U5")
    long_name[:] = "ALA4X"
    assert "residue name 'ALA4X'" in pdb_problem(changed(res_names=long_name))
    names = atoms.names.astype("<U5")
    names[0] = "HD211"
    assert "atom name 'HD211'" in pdb_problem(changed(names=names))
    assert "coordinates" in pdb_problem(changed(coords=atoms.coords - 1000.0))
    assert pdb_problem(changed(coords=atoms.coords - 950.0)) is None
    assert output_format(changed(coords=atoms.coords - 950.0)) == "cif"  # margin
    assert "chain id 'AB'" in pdb_problem(changed(
        chain_ids=np.full(atoms.n, "AB"), segids=np.full(atoms.n, "")))
    with pytest.raises(StructureError, match="--format 'mol2'"):
        output_format(adk_open, "mol2")


def test_more_than_99999_atoms_go_to_mmcif(adk_open):
    big = int(np.ceil(100000 / adk_open.atoms.n))
    atoms = adk_open.atoms
    tiled = dataclasses.replace(atoms, **{
        key: np.concatenate([getattr(atoms, key)] * big)
        for key in ("coords", "names", "elements", "atomic_numbers", "res_names",
                    "chain_ids", "res_ids", "icodes", "hetero", "occupancy",
                    "bfactors", "serials", "segids")},
        residue_index=np.concatenate([atoms.residue_index] * big))
    model = dataclasses.replace(adk_open, atoms=tiled)
    assert "atoms do not fit a PDB file (99999 serial numbers)" in pdb_problem(model)
    assert pdb_problem(model, full_atom=False) is None
    assert output_format(model) == "cif"
