"""Bad input to a command: one error line naming the option or file, exit
code 1, and no output folder made (every input is checked first)."""
import pytest

from cryostar_boltz.engine.cli import main


@pytest.mark.parametrize("bad, words", [
    ({"-n": ["0"]}, "-n must be at least 1"),
    ({"--box": ["33"]}, "--box must be an even number"),
    ({"--apix": ["-4"]}, "--apix must be positive"),
    ({"--defocus": ["2", "1"]}, "--defocus MIN MAX"),
])
def test_simulate_refuses_before_writing(adk_dir, tmp_path, capsys, bad, words):
    out = tmp_path / "sim"
    options = {"-n": ["4"], "--box": ["32"], "--apix": ["4"]}
    options.update(bad)
    argv = ["simulate", "--structures", str(adk_dir / "adk_closed.pdb"),
            "--out", str(out)]
    for flag, values in options.items():
        argv += [flag] + values
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists()


def test_plot_of_a_missing_run_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "pictures"
    assert main(["plot", "--run", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0], err
    assert not out.exists()


def test_plot_refuses_missing_model_files(tmp_path, capsys):
    out = tmp_path / "pictures"
    models = tmp_path / "missing.pdb"
    assert main(["plot", "--models", str(models), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.pdb" in err[0], err
    assert not out.exists()
