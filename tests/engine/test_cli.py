"""The command line's handling of a stop (engine/cli.py): SIGTERM unwinds
like Ctrl-C, says so in one line with what to do next, exits 143, and
leaves no half-written file behind."""
import os
import signal
import sys
import types

import pytest

from cryostar_boltz.engine import cli
from cryostar_boltz.engine.io import atomic_write


def fake_command(monkeypatch, name, main, add_args=lambda parser: None):
    """Make ``cryostar-boltz name`` run ``main(args)``."""
    module = types.ModuleType("fake_command")
    module.add_args = add_args
    module.main = main
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setattr(cli, "_available", lambda: {name: ("fake_command", "")})


def sigterm(*_):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the command")


def out_option(parser):
    parser.add_argument("--out")


def run_option(parser):
    parser.add_argument("--run")


@pytest.mark.parametrize("name, words", [
    ("analyze", "cryostar-boltz analyze: stopped (SIGTERM)"),
    ("generate", "cryostar-boltz generate: stopped (SIGTERM)"),
    ("train", "cryostar-boltz train: stopped (SIGTERM): continue from the last "
              "checkpoint with --resume"),
    ("train-density", "cryostar-boltz train-density: stopped (SIGTERM): continue from "
                      "the last checkpoint with --resume")])
def test_sigterm_stops_a_command_with_one_line_and_exit_143(monkeypatch, capsys, name,
                                                            words):
    before = signal.getsignal(signal.SIGTERM)
    fake_command(monkeypatch, name, sigterm)
    assert cli.main([name]) == 143
    assert capsys.readouterr().err.strip() == words
    # the handler is the caller's again
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("name, add_args", [("train", out_option),
                                            ("train-density", run_option)])
def test_the_hint_says_when_there_is_no_checkpoint_to_resume(monkeypatch, capsys,
                                                             tmp_path, name, add_args):
    fake_command(monkeypatch, name, sigterm, add_args)
    option = "--out" if name == "train" else "--run"
    assert cli.main([name, option, str(tmp_path / "run")]) == 143
    assert capsys.readouterr().err.strip() == (
        "cryostar-boltz %s: stopped (SIGTERM): no checkpoint was written yet: run the "
        "command again" % name)
    # Ctrl-C says the same
    fake_command(monkeypatch, name, lambda args: (_ for _ in ()).throw(KeyboardInterrupt),
                 add_args)
    assert cli.main([name, option, str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err.strip() == (
        "cryostar-boltz %s: interrupted (no checkpoint was written yet: run the command "
        "again)" % name)


def test_a_stop_mid_write_leaves_neither_the_file_nor_a_temporary(monkeypatch, capsys,
                                                                  tmp_path):
    target = tmp_path / "z.npy"

    def write(args):
        target.write_bytes(b"old")
        atomic_write(target, lambda fh: (fh.write(b"half"), sigterm()), binary=True)
    fake_command(monkeypatch, "generate", write)
    assert cli.main(["generate"]) == 143
    assert "stopped (SIGTERM)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.npy"]
    assert target.read_bytes() == b"old"


def test_a_second_sigterm_does_not_cut_the_cleanup_short(monkeypatch, capsys):
    cleaned = []

    def main(args):
        try:
            sigterm()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored while unwinding
            cleaned.append(True)
    fake_command(monkeypatch, "simulate", main)
    assert cli.main(["simulate"]) == 143 and cleaned == [True]
    assert capsys.readouterr().err.strip() == "cryostar-boltz simulate: stopped (SIGTERM)"



def test_prior_option_help_states_the_priors_defaults(capsys):
    """train --help gives the defaults of the priors' size options; they
    are the priors' own."""
    import inspect
    from cryostar_boltz.engine.cli import main
    from cryostar_boltz.engine.priors import PRIORS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    default = {name: {k: p.default for k, p in
                      inspect.signature(cls.__init__).parameters.items()}
               for name, cls in PRIORS.items()}
    assert "default %d components" % default["gmm"]["components"] in text
    assert default["grbm"]["hidden_units"] == default["rbm"]["hidden_units"]
    assert "default %d hidden units" % default["grbm"]["hidden_units"] in text
    assert "default %d units per layer" % default["ebm"]["energy_width"] in text
    assert "default %d visible units" % default["rbm"]["visible_units"] in text


def test_num_sweeps_help_states_the_samplers_defaults(capsys):
    """sample-prior --help gives each sampler's default number of sweeps."""
    import inspect
    from cryostar_boltz.engine.cli import main
    from cryostar_boltz.engine.samplers import get_sampler
    with pytest.raises(SystemExit):
        main(["sample-prior", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    gibbs = inspect.signature(get_sampler("gibbs").sample).parameters["num_sweeps"].default
    langevin = inspect.signature(get_sampler("langevin")._run).parameters["num_sweeps"].default
    mala = inspect.signature(get_sampler("mala")._run).parameters["num_sweeps"].default
    assert gibbs == langevin
    assert "%d for gibbs, sa and langevin" % gibbs in text and "%d for mala" % mala in text
