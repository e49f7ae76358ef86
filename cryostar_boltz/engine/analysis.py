"""Latent-space analysis: principal paths, clusters, snapping to particles.

scikit-learn does the PCA and k-means: well tested, deterministic with a
seed, fast at millions of points.
"""
import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA


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


def nearest_particles(z, points):
    """Index of the particle whose latent is closest to each point."""
    idx = np.empty(len(points), dtype=np.int64)
    for i, p in enumerate(points):
        idx[i] = int(np.argmin(((z - p) ** 2).sum(axis=1)))
    return idx


def kmeans(z, k=10, seed=0):
    """k-means labels, centres and, for each centre, the nearest particle
    (centres are snapped to real particles so they are populated states)."""
    k = min(k, len(z))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    snapped = nearest_particles(z, km.cluster_centers_)
    return km.labels_.astype(np.int64), km.cluster_centers_, snapped


def spearman_abs(a, b):
    """|Spearman rank correlation| (ties broken by order; for metrics)."""
    from scipy.stats import spearmanr
    return abs(float(spearmanr(a, b).correlation))
