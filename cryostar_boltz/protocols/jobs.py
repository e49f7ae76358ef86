"""Form checks that ask the engine, and the records its commands leave
behind.

Jobs (training, sampling...) run through ``runJob`` (see
``CryoStarBoltzProtBase._runEngine``); a form check runs a quick command
here and now (:mod:`cryostar_boltz.program`). Both reach the engine
only through ``Plugin.getProgram``, so nothing here imports its torch side.
"""
import csv

from ..engine.training.derived import counted
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


def counted_field(text, noun):
    """``3 epochs`` from a metrics-table field (``"3"``), ``1 epoch``; the
    text as it is when it is not a whole number."""
    try:
        return counted(int(float(text)), noun)
    except (TypeError, ValueError):
        return "%s %ss" % (text, noun)


def convergence_summary(path):
    """The convergence of a stage-1 run in one line, from the last row of
    its metrics table that holds the per-epoch measures (``latent_corr``,
    ``pc1_rmsd``): ``"epoch 5: latent correlation with the previous epoch
    0.998; PC1 path moved 0.05 A: more epochs would change little"``; a
    note when only one epoch has been trained; None without a table or
    with one that predates these columns."""
    from ..engine.layout import LATENT_CORR, PC1_RMSD
    from ..engine.training.convergence import reading
    try:
        with open(path, newline="") as fh:
            rows = [row for row in csv.DictReader(fh) if row.get(LATENT_CORR) is not None]
    except FileNotFoundError:
        return None
    for row in reversed(rows):
        text = reading(row[LATENT_CORR], row.get(PC1_RMSD))
        if text:
            return "epoch %s: %s" % (row["epoch"], text)
    if rows:
        return "measured from the second epoch on (one epoch trained so far)"
    return None


def agreement_summary(path):
    """The agreement of a run's two half-set models in one line, from
    ``agreement.json`` (``engine.halfset_agreement``): ``"PC1 paths differ
    by 0.42 A on average (motion 5.10 A); 87% of the particles in matched
    states; state FSC 0.143: 7.9-9.4 A"``; None without the file."""
    from ..engine.io import read_json
    report = read_json(path)
    if not report:
        return None
    parts = []
    for c in report.get("components", [])[:1]:
        parts.append("PC%d paths differ by %.2f A on average (motion %.2f A)"
                     % (c["half1"], c["rmsd_mean"], c["motion"]))
    clusters = report.get("clusters") or {}
    if "matched_fraction" in clusters:
        parts.append("%.0f%% of the particles in matched states"
                     % (100 * clusters["matched_fraction"]))
    res = [s["resolution_0.143"] for s in clusters.get("states", [])
           if s.get("resolution_0.143") is not None]
    if res:
        parts.append("state FSC 0.143: %.1f-%.1f A" % (min(res), max(res)))
    return "; ".join(parts) or None


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
