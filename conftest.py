"""Headless Scipion for the test session.

Before any test module can import pyworkflow, the Scipion variables the user
has not set are pointed at a throw-away folder (see cryostar_boltz.workflow.headless).
Nothing here imports pyworkflow, so engine-only runs pay nothing.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

from cryostar_boltz.workflow import headless

_session_dir = None
_session_variables = []


def pytest_configure(config):
    global _session_dir
    if not headless.missing_variables() or "pyworkflow" in sys.modules:
        return  # configured by the user (or a parent process), or too late
    _session_dir = Path(tempfile.mkdtemp(prefix="cryostar-boltz-scipion-"))
    _session_variables[:] = headless.configure(_session_dir)


def pytest_unconfigure(config):
    for name in _session_variables:
        os.environ.pop(name, None)
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)
