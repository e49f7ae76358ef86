"""Real-world limits of the command line: a full disk while a memory-mapped
stack is written, values beyond what the engine can compute with, options
that do not apply. Each is one error line and leaves no output behind."""
import errno
import os

import pytest

from cryostar_boltz.engine import io
from cryostar_boltz.engine.cli import main


def refused(capsys, argv, words, code=1):
    """Run ``argv``; assert the exit code and one error line holding ``words``."""
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert "Traceback" not in err[0]
    return err[0]


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
                            *train_options(tiny_dataset)], "No space left on device")
    assert "cannot write" in line and "image stack of 64 images of 16 px" in line
    assert not run.exists()
    assert not list(tmp_path.rglob(".*.tmp"))
