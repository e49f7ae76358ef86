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

_session_dir = None


def _scipion_environment(root):
    """Variables pyworkflow needs to create and run projects under ``root``."""
    hosts = root / "config" / "hosts.conf"
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(_HOSTS_CONF)
    return {
        "SCIPION_HOME": str(root),
        "SCIPION_USER_DATA": str(root / "ScipionUserData"),
        "SCIPION_DOMAIN": "pwem",
        "SCIPION_PYTHON": sys.executable,
        "SCIPION_HOSTS": str(hosts),
        "SCIPION_TEST_NOSYNC": "1",
        # Step processes and viewers must never try to open a display.
        "MPLBACKEND": "Agg",
    }


def pytest_configure(config):
    global _session_dir
    if "pyworkflow" in sys.modules:
        return  # too late to configure, and already configured by the caller
    _session_dir = Path(tempfile.mkdtemp(prefix="cryostar-boltz-scipion-"))
    for name, value in _scipion_environment(_session_dir).items():
        os.environ.setdefault(name, value)


def pytest_unconfigure(config):
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)
