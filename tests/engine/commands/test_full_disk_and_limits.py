"""Real-world limits of the command line: a full disk while a memory-mapped
stack is written, values beyond what the engine can compute with, options
that do not apply. Each is one error line and leaves no output behind."""
import errno
import os

import pytest

from cryostar_boltz.engine import io
from cryostar_boltz.engine.cli import main
from cli_lines import refused


@pytest.fixture
def full_disk(monkeypatch):
    """Reserving a file's blocks fails as on a full disk."""
    def fallocate(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(io.os, "posix_fallocate", fallocate, raising=False)


# ------------------------------------------------------------ a full disk
def test_simulate_on_a_full_disk_is_one_line_and_leaves_nothing(
        adk_dir, tmp_path, capsys, full_disk):
    """The example: simulate -n 400 --box 32 on a 1 MB disk died with SIGBUS
    (exit 135) leaving a temporary stack and run.json."""
    out = tmp_path / "sim"
    line = refused(capsys, ["simulate", "--structures", adk_dir / "adk_closed.pdb",
                            "-n", 400, "--box", 32, "--apix", 4, "--out", out],
                   "No space left on device")
    assert "cannot write %s (particle stack of 400 images of 32 px)" % (
        out / "particles.mrcs") in line
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_train_cache_on_a_full_disk_is_one_line_and_leaves_nothing(
        tiny_dataset, train_options, tmp_path, capsys, full_disk):
    """The example: train --box 16 (downsampling cache) died with SIGBUS
    leaving a half-made run folder."""
    run = tmp_path / "run"
    line = refused(capsys, ["train", "--out", run, "--box", 16,
                            *train_options(tiny_dataset, **{"--low-pass": 13})],
                   "No space left on device")
    assert "cannot write" in line and "image stack of 64 images of 16 px" in line
    assert not run.exists()
    assert not list(tmp_path.rglob(".*.tmp"))


# ------------------------------------------------------------ beyond float32
@pytest.mark.parametrize("argv, option", [
    (["train", "--low-pass", "1e300"], "--low-pass"),
    (["train", "--sigma", "1e300"], "--sigma"),
    (["train", "--lr", "1e300"], "--lr"),
    (["train", "--free-bits", "1e300"], "--free-bits"),
    (["train-density", "--lr", "1e300"], "--lr"),
    (["simulate", "--apix", "1e300"], "--apix"),
])
def test_numbers_beyond_float32_are_one_line(capsys, argv, option):
    """The examples: OverflowError or torch's "cannot be converted to type
    float without overflow" tracebacks."""
    words = "argument %s: must be" % option
    line = refused(capsys, argv, words, code=2)
    assert "1e+300" in line


@pytest.mark.parametrize("argv, words", [
    (["simulate", "--apix", "1e9"], "argument --apix: must be within 0.1-100 A"),
    (["simulate", "--voltage", "1e9"], "argument --voltage: must be within 10-3000 kV"),
    (["sample-prior", "-n", "2000000000"],
     "argument -n/--n: must be an integer <= 1000000"),
    (["sample-prior", "--basins", "--basin-reads", "1000000000"],
     "argument --basin-reads: must be an integer <= 100000"),
    (["generate", "--from", "pca", "--n", "100000000"],
     "argument --n: must be an integer <= 10000"),
    (["generate", "--from", "kmeans", "--k", "100000000"],
     "argument --k: must be an integer <= 10000"),
])
def test_absurd_values_are_refused_by_the_parser(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    refused(capsys, argv + ["--run", tmp_path, "--out", out] if argv[0] != "simulate"
            else argv + ["--structures", "x.pdb", "-n", "4", "--out", out], words, code=2)
    assert not out.exists()


def test_train_low_pass_within_the_box(tiny_dataset, train_options, tmp_path, capsys):
    """The example: --low-pass 1e9 trained to a loss of -1.5e8."""
    run = tmp_path / "run"
    refused(capsys, ["train", "--out", run,
                     *train_options(tiny_dataset, **{"--low-pass": "1e9"})],
            "--low-pass 1e+09 A: must be below the training box width, 102.4 A "
            "(32 px of 3.2 A)")
    assert not run.exists()


def test_train_low_pass_below_nyquist_is_said(tiny_dataset, train_options, tmp_path,
                                              capsys):
    """A low-pass finer than the box's Nyquist limit fits every frequency:
    said in the log, not refused (a smaller --box for speed stays usable)."""
    run = tmp_path / "run"
    assert main([str(a) for a in ["train", "--out", run,
                                  *train_options(tiny_dataset, **{"--low-pass": "4"})]]) == 0
    out = capsys.readouterr().out
    assert "--low-pass 4 A is finer than the training box's Nyquist limit, 6.4 A" in out


def test_train_sigma_below_the_box(tiny_dataset, train_options, tmp_path, capsys):
    """The example: --sigma 1e9 rendered nothing."""
    run = tmp_path / "run"
    refused(capsys, ["train", "--out", run, "--sigma", "1e9",
                     *train_options(tiny_dataset)],
            "--sigma 1e+09 A: must be below the particle box width, 102.4 A")
    assert not run.exists()


# ------------------------------------------------------------ generate --z
def test_generate_z_that_is_not_a_npy_array(tiny_run, tmp_path, capsys):
    """The examples: --z /dev/null (EOFError), --z of an .npz (AttributeError)."""
    import numpy as np
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    out = tmp_path / "gen"
    refused(capsys, ["generate", "--run", tiny_run, "--z", empty, "--out", out],
            "%s: not a .npy file (it is empty)" % empty)
    archive = tmp_path / "truth.npz"
    np.savez(archive, state=np.zeros(3), euler=np.zeros((3, 3)))
    refused(capsys, ["generate", "--run", tiny_run, "--z", archive, "--out", out],
            "%s: an .npz archive (state, euler), not a .npy array" % archive)
    refused(capsys, ["generate", "--run", tiny_run, "--z", "/dev/null", "--out", out],
            "/dev/null: not a .npy file (it is empty)")
    assert not out.exists()


def test_generate_refuses_non_physical_decoded_models(tiny_run, tmp_path, capsys):
    """The example: latents of ~1e30 ended in "write mmCIF instead"."""
    import numpy as np
    z = np.zeros((2, 8), np.float32)
    z[1] = 1e30
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "gen"
    line = refused(capsys, ["generate", "--run", tiny_run, "--z", tmp_path / "z.npy",
                            "--out", out], "1 of 2 decoded models are not physical: model 1")
    assert "beyond the particle box (102.4 A wide)" in line and "mmCIF" not in line
    assert not out.exists()
    z = z.astype(np.float64)
    z[1] = 1e39
    np.save(tmp_path / "z.npy", z)
    refused(capsys, ["generate", "--run", tiny_run, "--z", tmp_path / "z.npy",
                     "--out", out], "1 of 2 latent points overflow float32")


def test_memory_error_is_one_line(monkeypatch, capsys):
    """A command that runs out of memory: one line, no traceback."""
    import sys
    import types

    from cryostar_boltz.engine import cli
    module = types.ModuleType("fake_command")
    module.add_args = lambda parser: None

    def exhaust(args):
        raise MemoryError("Unable to allocate 7.5 TiB")
    module.main = exhaust
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setattr(cli, "_available", lambda: {"fake": ("fake_command", "")})
    line = refused(capsys, ["fake"],
                   "cryostar-boltz fake: error: not enough memory (Unable to allocate")
    assert "-n, --basin-reads" in line


@pytest.mark.parametrize("name, words", [
    ("train", "cryostar-boltz train: interrupted (continue from the last checkpoint "
              "with --resume)"),
    ("analyze", "cryostar-boltz analyze: interrupted")])
def test_an_interrupted_command_says_so_in_one_line(monkeypatch, capsys, name, words):
    import sys
    import types

    from cryostar_boltz.engine import cli
    module = types.ModuleType("fake_command")
    module.add_args = lambda parser: None

    def interrupted(args):
        raise KeyboardInterrupt
    module.main = interrupted
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setattr(cli, "_available", lambda: {name: ("fake_command", "")})
    assert cli.main([name]) == 130
    err = capsys.readouterr().err
    assert err.strip() == words


# ------------------------------------------------------------ options that do not apply
@pytest.mark.parametrize("options, words", [
    (["--from", "pca", "--k", "3"], "--k does not apply to --from pca (it takes "
     "--component, --n)"),
    (["--from", "kmeans", "--component", "2"], "--component does not apply to --from "
     "kmeans (it takes --k)"),
    (["--from", "pca", "--seed", "4"], "--seed does not apply to --from pca"),
    (["--from", "basins", "--n", "4"], "--n does not apply to --from basins"),
    (["--z", "z.npy", "--n", "4"], "--n does not apply to --z (the points are the file's)"),
])
def test_generate_refuses_options_of_another_source(tiny_run, tmp_path, capsys, options,
                                                    words):
    """The examples: --from pca --k 3 and --from kmeans --component 2 ran,
    ignoring the extra option."""
    out = tmp_path / "gen"
    refused(capsys, ["generate", "--run", tiny_run, "--out", out] + options, words)
    assert not out.exists()


def test_a_sampler_option_the_sampler_does_not_take_is_refused():
    from cryostar_boltz.engine.priors import build_prior
    from cryostar_boltz.engine.sampling import draw_samples
    prior = build_prior("grbm", 2, hidden_units=4)
    with pytest.raises(ValueError, match=r"--num-sweeps 10: sampler exact does not "
                       r"take it; leave it out"):
        draw_samples(prior, 3, "exact", num_sweeps=10, log=lambda *a: None)
    _, facts = draw_samples(prior, 3, "exact", log=lambda *a: None)
    assert facts["sampler"] == "exact" and facts["ignored_options"] == []


def test_direct_sampling_refuses_sampler_options():
    """The example: sample-prior --run <gaussian run> --sampler sa sampled
    with "direct" and recorded "ignored_options": []."""
    from cryostar_boltz.engine.priors import build_prior
    from cryostar_boltz.engine.sampling import draw_samples
    prior = build_prior("gaussian", 2)
    with pytest.raises(ValueError, match=r"--sampler sa: the gaussian prior is "
                       r"sampled directly .*leave --sampler out"):
        draw_samples(prior, 3, "sa", log=lambda *a: None)
    with pytest.raises(ValueError, match=r"--num-sweeps 5: the gaussian prior is "
                       r"sampled directly; leave it out"):
        draw_samples(prior, 3, num_sweeps=5, log=lambda *a: None)
    _, facts = draw_samples(prior, 3, log=lambda *a: None)
    assert facts["sampler"] == "direct" and facts["ignored_options"] == []


def test_simulate_full_disk_at_the_last_file_leaves_nothing(adk_dir, tmp_path, capsys,
                                                           monkeypatch):
    """The disk fills while the reference (written last) is written: one
    line naming it, and the new folder goes whole (no complete-looking
    dataset without its reference)."""
    import errno
    import os

    from cryostar_boltz.engine import io
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".pdb"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst)
    monkeypatch.setattr(io.os, "replace", replace)
    out = tmp_path / "sim"
    refused(capsys, ["simulate", "--structures", adk_dir / "adk_closed.pdb", "-n", 4,
                     "--box", 16, "--apix", 6.0, "--out", out],
            "reference.pdb", code=1)
    assert not out.exists()
