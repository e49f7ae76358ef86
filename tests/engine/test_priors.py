"""Tests of engine/priors: one conformance suite for every prior, plus the
exactness of the Boltzmann priors (log Z, hidden marginal, KL gradients)."""
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from cryostar_boltz.engine.priors import PRIORS, UnknownPriorError, build_prior
from cryostar_boltz.engine.samplers import exact_distribution

SMALL = {"gaussian": {}, "gmm": {"components": 3}, "grbm": {"hidden_units": 5},
         "rbm": {"visible_units": 3, "hidden_units": 4}}


def perturbed(name, latent_dim=2, seed=0, **options):
    """A prior whose parameters are moved away from their (symmetric) init."""
    prior = build_prior(name, latent_dim, **{**SMALL[name], **options})
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator,
                                             dtype=parameter.dtype))
    return prior


def posterior(prior, batch=4, seed=1, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=generator, dtype=dtype)  # noqa: E731
    mu = make(batch, prior.latent_dim).requires_grad_()
    logvar = (0.3 * make(batch, prior.latent_dim)).requires_grad_()
    extra = make(batch, prior.extra_encoder_dim).requires_grad_() \
        if prior.extra_encoder_dim else None
    return mu, logvar, extra


@pytest.mark.parametrize("name", list(PRIORS))
def test_kl_finite_and_gradients_flow(name):
    prior = perturbed(name)
    mu, logvar, extra = posterior(prior)
    loss, logs = prior.kl(mu, logvar, extra)
    assert loss.shape == (4,) and torch.isfinite(loss).all()
    assert math.isfinite(logs["kl"]) and math.isfinite(logs["log_z"])
    loss.sum().backward()
    for tensor in [mu, logvar] + ([extra] if extra is not None else []) + list(prior.parameters()):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(PRIORS))
def test_shapes_of_free_energy_sample_and_decoder_input(name):
    prior = perturbed(name)
    z, info = prior.sample(11, seed=0)
    assert z.shape == (11, prior.latent_dim)
    assert info["decoder_input"].shape == (11, prior.decoder_input_dim)
    assert prior.free_energy(info["decoder_input"]).shape == (11,)
    mu, logvar, extra = posterior(prior)
    decoded = prior.decoder_input(mu, extra, training=True)
    assert decoded.shape == (4, prior.decoder_input_dim)
    if prior.extra_encoder_dim:
        assert ((decoded[:, prior.latent_dim:] > 0) & (decoded[:, prior.latent_dim:] < 1)).all()
        hard = prior.decoder_input(mu, extra, training=False)[:, prior.latent_dim:]
        assert set(hard.unique().tolist()) <= {0.0, 1.0}
    basins = prior.basins(num_reads=30)
    energies = [b["energy"] for b in basins]
    assert basins and energies == sorted(energies)
    assert all(np.asarray(b["z"]).shape == (prior.decoder_input_dim,) for b in basins)


@pytest.mark.parametrize("name", list(PRIORS))
def test_state_dict_round_trip(name):
    prior = perturbed(name)
    if hasattr(prior, "chains"):
        prior.chains.bernoulli_(0.3)
    clone = build_prior(**prior.config())
    clone.load_state_dict(prior.state_dict())
    z = torch.randn(6, prior.decoder_input_dim)
    torch.testing.assert_close(clone.free_energy(z), prior.free_energy(z))
    for key, value in prior.state_dict().items():
        torch.testing.assert_close(clone.state_dict()[key], value, equal_nan=True)


@pytest.mark.parametrize("name", ["grbm", "rbm"])
def test_bqm_energy_consistent_with_free_energy(name):
    prior = perturbed(name).double()
    bqm = prior.to_bqm()
    states = np.array(list(itertools.product([0, 1], repeat=len(bqm))), dtype=float)
    bqm_energy = bqm.energies((states, list(range(len(bqm)))))
    x = torch.as_tensor(states)
    with torch.no_grad():
        if name == "grbm":
            # log p~(h) = -E(z, h) - log N(z; b + W h, sigma^2) at z = b + W h
            z = prior.latent_means(x)
            joint = (0.5 * (z - prior.visible_bias).pow(2).sum(-1) - x @ prior.hidden_bias
                     - ((z @ prior.weight) * x).sum(-1))
            expected = joint - 0.5 * prior.latent_dim * math.log(2 * math.pi)
        else:
            expected = prior.free_energy(torch.cat([torch.zeros(len(x), 2, dtype=x.dtype), x], 1))
    np.testing.assert_allclose(bqm_energy, expected.numpy(), atol=1e-9)
    # the BQM's normaliser is the prior's (continuous part aside)
    log_z, _, _ = exact_distribution(bqm)
    offset = 0.0 if name == "grbm" else 0.5 * prior.latent_dim * math.log(2 * math.pi)
    assert float(prior.log_z().detach()) == pytest.approx(log_z + offset, abs=1e-9)


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_grbm_log_z_equals_numerical_integration(latent_dim):
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


def test_grbm_hidden_bqm_is_the_marginal_of_h():
    """Boltzmann distribution of the hidden BQM = integral of exp(-E(z, h)) dz."""
    prior = perturbed("grbm", latent_dim=1, hidden_units=3).double()
    b, w, c = (float(prior.visible_bias), prior.weight[0].detach().numpy(),
               prior.hidden_bias.detach().numpy())
    states = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
    mass = np.array([integrate.quad(lambda z: math.exp(-((z - b) ** 2 / 2 - c @ h - z * (w @ h))),
                                    -20, 20, epsabs=1e-12)[0] for h in states])
    bqm = prior.to_bqm()
    energy = bqm.energies((states, [0, 1, 2]))
    boltzmann = np.exp(-energy) / np.exp(-energy).sum()
    np.testing.assert_allclose(boltzmann, mass / mass.sum(), atol=1e-9)


