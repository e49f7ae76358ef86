"""Latent-space analysis: snapping, clustering, basin assignment."""
import numpy as np
import pytest
import torch

from cryostar_boltz.engine.analysis import (basin_labels, cluster_latents,
                                            gaussian_mixture, nearest_particles,
                                            require_umap, snap_to_members)
from cryostar_boltz.engine.priors import build_prior


def blobs(rng, centres, n=200, spread=0.1):
    centres = np.asarray(centres, dtype=np.float64)
    truth = rng.integers(len(centres), size=n)
    return centres[truth] + spread * rng.standard_normal((n, centres.shape[1])), truth


def test_nearest_particles_matches_brute_force():
    rng = np.random.default_rng(0)
    z, points = rng.standard_normal((10000, 4)), rng.standard_normal((7, 4))
    brute = ((z[None] - points[:, None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest_particles(z, points), brute)


def test_snapped_centres_are_members_of_their_cluster():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((300, 3))
    labels = (z[:, 0] > 0).astype(np.int64)
    # centre 0 lies in the other cluster's half: still snapped to a member
    centres = np.array([[0.5, 0, 0], [1.0, 0, 0]])
    snapped = snap_to_members(z, labels, centres)
    assert labels[snapped[0]] == 0 and labels[snapped[1]] == 1
    members = np.flatnonzero(labels == 1)
    assert snapped[1] == members[((z[members] - centres[1]) ** 2).sum(1).argmin()]


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_clusters_recover_separated_blobs(method):
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(2)
    z, truth = blobs(rng, [[0, 0], [5, 0], [0, 5]])
    result = cluster_latents(z, method, 3)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.sizes.sum() == len(z) and result.centres.shape == (3, 2)
    assert (result.labels[result.snapped] == np.arange(3)).all()


def test_gaussian_mixture_is_deterministic_with_a_seed():
    z, _ = blobs(np.random.default_rng(3), [[0, 0], [3, 0]])
    a, b = gaussian_mixture(z, 2, seed=4), gaussian_mixture(z, 2, seed=4)
    np.testing.assert_array_equal(a[0], b[0])


def grbm_with_basins():
    """A grbm prior whose only basins are the hidden states 10 and 01
    (binary energies 00: 0, 10 and 01: -2, 11: +5), latent means (+-3, 0)."""
    prior = build_prior("grbm", 2, hidden_units=2)
    with torch.no_grad():
        prior.weight.copy_(torch.tensor([[3.0, -3.0], [0.0, 0.0]]))
        prior.visible_bias.copy_(torch.tensor([0.0, 0.0]))
        prior.hidden_bias.copy_(torch.tensor([-2.5, -2.5]))
    return prior.eval()


def test_grbm_basin_labels_are_basins_of_attraction():
    """Latents near the two modes (+-3, 0) join the basin of their mode;
    each basin's h is the most probable hidden state at its minimum."""
    prior = grbm_with_basins()
    basins = prior.basins(num_reads=200, seed=0)
    assert len(basins) == 2
    for basin in basins:
        field = prior.hidden_field(torch.as_tensor(basin["z"])[None])[0]
        np.testing.assert_array_equal(basin["h"], (field > 0).numpy().astype(np.int8))
        assert abs(abs(float(basin["z"][0])) - 3.0) < 0.1
    assert sum(b["prior_population"] for b in basins) == pytest.approx(1.0)
    rng = np.random.default_rng(5)
    pick = rng.integers(2, size=400)
    modes = np.stack([b["z"] for b in basins])
    z = modes[pick] + 0.3 * rng.standard_normal((400, 2))
    labels = basin_labels(prior, z, basins)
    np.testing.assert_array_equal(labels, pick)


def test_gmm_basins_are_the_separated_components_and_label_by_attraction():
    prior = build_prior("gmm", 2, components=3)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]]))
    rng = np.random.default_rng(6)
    z, truth = blobs(rng, prior.means.detach().numpy(), spread=0.3)
    result = cluster_latents(z, "basins", 3, prior=prior)
    from sklearn.metrics import adjusted_rand_score
    assert result.k == 3 and adjusted_rand_score(truth, result.labels) == 1.0
    components = [b["components"] for b in result.details["basins"]]
    assert sorted(components) == [[0], [1], [2]]
    np.testing.assert_allclose(result.centres, prior.means.detach().numpy()[
        [c[0] for c in components]], atol=1e-3)
    populations = [b["particle_population"] for b in result.details["basins"]]
    np.testing.assert_allclose(populations, np.bincount(result.labels) / len(z))


def test_empty_basins_are_dropped_and_clusters_renumbered():
    prior = grbm_with_basins()
    basins = prior.basins(num_reads=50, seed=0)
    target = np.asarray(basins[-1]["z"])[None]
    z = target + 0.05 * np.random.default_rng(7).standard_normal((50, 2))
    result = cluster_latents(z, "basins", 10, prior=prior,
                             basin_options={"num_reads": 50, "seed": 0})
    assert result.k == 1 and (result.labels == 0).all()
    assert result.details["basins"][0]["h"] == list(basins[-1]["h"])


def test_refusals():
    z = np.zeros((5, 2))
    with pytest.raises(ValueError, match="single basin"):
        cluster_latents(z, "basins", 2, prior=build_prior("gaussian", 2))
    with pytest.raises(ValueError, match="1 <= k <= 5"):
        cluster_latents(z, "kmeans", 6)
    with pytest.raises(ValueError, match="unknown clustering method"):
        cluster_latents(z, "dbscan", 2)
    with pytest.raises(ValueError, match="z_code.npy"):
        cluster_latents(z, "basins", 2, prior=build_prior("rbm", 2))


def test_umap_missing_gives_an_install_hint():
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install umap-learn"):
            require_umap()
    else:
        pytest.skip("umap-learn is installed")


def test_umap_fitted_on_some_rows_places_the_others(monkeypatch):
    """umap_embedding(fit=rows): the embedding is fitted on those rows only;
    the others are placed on it by UMAP.transform (a stand-in UMAP here)."""
    import sys
    import types

    from cryostar_boltz.engine.analysis import umap_embedding
    seen = {}

    class FakeUMAP:
        def __init__(self, **kw):
            seen["init"] = kw

        def fit_transform(self, z):
            seen["fit"] = z.copy()
            return z[:, :2] + 100.0

        def transform(self, z):
            seen["transform"] = z.copy()
            return z[:, :2] - 100.0

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    z = np.arange(30, dtype=np.float32).reshape(10, 3)
    kept = np.array([0, 2, 3, 5, 6, 8, 9])
    xy = umap_embedding(z, fit=kept)
    np.testing.assert_array_equal(seen["fit"], z[kept])
    np.testing.assert_array_equal(seen["transform"], z[[1, 4, 7]])
    np.testing.assert_array_equal(xy[kept], z[kept, :2] + 100)
    np.testing.assert_array_equal(xy[[1, 4, 7]], z[[1, 4, 7], :2] - 100)
    assert xy.dtype == np.float32 and seen["init"]["n_neighbors"] == 6
    umap_embedding(z)
    np.testing.assert_array_equal(seen["fit"], z)
