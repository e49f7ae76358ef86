"""Helpers for tests that run the engine's command line in subprocesses."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest


@pytest.fixture(scope="session")
def engine_command():
    """``engine_command(*args) -> (argv, env)`` for ``cryostar-boltz args``,
    one CPU thread, unbuffered output."""
    def command(*args):
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        return [sys.executable, "-m", "cryostar_boltz.engine.cli",
                *map(str, args)], env
    return command


@pytest.fixture
def kill_at_row(tmp_path):
    """``kill_at_row(argv, env, metrics_csv, rows, sig=SIGKILL)``: start a
    training command and send it ``sig`` once its metrics table holds
    ``rows`` rows; returns (exit status, standard error)."""
    def run(argv, env, metrics, rows, timeout=240, sig=signal.SIGKILL):
        # a file, not a pipe: a pipe nobody reads would fill up and block
        with tempfile.TemporaryFile("w+", dir=tmp_path) as err:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
            start = time.time()
            try:
                while time.time() - start < timeout:
                    if proc.poll() is not None:
                        raise AssertionError("training ended before it could be killed")
                    if metrics.exists():
                        with metrics.open() as f:
                            if sum(1 for _ in f) - 1 >= rows:
                                proc.send_signal(sig)
                                code = proc.wait(timeout=60)
                                err.seek(0)
                                return code, err.read()
                    time.sleep(0.02)
                raise AssertionError("training too slow")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return run
