"""Latent-space analysis: principal paths, clusters, prior basins, snapping
to particles, embeddings.

scikit-learn does the PCA, k-means and Gaussian mixtures: well tested,
deterministic with a seed, fast at millions of points. Cluster centres are
snapped to real particles (the nearest member of the cluster), so the state
decoded for a cluster is one the data populate.

Clusters from the prior's basins: each basin is a distinct state of the
prior (``prior.basins()``), and the prior assigns each particle to one
(``prior.assign_to_basins``): for a continuous latent (``gmm``, ``grbm``,
``ebm``) the basin of attraction of its posterior mean under descent of
the free energy, basins separated by a barrier of at least
:data:`~.priors.landscape.BARRIER` nats in the particles' density (in F
between basins too sparse in particles to measure it;
:mod:`.priors.landscape`);
``rbm`` to the basin code nearest (Hamming distance) to the particle's
binary code. The ``gaussian`` prior has a single basin and gives no
clustering.
"""
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

#: Clustering methods of :func:`cluster_latents`.
METHODS = ("kmeans", "gmm", "basins")
_CHUNK = 8192


def fit_pca(z, n_components=3):
    """PCA of the latents (at most ``latent_dim`` components)."""
    n_components = min(n_components, z.shape[1], len(z))
    return PCA(n_components=n_components).fit(z)


def pc_path(pca, z, component, n_points=10, low=5.0, high=95.0):
    """Latent points along one principal component, from the ``low`` to the
    ``high`` percentile of the particles' coordinates on it, through the mean.
    """
    scores = pca.transform(z)[:, component]
    values = np.linspace(np.percentile(scores, low),
                         np.percentile(scores, high), n_points)
    return pca.mean_ + values[:, None] * pca.components_[component][None, :]


