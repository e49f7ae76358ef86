"""Fitting a prior alone to frozen posteriors (priors/fit.py)."""
import numpy as np
import torch

from cryostar_boltz.engine.priors import build_prior, fit_to_posteriors


def _posteriors():
    rng = np.random.default_rng(0)
    centres = np.array([[-3.0, 0.0], [3.0, 0.0]])
    mu = centres[np.arange(400) % 2] + 0.3 * rng.standard_normal((400, 2))
    return mu.astype(np.float32), np.full((400, 2), np.log(0.05), dtype=np.float32)


def test_fit_lowers_the_kl_and_is_deterministic():
    mu, logvar = _posteriors()
    kls = []
    states = []
    for _ in range(2):
        prior = build_prior("grbm", 2, hidden_units=2).eval()
        torch.manual_seed(0)
        before = float(prior.kl(torch.as_tensor(mu), torch.as_tensor(logvar))[0].mean())
        kls.append(fit_to_posteriors(prior, mu, logvar, steps=150, lr=0.05, batch=128, seed=3))
        assert not prior.training                       # its mode is restored
        states.append(prior.state_dict())
    assert kls[0] == kls[1] and kls[0] < before - 1.0
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0,
                                   equal_nan=True)


def test_fit_starts_a_mixture_from_kmeans():
    mu, logvar = _posteriors()
    prior = build_prior("gmm", 2, components=2)
    fit_to_posteriors(prior, mu, logvar, steps=1, lr=1e-6, seed=0)
    means = np.sort(prior.means.detach().numpy()[:, 0])
    np.testing.assert_allclose(means, [-3.0, 3.0], atol=0.1)


def test_a_mixture_starts_with_the_spread_of_the_posteriors():
    """k-means scales of the posteriors' mixture: the members' variance
    (0.3^2) plus the mean posterior variance (0.05)."""
    mu, logvar = _posteriors()
    prior = build_prior("gmm", 2, components=2)
    prior.initialise_from(mu, logvar=logvar)
    np.testing.assert_allclose(prior.log_scales.detach().exp().numpy(),
                               np.sqrt(0.3 ** 2 + 0.05), atol=0.03)


def test_fit_converges_by_default_and_stops_when_it_has():
    """Default rate and early stop: a mixture fitted to two clouds reaches
    their means and spread; more allowed steps change nothing once it stops."""
    mu, logvar = _posteriors()
    results = []
    for steps in (3000, 6000):
        prior = build_prior("gmm", 2, components=2)
        with torch.no_grad():
            prior.means.fill_(0.0)
        kl = fit_to_posteriors(prior, mu, logvar, steps, batch=128, seed=0)
        results.append((kl, prior.state_dict()))
    assert results[0][0] == results[1][0]
    means = np.sort(results[0][1]["means"].numpy()[:, 0])
    np.testing.assert_allclose(means, [-3.0, 3.0], atol=0.1)
