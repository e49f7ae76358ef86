"""Open a Scipion project in Scipion's project window.

A pip install has no ``scipion3`` launcher, and pyworkflow's own
``pw_project`` restarts itself through the ``scipion`` module of a full
Scipion installation. This opens the project window in this interpreter,
with the Scipion configuration the project was made under: ``--scipion
DIR`` is the folder the demo configured (it prints this very command);
without it, the Scipion variables already set are used.

This is the ``project`` command of ``cryostar-boltz`` (Scipion side, like
``demo``); ``python -m cryostar_boltz.workflow.project`` runs it in any
environment that has the package.

Examples:

    cryostar-boltz project cryostar_boltz_demo --scipion cryostar_boltz_demo/scipion
    python -m cryostar_boltz.workflow.project my_project
"""
import argparse
import os
import shlex
import sys
from pathlib import Path

from . import headless

#: Modules the command needs; without them the command line does not offer it.
REQUIRES = ("pyworkflow", "pwem")


def open_command(name, scipion=None):
    """The shell command that opens project ``name`` in this environment
    (this interpreter, so it works whether or not the entry point is
    installed), with the Scipion folder ``scipion`` when the caller
    configured one."""
    args = [sys.executable, "-m", "cryostar_boltz.workflow.project", name]
    if scipion is not None:
        args += ["--scipion", str(Path(scipion).resolve())]
    return " ".join(shlex.quote(a) for a in args)


def configure(scipion=None):
    """Point the Scipion variables the user has not set at ``scipion``
    (``headless.configure``, with a display: matplotlib keeps its GUI
    backend); ValueError naming ``--scipion`` when neither is there."""
    if scipion is not None:
        root = Path(scipion)
        if not root.is_dir():
            raise ValueError("--scipion %s: folder not found" % scipion)
        headless.configure(root, gui=True)
    missing = headless.missing_variables(gui=True)
    if missing:
        raise ValueError("Scipion is not configured here (%s not set): pass "
                         "--scipion with the folder the demo printed"
                         % ", ".join(missing))


def check_display():
    """ValueError, in one line, when no graphical display answers: the
    project window (Tk) needs one."""
    import tkinter
    try:
        root = tkinter.Tk()
    except tkinter.TclError as err:
        raise ValueError("no display for the project window (%s): run this in a "
                         "graphical session, or over ssh -X" % err) from None
    root.destroy()


def open_project(name, scipion=None, show=True, log=print):
    """Open project ``name`` in a ``ProjectWindow``; its main loop runs
    until the window is closed when ``show``. Returns the window.
    ValueError naming the project and the user-data folder when it does
    not exist there."""
    configure(scipion)
    from pyworkflow.project import Manager
    manager = Manager()
    names = sorted(info.getName() for info in manager.listProjects())
    if name not in names:
        raise ValueError("no Scipion project %r in %s (projects there: %s)"
                         % (name, os.environ["SCIPION_USER_DATA"],
                            ", ".join(names) or "none"))
    check_display()
    import pyworkflow.gui.project  # noqa: F401  (the GUI's import order)
    from pyworkflow.gui.project import ProjectWindow
    window = ProjectWindow(manager.getProjectPath(name))
    runs = window.project.getRuns()
    log("project %s (%s): %d protocols: %s"
        % (name, window.project.getPath(), len(runs),
           ", ".join(run.getRunName() for run in runs)))
    sys.stdout.flush()
    if show:
        window.show()
    return window


# ------------------------------------------------------------ command line

def add_args(parser):
    parser.add_argument("name", help="project name")
    parser.add_argument("--scipion", metavar="DIR",
                        help="the Scipion folder the project was made under "
                        "(the demo prints it); default: the Scipion variables "
                        "already set")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args):
    open_project(args.name, args.scipion)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="cryostar-boltz project", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(parser)
    arguments = parser.parse_args()
    try:
        main(arguments)
    except ValueError as err:
        if arguments.debug:
            raise
        print("cryostar-boltz project: error: %s" % err, file=sys.stderr)
        sys.exit(1)
