"""Per-particle fit scores of a trained run, and the junk they point at.

At the end of stage 1 each particle's image loss is measured with the
structure decoded at its own posterior mean (and binary code), projected
with its pose, CTF and the training low-pass, over the loss's mask: the
training loss (``losses.correlation_loss``, minus a correlation, so lower
is a better fit) without the latent noise. The pose contrast compares that
structure's fit with the particle's pose and at :data:`RANDOM_POSES`
uniformly random orientations (seeded by the run's seed): a particle whose
consensus pose is right fits far better with it than with random ones; a
junk particle (a false pick, a wrong pose) fits no better. Its losses are
measured the same way on a cheaper image that holds the same low-passed
band (``training.scoring``: the box Fourier-cropped to the low-pass, one
Gaussian per residue, the whole box's mask even with a focus mask). The
*pose contrast* is the loss with the particle's pose minus the mean loss
at the random orientations: clearly negative for a good particle, about 0
for junk. It does not depend, as the loss itself does, on how much signal
the particle holds (its defocus, its ice).

Files of the run folder (names in :mod:`.layout`), particle order:

``particle_loss.npy``  (N,) float32, the image loss with the particle's pose
``pose_contrast.npy``  (N,) float32, the loss with the particle's pose minus
                       the mean loss at the random orientations (both
                       on the scoring image)
``junk_score.npy``     (N,) float32, the robust z-score of the pose contrast,
                       ``(c - median) / (1.4826 MAD)`` (MAD: the median
                       absolute deviation; 1.4826 MAD is the standard
                       deviation of normal data), 0 for every particle when
                       the MAD is 0; high for junk

A particle is junk when its junk score is above a threshold
(:data:`DEFAULT_JUNK_Z`). On 3,000 adenylate-kinase path particles with 5 %
junk and 3 degree / 1 Angstrom pose errors (``benchmarks/perturb_poses.py``,
``benchmarks/bench_junk.py``; default training, 10 epochs) the junk score
separates junk from the rest with ROC AUC 0.967 (the loss alone: 0.936);
after 40 epochs 0.908 (0.913). Runs trained before these files existed have none:
:func:`load_particle_scores` raises :class:`ScoresUnavailable` naming the
run. numpy only (no torch), so the Scipion side may use it.
"""
from pathlib import Path

import numpy as np

from .io import save_array
from .layout import JUNK_SCORE, RunLayout

#: Junk score (robust z-score of the pose contrast) above which a particle
#: counts as junk by default: on the adk data above it leaves out 12 (40
#: epochs: 7) of 2,850 good particles and 91 (58) of 150 junk.
DEFAULT_JUNK_Z = 2.0
#: Random orientations each particle's structure is projected at for the
#: pose contrast (ROC AUC on the 10-epoch adk run: 1: 0.92, 2: 0.96, 4:
#: 0.98, 8: 0.98); each costs one more projection per particle, once.
RANDOM_POSES = 4
#: MAD -> standard deviation for normally distributed values.
MAD_TO_STD = 1.4826


class ScoresUnavailable(FileNotFoundError):
    """A run folder without per-particle scores (trained before they were
    written)."""


