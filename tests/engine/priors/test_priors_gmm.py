"""The Gaussian-mixture prior (priors/gmm.py): normalised density, basins
and their assignment by responsibility, k-means start."""
import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from cryostar_boltz.engine.priors import build_prior


def _mixture(prior):
    means = prior.means.detach().double().numpy()
    scales = prior.log_scales.detach().double().exp().numpy()
    weights = torch.softmax(prior.logits.detach().double(), -1).numpy()
    return means, scales, weights


def test_gmm_free_energy_is_minus_the_log_density(perturbed):
    prior = perturbed("gmm").double()
    means, scales, weights = _mixture(prior)
    z = np.random.default_rng(0).standard_normal((20, 2))
    density = sum(w * multivariate_normal(m, np.diag(s ** 2)).pdf(z)
                  for m, s, w in zip(means, scales, weights))
    with torch.no_grad():
        free = prior.free_energy(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(free, -np.log(density), rtol=1e-10)
    assert float(prior.log_z()) == 0.0


def test_gmm_merges_components_without_a_barrier_into_one_basin():
    """Two components 1 apart (one mode between them) and one 6 away: two
    basins; the prior's populations are the components' weights."""
    prior = build_prior("gmm", 2, components=3).double()
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [6.0, 0.0]]))
        prior.log_scales.zero_()
        prior.logits.copy_(torch.log(torch.tensor([0.3, 0.3, 0.4])))
    basins = prior.basins(num_reads=4000, seed=0)
    assert [sorted(b["components"]) for b in basins] == [[0, 1], [2]]
    np.testing.assert_allclose(basins[0]["z"], [0.5, 0.0], atol=1e-3)
    assert basins[0]["prior_population"] == pytest.approx(0.6, abs=0.02)
    z = np.random.default_rng(1).standard_normal((300, 2)) * 2.0 + [3.0, 0.0]
    labels = prior.assign_to_basins(z, basins)
    # the saddle of the two wells lies where F is highest between them
    line = torch.linspace(0.5, 6.0, 2001, dtype=torch.float64)
    with torch.no_grad():
        along = prior.free_energy(torch.stack([line, torch.zeros_like(line)], 1))
    saddle = float(line[along.argmax()])
    far = np.abs(z[:, 0] - saddle) > 0.3
    np.testing.assert_array_equal(labels[far], (z[far, 0] > saddle).astype(np.int64))
    with pytest.raises(ValueError, match="no basins"):
        prior.assign_to_basins(z, [])


def test_gmm_starts_from_kmeans_of_the_latents():
    prior = build_prior("gmm", 2, components=3)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    z = centres[np.arange(300) % 3] + 0.2 * np.random.default_rng(2).standard_normal((300, 2))
    prior.initialise_from(z)
    found = prior.means.detach().numpy()
    order = [int(np.argmin(((found - c) ** 2).sum(1))) for c in centres]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(found[order], centres, atol=0.1)
    np.testing.assert_allclose(prior.log_scales.detach().exp().numpy(), 0.2, atol=0.05)