def _nearest(z, points):
    """(index of the nearest point to each row of z, squared distance)."""
    z = np.asarray(z, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    p2 = (points ** 2).sum(1)
    best = np.empty(len(z), dtype=np.int64)
    dist = np.empty(len(z))
    for start in range(0, len(z), _CHUNK):
        block = z[start:start + _CHUNK]
        d2 = (block ** 2).sum(1)[:, None] - 2.0 * block @ points.T + p2[None]
        best[start:start + _CHUNK] = d2.argmin(1)
        dist[start:start + _CHUNK] = d2.min(1)
    return best, dist


def nearest_particles(z, points):
    """Index of the particle whose latent is closest to each point."""
    z = np.asarray(z, dtype=np.float64)
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    idx = np.empty(len(points), dtype=np.int64)
    best = np.full(len(points), np.inf)
    for start in range(0, len(z), _CHUNK):
        block = z[start:start + _CHUNK]
        d2 = ((points ** 2).sum(1)[:, None] - 2.0 * points @ block.T
              + (block ** 2).sum(1)[None])
        j = d2.argmin(1)
        value = d2[np.arange(len(points)), j]
        better = value < best
        idx[better], best[better] = start + j[better], value[better]
    return idx


def snap_to_members(z, labels, centres):
    """For each cluster, the member particle closest to its centre (the
    nearest particle overall for an empty cluster)."""
    z = np.asarray(z, dtype=np.float64)
    snapped = nearest_particles(z, centres)
    for k, centre in enumerate(np.asarray(centres, dtype=np.float64)):
        members = np.flatnonzero(labels == k)
        if len(members):
            d2 = ((z[members] - centre) ** 2).sum(1)
            snapped[k] = members[int(d2.argmin())]
    return snapped


def kmeans(z, k=10, seed=0):
    """k-means labels, centres and, for each centre, the nearest particle
    (centres are snapped to real particles so they are populated states)."""
    k = min(k, len(z))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    snapped = nearest_particles(z, km.cluster_centers_)
    return km.labels_.astype(np.int64), km.cluster_centers_, snapped


def gaussian_mixture(z, k=10, seed=0):
    """Labels, means and snapped centres of a full-covariance Gaussian
    mixture of ``k`` components fitted to the latents."""
    from sklearn.mixture import GaussianMixture
    gm = GaussianMixture(n_components=k, covariance_type="full", n_init=2,
                         reg_covar=1e-5, random_state=seed).fit(z)
    labels = gm.predict(z).astype(np.int64)
    return labels, gm.means_, snap_to_members(z, labels, gm.means_)


def basin_labels(prior, z, basins, codes=None):
    """The basin (index into ``basins``) of each particle's latent z (n, d):
    ``prior.assign_to_basins(z, basins, codes)``, the rule of each prior
    family (see the module docstring); ``codes`` are the particles' binary
    codes (``rbm``)."""
    return prior.assign_to_basins(z, basins, codes)


def drop_empty(labels, k):
    """(labels renumbered 0..m-1 over the m non-empty clusters, the old
    numbers of those clusters)."""
    populated = np.flatnonzero(np.bincount(labels, minlength=k))
    renumber = np.full(k, -1, dtype=np.int64)
    renumber[populated] = np.arange(len(populated))
    return renumber[labels], populated


@dataclass
class Clustering:
    """Result of :func:`cluster_latents`: ``labels`` (n,) in 0..k-1,
    ``centres`` (k, d) in latent space, ``snapped`` (k,) particle indices,
    and method-specific ``details`` (basins: their bits, energies...)."""
    method: str
    labels: np.ndarray
    centres: np.ndarray
    snapped: np.ndarray
    details: dict = field(default_factory=dict)

    @property
    def k(self):
        return len(self.centres)

    @property
    def sizes(self):
        return np.bincount(self.labels, minlength=self.k)


def cluster_latents(z, method="kmeans", k=10, seed=0, prior=None, codes=None,
                    basin_options=None):
    """Cluster the latents by ``method`` (:data:`METHODS`).

    ``kmeans``/``gmm``: ``k`` clusters. ``basins``: the prior's basins
    (``prior.basins(max_basins=k, **basin_options)``). Clusters that hold
    no particle (a basin no particle falls in, a Gaussian component that
    wins none) are dropped; the rest keep their order (basins: lowest
    energy first).
    """
    z = np.asarray(z)
    if method not in METHODS:
        raise ValueError("unknown clustering method %r; choose one of %s"
                         % (method, ", ".join(METHODS)))
    if int(k) < 1 or int(k) > len(z):
        raise ValueError("--k %s: need 1 <= k <= %d (the number of particles)"
                         % (k, len(z)))
    k = int(k)
    if method == "kmeans":
        labels, centres, _ = kmeans(z, k, seed)
        return Clustering(method, labels, centres, snap_to_members(z, labels, centres))
    if method == "gmm":
        labels, means, _ = gaussian_mixture(z, k, seed)
        labels, kept = drop_empty(labels, len(means))
        means = means[kept]
        return Clustering(method, labels, means, snap_to_members(z, labels, means),
                          {"empty_components_dropped": int(k - len(kept))})
    if prior is None:
        raise ValueError("basin clustering needs the run's prior")
    if prior.name == "gaussian":
        raise ValueError("the gaussian prior has a single basin: cluster with "
                         "--method kmeans or gmm, or train with a multi-basin "
                         "prior (gmm, grbm, rbm or ebm)")
    if prior.name == "rbm" and codes is None:
        raise ValueError("rbm basins are binary codes: the particles' codes "
                         "(z_code.npy in the run folder) are needed to assign "
                         "them; cluster with --method kmeans or gmm instead")
    basins = prior.basins(max_basins=k, particles=z, **(basin_options or {}))
    labels, populated = drop_empty(basin_labels(prior, z, basins, codes), len(basins))
    kept = [basins[i] for i in populated]
    continuous = prior.latent_dim
    centres = np.stack([np.asarray(b["z"], dtype=np.float64)[:continuous] for b in kept])
    if prior.name == "rbm":
        # the continuous part of an rbm basin is the prior's mean 0: use the
        # members' mean latent as the cluster's centre
        centres = np.stack([z[labels == i].mean(0) for i in range(len(kept))])
    from .sampling import basin_record
    details = {"basins": [basin_record(b, i) for i, b in zip(populated, kept)],
               "basins_found": len(basins)}
    return Clustering(method, labels, centres, snap_to_members(z, labels, centres),
                      details)


def umap_embedding(z, n_neighbors=15, min_dist=0.1, seed=0, fit=None):
    """(n, 2) float32 UMAP embedding of the latents ``z`` (n, d) (needs the
    umap-learn package). ``fit``: the rows the embedding is fitted on
    (indices); the others are then placed on it (``UMAP.transform``)
    without moving it. Default: all rows."""
    umap = require_umap()
    z = np.asarray(z, dtype=np.float32)
    rows = np.arange(len(z)) if fit is None else np.asarray(fit)
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(rows) - 1),
                        min_dist=min_dist, random_state=seed)
    out = np.empty((len(z), 2), np.float32)
    out[rows] = reducer.fit_transform(z[rows])
    rest = np.setdiff1d(np.arange(len(z)), rows)
    if len(rest):
        out[rest] = reducer.transform(z[rest])
    return out


def require_umap():
    """The umap module, or a clear error saying how to install it."""
    try:
        import umap
    except ImportError:
        raise ValueError("UMAP needs the umap-learn package: pip install "
                         "umap-learn (or leave out --umap)") from None
    return umap


def spearman_abs(a, b):
    """|Spearman rank correlation| (ties broken by order; for metrics)."""
    from scipy.stats import spearmanr
    return abs(float(spearmanr(a, b).correlation))
