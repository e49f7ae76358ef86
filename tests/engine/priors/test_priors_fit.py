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
