"""A run's latents map to the particles it was trained on, and only those:
relative input paths resolve against the folder the run was started in
(never the current directory), and a particle file that is not the run's
(other images, or the same rows reordered) is refused with one line."""
import json
import shutil

import numpy as np
import pytest

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.particles import read_star, write_star


def one_error(capsys, argv):
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def shuffled_copy(star, out):
    """``star`` with its particle rows reversed (same images, other order)."""
    blocks = read_star(star)
    name = "particles" if "particles" in blocks else ""
    blocks[name] = {k: np.asarray(v)[::-1] for k, v in blocks[name].items()}
    write_star(out, blocks)
    return out


@pytest.fixture()
def relative_run(tiny_run, tiny_dataset, tmp_path):
    """A copy of the tiny run whose config names its particles relative to
    the folder the run was started in (as Scipion and shell users type
    them)."""
    run = tmp_path / "t" / "run1"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    star = tiny_dataset.star
    config["particles"] = "%s/%s" % (star.parent.name, star.name)
    config["workdir"] = str(star.parent.parent)
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_training_records_where_it_started_and_its_particles(tiny_run, tiny_dataset):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["workdir"] and config["workdir"].startswith("/")
    fingerprint = json.loads((tiny_run / "particles_fingerprint.json").read_text())
    assert fingerprint["count"] == 64 and len(fingerprint["images_sha256"]) == 64


def test_relative_particles_resolve_against_the_run_not_the_current_folder(
        relative_run, tiny_dataset, tmp_path, monkeypatch, capsys):
    # another folder holding a different sim/particles.star (the same rows
    # reversed): the run must still use its own
    other = tmp_path / "elsewhere"
    (other / tiny_dataset.star.parent.name).mkdir(parents=True)
    shuffled_copy(tiny_dataset.star, other / tiny_dataset.star.parent.name
                  / tiny_dataset.star.name)
    monkeypatch.chdir(other)
    assert main(["select", "--run", str(relative_run), "--out", "picked",
                 "--range", "1::"]) == 0
    written = read_star(other / "picked" / "particles.star")
    block = written.get("particles", written.get(""))
    rows = np.load(other / "picked" / "indices.npy")
    original = read_star(tiny_dataset.star)
    names = np.asarray(original.get("particles", original.get(""))["rlnImageName"])
    assert [n.split("@")[0] for n in block["rlnImageName"]] == \
        [n.split("@")[0] for n in names[rows]]


def test_old_run_with_a_relative_path_asks_for_particles(relative_run, tmp_path,
                                                         monkeypatch, capsys):
    config = json.loads((relative_run / "config.json").read_text())
    del config["workdir"]
    (relative_run / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    err = one_error(capsys, ["select", "--run", relative_run, "--out", "picked",
                             "--range", "1::"])
    assert "config.json" in err and "is relative" in err and "pass --particles" in err
    assert not (tmp_path / "picked").exists()


@pytest.mark.parametrize("command", ["select", "analyze"])
def test_reordered_particles_are_refused(tiny_run, tiny_dataset, tmp_path, capsys,
                                         command):
    shuffled = shuffled_copy(tiny_dataset.star, tiny_dataset.star.parent
                             / ("shuffled_%s.star" % command))
    out = tmp_path / "out"
    extra = ["--range", "1::"] if command == "select" else ["--k", 2]
    err = one_error(capsys, [command, "--run", tiny_run, "--out", out,
                             "--particles", shuffled, *extra])
    assert err.endswith("--particles %s: not the particles run %s was trained on "
                        "(same count, different order or images)"
                        % (shuffled, tiny_run)), err
    assert not out.exists()


def test_runs_without_a_fingerprint_keep_the_count_check(tiny_run, tiny_dataset,
                                                         tmp_path, capsys):
    run = tmp_path / "old"
    shutil.copytree(tiny_run, run)
    (run / "particles_fingerprint.json").unlink()
    shuffled = shuffled_copy(tiny_dataset.star, tmp_path / "shuffled.star")
    # without a fingerprint a reordering cannot be seen; the count still is
    assert main(["select", "--run", str(run), "--out", str(tmp_path / "a"),
                 "--particles", str(shuffled), "--range", "1::"]) == 0
    blocks = read_star(tiny_dataset.star)
    name = "particles" if "particles" in blocks else ""
    blocks[name] = {k: np.asarray(v)[:10] for k, v in blocks[name].items()}
    write_star(tmp_path / "ten.star", blocks)
    err = one_error(capsys, ["select", "--run", run, "--out", tmp_path / "b",
                             "--particles", tmp_path / "ten.star", "--range", "1::"])
    assert "holds 10 particles" in err and "64 latents" in err
