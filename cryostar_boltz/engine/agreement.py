"""Matching two independently trained latent spaces through the particles
both encoders saw: principal components by the correlation of their
scores, clusters by the particles they share.

Two models trained on the two half-sets have latent spaces that agree at
best up to an invertible map (a rotation, sign flips, a permutation of the
axes): their coordinates cannot be compared directly. The particles tie
them together: every particle is encoded by BOTH halves' encoders (each
half's encoder is applied to all particles, including those of the other
half, which it never saw), so each particle has a point in each space.

- Components: PCA is fitted on each half's latents of all particles;
  component i of half 1 is matched to component j of half 2 by the
  assignment (Hungarian, ``scipy.optimize.linear_sum_assignment``) that
  maximises the summed |Pearson correlation| of their scores over the
  particles, and half 2's sign is flipped where the correlation is
  negative, so both paths run the same way.
- Clusters: k-means labels of each half are matched by the assignment
  that maximises the number of particles the matched clusters share (the
  contingency table, as for the adjusted Rand index).

Torch-free: numpy, scipy and scikit-learn only.
"""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class ComponentMatch:
    """Component ``first`` of half 1 (0-based) matched to component
    ``second`` of half 2; ``correlation`` the signed Pearson correlation of
    their scores, ``sign`` (+1 or -1) what half 2's scores are multiplied
    by to run the same way as half 1's."""
    first: int
    second: int
    correlation: float
    sign: int


def score_correlation(scores1, scores2):
    """(k1, k2) Pearson correlations between the columns of ``scores1``
    (n, k1) and ``scores2`` (n, k2) over the same n particles; a column
    without variance correlates 0 with everything. ValueError for other
    shapes."""
    a = np.asarray(scores1, dtype=np.float64)
    b = np.asarray(scores2, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError("scores of the same particles expected, got shapes %s and %s"
                         % (a.shape, b.shape))
    a = a - a.mean(0)
    b = b - b.mean(0)
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    na[na == 0] = np.inf
    nb[nb == 0] = np.inf
    return (a / na).T @ (b / nb)


def match_components(scores1, scores2):
    """Match the components of ``scores1`` (n, k1) to those of ``scores2``
    (n, k2) (the same particles' PCA scores in the two halves' spaces) by
    the assignment maximising the summed |correlation|; returns a list of
    :class:`ComponentMatch`, in half 1's component order (min(k1, k2) of
    them)."""
    corr = score_correlation(scores1, scores2)
    rows, cols = linear_sum_assignment(-np.abs(corr))
    return [ComponentMatch(int(i), int(j), float(corr[i, j]),
                           -1 if corr[i, j] < 0 else 1)
            for i, j in sorted(zip(rows, cols))]


@dataclass
class ClusterMatch:
    """Cluster ``first`` of half 1 matched to cluster ``second`` of half 2:
    ``shared`` particles in both, ``sizes`` (in half 1's, in half 2's) and
    ``jaccard`` = shared / (size1 + size2 - shared)."""
    first: int
    second: int
    shared: int
    sizes: tuple
    jaccard: float


def contingency(labels1, labels2, k1=None, k2=None):
    """(k1, k2) counts of the particles labelled i by half 1 and j by half
    2 (labels 0-based, one per particle, same particle order)."""
    labels1 = np.asarray(labels1, dtype=np.int64)
    labels2 = np.asarray(labels2, dtype=np.int64)
    if labels1.shape != labels2.shape or labels1.ndim != 1:
        raise ValueError("labels of the same particles expected, got shapes %s and %s"
                         % (labels1.shape, labels2.shape))
    k1 = int(labels1.max()) + 1 if k1 is None else int(k1)
    k2 = int(labels2.max()) + 1 if k2 is None else int(k2)
    table = np.zeros((k1, k2), dtype=np.int64)
    np.add.at(table, (labels1, labels2), 1)
    return table


def match_clusters(labels1, labels2, k1=None, k2=None):
    """Match half 1's clusters to half 2's by the assignment maximising the
    particles matched clusters share (Hungarian on the contingency table);
    a list of :class:`ClusterMatch` in half 1's cluster order."""
    table = contingency(labels1, labels2, k1, k2)
    rows, cols = linear_sum_assignment(-table)
    size1, size2 = table.sum(1), table.sum(0)
    matches = []
    for i, j in sorted(zip(rows, cols)):
        shared = int(table[i, j])
        union = int(size1[i] + size2[j] - shared)
        matches.append(ClusterMatch(int(i), int(j), shared,
                                    (int(size1[i]), int(size2[j])),
                                    shared / union if union else 0.0))
    return matches


def matched_fraction(matches, n):
    """Fraction of the ``n`` particles that matched clusters share (1: the
    two halves cluster the particles identically up to names)."""
    return float(sum(m.shared for m in matches)) / max(int(n), 1)


def path_scores(scores, low=5.0, high=95.0, n_points=10, sign=1):
    """``n_points`` score values from the ``low`` to the ``high`` percentile
    of ``scores`` (n,), as ``analysis.pc_path`` takes them; with ``sign``
    -1 the values run from the high end of ``-scores``' opposite, i.e. the
    path is walked in the direction matched to the other half."""
    scores = np.asarray(scores, dtype=np.float64) * sign
    values = np.linspace(np.percentile(scores, low), np.percentile(scores, high),
                         n_points)
    return values * sign
