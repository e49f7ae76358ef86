"""train --mask, --move and --motion domains from the command line: what the
run records, what stays put, resume and the later commands, refusals."""
import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_lines import refused
from conftest import APIX, BOX
from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.structure import load_structure, read_models

MOVE = "4AKE:100-214"
DOMAINS = "4AKE:100-160;4AKE:161-214"


def write_mask(path, radius=25.0, box=BOX, apix=APIX):
    r = (np.arange(box) - box // 2) * apix
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    data = np.clip((radius - np.sqrt(x ** 2 + y ** 2 + z ** 2)) / 6 + 0.5, 0, 1)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data.astype(np.float32))
        mrc.voxel_size = apix
    return path


@pytest.fixture(scope="module")
def focus_run(tiny_dataset, train_options, tmp_path_factory):
    import torch
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("focus")
    run = folder / "run"
    argv = ["train", "--out", run, "--mask", write_mask(folder / "mask.mrc"),
            "--move", MOVE, "--motion", "domains", "--domains", DOMAINS,
            *train_options(tiny_dataset)]
    assert main([str(a) for a in argv]) == 0
    return run


def test_the_run_records_mask_selection_and_domains(focus_run):
    config = json.loads((focus_run / "config.json").read_text())
    assert config["mask"].endswith("mask.mrc") and config["move"] == MOVE
    assert config["motion"] == "domains" and config["domains"] == DOMAINS
    assert config["num_domains"] == 2
    record = json.loads((focus_run / "domains.json").read_text())
    assert record["source"] == "--domains" and record["held"] == 99
    assert [d["residues"] for d in record["per_domain"]] == [61, 54]
    assert json.loads((focus_run / "run.json").read_text())["inputs"]["mask"] \
        == config["mask"]


def test_held_residues_stay_and_domains_move_rigidly(focus_run, tiny_dataset, tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", "--run", str(focus_run), "--out", str(out),
                 "--from", "pca", "--n", "4"]) == 0
    models = read_models(out / "pc1_coarse.pdb")
    reference = load_structure(tiny_dataset.reference)
    held = reference.res_ids < 100
    # the coarse file holds 3 decimals: exact up to its rounding
    assert np.abs(models[:, held] - reference.coords[held]).max() < 1e-3
    for first, last in ((100, 160), (161, 214)):
        part = (reference.res_ids >= first) & (reference.res_ids <= last)
        ref = reference.coords[part]
        pairs = np.linalg.norm(ref[:, None] - ref[None], axis=-1)
        for model in models[:, part]:
            moved = np.linalg.norm(model[:, None] - model[None], axis=-1)
            assert np.abs(moved - pairs).max() < 0.01


def test_stage_two_and_analyze_run_on_it(focus_run, tmp_path):
    assert main(["train-density", "--run", str(focus_run), "--epochs", "1",
                 "--hidden", "8", "--layers", "1", "--threads", "1",
                 "--device", "cpu"]) == 0
    assert main(["analyze", "--run", str(focus_run), "--out", str(tmp_path / "an"),
                 "--k", "2"]) == 0
    assert (tmp_path / "an" / "summary.json").exists()


@pytest.mark.parametrize("option", [("--motion", "free"), ("--move", "4AKE:1-50"),
                                    ("--mask", "other.mrc"), ("--domains", "4AKE:1-9;4AKE:10-214")])
def test_resume_keeps_them(focus_run, capsys, option):
    refused(capsys, ["train", "--resume", "--out", focus_run, *option],
            "%s cannot change" % option[0])


def test_resume_refuses_a_mask_file_whose_voxels_changed(focus_run, capsys, tmp_path):
    """Same path, other voxels: --resume would train on with another mask."""
    import shutil
    assert json.loads((focus_run / "mask_fingerprint.json").read_text())["sha256"]
    run = tmp_path / "run"
    shutil.copytree(focus_run, run)
    mask = Path(json.loads((run / "config.json").read_text())["mask"])
    if not mask.is_absolute():
        mask = Path(json.loads((run / "config.json").read_text())["workdir"]) / mask
    original = mask.read_bytes()
    try:
        write_mask(mask, radius=15.0)
        refused(capsys, ["train", "--resume", "--out", run, "--epochs", 3],
                "not the mask %s was trained with" % run)
    finally:
        mask.write_bytes(original)


def test_domains_are_found_when_not_given(tiny_dataset, train_options, tmp_path):
    run = tmp_path / "found"
    argv = ["train", "--out", run, "--motion", "domains", "--num-domains", "3",
            *train_options(tiny_dataset)]
    assert main([str(a) for a in argv]) == 0
    record = json.loads((run / "domains.json").read_text())
    assert record["source"] == "spectral clustering of the elastic network"
    assert record["count"] == 3 and [d["residues"] for d in record["per_domain"]] \
        == [95, 73, 46]
    config = json.loads((run / "config.json").read_text())
    assert config["domains"] == record["domains"] and config["num_domains"] == 3


@pytest.mark.parametrize("extra, words", [
    (["--move", "B"], "--move 'B': the reference has no chain 'B' (its chains: 4AKE)"),
    (["--move", "4AKE:300-400"], "4AKE:300-400 matches no residue"),
    (["--domains", DOMAINS], "--domains: rigid domains need --motion domains"),
    (["--motion", "domains", "--domains", "4AKE:1-50;4AKE:40-214"],
     "are in domains 1 and 2"),
    (["--motion", "domains", "--domains", DOMAINS, "--num-domains", "3"],
     "--num-domains 3: --domains '%s' gives 2 domains" % DOMAINS),
    (["--mask", "absent.mrc"], "absent.mrc: file not found"),
    (["--mask", "MASK64"], "(204.8 A wide) but the particles are 32 px"),
])
def test_bad_focus_options_are_refused_before_writing(tiny_dataset, train_options,
                                                      tmp_path, capsys, extra, words):
    extra = [str(write_mask(tmp_path / "big.mrc", box=64)) if e == "MASK64" else e
             for e in extra]
    out = tmp_path / "run"
    refused(capsys, ["train", "--out", out, *extra, *train_options(tiny_dataset)], words)
    assert not out.exists()
