"""How much a stage-1 run still changes from one epoch to the next.

At the end of every epoch the encoder, in eval mode, gives the posterior
means z of a fixed, seeded subset of the particles (all of them up to
:data:`SUBSET`), and the decoder gives the coarse structures (one point per
residue, Angstrom, the reference's frame) along the first principal
component of those z. Compared with the previous epoch's:

``latent_corr``
    the correlation of the two embeddings of the same particles after the
    orthogonal Procrustes rotation (reflections included) of this epoch's
    centred z onto the previous epoch's (:func:`latent_correlation`). In
    [0, 1]; 1 when the embedding only rotated or was rescaled. A VAE's
    latent space is defined up to such a rotation, so only a change of the
    particles' arrangement lowers it.
``pc1_rmsd``
    the RMSD (Angstrom) between the two epochs' PC1 paths:
    :data:`PATH_POINTS` structures from -2 to +2 standard deviations of z
    along PC1, the sign of PC1 chosen so the subset's scores correlate
    positively with the previous epoch's (:func:`path_rmsd`; no
    superposition, both paths are in the reference's frame).

The first epoch of a run has no previous epoch: both are NaN there. The
previous epoch's z, scores and path travel in the checkpoint
(:meth:`ConvergenceTracker.state_dict`), so a resumed run gives the values
of an uninterrupted one.

What they do not say: that the run is right. A run that converged onto a
wrong reference, poses or a collapsed latent space reports the same small
changes; half-set agreement and maps answer that. Small values say more
epochs with these options would change the result little.

Torch-free (numpy; scipy and scikit-learn imported when used), so
Scipion's process may read :func:`reading`.
"""
import math

import numpy as np

from ..layout import LATENT_CORR, PC1_RMSD

#: Most particles encoded per epoch: a fixed seeded subset beyond it.
SUBSET = 2000
#: Structures decoded along PC1.
PATH_POINTS = 10
#: The PC1 path spans +-PATH_SD standard deviations of z along PC1.
PATH_SD = 2.0
#: Latent correlation and path RMSD (Angstrom) under which a run has
#: settled, and those beyond which it is still changing (rough guides for
#: :func:`reading`).
SETTLED = (0.99, 0.5)
CHANGING = (0.95, 1.0)


def subset_indices(n, seed, size=SUBSET):
    """Sorted indices of the particles tracked in a dataset of ``n``: all of
    them up to ``size``, otherwise ``size`` drawn without replacement with
    a generator seeded by ``seed`` (the same subset on every resume)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([int(seed), 0xC0])
    return np.sort(rng.choice(n, size, replace=False)).astype(np.int64)


def latent_correlation(previous, current):
    """Correlation of two embeddings (m, d) of the same m particles after
    the orthogonal Procrustes rotation of ``current`` onto ``previous``
    (scipy.linalg.orthogonal_procrustes; reflections allowed).

    Both are centred; with R the rotation that minimises
    ||C R - P||_F, the value is <C R, P>_F / (||C||_F ||P||_F), Tucker's
    congruence of the aligned embeddings: in [0, 1] (the optimal rotation
    makes the trace the sum of singular values), 1 when ``current`` is a
    rotation, reflection or rescaling of ``previous``. NaN when either
    embedding has no spread. ValueError on different shapes."""
    from scipy.linalg import orthogonal_procrustes
    p = np.asarray(previous, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if p.shape != c.shape or p.ndim != 2:
        raise ValueError("latent correlation: embeddings of shapes %s and %s; "
                         "need the same (particles, dimensions)" % (p.shape, c.shape))
    p = p - p.mean(0)
    c = c - c.mean(0)
    norm = np.linalg.norm(p) * np.linalg.norm(c)
    if not norm > 0:
        return float("nan")
    rotation, _ = orthogonal_procrustes(c, p)
    return float(np.clip(np.sum((c @ rotation) * p) / norm, 0.0, 1.0))


def pc1_path(z, n_points=PATH_POINTS, sd=PATH_SD):
    """(points (n_points, d), scores (m,)): latent points along the first
    principal component of z (m, d), from -``sd`` to +``sd`` standard
    deviations through the mean, and each particle's coordinate on it."""
    from ..analysis import fit_pca
    z = np.asarray(z, dtype=np.float64)
    pca = fit_pca(z, 1)
    scores = pca.transform(z)[:, 0]
    spread = sd * math.sqrt(max(float(pca.explained_variance_[0]), 0.0))
    values = np.linspace(-spread, spread, n_points)
    return pca.mean_ + values[:, None] * pca.components_[0][None, :], scores