def robust_z(values):
    """(N,) float32 robust z-scores of ``values`` (N,): ``(v - median) /
    (1.4826 MAD)``; zeros when the MAD is 0. ValueError for an empty or
    non-finite input."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if not len(values):
        raise ValueError("no values to score")
    if not np.isfinite(values).all():
        raise ValueError("%d non-finite values to score"
                         % int((~np.isfinite(values)).sum()))
    median = np.median(values)
    scale = MAD_TO_STD * np.median(np.abs(values - median))
    if scale <= 0:
        return np.zeros(len(values), np.float32)
    return ((values - median) / scale).astype(np.float32)


def save_particle_scores(layout, losses, loss=None):
    """Write the scores of ``losses`` into the run folder of ``layout`` (a
    :class:`~.layout.RunLayout` or a folder): (N, 1 + K) image losses of
    each particle with its own pose (column 0) and at K random
    orientations, and ``loss`` (N,), the particle's training image loss
    (default: column 0 of ``losses``); returns ``{"loss", "contrast",
    "z"}``, (N,) float32 each."""
    layout = layout if isinstance(layout, RunLayout) else RunLayout(layout)
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 2 or losses.shape[1] < 2:
        raise ValueError("expected (N, 1 + K) image losses, got shape %s"
                         % (losses.shape,))
    loss = losses[:, 0] if loss is None else np.asarray(loss, dtype=np.float64)
    if loss.shape != losses.shape[:1]:
        raise ValueError("expected one training loss per particle (%d), got shape %s"
                         % (len(losses), loss.shape))
    contrast = losses[:, 0] - losses[:, 1:].mean(1)
    scores = {"loss": loss.astype(np.float32),
              "contrast": contrast.astype(np.float32), "z": robust_z(contrast)}
    save_array(layout.particle_loss, scores["loss"])
    save_array(layout.pose_contrast, scores["contrast"])
    save_array(layout.junk_score, scores["z"])
    return scores


def describe_scores(scores, threshold=DEFAULT_JUNK_Z):
    """One line: the median image loss and pose contrast, and how many
    particles have a junk score above ``threshold``."""
    junk = int((scores["z"] > threshold).sum())
    return ("image loss median %.4f, pose contrast median %.4f; %d of %d particles "
            "(%.1f %%) with junk score > %g"
            % (float(np.median(scores["loss"])), float(np.median(scores["contrast"])),
               junk, len(scores["z"]), 100.0 * junk / max(len(scores["z"]), 1), threshold))


def load_particle_scores(run_dir, n=None):
    """``{"loss", "contrast", "z"}``, (N,) float32 each, of the run
    ``run_dir``.

    :class:`ScoresUnavailable` (a FileNotFoundError) naming the run when it
    has no scores (trained before they were written); ValueError naming the
    file when it is not a NumPy array, holds a non-finite value, is not
    (N,) or, with ``n``, not one value per particle of the run."""
    layout = RunLayout(run_dir)
    paths = {"loss": layout.particle_loss, "contrast": layout.pose_contrast,
             "z": layout.junk_score}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise ScoresUnavailable(
            "%s: no per-particle scores (%s): the run was trained before "
            "they were written" % (Path(run_dir), ", ".join(missing)))
    scores = {}
    for key, path in paths.items():
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise ValueError("%s: not a NumPy array file (%s)" % (path, err)) from None
        if array.ndim != 1 or (n is not None and len(array) != n):
            raise ValueError("%s: expected one score per particle (%s), got shape %s"
                             % (path, n if n is not None else "N", array.shape))
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise ValueError("%s: %s values that are not finite numbers: the file is "
                             "damaged; the scores are written by training"
                             % (path, int((~np.isfinite(array.astype(np.float64))).sum())
                                if np.issubdtype(array.dtype, np.number) else "has"))
        scores[key] = array.astype(np.float32)
    if len({len(a) for a in scores.values()}) > 1:
        raise ValueError("%s: the score files differ in length" % Path(run_dir))
    return scores


def junk_mask(z, threshold=DEFAULT_JUNK_Z):
    """(N,) bool: the particles whose robust z-score ``z`` is above
    ``threshold``."""
    if not np.isfinite(threshold):
        raise ValueError("junk threshold %r: must be a finite number" % threshold)
    return np.asarray(z) > threshold


def junk_exclusion(run_dir, n, threshold=DEFAULT_JUNK_Z, option="--exclude-junk"):
    """``(criterion, (n,) bool junk)`` for leaving out the junk of the run
    ``run_dir`` (``n`` particles): the particles whose robust z-score is
    above ``threshold``. The criterion (JSON-ready) has a ``label``, the
    ``junk_threshold`` and the ``junk_score`` file. ValueError naming
    ``option`` when the run has no scores."""
    try:
        scores = load_particle_scores(run_dir, n)
    except ScoresUnavailable as err:
        raise ValueError("%s: %s" % (option, err)) from None
    junk = junk_mask(scores["z"], threshold)
    return ({"label": "junk score at most %g (%s; %d left out)"
                      % (threshold, option, int(junk.sum())),
             "junk_threshold": float(threshold), "junk_score": JUNK_SCORE,
             "n_junk": int(junk.sum())}, junk)
