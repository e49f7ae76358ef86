"""What a refused training prints: its one error line on stderr and
nothing on stdout. The inputs found unfit only once they are read (the
particles' origins, a gmm with more components than particles, a box too
small for its derived low-pass, a focus mask that leaves no loss area...)
used to follow ``CPU threads: ...`` and the derived options' lines; a
refusal that depends on a derived value says it in its own line."""
import json
import shutil

import mrcfile
import numpy as np
import pytest

from conftest import APIX, BOX
from cryostar_boltz.engine.cli import main

#: An atom of the tiny dataset's reference near the edge of the model (x, y,
#: z Angstrom in the box frame), 27 A from the box centre.
EDGE_ATOM = (-19.92, -18.74, 1.29)


def refused_quietly(capsys, argv, words):
    """Run ``argv``: exit 1, nothing on stdout, one stderr line holding
    ``words``; returns that line."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    return err[0]


def without(options, flag):
    """``options`` (an argv list) without ``flag`` and its value."""
    at = options.index(flag)
    return options[:at] + options[at + 2:]


def ball_mask(path, centre, radius=5.0):
    """A soft ball of ``radius`` Angstrom at ``centre`` on the particle box."""
    r = (np.arange(BOX) - BOX // 2) * APIX
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    d = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.clip((radius - d) / 6 + 0.5, 0, 1).astype(np.float32))
        mrc.voxel_size = APIX
    return path


def posed_star(dataset, path, origins, poses=True):
    """The dataset's particles with the RELION ``origins`` (n, 2) Angstrom,
    seen along z (the identity pose) with ``poses``."""
    from dataclasses import replace

    from cryostar_boltz.engine.particles import load_particles, write_particles_star
    particles = load_particles(dataset.star)
    table = dict(particles.table)
    if poses:
        for name in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"):
            table[name] = np.zeros(particles.n)
    table["rlnOriginXAngst"], table["rlnOriginYAngst"] = np.asarray(origins, float).T
    return write_particles_star(path, replace(particles, table=table))


def far_reference(dataset, path):
    from cryostar_boltz.engine.structure import load_structure, write_models
    ref = load_structure(dataset.reference)
    write_models(path, ref, ref.coords + 60.0, full_atom=True)
    return path


def subsets(dataset):
    from cryostar_boltz.engine.particles import load_particles
    return np.asarray(load_particles(dataset.star).table["rlnRandomSubset"],
                      dtype=float).astype(int)


# every input, the words of its refusal: (extra options, options left out, words)
CASES = {
    "origin beyond half the box": (
        lambda d, t: {"--particles": posed_star(d, t / "far.star", [(60.0, 0.0)] * 64,
                                                poses=False)}, (),
        "PARTICLES: 64 of 64 particles have an origin beyond half the box (51.2 A)"),
    "gmm of more components than particles": (
        lambda d, t: {"--prior": "gmm", "--prior-option": "components=100"}, (),
        "PARTICLES: --prior gmm: 100 components (--prior-option components) need at "
        "least 100 particles to place them, got 64"),
    "box too small for its derived low-pass (auto)": (
        lambda d, t: {"--box": 2, "--preset": "auto"}, ("--low-pass",),
        "--box 2: a training box of 2 px leaves nothing to fit: its low-pass (102.4 A; "
        "auto: Nyquist, 2 x the 51.20 A training pixel) is not below its width, 102.4 A"),
    "box too small for its derived low-pass (cryostar)": (
        lambda d, t: {"--box": 2}, ("--low-pass",),
        "--box 2: a training box of 2 px holds less than one resolution element of the "
        "10 A low-pass (3.14 px; cryostar: the published value) even in its full "
        "circle"),
    "loss circle under one element of the derived low-pass": (
        lambda d, t: {"--mask-radius": 0.05}, ("--low-pass",),
        "--mask-radius 0.05: the loss circle (radius 2.56 A, 1 px of the 32 px training "
        "box) holds less than one resolution element of the 10 A low-pass (7.67 px; "
        "cryostar: the published value)"),
    "focus mask that leaves no loss area": (
        lambda d, t: {"--mask": ball_mask(t / "edge.mrc", EDGE_ATOM),
                      "--particles": posed_star(d, t / "off.star", [(30.0, 30.0)] * 64)},
        (), "--mask MASK: its support lies outside the loss circle of radius 48 A for "
            "every particle's pose: the largest loss area is 0 px, less than one "
            "resolution element of the 8 A low-pass (4.91 px of 3.2 A); make the mask"),
    "focus mask that leaves no loss area, derived low-pass": (
        lambda d, t: {"--mask": ball_mask(t / "edge.mrc", EDGE_ATOM),
                      "--particles": posed_star(d, t / "off.star", [(30.0, 30.0)] * 64)},
        ("--low-pass",), "--mask MASK: its support lies outside the loss circle of "
                         "radius 48 A for every particle's pose: the largest loss area "
                         "is 0 px, less than one resolution element of the 10 A "
                         "low-pass (7.67 px of 3.2 A; cryostar: the published value)"),
    "focus mask that leaves a half-set no loss area": (
        lambda d, t: {"--half-sets": None, "--mask": ball_mask(t / "edge.mrc", EDGE_ATOM),
                      "--particles": posed_star(d, t / "halves.star", [
                          (30.0, 30.0) if s == 1 else (-20.0, -19.0)
                          for s in subsets(d)])}, (),
        "--half-sets: --mask MASK: every one of the 32 particles of half-set 1 "
        "(rlnRandomSubset) sees less than one resolution element of it inside the loss "
        "circle, so that half would have no image loss"),
    "encoder box larger than the training box": (
        lambda d, t: {"--encoder-box": 40}, (),
        "--encoder-box 40: larger than the 32 px training box; give at most 32, or 0 "
        "for the whole box"),
    "pose search without the pose screen (the preset's)": (
        lambda d, t: {"--pose-search": "flagged"}, (),
        "--pose-search flagged searches the particles the pose screen flags and gives "
        "their encoder a searched pose: it needs --outlier-z above 0 and --encoder-input "
        "aligned, got --outlier-z 0"),
    "pose search with raw encoder input": (
        lambda d, t: {"--pose-search": "flagged", "--outlier-z": 2}, (),
        "--pose-search flagged searches the particles the pose screen flags and gives "
        "their encoder a searched pose: it needs --outlier-z above 0 and --encoder-input "
        "aligned, got --encoder-input raw"),
    "reference outside the box": (
        lambda d, t: {"--reference": far_reference(d, t / "far.pdb")}, (),
        "REFERENCE"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_refused_after_reading_prints_the_refusal_only(
        tiny_dataset, train_options, tmp_path, capsys, case):
    extra, left_out, words = CASES[case]
    given = extra(tiny_dataset, tmp_path)
    options = train_options(tiny_dataset, **{k: v for k, v in given.items()
                                             if v is not None and k != "--half-sets"})
    for flag in left_out:
        options = without(options, flag)
    if "--half-sets" in given:
        options.append("--half-sets")
    out = tmp_path / "run"
    for name in ("particles", "reference", "mask"):
        words = words.replace(name.upper(), str(options[options.index("--" + name) + 1])
                              if "--" + name in options else "")
    line = refused_quietly(capsys, ["train", "--out", out] + options, words)
    if case == "reference outside the box":
        assert "box centre" in line
    assert not out.exists()


def test_a_refused_resume_prints_the_refusal_only(tiny_run, tmp_path, capsys):
    """A checkpoint whose networks do not fit the config: refused before the
    run's folder changes, with nothing on stdout (it showed the threads, the
    options and the reference's restraints first)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    config["encoder_hidden"] = [64, 32]
    (run / "config.json").write_text(json.dumps(config))
    before = {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    refused_quietly(capsys, ["train", "--resume", "--out", run, "--epochs", 2],
                    "last.pt: the checkpoint's networks do not match the run's "
                    "config.json")
    assert {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


def test_an_encoder_too_large_for_the_memory_is_refused_before_writing(
        tiny_dataset, train_options, tmp_path, capsys, monkeypatch):
    from cryostar_boltz.engine.training import stage1

    def no_memory(*args, **kwargs):
        raise MemoryError()
    monkeypatch.setattr(stage1, "StructureVAE", no_memory)
    out = tmp_path / "run"
    refused_quietly(capsys, ["train", "--out", out, "--encoder-hidden", "4096,2048",
                             *train_options(tiny_dataset)],
                    "--encoder-hidden 4096,2048: the encoder's 1.26e+07 weights on 32 x 32 "
                    "pixels do not fit in memory")
    assert not out.exists()


def test_a_crash_while_checking_shows_what_was_logged(tiny_dataset, train_options,
                                                     tmp_path, capsys, monkeypatch):
    """Not a refusal (a bug, an interrupt): the lines held so far are
    printed, for context."""
    from cryostar_boltz.engine.training import stage1

    def crash(*args, **kwargs):
        raise KeyError("bug")
    monkeypatch.setattr(stage1, "StructureVAE", crash)
    with pytest.raises(KeyError):
        main([str(a) for a in ["train", "--out", tmp_path / "run",
                               *train_options(tiny_dataset)]])
    assert "CPU threads: 1 per process (--threads 1)" in capsys.readouterr().out


# ------------------------------------------------------------ train-density
@pytest.fixture(scope="module")
def density_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run with a small density decoder trained."""
    run = tmp_path_factory.mktemp("density") / "run"
    shutil.copytree(tiny_run, run)
    assert main(["train-density", "--run", str(run), "--epochs", "1", "--hidden", "16",
                 "--layers", "1", "--threads", "1", "--device", "cpu"]) == 0
    return run


def test_train_density_refused_after_reading_prints_the_refusal_only(tiny_run, capsys):
    refused_quietly(capsys, ["train-density", "--run", tiny_run, "--box", 64,
                             "--threads", 1, "--device", "cpu"],
                    "--box must be at most 32 pixels (the particles' box), got 64")
    assert not (tiny_run / "density").exists()


def test_a_density_resume_on_other_latents_prints_the_refusal_only(density_run, tmp_path,
                                                                    capsys):
    run = tmp_path / "run"
    shutil.copytree(density_run, run)
    z = np.load(run / "z.npy")
    np.save(run / "z.npy", z + 1.0)
    before = {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    refused_quietly(capsys, ["train-density", "--run", run, "--resume", "--epochs", 2,
                             "--threads", 1],
                    "the stage-1 latents (z.npy) changed since this density run started")
    assert {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


def test_a_density_checkpoint_that_does_not_fit_is_one_line(density_run, tmp_path,
                                                            capsys):
    """It was a traceback (torch's load_state_dict error)."""
    run = tmp_path / "run"
    shutil.copytree(density_run, run)
    config = json.loads((run / "density" / "config.json").read_text())
    config["hidden"] = 24
    (run / "density" / "config.json").write_text(json.dumps(config))
    refused_quietly(capsys, ["train-density", "--run", run, "--resume", "--epochs", 2,
                             "--threads", 1],
                    "last.pt: the checkpoint's decoder does not match the run's "
                    "config.json")


def test_an_encoder_box_below_the_band_is_said_and_trained(tiny_dataset, train_options,
                                                           tmp_path, capsys):
    """32 px at 3.2 A with an 8 A low-pass: the band needs 2 x 32 x 3.2 / 8
    = 25.6 pixels, 26; --encoder-box 2 trains, and the log says what the
    encoder misses."""
    out = tmp_path / "run"
    argv = ["train", "--out", out] + train_options(tiny_dataset, **{"--encoder-box": 2})
    assert main([str(a) for a in argv]) == 0
    assert ("--encoder-box 2: smaller than the 26 px that hold the 8 A low-pass band "
            "(pixels of 51.2 A): the encoder sees less than the image loss compares"
            ) in capsys.readouterr().out
    assert (out / "z.npy").exists()
