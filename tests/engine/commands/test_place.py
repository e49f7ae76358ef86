"""``cryostar-boltz place``: a reference model placed in the particle box,
by the consensus map's header or as it is, and refused when it does not fit."""
import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.structure import load_structure, write_models

BOX, APIX = 64, 3.0


def cli(*args):
    return main(["place", *map(str, args)])


@pytest.fixture
def centred(adk_dir, tmp_path):
    """The closed adenylate kinase moved so that its centre is the box centre."""
    model = load_structure(adk_dir / "adk_closed.pdb")
    path = tmp_path / "centred.pdb"
    write_models(path, model, model.coords - model.coords.mean(0), full_atom=True)
    return path


def consensus_map(path, centre, box=BOX, voxel=APIX):
    """An empty MRC map whose header puts its box centre at ``centre`` (A)."""
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((box, box, box), np.float32))
        mrc.voxel_size = voxel
        origin = np.asarray(centre) - (box // 2) * voxel
        mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = origin
    return path


def test_a_centred_model_is_left_in_place(centred, tmp_path, capsys):
    out = tmp_path / "placed.pdb"
    assert cli("--reference", centred, "--box", BOX, "--apix", APIX, "--out", out) == 0
    text = capsys.readouterr().out
    assert "214 residues" in text and "shift applied: 0.00 0.00 0.00 A" in text
    np.testing.assert_allclose(load_structure(out).coords,
                               load_structure(centred).coords, atol=1e-3)


def test_the_map_header_places_a_docked_model(adk_dir, tmp_path, capsys):
    reference = adk_dir / "adk_closed.pdb"
    model = load_structure(reference)
    centre = model.coords.mean(0) + [3.0, -6.0, 9.0]  # the box centre, off the model's
    volume = consensus_map(tmp_path / "consensus.mrc", centre)
    out = tmp_path / "placed.cif"
    assert cli("--reference", reference, "--map", volume, "--box", BOX,
               "--apix", APIX, "--out", out) == 0
    shift = [float(v) for v in capsys.readouterr().out.split("shift applied:")[1]
             .split("A")[0].split()]
    np.testing.assert_allclose(shift, -centre, atol=0.01)
    placed = load_structure(out)
    np.testing.assert_allclose(placed.coords, model.coords - centre, atol=1e-3)
    np.testing.assert_allclose(placed.coords.mean(0), [-3.0, 6.0, -9.0], atol=1e-3)


def test_a_model_off_the_box_centre_is_refused_in_one_line(centred, tmp_path, capsys):
    model = load_structure(centred)
    moved = tmp_path / "moved.pdb"
    write_models(moved, model, model.coords + [60.0, 0.0, 0.0], full_atom=True)
    assert cli("--reference", moved, "--box", BOX, "--apix", APIX) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("cryostar-boltz place: error: moved.pdb: ")
    assert "box centre" in err


@pytest.mark.parametrize("args, message", [
    (("--box", 16, "--apix", APIX), "does not fit the box"),
    (("--box", 0, "--apix", APIX), "argument --box: must be an even number of pixels >= 2, got 0"),
    (("--box", 65, "--apix", APIX), "argument --box: must be an even number of pixels >= 2, got 65"),
    (("--box", -64, "--apix", APIX), "argument --box: must be an even number"),
    (("--box", BOX, "--apix", -1.0), "argument --apix: must be a number > 0, got -1"),
    (("--box", BOX, "--apix", APIX, "--map", "TEXT"), "text.mrc is not an MRC file"),
    (("--box", BOX, "--apix", 2.0, "--map", "MAP"), "must be the consensus map"),
])
def test_bad_boxes_and_maps_are_refused(centred, tmp_path, capsys, args, message):
    volume = consensus_map(tmp_path / "consensus.mrc", [0.0, 0.0, 0.0])
    text = tmp_path / "text.mrc"
    text.write_text("not a map\n" * 200)
    args = [{"MAP": volume, "TEXT": text}.get(a, a) for a in args]
    # 2: an option value refused when the command line is parsed
    assert cli("--reference", centred, *args) == (2 if "argument" in message else 1)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_missing_model_is_named(tmp_path, capsys):
    assert cli("--reference", tmp_path / "none.pdb", "--box", BOX, "--apix", APIX) == 1
    assert "none.pdb" in capsys.readouterr().err


def test_a_folder_as_reference_is_named_in_one_line(tmp_path, capsys):
    folder = tmp_path / "some_folder"
    folder.mkdir()
    assert cli("--reference", folder, "--box", BOX, "--apix", APIX) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "some_folder: is a folder, not a structure file" in err[0]


def test_a_pdb_out_that_cannot_hold_the_model_is_refused_first(centred, tmp_path,
                                                                capsys):
    import dataclasses
    model = load_structure(centred)
    atoms = dataclasses.replace(model.atoms, chain_ids=np.full(model.atoms.n, "AA-10"),
                                segids=np.full(model.atoms.n, ""))
    cif = tmp_path / "long.cif"
    write_models(cif, dataclasses.replace(model, atoms=atoms), model.coords, full_atom=True)
    out = tmp_path / "placed.pdb"
    assert cli("--reference", cif, "--box", BOX, "--apix", APIX, "--out", out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        "long.cif: chain id 'AA-10' does not fit a PDB file (1 character); "
        "give --out a .cif name")
    assert not out.exists()
    assert cli("--reference", cif, "--box", BOX, "--apix", APIX,
               "--out", tmp_path / "placed.cif") == 0
    assert set(load_structure(tmp_path / "placed.cif").chain_ids) == {"AA-10"}
