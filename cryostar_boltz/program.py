"""Running one ``cryostar-boltz`` command from Scipion's process, here and
now (a form check, a viewer's pictures, the demo's simulation); training
and other long jobs go through the protocols' ``runJob`` instead.

The command line comes from ``Plugin.getProgram`` (the engine's own
environment, or the one configured) and runs with ``Plugin.getEnviron()``,
so nothing here imports the engine. A failing command (exit code 1 and one
``cryostar-boltz COMMAND: error: ...`` line on stderr) raises
:class:`EngineCommandError` carrying that line.
"""
import shlex
import subprocess


class EngineCommandError(ValueError):
    """An engine command failed; the message is its error line."""


def quote_args(args):
    """One shell-safe string of command-line arguments (None dropped)."""
    return " ".join(shlex.quote(str(a)) for a in args if a is not None)


def command_line(command, args):
    """The shell command line running ``cryostar-boltz COMMAND ARGS`` in
    the engine's environment."""
    from . import Plugin
    return "%s %s" % (Plugin.getProgram(command), quote_args(args))


def error_line(stderr, command):
    """The engine's one-line error from a command's ``stderr``: its last
    ``cryostar-boltz COMMAND: error: ...`` line without that prefix (the
    last non-empty line when there is none; None for empty output)."""
    prefix = "cryostar-boltz %s: error: " % command
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(prefix):
            return line[len(prefix):]
    return lines[-1] if lines else None


def run(command, args, cwd=None, timeout=None):
    """Run ``cryostar-boltz COMMAND ARGS`` and wait for it (``timeout`` s at
    most; ``subprocess.TimeoutExpired`` beyond); returns its standard
    output. EngineCommandError with the command's error line when it
    fails."""
    from . import Plugin
    done = subprocess.run(command_line(command, args), shell=True, cwd=cwd,
                          env=Plugin.getEnviron(), capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise EngineCommandError(
            error_line(done.stderr, command)
            or "cryostar-boltz %s ended with exit code %d" % (command, done.returncode))
    return done.stdout
