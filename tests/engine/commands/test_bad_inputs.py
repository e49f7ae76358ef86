"""Bad input to a command: one error line naming the option or file, a
non-zero exit code (2 for an option value argparse refuses, 1 for what the
command finds), and no output made (every input is checked first): the
--out folder does not exist afterwards, or is unchanged when it existed."""
import numpy as np
import pytest

from cli_lines import refused


def snapshot(folder):
    """{relative path: bytes} of everything under ``folder`` (None: absent)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


# ------------------------------------------------------------ simulate
@pytest.mark.parametrize("bad, words, code", [
    ({"-n": ["0"]}, "argument -n/--n-particles: must be an integer >= 1, got 0", 2),
    ({"--box": ["33"]}, "argument --box: must be an even number of pixels", 2),
    ({"--apix": ["-4"]}, "argument --apix: must be a number > 0, got -4", 2),
    ({"--defocus": ["2", "1"]}, "--defocus MIN MAX", 1),
    ({"--structures": ["missing.pdb"]}, "--structures missing.pdb: file not found", 1),
])
def test_simulate_refuses_before_writing(adk_dir, tmp_path, capsys, bad, words, code):
    out = tmp_path / "sim"
    options = {"--structures": [str(adk_dir / "adk_closed.pdb")], "-n": ["4"],
               "--box": ["32"], "--apix": ["4"]}
    options.update(bad)
    argv = ["simulate", "--out", str(out)]
    for flag, values in options.items():
        argv += [flag] + values
    refused(capsys, argv, words, code)
    assert not out.exists()


# ------------------------------------------------------------ place
def test_place_checks_out_before_its_work(adk_dir, tmp_path, capsys):
    base = ["place", "--reference", adk_dir / "adk_closed.pdb", "--box", 64,
            "--apix", 3]
    refused(capsys, base + ["--out", tmp_path / "placed.txt"], "a model file ends in")
    refused(capsys, base + ["--out", tmp_path / "no" / "placed.pdb"], "not found")
    assert list(tmp_path.iterdir()) == []
    refused(capsys, ["place", "--reference", tmp_path / "missing.pdb", "--box", 64,
                     "--apix", 3, "--out", tmp_path / "p.pdb"], "missing.pdb")
    refused(capsys, base[:3] + ["--box", 0, "--apix", 3],
            "argument --box: must be an even number of pixels >= 2, got 0", 2)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ train
@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_train_refuses_epochs_below_one(tiny_dataset, train_options, tmp_path, capsys, epochs):
    """The example: --epochs 0 and -3 exited 0 with an untrained model."""
    out = tmp_path / "run"
    argv = ["train", "--out", out] + train_options(tiny_dataset, **{"--epochs": epochs})
    refused(capsys, argv, "argument --epochs: must be an integer >= 1, got %s" % epochs, 2)
    assert not out.exists()


@pytest.mark.parametrize("flag, value, words", [
    ("--box", "0", "argument --box: must be an even number of pixels >= 2, got 0"),
    ("--lr", "nan", "argument --lr: must be a finite number"),
    ("--mask-radius", "1.5", "argument --mask-radius: must be a fraction in (0, 1]"),
    ("--seed", "-1", "argument --seed"),
])
def test_train_refuses_option_values(tiny_dataset, train_options, tmp_path, capsys, flag, value, words):
    out = tmp_path / "run"
    refused(capsys, ["train", "--out", out] + train_options(tiny_dataset, **{flag: value}),
            words, 2)
    assert not out.exists()


def test_train_refuses_missing_inputs_before_importing_torch(tiny_dataset, train_options, tmp_path,
                                                              capsys):
    out = tmp_path / "run"
    argv = ["train", "--out", out] + train_options(
        tiny_dataset, **{"--particles": tmp_path / "none.star"})
    refused(capsys, argv, "--particles %s: file not found" % (tmp_path / "none.star"))
    argv = ["train", "--out", out] + train_options(
        tiny_dataset, **{"--map": tmp_path / "none.mrc"})
    refused(capsys, argv, "--map")
    assert not out.exists()


def test_train_found_unfit_after_reading_the_inputs_leaves_no_folder(
        tiny_dataset, train_options, tmp_path, capsys):
    """A refusal found while reading the inputs (here a reference outside
    the box) left config.json and an empty checkpoints/."""
    from cryostar_boltz.engine.structure import load_structure, write_models
    ref = load_structure(tiny_dataset.reference)
    far = tmp_path / "far.pdb"
    write_models(far, ref, ref.coords + 60.0, full_atom=True)
    out = tmp_path / "run"
    refused(capsys, ["train", "--out", out] + train_options(
        tiny_dataset, **{"--reference": far}), "box centre")
    assert not out.exists()
    # an existing empty folder stays as it was
    out.mkdir()
    refused(capsys, ["train", "--out", out] + train_options(
        tiny_dataset, **{"--reference": far}), "box centre")
    assert snapshot(out) == {}


def test_resume_of_a_corrupt_config_names_the_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"epochs": 2,')
    before = snapshot(run)
    refused(capsys, ["train", "--resume", "--out", run], "config.json is not valid JSON")
    assert snapshot(run) == before


def test_an_out_below_a_file_is_refused_before_the_run_log(tiny_dataset, train_options,
                                                        tmp_path, capsys):
    """The example: ``--out afile/sub`` printed the derived options, then
    failed to make the folder."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    from cryostar_boltz.engine.cli import main
    assert main([str(a) for a in ["train", "--out", blocker / "sub"]
                 + train_options(tiny_dataset)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == ("cryostar-boltz train: error: --out %s cannot be made: %s "
                                    "is a file, not a folder" % (blocker / "sub", blocker))
    assert captured.out == ""     # refused before the run log


def test_resume_of_a_folder_that_does_not_exist_says_to_run_without_it(tmp_path, capsys):
    """The example: a run stopped before its first checkpoint is removed;
    ``--resume`` then said the folder had no config.json."""
    run = tmp_path / "gone"
    refused(capsys, ["train", "--resume", "--out", run],
            "gone not found: nothing to resume; run the command without --resume")
    assert not run.exists()


def test_train_reports_a_full_disk_in_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    """ENOSPC while writing a checkpoint: one line naming the file and what
    was written; the finished outputs stay as they were."""
    import errno
    import os
    import shutil

    from cryostar_boltz.engine import io
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    finished = {name: (run / name).read_bytes()
                for name in ("model.pt", "z.npy", "checkpoints/last.pt")}
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".pt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst)
    monkeypatch.setattr(io.os, "replace", replace)
    line = refused(capsys, ["train", "--resume", "--out", run, "--epochs", 2,
                            "--threads", 1], "No space left on device")
    assert str(run / "checkpoints" / "last.pt") in line and "checkpoint of step" in line
    for name, data in finished.items():
        assert (run / name).read_bytes() == data
    assert not list(run.rglob(".*.tmp"))


# ------------------------------------------------------------ train-density
@pytest.mark.parametrize("options, words, code", [
    (["--hidden", "0"], "argument --hidden: must be an integer >= 1, got 0", 2),
    (["--epochs", "-1"], "argument --epochs: must be an integer >= 1", 2),
    (["--box", "64"], "--box must be at most 32 pixels (the particles' box), got 64", 1),
    (["--resume"], "nothing to resume", 1),
])
def test_train_density_refuses_before_writing(tiny_run, capsys, options, words, code):
    before = snapshot(tiny_run)
    refused(capsys, ["train-density", "--run", tiny_run, "--device", "cpu",
                     "--threads", 1] + options, words, code)
    assert snapshot(tiny_run) == before and not (tiny_run / "density").exists()


def test_train_density_of_a_missing_run(tmp_path, capsys):
    refused(capsys, ["train-density", "--run", tmp_path / "nowhere"], "not found")
    assert not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------ generate
def test_generate_refuses_non_finite_latents_naming_the_row(tiny_run, tmp_path, capsys):
    z = np.zeros((3, 8), np.float32)
    z[1, 2] = np.nan
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "gen"
    refused(capsys, ["generate", "--run", tiny_run, "--z", tmp_path / "z.npy",
                     "--out", out], "1 of 3 latent points are not finite (NaN or "
            "infinity), first at row 1")
    assert not out.exists()


@pytest.mark.parametrize("options, words, code", [
    (["--from", "pca", "--n", "0"], "argument --n: must be an integer >= 1, got 0", 2),
    (["--from", "kmeans", "--k", "-2"], "argument --k: must be an integer >= 1", 2),
    (["--from", "pca", "--component", "9"], "--component 9", 1),
    (["--from", "pca", "--maps"], "no trained density decoder", 1),
])
def test_generate_refuses_before_writing(tiny_run, tmp_path, capsys, options, words,
                                         code):
    out = tmp_path / "gen"
    refused(capsys, ["generate", "--run", tiny_run, "--out", out] + options, words, code)
    assert not out.exists()


# ------------------------------------------------------------ sample-prior
def test_sample_prior_refuses_zero_sweeps(tiny_run, tmp_path, capsys):
    """The example: --sampler sa --num-sweeps 0 ended in a numpy error."""
    out = tmp_path / "s"
    refused(capsys, ["sample-prior", "--run", tiny_run, "--sampler", "sa",
                     "--num-sweeps", 0, "--out", out],
            "argument --num-sweeps: must be an integer >= 1, got 0", 2)
    assert not out.exists()


def test_sample_prior_refuses_exact_sampling_of_a_large_prior(tiny_run, tmp_path, capsys):
    """The example: --sampler exact on 30 hidden units passed the tree
    decomposition's treewidth message through."""
    out = tmp_path / "s"
    refused(capsys, ["sample-prior", "--run", tiny_run, "--sampler", "exact", "--n", 4,
                     "--out", out], "this prior has N = 30 (at most 24); use "
            "--sampler gibbs or sa")
    assert not out.exists()


@pytest.mark.parametrize("options, words, code", [
    (["--n", "-1"], "argument -n/--n: must be an integer >= 0", 2),
    (["--beta", "0"], "argument --beta: must be a number >= 1e-06", 2),
    (["--beta", "1e-300"], "argument --beta: must be a number >= 1e-06", 2),
    (["--num-sweeps", "1000000000000"],
     "argument --num-sweeps: must be an integer <= 1000000 (sweeps or steps per sample)", 2),
    (["--beta", "inf"], "argument --beta: must be a finite number", 2),
    (["--max-basins", "0", "--basins"], "argument --max-basins", 2),
    (["--n", "0"], "--n 0 writes nothing", 1),
    (["--sampler", "nonesuch"], "unknown sampler", 1),
])
def test_sample_prior_refuses_before_writing(tiny_run, tmp_path, capsys, options, words,
                                             code):
    out = tmp_path / "s"
    refused(capsys, ["sample-prior", "--run", tiny_run, "--out", out] + options,
            words, code)
    assert not out.exists()


def test_sampler_options_are_checked_before_dimod():
    from cryostar_boltz.engine.priors import build_prior
    from cryostar_boltz.engine.sampling import basin_table, draw_samples
    prior = build_prior("grbm", 2, hidden_units=4)
    with pytest.raises(ValueError, match=r"--num-sweeps must be an integer >= 1, got 0"):
        draw_samples(prior, 3, "sa", num_sweeps=0, log=lambda *a: None)
    with pytest.raises(ValueError, match=r"--seed must be an integer in \[0, 2\^32\)"):
        draw_samples(prior, 3, "gibbs", seed=-1, log=lambda *a: None)
    with pytest.raises(ValueError, match=r"--num-reads must be an integer >= 1"):
        basin_table(prior, num_reads=0)


# ------------------------------------------------------------ analyze
@pytest.mark.parametrize("options, words, code", [
    (["--k", "0"], "argument --k: must be an integer >= 1, got 0", 2),
    (["--basin-reads", "0"], "argument --basin-reads", 2),
    (["--k", "1000"], "1 <= k <= 64", 1),
    (["--particles", "missing.star"], "missing.star", 1),
])
def test_analyze_refuses_before_writing(tiny_run, tmp_path, capsys, options, words, code):
    out = tmp_path / "a"
    refused(capsys, ["analyze", "--run", tiny_run, "--out", out] + options, words, code)
    assert not out.exists()


# ------------------------------------------------------------ plot
def test_plot_of_a_missing_run_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "pictures"
    refused(capsys, ["plot", "--run", tmp_path / "nowhere", "--out", out], "nowhere")
    assert not out.exists()


def test_plot_refuses_missing_model_files(tmp_path, capsys):
    out = tmp_path / "pictures"
    refused(capsys, ["plot", "--models", tmp_path / "missing.pdb", "--out", out],
            "missing.pdb")
    assert not out.exists()


def test_plot_refuses_an_unknown_picture_name(tiny_run, tmp_path, capsys):
    """The example: an unknown name wrote an empty summary and two lines."""
    out = tmp_path / "pictures"
    refused(capsys, ["plot", "--run", tiny_run, "--out", out, "--pictures",
                     "latent_bogus"], "--pictures: unknown picture 'latent_bogus'")
    refused(capsys, ["plot", "--run", tiny_run, "--out", out, "--pictures",
                     "prior_landscape", "--what", "latent"], "is not in --what")
    assert not out.exists()


def test_plot_refuses_an_out_that_is_a_file(tiny_run, tmp_path, capsys):
    """The example: --out an existing file gave a raw Errno."""
    out = tmp_path / "pictures"
    out.write_text("mine")
    refused(capsys, ["plot", "--run", tiny_run, "--out", out, "--what", "training"],
            "--out %s is a file, not a folder" % out)
    assert out.read_text() == "mine"


def test_option_errors_are_one_line_before_torch(tmp_path):
    """An input error is reported without importing torch (measured: 5.8 s
    before, about 0.4 s after on the development machine)."""
    import subprocess
    import sys
    code = ("import sys; from cryostar_boltz.engine.cli import main; "
            "r = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(r)")
    for argv in (["train", "--out", str(tmp_path / "r"), "--epochs", "0"],
                 ["train", "--out", str(tmp_path / "r"), "--prior", "bogus"],
                 ["train", "--out", str(tmp_path / "r"), "--particles",
                  str(tmp_path / "x.star"), "--reference", str(tmp_path / "x.pdb")],
                 ["sample-prior", "--run", str(tmp_path / "nowhere"), "--out",
                  str(tmp_path / "s")],
                 ["generate", "--run", str(tmp_path / "nowhere"), "--from", "pca",
                  "--out", str(tmp_path / "g")]):
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True)
        assert done.returncode in (1, 2), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        if "--prior" in argv:
            assert "argument --prior: invalid choice: 'bogus'" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_sample_prior_refused_while_writing_leaves_no_folder(tiny_run, tmp_path, capsys,
                                                             monkeypatch):
    """The example: a refused sample-prior left its output folder."""
    from cryostar_boltz.engine.runs import TrainedRun

    def refuse(self, stem, z, fmt=None):
        raise ValueError("%s: these models cannot be written" % stem)
    monkeypatch.setattr(TrainedRun, "write_structures", refuse)
    out = tmp_path / "s"
    refused(capsys, ["sample-prior", "--run", tiny_run, "--n", 3, "--out", out],
            "cannot be written")
    assert not out.exists()
    out.mkdir()  # a folder that existed stays, with nothing written into it
    refused(capsys, ["generate", "--run", tiny_run, "--from", "pca", "--n", 2,
                     "--out", out], "cannot be written")
    assert list(out.iterdir()) == []


def test_a_damaged_model_file_is_named(tiny_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 2])
    out = tmp_path / "gen"
    refused(capsys, ["generate", "--run", run, "--from", "pca", "--out", out],
            "model.pt: the model file cannot be read (RuntimeError: PytorchStreamReader "
            "failed reading zip archive: failed finding central directory); the file "
            "is damaged or not a cryostar-boltz file")
    assert not out.exists()
    (run / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    before = snapshot(run)
    refused(capsys, ["train", "--resume", "--out", run, "--epochs", 2],
            "last.pt: the checkpoint to resume from cannot be read")
    assert snapshot(run) == before


def test_resume_of_a_config_edited_to_other_networks_is_one_line(tiny_run, tmp_path,
                                                                 capsys):
    import json
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    config["encoder_hidden"] = [64, 32]
    (run / "config.json").write_text(json.dumps(config))
    refused(capsys, ["train", "--resume", "--out", run, "--epochs", 2],
            "last.pt: the checkpoint's networks do not match the run's config.json")


@pytest.mark.parametrize("preset, words", [
    ("auto", "--box 2: a training box of 2 px leaves nothing to fit"),   # low-pass 2 px
    ("cryostar", "--box 2: a training box of 2 px holds less than one resolution "
                 "element of the 10 A low-pass"),
])
def test_a_box_too_small_for_its_derived_low_pass_names_the_box(
        tiny_dataset, train_options, tmp_path, capsys, preset, words):
    out = tmp_path / "run"
    options = train_options(tiny_dataset, **{"--box": 2, "--preset": preset})
    at = options.index("--low-pass")
    del options[at:at + 2]                    # derived
    refused(capsys, ["train", "--out", out] + options, words)
    assert not out.exists()
