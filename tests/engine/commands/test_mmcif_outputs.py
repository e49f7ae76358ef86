"""Models a PDB file cannot hold (chain ids longer than one character,
residue numbers past 9999) go through train, generate, sample-prior and
analyze as mmCIF with the reference's chain ids kept; --format pdb is
refused before anything is written."""
import dataclasses
import json

import numpy as np
import pytest
from Bio.PDB import MMCIFParser

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.simulate import simulate_dataset
from cryostar_boltz.engine.structure import load_structure, write_models

CHAINS = ("AA-10", "B12")


def with_chains(model, split, names):
    """``model`` with residues [0, split) in chain names[0], the rest in
    names[1] (no segment ids)."""
    atoms = model.atoms
    first = atoms.residue_index < split
    labels = np.where(first, names[0], names[1])
    atoms = dataclasses.replace(atoms, chain_ids=labels.astype(str),
                                segids=np.full(atoms.n, "", dtype="<U4"))
    chain_index = (np.arange(model.n) >= split).astype(np.int64)
    keep = np.flatnonzero(model.bonds[:, 0] != split - 1)
    return dataclasses.replace(
        model, atoms=atoms, chain_ids=np.where(chain_index == 0, *names),
        chain_index=chain_index, bonds=model.bonds[keep])


@pytest.fixture(scope="module")
def long_chain_reference(adk_dir, tmp_path_factory):
    """adk (open) as an mmCIF file of two chains, 'AA-10' and 'B12'."""
    model = with_chains(load_structure(adk_dir / "adk_open.pdb"), 120, CHAINS)
    path = tmp_path_factory.mktemp("ref") / "ref.cif"
    write_models(path, model, model.coords, full_atom=True)
    return path


def auth_chains(path):
    """Chain ids of every model of an mmCIF file, read by Biopython."""
    structure = MMCIFParser(QUIET=True).get_structure("x", str(path))
    return {tuple(c.id for c in model) for model in structure}


def cli(*args):
    return main([str(a) for a in args])


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_reference_keeps_its_chain_ids(long_chain_reference):
    m = load_structure(long_chain_reference)
    assert list(dict.fromkeys(m.chain_ids.tolist())) == list(CHAINS)
    assert auth_chains(long_chain_reference) == {CHAINS}
    assert len(m.bonds) == 212  # two chains never link


@pytest.fixture(scope="module")
def long_chain_run(long_chain_reference, tmp_path_factory):
    root = tmp_path_factory.mktemp("long_chain")
    data = simulate_dataset([long_chain_reference], root / "sim", 48, 32, 3.2,
                            snr=1.0, seed=2)
    run = root / "run"
    code = cli("train", "--particles", data.star, "--reference",
               long_chain_reference, "--out", run, "--epochs", 1,
               "--batch-size", 24, "--device", "cpu", "--threads", 1,
               "--prior", "grbm", "--prior-option", "hidden_units=4",
               "--prior-fit-steps", 5, "--kl-warmup", 10)
    assert code == 0
    return data, run


def test_simulated_reference_is_mmcif(long_chain_run):
    data, _ = long_chain_run
    assert data.reference.name == "reference.cif"
    assert auth_chains(data.reference) == {CHAINS}


def test_train_writes_mmcif_analysis_with_the_chain_ids(long_chain_run):
    _, run = long_chain_run
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == "cif"
    summary = json.loads((run / "analysis" / "summary.json").read_text())
    assert "notes" not in summary
    assert [p["pdb"] for p in summary["pc_paths"]] == ["pc1.cif", "pc2.cif", "pc3.cif"]
    assert summary["kmeans"]["pdb"] == "centers.cif"
    assert not list((run / "analysis").rglob("*.pdb"))
    pc1 = run / "analysis" / "pc1.cif"
    assert auth_chains(pc1) == {CHAINS}
    assert auth_chains(run / "analysis" / "pc1_coarse.cif") == {CHAINS}
    back = load_structure(pc1)
    assert list(dict.fromkeys(back.chain_ids.tolist())) == list(CHAINS)
    assert np.array_equal(back.res_ids, np.arange(1, 215))


def test_generate_and_sample_prior_write_mmcif(long_chain_run, tmp_path):
    _, run = long_chain_run
    assert cli("generate", "--run", run, "--from", "pca", "--n", 3,
               "--out", tmp_path / "gen") == 0
    record = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert (record["pdb"], record["coarse_pdb"], record["format"]) == (
        "pc1.cif", "pc1_coarse.cif", "cif")
    assert auth_chains(tmp_path / "gen" / "pc1.cif") == {CHAINS}
    assert cli("sample-prior", "--run", run, "-n", 4, "--sampler", "gibbs",
               "--basins", "--max-basins", 2, "--basin-reads", 8,
               "--out", tmp_path / "samples") == 0
    info = json.loads((tmp_path / "samples" / "info.json").read_text())
    assert info["structures"]["pdb"] == "samples.cif"
    assert auth_chains(tmp_path / "samples" / "samples.cif") == {CHAINS}
    basins = json.loads((tmp_path / "samples" / "basins.json").read_text())
    assert basins["pdb"] == "basins.cif"


def test_pdb_output_of_such_a_run_is_refused_before_any_folder(
        long_chain_run, tmp_path, capsys):
    _, run = long_chain_run
    for argv in (("generate", "--run", run, "--from", "pca", "--format", "pdb"),
                 ("sample-prior", "--run", run, "-n", 2, "--format", "pdb"),
                 ("analyze", "--run", run, "--k", 2, "--format", "pdb")):
        out = tmp_path / argv[0]
        assert cli(*argv, "--out", out) == 1
        line = one_error_line(capsys)
        assert "chain id 'AA-10' does not fit a PDB file (1 character)" in line
        assert "use --format cif" in line
        assert not out.exists()


def test_train_format_pdb_is_refused_before_the_run_folder(
        long_chain_reference, long_chain_run, tmp_path, capsys):
    data, _ = long_chain_run
    out = tmp_path / "run"
    assert cli("train", "--particles", data.star, "--reference",
               long_chain_reference, "--out", out, "--format", "pdb") == 1
    line = one_error_line(capsys)
    assert line.endswith("%s: chain id 'AA-10' does not fit a PDB file "
                         "(1 character); use --format cif (or auto)"
                         % long_chain_reference)
    assert not out.exists()


def test_three_character_chain_ids_are_not_written_blank(adk_dir, tmp_path):
    model = with_chains(load_structure(adk_dir / "adk_open.pdb"), 100, ("ABC", "XYZ"))
    path = tmp_path / "three.pdb"
    with pytest.raises(ValueError, match="three.pdb: chain id 'ABC' does not fit"):
        write_models(path, model, model.coords, full_atom=True)
    assert not path.exists()
    cif = tmp_path / "three.cif"
    write_models(cif, model, model.coords, full_atom=True)
    assert auth_chains(cif) == {("ABC", "XYZ")}
