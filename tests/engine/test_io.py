"""Atomic writes: a failed write names its file and leaves the old one."""
import errno
import os

import pytest

from cryostar_boltz.engine import io


def full_disk(monkeypatch):
    real = os.replace

    def replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(io.os, "replace", replace)
    return real


def test_a_full_disk_names_the_file_and_what_was_written(tmp_path, monkeypatch):
    target = tmp_path / "model.json"
    io.write_text(target, "old")
    full_disk(monkeypatch)
    with pytest.raises(OSError) as err:
        io.atomic_write(target, lambda fh: fh.write("new"), what="model record")
    assert err.value.errno == errno.ENOSPC
    assert str(target) in err.value.strerror and "model record" in err.value.strerror
    assert "No space left" in err.value.strerror
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary left


def test_a_read_only_folder_names_the_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        with pytest.raises(OSError) as err:
            io.save_json(folder / "summary.json", {"a": 1})
        assert "summary.json" in str(err.value) and "Permission denied" in str(err.value)
    finally:
        folder.chmod(0o700)


def test_read_json_names_a_corrupt_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="x.json is not valid JSON"):
        io.read_json(path)