@pytest.mark.parametrize("name", list(PRIORS))
def test_kl_gradient_matches_finite_differences(name):
    prior = perturbed(name).double()
    mu, logvar, extra = posterior(prior, batch=3, dtype=torch.float64)
    parameters = list(prior.parameters())
    inputs = [mu, logvar] + ([extra] if extra is not None else [])

    # autograd vs central differences (same noise each call), first entries of each tensor
    torch.manual_seed(7)
    loss = prior.kl(*inputs)[0].sum()
    grads = torch.autograd.grad(loss, inputs + parameters)
    step = 1e-6
    for tensor, grad in zip(inputs + parameters, grads):
        flat = tensor.detach().view(-1)
        for index in range(min(flat.numel(), 4)):
            original = float(flat[index])
            values = []
            for sign in (1, -1):
                with torch.no_grad():
                    flat[index] = original + sign * step
                torch.manual_seed(7)
                with torch.no_grad():
                    values.append(float(prior.kl(*inputs)[0].sum()))
            with torch.no_grad():
                flat[index] = original
            numeric = (values[0] - values[1]) / (2 * step)
            assert float(grad.view(-1)[index]) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_rbm_kl_equals_brute_force():
    prior = perturbed("rbm").double()
    mu, logvar, extra = posterior(prior, batch=1, dtype=torch.float64)
    loss, logs = prior.kl(mu, logvar, extra)
    q = torch.sigmoid(extra[0]).detach().numpy()
    states = np.array(list(itertools.product([0, 1], repeat=prior.binary_dim)), dtype=float)
    log_q = (states * np.log(q) + (1 - states) * np.log1p(-q)).sum(1)
    bqm = prior.to_bqm()
    log_p = -bqm.energies((states, list(range(len(bqm))))) - exact_distribution(bqm)[0]
    kl_binary = float(np.exp(log_q) @ (log_q - log_p))
    kl_gaussian = float(0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum())
    assert float(loss[0]) == pytest.approx(kl_gaussian + kl_binary, rel=1e-9)
    assert logs["kl_binary"] == pytest.approx(kl_binary, rel=1e-9)


def test_grbm_sampled_gradient_and_ais_match_exact():
    """Beyond enumeration: persistent chains give the exact gradient of log Z,
    AIS the value."""
    exact = perturbed("grbm", hidden_units=6, num_chains=4000)
    sampled = build_prior("grbm", 2, hidden_units=6, exact_max_hidden=0, num_chains=4000,
                          ais_chains=300, ais_betas=300, ais_every=0)
    sampled.load_state_dict(exact.state_dict())
    sampled.train()
    with torch.no_grad():
        sampled._dense_model().sweep(sampled.chains, num_sweeps=50)
    mu, logvar, _ = posterior(exact)
    grads = []
    for prior in (exact, sampled):
        torch.manual_seed(3)
        loss, logs = prior.kl(mu, logvar)
        grads.append(torch.autograd.grad(loss.mean(), list(prior.parameters())))
        if prior is sampled:
            assert logs["log_z"] == pytest.approx(float(exact.log_z()), abs=0.05)
            torch.manual_seed(3)
            assert logs["kl"] == pytest.approx(float(exact.kl(mu, logvar)[0].mean()), abs=0.05)
    for g_exact, g_sampled in zip(*grads):
        assert torch.allclose(g_sampled, g_exact, atol=0.08)


def test_sampled_latents_follow_the_prior():
    """Hidden states from the exact sampler give the GRBM mixture's mean."""
    prior = perturbed("grbm", hidden_units=4).double()
    z, info = prior.sample(20000, sampler="exact", seed=0)
    grid = torch.linspace(-10, 10, 801, dtype=torch.float64)
    zz = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        p = torch.exp(prior.log_prob(zz)) * (grid[1] - grid[0]) ** 2
    torch.testing.assert_close(z.mean(0), (p[:, None] * zz).sum(0), atol=0.04, rtol=0)
    assert info["energies"].shape == (20000,) and info["sampler"] == "exact"


def test_grbm_basins_are_local_minima():
    prior = perturbed("grbm", hidden_units=6)
    bqm = prior.to_bqm()
    basins = prior.basins(num_reads=60, seed=0)
    assert len({tuple(b["h"]) for b in basins}) == len(basins)
    for basin in basins:
        h = basin["h"].astype(float)
        assert bqm.energy(dict(enumerate(h))) == pytest.approx(basin["energy"], abs=1e-6)
        for j in range(len(h)):
            flipped = h.copy()
            flipped[j] = 1 - flipped[j]
            assert bqm.energy(dict(enumerate(flipped))) >= basin["energy"] - 1e-9
        np.testing.assert_allclose(basin["z"], prior.latent_means(h.astype(np.float32))
                                   .detach().numpy(), atol=1e-6)


def test_unknown_prior_and_bad_shapes():
    with pytest.raises(UnknownPriorError):
        build_prior("nope", 8)
    prior = build_prior("rbm", 2, visible_units=2, hidden_units=2)
    with pytest.raises(ValueError, match="extra logits"):
        prior.kl(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="must both be"):
        build_prior("gaussian", 3).kl(torch.zeros(3, 2), torch.zeros(3, 2))


def test_grbm_initialisation_is_close_to_standard_normal():
    prior = build_prior("grbm", 8, hidden_units=16)
    z, _ = prior.sample(4000, seed=0)
    assert z.mean(0).abs().max() < 0.1
    assert (z.var(0) - 1.0).abs().max() < 0.15
