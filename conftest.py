"""Headless Scipion for the test session.

pyworkflow reads its configuration from the environment once, when it is
first imported, and falls back to the user's home (``~/ScipionUserData``)
and to a Scipion installation folder. Before any test module can import it,
the variables below are pointed at a throw-away folder, unless the user has
set them. Nothing here imports pyworkflow, so engine-only runs pay nothing.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: Host configuration for a plain workstation (what ``scipion3 config``
#: writes for localhost, without a queue).
_HOSTS_CONF = """\
[localhost]
PARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d %_(COMMAND)s
NAME = SCIPION_HOST
ADDRESS = localhost
MANDATORY = False
QUEUE_SYSTEM = None
"""

#: Variables set for the session (when unset), as functions of its folder.
_SCIPION_ENVIRONMENT = {
    "SCIPION_HOME": lambda root: str(root),
    "SCIPION_USER_DATA": lambda root: str(root / "ScipionUserData"),
    "SCIPION_DOMAIN": lambda root: "pwem",
    "SCIPION_PYTHON": lambda root: sys.executable,
    "SCIPION_HOSTS": lambda root: str(root / "config" / "hosts.conf"),
    "SCIPION_TEST_NOSYNC": lambda root: "1",
    # Step processes and viewers must never try to open a display.
    "MPLBACKEND": lambda root: "Agg",
}

_session_dir = None
_session_variables = []


def pytest_configure(config):
    global _session_dir
    missing = [name for name in _SCIPION_ENVIRONMENT if name not in os.environ]
    if not missing or "pyworkflow" in sys.modules:
        return  # configured by the user (or a parent process), or too late
    _session_dir = Path(tempfile.mkdtemp(prefix="cryostar-boltz-scipion-"))
    hosts = _session_dir / "config" / "hosts.conf"
    hosts.parent.mkdir(parents=True)
    hosts.write_text(_HOSTS_CONF)
    for name in missing:
        os.environ[name] = _SCIPION_ENVIRONMENT[name](_session_dir)
    _session_variables[:] = missing


def pytest_unconfigure(config):
    for name in _session_variables:
        os.environ.pop(name, None)
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)
