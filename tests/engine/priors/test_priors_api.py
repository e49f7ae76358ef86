"""The interface every prior shares: the conformance check
(``priors.testing.assert_prior_api``) on every family, the checks it is made
of, and the registry (``build_prior``)."""
import math

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.priors import PRIORS, UnknownPriorError, build_prior
from cryostar_boltz.engine.priors.testing import assert_prior_api, random_posterior


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(PRIORS))
def test_every_prior_passes_the_api_check(name, dtype, perturbed):
    assert_prior_api(perturbed(name).to(dtype))


def _wrong_free_energy_shape(prior):
    real = prior.free_energy
    prior.free_energy = lambda z: real(z)[:, None]


def _unseeded_sample(prior):
    real = prior.sample
    prior.sample = lambda n, seed=None, **kw: real(n, seed=None, **kw)


def _no_kl_gradient(prior):
    real = prior.kl

    def kl(mu, logvar, extra=None):
        loss, logs = real(mu, logvar, extra)
        return loss.detach() + 0.0 * mu.sum(-1), logs
    prior.kl = kl


def _config_of_another_family(prior):
    prior.config = lambda: {"name": "gmm", "latent_dim": prior.latent_dim}


@pytest.mark.parametrize("break_it, message", [
    (_wrong_free_energy_shape, "free_energy must be"),
    (_unseeded_sample, "not reproducible"),
    (_no_kl_gradient, "zero kl gradient of mu"),
    (_config_of_another_family, "another class"),
])
def test_api_check_catches_a_broken_prior(break_it, message):
    prior = build_prior("gaussian", 2)
    assert_prior_api(prior)
    break_it(prior)
    with pytest.raises(AssertionError, match=message):
        assert_prior_api(prior)


@pytest.mark.parametrize("name", list(PRIORS))
def test_kl_finite_and_gradients_flow(name, perturbed):
    prior = perturbed(name)
    mu, logvar, extra = random_posterior(prior)
    loss, logs = prior.kl(mu, logvar, extra)
    assert loss.shape == (4,) and torch.isfinite(loss).all()
    assert math.isfinite(logs["kl"]) and math.isfinite(logs["log_z"])
    loss.sum().backward()
    for tensor in [mu, logvar] + ([extra] if extra is not None else []) + list(prior.parameters()):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(PRIORS))
def test_shapes_of_free_energy_sample_and_decoder_input(name, perturbed):
    prior = perturbed(name)
    z, info = prior.sample(11, seed=0)
    assert z.shape == (11, prior.latent_dim)
    assert info["decoder_input"].shape == (11, prior.decoder_input_dim)
    assert prior.free_energy(info["decoder_input"]).shape == (11,)
    mu, logvar, extra = random_posterior(prior)
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
def test_state_dict_round_trip(name, perturbed):
    prior = perturbed(name)
    if hasattr(prior, "chains"):
        prior.chains.bernoulli_(0.3)
    clone = build_prior(**prior.config())
    clone.load_state_dict(prior.state_dict())
    z = torch.randn(6, prior.decoder_input_dim)
    torch.testing.assert_close(clone.free_energy(z), prior.free_energy(z))
    for key, value in prior.state_dict().items():
        torch.testing.assert_close(clone.state_dict()[key], value, equal_nan=True)


@pytest.mark.parametrize("name", list(PRIORS))
def test_kl_gradient_matches_finite_differences(name, perturbed):
    prior = perturbed(name).double()
    mu, logvar, extra = random_posterior(prior, batch=3, dtype=torch.float64)
    parameters = list(prior.parameters())
    if name == "ebm":
        # its parameters' gradient is a Monte-Carlo estimate (Langevin chains)
        # of the exact one: test_priors_ebm compares it with the exact
        # gradient; here the posterior side, chains held still (eval)
        prior.eval()
        parameters = []
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


def test_unknown_prior_and_bad_shapes():
    with pytest.raises(UnknownPriorError):
        build_prior("nope", 8)
    prior = build_prior("rbm", 2, visible_units=2, hidden_units=2)
    with pytest.raises(ValueError, match="extra logits"):
        prior.kl(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="must both be"):
        build_prior("gaussian", 3).kl(torch.zeros(3, 2), torch.zeros(3, 2))


def test_build_prior_takes_short_option_names_and_names_the_options():
    prior = build_prior("grbm", 3, hidden=5)
    assert prior.hidden_units == 5 and prior.config()["hidden_units"] == 5
    assert build_prior("gmm", 2, k=4).means.shape == (4, 2)
    with pytest.raises(ValueError, match="no option colour; its options are components"):
        build_prior("gmm", 2, colour=1)


@pytest.mark.parametrize("name, options, words", [
    ("grbm", {"num_chains": -1}, "prior grbm option num_chains must be an integer >= 1, got -1"),
    ("grbm", {"hidden_units": 0}, "option hidden_units must be an integer >= 1"),
    ("rbm", {"init_scale": float("nan")}, "option init_scale must be a finite number"),
    ("grbm", {"learn_sigma": 2}, "option learn_sigma must be 0 or 1"),
    ("gmm", {"seed": -1}, "option seed must be an integer in [0, 2^32)"),
])
def test_prior_option_values_are_checked_before_the_prior_is_built(name, options, words):
    from cryostar_boltz.engine.priors import build_prior
    with pytest.raises(ValueError) as err:
        build_prior(name, 4, **options)
    assert words in str(err.value)


def test_the_command_line_and_the_scipion_form_name_every_prior():
    from cryostar_boltz import constants
    from cryostar_boltz.engine.training.config import PRIOR_NAMES
    assert PRIOR_NAMES == tuple(PRIORS) == tuple(constants.PRIORS)
