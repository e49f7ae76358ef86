"""The RBM code prior (priors/rbm.py): its KL against brute force and its
basin assignment by Hamming distance."""
import itertools

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.priors.testing import random_posterior
from cryostar_boltz.engine.samplers import exact_distribution


def test_rbm_kl_equals_brute_force(perturbed):
    prior = perturbed("rbm").double()
    mu, logvar, extra = random_posterior(prior, batch=1, dtype=torch.float64)
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


def test_rbm_assigns_codes_to_the_nearest_basin_code(perturbed):
    prior = perturbed("rbm")
    basins = prior.basins(num_reads=60, seed=0)
    assert len(basins) >= 2
    states = np.stack([b["h"] for b in basins]).astype(np.int64)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 2, size=(200, prior.binary_dim))
    labels = prior.assign_to_basins(np.zeros((200, 2)), basins, codes)
    distance = np.abs(codes[:, None, :] - states[None]).sum(-1)
    # the nearest code, the first (lowest energy) basin among equals
    np.testing.assert_array_equal(labels, distance.argmin(1))
    # a basin's own code is assigned to that basin
    np.testing.assert_array_equal(prior.assign_to_basins(np.zeros((len(states), 2)), basins,
                                                         states), np.arange(len(states)))


def test_rbm_assignment_needs_the_codes(perturbed):
    prior = perturbed("rbm")
    with pytest.raises(ValueError, match="z_code.npy"):
        prior.assign_to_basins(np.zeros((3, 2)), prior.basins(num_reads=20, seed=0))
