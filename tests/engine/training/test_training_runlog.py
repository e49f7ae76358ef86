"""A run's log held until its inputs are accepted: a refusal drops it, a
crash or an interrupt shows it."""
import re

import pytest

from cryostar_boltz.engine.training.runlog import HeldLog


def test_lines_wait_until_released_then_pass_at_once():
    written = []
    log = HeldLog(written.append)
    log("CPU threads: 1")
    log("low_pass = 4.55 A (auto: ...)")
    assert written == [] and log.holding
    log.release()
    assert written == ["CPU threads: 1", "low_pass = 4.55 A (auto: ...)"]
    log("training: ...")
    assert written[-1] == "training: ..." and not log.holding


@pytest.mark.parametrize("error", [ValueError, FileNotFoundError, MemoryError])
def test_a_refusal_drops_what_was_held(error):
    written = []
    with pytest.raises(error):
        with HeldLog(written.append) as log:
            log("CPU threads: 1")
            raise error("refused")
    assert written == []


@pytest.mark.parametrize("error", [KeyError, RuntimeError, KeyboardInterrupt])
def test_anything_else_shows_what_was_held(error):
    written = []
    with pytest.raises(error):
        with HeldLog(written.append) as log:
            log("CPU threads: 1")
            raise error("stopped")
    assert written == ["CPU threads: 1"]


def test_the_log_file_gets_the_held_lines_and_every_later_one_timed(tmp_path):
    written = []
    log = HeldLog(written.append)
    log("CPU threads: 1")
    log.keep_in(tmp_path / "run.log", "cryostar-boltz 0.1.0 train: started run")
    log.release()
    log("epoch 1: a\nsecond line")
    log.note("stopped at step 3: interrupted")
    log.close()
    log("after close")
    assert written == ["CPU threads: 1", "epoch 1: a\nsecond line", "after close"]
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert [line[21:] for line in lines] == [
        "cryostar-boltz 0.1.0 train: started run", "CPU threads: 1", "epoch 1: a",
        "second line", "stopped at step 3: interrupted"]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \S", line) for line in lines)
    # a resumed run appends
    log = HeldLog(written.append)
    log.keep_in(tmp_path / "run.log", "resumed")
    log.release()
    log.close()
    assert (tmp_path / "run.log").read_text().splitlines()[-1].endswith("  resumed")
    assert len((tmp_path / "run.log").read_text().splitlines()) == 6
