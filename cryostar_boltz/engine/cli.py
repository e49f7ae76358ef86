"""``cryostar-boltz <command>``: the engine's command line.

Each command is a module in ``cryostar_boltz.engine.commands`` with a module
docstring (its help, with examples), ``add_args(parser)`` and ``main(args)``.
Modules are imported only when their command runs, so ``--help`` is instant.

Other packages add commands through the entry-point group
``cryostar_boltz.commands`` (``name = package.module``, a module of the same
shape); such a module may list in ``REQUIRES`` the modules it needs, and the
command is offered only where they are installed. The Scipion side of this
package adds ``demo`` that way, so an engine environment without Scipion
offers engine commands only.

A command stopped by Ctrl-C (SIGINT) or by SIGTERM (what Scipion's "stop",
``kill`` and a cluster's time limit send) unwinds like an exception: its
temporary files are removed (``io.atomic_path``), a new run folder without
a checkpoint goes (``outputs.created_folder``), and one line says what
happened, exit status 130 (SIGINT) or 143 (SIGTERM), 128 plus the signal
as shells report it.
"""
import argparse
import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
from importlib.metadata import entry_points

from . import __version__
from .training.threads import passive_openmp

#: Entry-point group of commands contributed by other packages.
COMMAND_GROUP = "cryostar_boltz.commands"

#: command name -> (module, one-line summary)
COMMANDS = {
    "simulate": ("simulate", "Simulate a particle dataset from atomic structures."),
    "place": ("place", "Place a reference model in the particle box and check "
                       "that it fits."),
    "train": ("train", "Train the structure-guided VAE (stage 1)."),
    "train-density": ("train_density", "Train the density decoder (stage 2)."),
    "generate": ("generate", "Decode latents to structures (and maps)."),
    "sample-prior": ("sample_prior", "Sample latents from a trained prior."),
    "analyze": ("analyze", "PCA, clustering and per-cluster particle subsets."),
    "select": ("select", "Select particles in the latent space (polygon, "
                         "ranges, clusters) as a subset."),
    "reconstruct": ("reconstruct", "Half-maps, map and FSC of a particle subset "
                                   "from the original particles."),
    "plot": ("plot", "Write the pictures of a run as PNG files."),
}


#: Commands that continue from their last checkpoint with --resume, and the
#: option naming their folder.
RESUMABLE = {"train": "out", "train-density": "run"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread (:func:`sigterm_raises`): unwinds
    like Ctrl-C, so every ``finally`` and cleanup runs."""


@contextlib.contextmanager
def sigterm_raises():
    """Within the block, SIGTERM raises :class:`Terminated` in the main
    thread instead of ending the process at once (Python's default, which
    runs no cleanup); a second SIGTERM while the first unwinds is ignored,
    so the cleanup finishes (SIGKILL still ends the process). The previous
    handler is restored afterwards. Outside the main thread (where no
    handler can be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def resume_hint(name, args):
    """What a stopped ``name`` command can do next: continue from its last
    checkpoint with --resume (train, train-density) when its folder holds
    one, else run again; '' for the other commands."""
    if name not in RESUMABLE:
        return ""
    folder = getattr(args, RESUMABLE[name], None)
    if folder is not None:
        from .layout import RunLayout
        from .outputs import no_checkpoint
        layout = RunLayout(folder)
        if no_checkpoint(layout.root if name == "train" else layout.density):
            return "no checkpoint was written yet: run the command again"
    return "continue from the last checkpoint with --resume"


def _installed(module):
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _available():
    """command name -> (module path, summary): the engine's commands, then
    those of the entry-point group whose required modules are installed."""
    commands = {name: ("cryostar_boltz.engine.commands." + module, summary)
                for name, (module, summary) in COMMANDS.items()}
    for point in entry_points(group=COMMAND_GROUP):
        if point.name in commands:
            continue
        try:
            module = importlib.import_module(point.value)
        except ImportError:
            continue
        if all(_installed(m) for m in getattr(module, "REQUIRES", ())):
            summary = (module.__doc__ or "").strip().split("\n")[0]
            commands[point.name] = (point.value, summary)
    return commands


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``cryostar-boltz
    train: error: argument --epochs: must be an integer >= 1, got 0``),
    exit status 2 (argparse's for usage errors; a refused input found by
    the command itself exits with 1)."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def _command(commands, name):
    """(module, argument parser) of the command ``name``."""
    module = importlib.import_module(commands[name][0])
    parser = CommandParser(
        prog="cryostar-boltz " + name, description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_args(parser)
    if not any("--debug" in action.option_strings for action in parser._actions):
        parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return module, parser


def command_parser(name):
    """The argument parser of ``cryostar-boltz name``: parse a command line
    into the namespace the command receives (for scripts that build what a
    command would, e.g. ``training.config.config_from_args``).
    ValueError for an unknown command."""
    commands = _available()
    if name not in commands:
        raise ValueError("unknown command %r; choose one of %s"
                         % (name, ", ".join(commands)))
    return _command(commands, name)[1]


def main(argv=None):
    # before torch loads: OpenMP threads that wait sleep instead of spinning
    passive_openmp()
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = _available()
    parser = argparse.ArgumentParser(
        prog="cryostar-boltz",
        description="Conformational landscapes from cryo-EM particles, guided "
                    "by a reference atomic model, with Boltzmann-machine "
                    "latent priors.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'cryostar-boltz <command> --help' for a command's options.")
    parser.add_argument("--version", action="version",
                        version="cryostar-boltz " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (_, summary) in commands.items():
        sub.add_parser(name, help=summary, add_help=False)
    if not argv or argv[0] not in commands:
        args = parser.parse_args(argv)  # prints help or an error
        parser.print_help()
        return 0 if args.command is None and not argv else 2
    name = argv[0]
    module, cmd_parser = _command(commands, name)
    try:
        args = cmd_parser.parse_args(argv[1:])
    except SystemExit as done:  # a bad option: its line is printed (--help exits)
        if done.code in (0, None):
            raise
        return done.code
    try:
        with sigterm_raises():
            return module.main(args) or 0
    except KeyboardInterrupt as stop:
        if getattr(args, "debug", False):
            raise
        hint = resume_hint(name, args)
        if isinstance(stop, Terminated):
            print("cryostar-boltz %s: stopped (SIGTERM)%s" % (
                name, ": " + hint if hint else ""), file=sys.stderr)
            return 128 + signal.SIGTERM
        print("cryostar-boltz %s: interrupted%s" % (
            name, " (%s)" % hint if hint else ""), file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:
        if getattr(args, "debug", False):
            raise
        print("cryostar-boltz %s: error: %s" % (name, one_line(err)), file=sys.stderr)
        return 1
    except MemoryError as err:
        if getattr(args, "debug", False):
            raise
        print("cryostar-boltz %s: error: not enough memory%s: ask for fewer or smaller "
              "items (counts such as -n, --basin-reads, --batch-size, or a smaller "
              "--box)" % (name, " (%s)" % one_line(err) if str(err) else ""),
              file=sys.stderr)
        return 1


def one_line(err):
    """The message of ``err`` on one line (an OSError without its own
    message names its file and reason)."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        text = "%s: %s" % (err.filename, err.strerror)
    elif isinstance(err, OSError) and err.strerror:
        text = err.strerror
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