def path_rmsd(a, b):
    """RMSD (the paths' units, Angstrom) between two paths of structures
    (M, N, 3) point by point: sqrt of the mean over the M structures and N
    points of the squared distance; no superposition. ValueError on
    different shapes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("path RMSD: paths of shapes %s and %s" % (a.shape, b.shape))
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


class ConvergenceTracker:
    """The per-epoch ``latent_corr`` and ``pc1_rmsd`` of a run over ``n``
    particles (the subset seeded by ``seed``); the previous epoch's z,
    PC1 scores and path are its state."""

    def __init__(self, n, seed, size=SUBSET, n_points=PATH_POINTS, sd=PATH_SD):
        self.indices = subset_indices(n, seed, size)
        self.n_points, self.sd = n_points, sd
        self.previous = None

    def update(self, z, decode):
        """This epoch's values from the subset's posterior means z (m, d)
        (rows in :attr:`indices` order) and ``decode(points (M, d)) ->
        (M, N, 3)`` coarse structures; NaN where there is no previous
        epoch or z is not finite. Keeps this epoch's z, scores and path for
        the next call."""
        z = np.asarray(z, dtype=np.float64)
        values = {LATENT_CORR: float("nan"), PC1_RMSD: float("nan")}
        if not np.isfinite(z).all():
            self.previous = None  # nothing to compare the next epoch with
            return values
        points, scores = pc1_path(z, self.n_points, self.sd)
        path = None
        previous = self.previous
        if previous is not None and previous["z"].shape == z.shape:
            values[LATENT_CORR] = latent_correlation(previous["z"], z)
            if np.dot(scores, previous["scores"]) < 0:
                # the same particles order the path the same way
                points, scores = points[::-1].copy(), -scores
            path = np.asarray(decode(points), dtype=np.float64)
            if previous["path"].shape == path.shape:
                values[PC1_RMSD] = path_rmsd(previous["path"], path)
        if path is None:
            path = np.asarray(decode(points), dtype=np.float64)
        self.previous = {"z": z.astype(np.float32), "scores": scores.astype(np.float32),
                         "path": path.astype(np.float32)}
        return values

    def state_dict(self):
        """What the next epoch compares with (None before the first)."""
        return None if self.previous is None else dict(self.previous)

    def load_state_dict(self, state):
        self.previous = None if state is None else {
            k: np.asarray(state[k]) for k in ("z", "scores", "path")}


def reading(latent_corr, pc1_rmsd):
    """One sentence for a user: the two values and what they suggest
    (settled, settling, still changing), e.g. ``"latent correlation with
    the previous epoch 0.998; PC1 path moved 0.05 A: more epochs would
    change little"``. None when neither value is known (one epoch)."""
    corr = _number(latent_corr)
    rmsd = _number(pc1_rmsd)
    if corr is None and rmsd is None:
        return None
    parts = []
    if corr is not None:
        parts.append("latent correlation with the previous epoch %.3f" % corr)
    if rmsd is not None:
        parts.append("PC1 path moved %.2f A" % rmsd)
    if (corr is None or corr >= SETTLED[0]) and (rmsd is None or rmsd <= SETTLED[1]):
        verdict = "more epochs would change little"
    elif (corr is not None and corr < CHANGING[0]) or (rmsd is not None
                                                       and rmsd > CHANGING[1]):
        verdict = "still changing: more epochs may help"
    else:
        verdict = "settling: a few more epochs may still refine it"
    return "; ".join(parts) + ": " + verdict


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
