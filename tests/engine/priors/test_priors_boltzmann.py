"""What grbm and rbm share (priors/boltzmann.py): the binary quadratic model
agrees with the free energy and log Z, persistent chains give the gradient
of log Z and AIS its value beyond enumeration."""
import itertools
import math

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.priors import build_prior
from cryostar_boltz.engine.priors.boltzmann import all_binary_states
from cryostar_boltz.engine.priors.testing import random_posterior
from cryostar_boltz.engine.samplers import exact_distribution


def test_all_binary_states_enumerates_every_state_once():
    states = all_binary_states(4, torch.float64)
    assert states.shape == (16, 4)
    assert sorted(map(tuple, states.int().tolist())) == list(itertools.product([0, 1], repeat=4))
    # unit j is bit j of the row index
    assert states[6].tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("name", ["grbm", "rbm"])
def test_bqm_energy_consistent_with_free_energy(name, perturbed):
    prior = perturbed(name, **({"learn_sigma": False} if name == "grbm" else {})).double()
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


def test_grbm_sampled_gradient_and_ais_match_exact(perturbed):
    """Beyond enumeration: persistent chains give the exact gradient of log Z,
    AIS the value."""
    exact = perturbed("grbm", hidden_units=6, num_chains=4000)
    sampled = build_prior("grbm", 2, hidden_units=6, exact_max_hidden=0, num_chains=4000,
                          ais_chains=300, ais_betas=300, ais_every=0)
    sampled.load_state_dict(exact.state_dict())
    sampled.train()
    sampled.sweep_chains(50)
    mu, logvar, _ = random_posterior(exact)
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


def test_sweep_chains_moves_the_persistent_chains_only_when_asked():
    prior = build_prior("rbm", 2, visible_units=3, hidden_units=3, num_chains=64)
    before = prior.chains.clone()
    prior.sweep_chains(0)
    assert torch.equal(prior.chains, before)
    torch.manual_seed(0)
    after = prior.sweep_chains(5)
    assert after is prior.chains and not torch.equal(after, before)
    assert set(after.unique().tolist()) <= {0.0, 1.0}
