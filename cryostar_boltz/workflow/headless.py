"""A headless Scipion configuration for scripts, the demo and the tests.

pyworkflow reads its configuration from the environment once, when it is
first imported, and otherwise falls back to the user's home
(``~/ScipionUserData``) and a Scipion installation folder. ``configure``
points the variables a plain pip install lacks at a folder of the caller's,
leaving every variable the user has set untouched. Nothing here imports
pyworkflow.
"""
import os
import sys
from pathlib import Path

#: Host configuration for a plain workstation (what ``scipion3 config``
#: writes for localhost, without a queue).
HOSTS_CONF = """\
[localhost]
PARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d %_(COMMAND)s
NAME = SCIPION_HOST
ADDRESS = localhost
MANDATORY = False
QUEUE_SYSTEM = None
"""

#: Variables a headless session needs, as functions of its folder.
ENVIRONMENT = {
    "SCIPION_HOME": lambda root: str(root),
    "SCIPION_USER_DATA": lambda root: str(root / "ScipionUserData"),
    "SCIPION_DOMAIN": lambda root: "pwem",
    "SCIPION_PYTHON": lambda root: sys.executable,
    "SCIPION_HOSTS": lambda root: str(root / "config" / "hosts.conf"),
    "SCIPION_TEST_NOSYNC": lambda root: "1",
    # step processes and viewers must never try to open a display
    "MPLBACKEND": lambda root: "Agg",
}


#: Variables only a session without a display sets.
HEADLESS_ONLY = ("MPLBACKEND",)


def missing_variables(gui=False):
    """The variables of :data:`ENVIRONMENT` not set (those a GUI session
    needs when ``gui``: matplotlib then keeps its own backend)."""
    return [name for name in ENVIRONMENT if name not in os.environ
            and not (gui and name in HEADLESS_ONLY)]


def configure(root, gui=False):
    """Set the missing variables under ``root``; returns their names.
    ``gui``: for a session with a display (Scipion's project window).

    Must run before pyworkflow is imported; raises RuntimeError after."""
    missing = missing_variables(gui)
    if not missing:
        return []
    if "pyworkflow" in sys.modules:
        raise RuntimeError("pyworkflow is already imported: configure the "
                           "headless Scipion environment before importing it")
    root = Path(root)
    hosts = root / "config" / "hosts.conf"
    hosts.parent.mkdir(parents=True, exist_ok=True)
    if not hosts.exists():
        hosts.write_text(HOSTS_CONF)
    for name in missing:
        os.environ[name] = ENVIRONMENT[name](root)
    return missing


def configured_root():
    """The folder of the headless configuration in use (what
    :func:`configure` set, here or in a parent process), or None when the
    Scipion variables are the user's own."""
    home = os.environ.get("SCIPION_HOME")
    if not home:
        return None
    root = Path(home)
    made = all(os.environ.get(name) == ENVIRONMENT[name](root)
               for name in ("SCIPION_USER_DATA", "SCIPION_HOSTS"))
    return root if made else None
