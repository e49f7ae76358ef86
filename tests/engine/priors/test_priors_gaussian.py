"""The standard normal prior (priors/gaussian.py)."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cryostar_boltz.engine.priors import build_prior
from cryostar_boltz.engine.priors.gaussian import kl_to_standard_normal


def test_gaussian_kl_is_the_analytic_kl_to_the_standard_normal():
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), expected)
    prior = build_prior("gaussian", 3)
    loss, logs = prior.kl(mu, logvar)
    torch.testing.assert_close(loss, expected.sum(-1))
    assert logs["log_z"] == pytest.approx(1.5 * np.log(2 * np.pi))


def test_gaussian_prior_has_a_single_basin_and_refuses_to_cluster():
    prior = build_prior("gaussian", 2)
    basins = prior.basins()
    assert len(basins) == 1 and np.array_equal(basins[0]["z"], np.zeros(2))
    with pytest.raises(ValueError, match="single basin"):
        prior.assign_to_basins(np.zeros((4, 2)), basins)
    with pytest.raises(ValueError, match="no basins"):
        prior.assign_to_basins(np.zeros((4, 2)), [])
