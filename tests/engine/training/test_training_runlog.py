"""A run's log held until its inputs are accepted: a refusal drops it, a
crash or an interrupt shows it."""
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
