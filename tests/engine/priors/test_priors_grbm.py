"""The Gaussian-Bernoulli RBM prior (priors/grbm.py): its log Z and hidden
marginal against numerical integration, samples, basins, basin assignment
and initial shape."""
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from cryostar_boltz.engine.priors import build_prior


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_grbm_log_z_equals_numerical_integration(latent_dim, perturbed):
    prior = perturbed("grbm", latent_dim=latent_dim, hidden_units=4).double()

    def density(*z):
        with torch.no_grad():
            return math.exp(-float(prior.free_energy(torch.tensor([z], dtype=torch.float64))))

    limit = 12.0
    if latent_dim == 1:
        value, _ = integrate.quad(density, -limit, limit, epsabs=1e-11)
    else:
        value, _ = integrate.dblquad(lambda y, x: density(x, y), -limit, limit,
                                     -limit, limit, epsabs=1e-9)
    assert float(prior.log_z()) == pytest.approx(math.log(value), abs=1e-6)


def test_grbm_hidden_bqm_is_the_marginal_of_h(perturbed):
    """Boltzmann distribution of the hidden BQM = integral of exp(-E(z, h)) dz."""
    prior = perturbed("grbm", latent_dim=1, hidden_units=3, learn_sigma=False).double()
    b, w, c = (float(prior.visible_bias), prior.weight[0].detach().numpy(),
               prior.hidden_bias.detach().numpy())
    states = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
    mass = np.array([integrate.quad(lambda z: math.exp(-((z - b) ** 2 / 2 - c @ h - z * (w @ h))),
                                    -20, 20, epsabs=1e-12)[0] for h in states])
    bqm = prior.to_bqm()
    energy = bqm.energies((states, [0, 1, 2]))
    boltzmann = np.exp(-energy) / np.exp(-energy).sum()
    np.testing.assert_allclose(boltzmann, mass / mass.sum(), atol=1e-9)


def test_sampled_latents_follow_the_prior(perturbed):
    """Hidden states from the exact sampler give the GRBM mixture's mean."""
    prior = perturbed("grbm", hidden_units=4).double()
    z, info = prior.sample(20000, sampler="exact", seed=0)
    grid = torch.linspace(-10, 10, 801, dtype=torch.float64)
    zz = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        p = torch.exp(prior.log_prob(zz)) * (grid[1] - grid[0]) ** 2
    torch.testing.assert_close(z.mean(0), (p[:, None] * zz).sum(0), atol=0.04, rtol=0)
    assert info["energies"].shape == (20000,) and info["sampler"] == "exact"


def test_grbm_basins_are_minima_of_the_free_energy(perturbed):
    prior = perturbed("grbm", hidden_units=6)
    basins = prior.basins(num_reads=200, seed=0)
    directions = np.concatenate([np.eye(2), -np.eye(2)]) * 1e-3
    for basin in basins:
        z = torch.as_tensor(basin["z"], dtype=torch.float64)[None]
        with torch.no_grad():
            here = float(prior.double().free_energy(z))
            around = prior.free_energy(z + torch.as_tensor(directions))
        assert here == pytest.approx(basin["free_energy"], abs=1e-4)
        assert (around >= here - 1e-9).all()
        field = prior.hidden_field(z)[0]
        np.testing.assert_array_equal(basin["h"], (field > 0).numpy().astype(np.int8))
    assert sum(b["count"] for b in basins) == 200


def test_grbm_assigns_each_latent_to_its_basin_of_attraction():
    """Descent of F from each latent by scipy (BFGS), then the basin of
    the nearest minimum: the same labels."""
    from scipy.optimize import minimize
    prior = build_prior("grbm", 2, hidden_units=3, learn_sigma=True).double()
    with torch.no_grad():
        prior.weight.copy_(torch.tensor([[3.0, -3.0, 0.0], [0.0, 0.0, 3.0]]))
        prior.visible_bias.zero_()
        prior.hidden_bias.fill_(-2.5)
        prior.log_sigma.fill_(0.1)
    basins = prior.basins(num_reads=200, seed=0)
    assert len(basins) >= 2
    z = np.random.default_rng(0).standard_normal((60, 2)) * 2.0
    labels = prior.assign_to_basins(z, basins)

    def free(x):
        t = torch.tensor(x[None], requires_grad=True)
        value = prior.free_energy(t).sum()
        value.backward()
        return float(value), t.grad[0].numpy()

    minima = np.stack([b["z"] for b in basins]).astype(np.float64)
    ends = np.stack([minimize(free, x, jac=True, method="BFGS", tol=1e-10).x for x in z])
    expected = ((ends[:, None] - minima[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int64 and len(set(labels.tolist())) > 1


def test_grbm_initialisation_is_close_to_standard_normal():
    prior = build_prior("grbm", 8, hidden_units=16)
    z, _ = prior.sample(4000, seed=0)
    assert z.mean(0).abs().max() < 0.1
    assert (z.var(0) - 1.0).abs().max() < 0.15


def test_the_final_fit_sets_sigma_and_separates_three_close_states():
    """Three states 3.3 apart in an 8-dimensional latent (spread 0.3,
    posterior variance 0.05), 0.5 / 0.3 / 0.2: a grbm with its default
    options (8 hidden units) fitted to them gets sigma near the states'
    width and one basin per state, with their populations."""
    from sklearn.metrics import adjusted_rand_score
    from cryostar_boltz.engine.priors import fit_to_posteriors
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 8))
    centres[:, :2] = [[0.0, 0.0], [3.3, 0.0], [1.65, 2.86]]
    truth = rng.choice(3, size=2000, p=[0.5, 0.3, 0.2])
    z = (centres[truth] + 0.3 * rng.normal(size=(2000, 8))).astype(np.float32)
    prior = build_prior("grbm", 8)
    assert prior.hidden_units == 8
    fit_to_posteriors(prior, z, np.full_like(z, np.log(0.05)), 2000, batch=256)
    sigma = float(prior.log_sigma.exp())
    assert 0.3 < sigma < 0.6
    basins = prior.basins(num_reads=4000, particles=z, seed=0)
    assert len(basins) == 3
    labels = prior.assign_to_basins(z, basins)
    assert adjusted_rand_score(truth, labels) > 0.95
    for i, basin in enumerate(basins):
        state = np.bincount(truth[labels == i]).argmax()
        true = np.mean(truth == state)
        assert basin["particle_population"] == pytest.approx(true, abs=0.02)
        assert basin["prior_population"] == pytest.approx(true, abs=0.05)


def test_the_final_fit_sets_sigma_held_in_training():
    """With learn_sigma=False sigma stays a buffer (no gradient) in
    training; the final fit still fits it, and leaves it a buffer."""
    from cryostar_boltz.engine.priors import fit_to_posteriors
    rng = np.random.default_rng(1)
    z = (0.3 * rng.normal(size=(500, 2))).astype(np.float32)
    prior = build_prior("grbm", 2, hidden_units=2, learn_sigma=False)
    assert "log_sigma" not in dict(prior.named_parameters())
    fit_to_posteriors(prior, z, np.full_like(z, np.log(0.01)), 300, batch=256)
    assert float(prior.log_sigma.exp()) < 0.6
    assert not prior.log_sigma.requires_grad
    assert "log_sigma" not in dict(prior.named_parameters())
