"""The README's first command: the demo runs the whole workflow, writes the
pictures of every step, prints the command that opens its project, and,
killed in the middle of training, continues the same project where it
stopped when run again."""
import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from cryostar_boltz.workflow import headless
from cryostar_boltz.workflow.demo import run_demo
from cryostar_boltz.workflow.project import open_command

N_PARTICLES, EPOCHS = 160, 2

_START_DEMO = textwrap.dedent("""
    import sys
    from cryostar_boltz.workflow.demo import run_demo
    run_demo(sys.argv[1], n_particles=int(sys.argv[2]), epochs=int(sys.argv[3]),
             threads=1)
""")


def metrics_rows(path):
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        return []


def kill_during_training(out, timeout=600):
    """Start the demo in its own process group and kill the whole group
    (demo, protocol and engine processes) once training checkpointed its
    first epoch; returns the run's metrics table."""
    demo = subprocess.Popen([sys.executable, "-c", _START_DEMO, str(out),
                             str(N_PARTICLES), str(EPOCHS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            assert demo.poll() is None, "the demo ended before it was killed"
            user_data = Path(os.environ["SCIPION_USER_DATA"])
            found = list(user_data.glob("projects/cryostar_boltz_demo*/Runs/"
                                        "*CryoStarBoltzProtTrain/extra/run/metrics.csv"))
            if found and (found[0].parent / "checkpoints" / "last.pt").exists():
                assert not (found[0].parent / "model.pt").exists(), \
                    "training finished before it could be killed"
                return found[0]
            time.sleep(0.2)
        raise AssertionError("training did not start within %d s" % timeout)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(60)
        wait_for_group_exit(demo.pid)


def wait_for_group_exit(pgid, timeout=60):
    """Wait until no live (non-zombie) process of group ``pgid`` is left:
    SIGKILL is delivered asynchronously."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        alive = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                alive = True
                break
        if not alive:
            return
        time.sleep(0.2)


def test_demo_runs_every_protocol_and_continues_after_a_kill(tmp_path):
    out = tmp_path / "demo"
    metrics = kill_during_training(out)
    before = metrics_rows(metrics)
    assert before

    lines = []
    made = run_demo(out, n_particles=N_PARTICLES, epochs=EPOCHS, threads=1,
                    log=lines.append)
    text = "\n".join(lines)
    # the same project, continued: training from its last checkpoint
    project = Path(made["project"])
    assert project.name == "cryostar_boltz_demo"
    assert "continuing the Scipion project cryostar_boltz_demo" in text
    assert "- train where it stopped" in text
    # the imports had finished: kept, not run again
    assert sum(line.startswith("kept ") for line in lines) == 2
    assert [line.split(" - ")[-1] for line in lines if line.startswith("running ")] \
        == ["sample prior", "generate ensemble", "analyze"]
    rows = metrics_rows(metrics)
    assert [int(r["step"]) for r in rows] == list(range(1, len(rows) + 1))
    assert max(int(r["epoch"]) for r in rows) == EPOCHS
    train_log = next(project.glob("Runs/*CryoStarBoltzProtTrain/logs/run.stdout"))
    assert "train --resume" in train_log.read_text()

    names = [name for name, _, _ in made["protocols"]]
    assert [n.split(" - ")[1] for n in names] == [
        "train", "sample prior", "generate ensemble", "analyze"]
    for _, folder, summary in made["protocols"]:
        assert (project / folder).is_dir()
        assert summary and "not run yet" not in " ".join(summary)
    run = next(project.glob("Runs/*CryoStarBoltzProtTrain/extra/run"))
    assert run == metrics.parent
    assert (run / "z.npy").exists() and (run / "density" / "model.pt").exists()
    assert list(project.glob("Runs/*CryoStarBoltzProtGenerate/extra/**/*.mrc"))
    assert "Scipion project" in text and str(project) in text

    # the pictures of every step, where the demo says they are
    pictures = made["pictures"]
    assert set(pictures) == {"train", "sample_prior", "generate", "analyze"}
    names = {step: {Path(p).name for p in files} for step, files in pictures.items()}
    assert {"training.png", "latent_pca_cluster.png"} <= names["train"]
    assert "prior_landscape.png" in names["sample_prior"]
    assert any(n.startswith("trajectory_") for n in names["generate"])
    assert names["analyze"] == {"latent_pca_cluster.png"}
    for files in pictures.values():
        for png in files:
            assert Path(png).is_file() and str(Path(png).parent) in text
    assert str(out / "pictures") in text

    # the one command that opens the project, as the last line
    command = open_command("cryostar_boltz_demo", headless.configured_root())
    assert lines[-1].strip() == command == made["open"]


def test_a_continued_demo_says_it_keeps_the_particles_it_has(tmp_path):
    """The example: ``-n 200`` on a demo folder of 300 particles was
    ignored without a word."""
    import json

    from cryostar_boltz.workflow.demo import kept_particles
    data = tmp_path / "data"
    data.mkdir()
    assert kept_particles(data, 200) is None            # no record says
    (data / "run.json").write_text(json.dumps({"request": {"n_particles": 300}}))
    assert kept_particles(data, 300) is None
    assert kept_particles(data, 200) == (
        "keeping the 300 particles already simulated in %s: -n 200 applies to a "
        "new --out" % data)


def test_a_continued_demo_says_its_finished_training_keeps_its_epochs():
    """The example: ``--epochs 2`` on a demo folder trained for 1 epoch was
    ignored without a word."""
    from pyworkflow.object import Integer

    from cryostar_boltz.workflow.demo import kept_options

    class Finished:
        numberOfEpochs = Integer(1)
        numberOfThreads = Integer(1)

        def getRunName(self):
            return "cryostar_boltz - train"

    params = {"numberOfEpochs": 1, "numberOfThreads": 2, "batchSize": 64}
    assert kept_options(Finished(), params) is None     # threads change no result
    params["numberOfEpochs"] = 2
    assert kept_options(Finished(), params) == (
        "cryostar_boltz - train keeps what it was run with: --epochs 2 (it has 1) "
        "applies to a new --out")
