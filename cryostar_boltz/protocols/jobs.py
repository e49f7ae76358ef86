"""Form checks that ask the engine, and the records its commands leave
behind.

Jobs (training, sampling...) run through ``runJob`` (see
``CryoStarBoltzProtBase._runEngine``); a form check runs a quick command
here and now (:mod:`cryostar_boltz.program`). Both reach the engine
only through ``Plugin.getProgram``, so nothing here imports its torch side.
"""
import csv

from ..program import EngineCommandError, run

#: Seconds a form check may take (a cold engine environment imports numpy,
#: Biopython...; the check itself is quick).
CHECK_TIMEOUT = 120


def check_command(command, args, timeout=CHECK_TIMEOUT):
    """Run ``cryostar-boltz COMMAND ARGS`` and wait for it (at most
    ``timeout`` s): None when it exits 0, else the problem in one line."""
    import subprocess
    try:
        run(command, args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ("cryostar-boltz %s gave no answer within %d s (is the engine "
                "environment set up?)" % (command, timeout))
    except EngineCommandError as err:
        return str(err)
    return None


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
