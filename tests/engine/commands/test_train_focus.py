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


#: An atom of the tiny dataset's reference near the edge of the model (x, y,
#: z Angstrom in the box frame): 27 A from the box centre.
EDGE_ATOM = (-19.92, -18.74, 1.29)


def ball_mask(path, centre, radius=5.0, scale=1.0):
    """A soft ball of ``radius`` Angstrom at ``centre`` on the particle box."""
    r = (np.arange(BOX) - BOX // 2) * APIX
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    d = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
    data = scale * np.clip((radius - d) / 6 + 0.5, 0, 1)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data.astype(np.float32))
        mrc.voxel_size = APIX
    return path


def posed_star(dataset, path, origins):
    """The dataset's particles, all seen along z (the identity pose), with
    the RELION ``origins`` (n, 2) Angstrom."""
    from dataclasses import replace

    from cryostar_boltz.engine.particles import load_particles, write_particles_star
    particles = load_particles(dataset.star)
    table = dict(particles.table)
    for name in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"):
        table[name] = np.zeros(particles.n)
    table["rlnOriginXAngst"], table["rlnOriginYAngst"] = np.asarray(origins, float).T
    return write_particles_star(path, replace(particles, table=table))


@pytest.mark.parametrize("outlier_z", ["0", "2"])
def test_a_mask_beside_the_model_is_refused_before_training(tiny_dataset, train_options,
                                                            tmp_path, capsys, outlier_z):
    """The tester's case: a mask in the box's corner ended "training
    diverged" (--outlier-z 0) or left its particles unjudged (screen on)."""
    out = tmp_path / "run"
    mask = ball_mask(tmp_path / "corner.mrc", (45.0, 45.0, 45.0), 6.0)
    line = refused(capsys, ["train", "--out", out, "--mask", mask, "--outlier-z", outlier_z,
                            *train_options(tiny_dataset)],
                   "--mask %s: the mask does not overlap the reference model: none of "
                   "its 3341 atoms lies inside it" % mask)
    assert "make the mask on the map the model is docked into" in line
    assert not out.exists()


def test_a_faint_mask_is_refused(tiny_dataset, train_options, tmp_path, capsys):
    out = tmp_path / "run"
    mask = ball_mask(tmp_path / "faint.mrc", (0.0, 0.0, 0.0), 20.0, scale=0.25)
    refused(capsys, ["train", "--out", out, "--mask", mask, *train_options(tiny_dataset)],
            "--mask %s: the mask is empty after thresholding at 0.5 (its largest value "
            "is 0.25)" % mask)
    assert not out.exists()


def test_a_mask_no_particle_sees_in_its_loss_circle_is_refused(tiny_dataset, train_options,
                                                               tmp_path, capsys):
    """Origins of (30, 30) A move the projection of a ball at the model's
    edge out of the box for every particle."""
    out = tmp_path / "run"
    mask = ball_mask(tmp_path / "edge.mrc", EDGE_ATOM)
    star = posed_star(tiny_dataset, tmp_path / "far.star", [(30.0, 30.0)] * 64)
    options = train_options(tiny_dataset, **{"--particles": star})
    refused(capsys, ["train", "--out", out, "--mask", mask, *options],
            "--mask %s: its support lies outside the loss circle of radius 48 A for every "
            "particle's pose: the largest loss area is 0 px, less than one resolution "
            "element of the 8 A low-pass (4.91 px of 3.2 A)" % mask)
    assert not out.exists()


def test_a_loss_circle_of_one_pixel_is_refused(tiny_dataset, train_options, tmp_path,
                                               capsys):
    """Without a mask too: one pixel made the loss 0/0."""
    out = tmp_path / "run"
    refused(capsys, ["train", "--out", out, "--mask-radius", "0.05",
                     *train_options(tiny_dataset)],
            "--mask-radius 0.05: the loss circle (radius 2.56 A, 1 px of the 32 px "
            "training box) holds less than one resolution element of the 8 A low-pass "
            "(4.91 px)")
    assert not out.exists()


def test_particles_that_see_no_mask_are_left_out_and_said_so(tiny_dataset, train_options,
                                                              tmp_path, capsys):
    """Half the particles' origins move the masked ball out of the box,
    half bring it to the centre: the first half leaves the image loss (one
    log line; not judged by the pose screen), the run trains."""
    import math

    from cryostar_boltz.engine.training.progress import read_metrics
    mask = ball_mask(tmp_path / "edge.mrc", EDGE_ATOM)
    origins = [(30.0, 30.0)] * 32 + [(-20.0, -19.0)] * 32
    star = posed_star(tiny_dataset, tmp_path / "half.star", origins)
    out = tmp_path / "run"
    options = train_options(tiny_dataset, **{"--particles": star, "--outlier-z": 2})
    assert main([str(a) for a in ["train", "--out", out, "--mask", mask, *options]]) == 0
    log = capsys.readouterr().out
    assert ("focus mask %s: 32 of 64 particles see less than one resolution element of "
            "it inside the loss circle (radius 48 A): left out of the image loss (their "
            "KL term and the restraints stay)" % mask) in log
    assert "epoch 1: pose screen: " in log and " of the 32 particles judged (" in log
    assert "; the other 32 (outside the epoch's full batches, or without a finite loss) " \
        "were not judged and stay in the image loss" in log
    metrics = read_metrics(out / "metrics.csv")
    assert sum(metrics["outliers"]) == 32
    assert all(math.isfinite(v) for v in metrics["image"])
    assert np.isfinite(np.load(out / "z.npy")).all()
