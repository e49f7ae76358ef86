"""The engine's command line as the protocols call it, and the records its
commands leave behind.

Jobs (training, sampling...) run through ``runJob`` (see
``CryoStarBoltzProtBase._runEngine``); a form check runs a quick command
here and now with :func:`check_command`. Both reach the engine only
through ``Plugin.getProgram`` (this interpreter or the configured engine
environment), so nothing here imports the engine's torch side.
"""
import csv
import shlex
import subprocess

#: Seconds a form check may take (a cold engine environment imports numpy,
#: gemmi...; the check itself is quick).
CHECK_TIMEOUT = 120


def quote_args(args):
    """One shell-safe string of command-line arguments (None dropped)."""
    return " ".join(shlex.quote(str(a)) for a in args if a is not None)


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


def check_command(command, args, timeout=CHECK_TIMEOUT):
    """Run ``cryostar-boltz COMMAND ARGS`` and wait for it (at most
    ``timeout`` s): None when it exits 0, else the problem in one line."""
    from .. import Plugin
    line = "%s %s" % (Plugin.getProgram(command), quote_args(args))
    try:
        result = subprocess.run(line, shell=True, env=Plugin.getEnviron(),
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ("cryostar-boltz %s gave no answer within %d s (is the engine "
                "environment set up?)" % (command, timeout))
    if result.returncode == 0:
        return None
    return (error_line(result.stderr, command)
            or "cryostar-boltz %s failed with exit code %d" % (command, result.returncode))


def last_metrics_row(path):
    """The last row of a run's metrics table (``metrics.csv``) as a dict of
    strings, or None when the file is missing or has no rows."""
    try:
        with open(path, newline="") as fh:
            last = None
            for last in csv.DictReader(fh):
                pass
    except FileNotFoundError:
        return None
    return last


def pca_scores(path, n):
    """The ``scores`` (n, components) of a PCA record (``pca.npz``), or None
    when the file is missing or does not hold one row per particle."""
    import numpy as np
    try:
        with np.load(path) as pca:
            scores = pca["scores"]
    except FileNotFoundError:
        return None
    return scores if len(scores) == n else None
