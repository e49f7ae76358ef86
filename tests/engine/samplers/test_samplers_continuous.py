"""The continuous samplers (samplers/continuous.py, langevin.py) and the
continuous AIS (samplers/ais.py): on energies whose normalisation and
moments are known, sample moments and log Z agree with them."""
import math

import dimod
import numpy as np
import pytest
import torch

from cryostar_boltz.engine.samplers import (
    CONTINUOUS_SAMPLERS, ContinuousSampler, EnergyModel, LangevinSampler, MALASampler,
    ais_log_partition_continuous, available_samplers, get_sampler, grid_log_partition,
    is_continuous)

#: log Z of :func:`mixture` (its F is -log p + OFFSET).
OFFSET = 1.5


def mixture(d=2, weights=(0.6, 0.4), separation=1.1, scales=(0.6, 0.8)):
    """F of a two-Gaussian mixture in d dimensions (means +-separation/2
    ... along the first axes), its exact log Z, mean and covariance."""
    w = torch.tensor(weights, dtype=torch.float64)
    m = torch.zeros(2, d, dtype=torch.float64)
    m[0, 0], m[1, 0] = -separation, separation
    m[0, 1 % d], m[1, 1 % d] = (0.5, -0.3) if d > 1 else (m[0, 0], m[1, 0])
    s = torch.tensor(scales, dtype=torch.float64)

    def free(z):
        diff = (z[:, None, :] - m) / s[:, None]
        log_p = (torch.log(w) - 0.5 * diff.pow(2).sum(-1) - d * torch.log(s)
                 - 0.5 * d * math.log(2 * math.pi))
        return -torch.logsumexp(log_p, -1) - OFFSET

    mean = (w[:, None] * m).sum(0)
    second = sum(w[k] * (s[k] ** 2 * torch.eye(d, dtype=torch.float64)
                         + torch.outer(m[k], m[k])) for k in range(2))
    return EnergyModel(free, d), OFFSET, mean.numpy(), (second - torch.outer(mean, mean)).numpy()


def moments(sampleset):
    z = sampleset.record.sample
    return z.mean(0), np.cov(z.T)


def assert_moments(sampleset, mean, cov, sigmas=5.0):
    """Sample mean and covariance within ``sigmas`` standard errors."""
    n = len(sampleset)
    got_mean, got_cov = moments(sampleset)
    mean_error = np.sqrt(np.diag(cov) / n)
    assert (np.abs(got_mean - mean) < sigmas * mean_error).all(), (got_mean, mean)
    # standard error of a covariance entry, Gaussian-like: sqrt((s_ii s_jj + s_ij^2) / n)
    cov_error = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)
    assert (np.abs(got_cov - cov) < sigmas * cov_error).all(), (got_cov, cov)


def test_registry_holds_both_kinds():
    assert set(CONTINUOUS_SAMPLERS) == {"langevin", "mala"}
    assert set(CONTINUOUS_SAMPLERS) <= set(available_samplers())
    for name in CONTINUOUS_SAMPLERS:
        sampler = get_sampler(name)
        assert is_continuous(sampler) and isinstance(sampler, ContinuousSampler)
        assert sampler.properties["continuous"] and "num_sweeps" in sampler.parameters
        assert get_sampler(sampler) is sampler
    assert not is_continuous(get_sampler("gibbs"))
    with pytest.raises(TypeError, match="EnergyModel"):
        get_sampler("mala").sample(dimod.BinaryQuadraticModel({0: 1.0}, {}, 0, "BINARY"))


def test_sampleset_is_real_labelled_with_energies_and_reproducible():
    model, _, _, _ = mixture()
    model.labels = ["z1", "z2"]
    one = get_sampler("mala").sample(model, num_reads=7, num_sweeps=20, seed=4)
    two = get_sampler("mala").sample(model, num_reads=7, num_sweeps=20, seed=4)
    assert one.vartype is dimod.REAL and list(one.variables) == ["z1", "z2"]
    np.testing.assert_array_equal(one.record.sample, two.record.sample)
    np.testing.assert_allclose(one.record.energy, model.energies(one), rtol=1e-12)
    assert one.info["sampler"] == "mala" and one.info["num_sweeps"] == 20
    assert 0 < one.info["acceptance"] <= 1 and "sample_seconds" in one.info["timing"]
    start = np.zeros((7, 2))
    moved = get_sampler("langevin").sample(model, initial_states=start, num_sweeps=0)
    np.testing.assert_array_equal(moved.record.sample, start)
    with pytest.raises(ValueError, match="initial_states must be"):
        get_sampler("langevin").sample(model, initial_states=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="step_size"):
        get_sampler("langevin").sample(model, num_reads=2, step_size=0)


def test_mala_moments_match_the_exact_ones():
    """2-D two-Gaussian mixture: exact mean and covariance, checked
    against numerical integration too."""
    model, _, mean, cov = mixture()
    axis = np.linspace(-8, 8, 401)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    p = np.exp(-model.energies(grid))
    p /= p.sum()
    np.testing.assert_allclose(p @ grid, mean, atol=1e-8)
    np.testing.assert_allclose((grid - mean).T @ ((grid - mean) * p[:, None]), cov, atol=1e-8)
    result = MALASampler().sample(model, num_reads=1500, num_sweeps=300, seed=0)
    assert 0.4 < result.info["acceptance"] < 0.75
    assert_moments(result, mean, cov)


def test_mala_at_beta_two_samples_the_squared_density():
    """exp(-2 F) of a single Gaussian N(0, s^2) is N(0, s^2 / 2)."""
    model = EnergyModel(lambda z: 0.5 * (z / 0.8).pow(2).sum(-1), 2)
    result = MALASampler().sample(model, num_reads=1500, num_sweeps=200, beta=2.0, seed=1)
    assert_moments(result, np.zeros(2), np.eye(2) * 0.32)


def test_langevin_bias_is_small_at_a_small_step_and_grows_with_it():
    """Unadjusted: on N(0, 1) the stationary variance is 1 / (1 - eps / 2)."""
    gaussian = EnergyModel(lambda z: 0.5 * z.pow(2).sum(-1), 2)
    big = LangevinSampler().sample(gaussian, num_reads=3000, num_sweeps=60, step_size=0.5,
                                   seed=2)
    assert_moments(big, np.zeros(2), np.eye(2) / (1 - 0.25))
    assert np.diag(moments(big)[1]).mean() > 1.2  # the bias is visible
    model, _, mean, cov = mixture()
    small = LangevinSampler().sample(model, num_reads=1500, num_sweeps=600, step_size=0.01,
                                     seed=3)
    assert_moments(small, mean, cov)


def test_grid_log_z_of_known_energies():
    model, log_z, _, _ = mixture()
    assert grid_log_partition(model) == pytest.approx(log_z, abs=1e-8)
    line = EnergyModel(lambda z: 0.5 * (z / 2.0).pow(2).sum(-1), 1)
    assert grid_log_partition(line, half_width=20) == pytest.approx(
        math.log(2.0 * math.sqrt(2 * math.pi)), abs=1e-8)
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        grid_log_partition(mixture(d=3)[0])


@pytest.mark.parametrize("d", [2, 8])
def test_continuous_ais_log_z_matches_the_exact_value(d):
    model, log_z, _, _ = mixture(d=d)
    estimate, error = ais_log_partition_continuous(
        model, num_chains=300, num_betas=150, generator=torch.Generator().manual_seed(d))
    assert 0 < error < 0.1
    assert estimate == pytest.approx(log_z, abs=4 * error + 0.02)
