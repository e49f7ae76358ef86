"""Checks every prior must pass, in the manner of ``dimod.testing``:
``assert_prior_api(prior)`` raises AssertionError naming the first broken
promise of the :class:`~.base.Prior` interface.

Give it a prior whose parameters are away from their symmetric start (the
KL gradient of every parameter must be non-zero), e.g. :func:`perturb`.
"""
import math

import numpy as np
import torch

from .base import Prior

#: Keys every ``sample()`` info dict holds.
SAMPLE_INFO_KEYS = ("sampler", "energies", "free_energy", "decoder_input", "timing")
#: Keys every basin dict holds.
BASIN_KEYS = ("h", "energy", "count", "z", "free_energy")


def perturb(prior, scale=0.5, seed=0):
    """Add ``scale`` x N(0, 1) noise to every parameter of ``prior`` (in
    place, seeded); returns the prior."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator,
                                               dtype=parameter.dtype))
    return prior


def random_posterior(prior, batch=4, seed=1, dtype=torch.float32):
    """(mu, logvar, extra) of ``batch`` posteriors for ``prior``, requiring
    gradients; ``extra`` is None for priors without extra encoder outputs."""
    generator = torch.Generator().manual_seed(seed)

    def make(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype)

    mu = make(batch, prior.latent_dim).requires_grad_()
    logvar = (0.3 * make(batch, prior.latent_dim)).requires_grad_()
    extra = (make(batch, prior.extra_encoder_dim).requires_grad_()
             if prior.extra_encoder_dim else None)
    return mu, logvar, extra


def assert_prior_api(prior, batch=4, num_samples=11, seed=0):
    """Assert that ``prior`` keeps the interface's promises: sizes, free
    energy and log Z, a finite and differentiable KL, reproducible samples
    of the right shapes, decoder inputs, config and state-dict round trip
    through ``build_prior``, sorted basins, and basin assignment."""
    assert isinstance(prior, Prior), "%r is not a Prior" % type(prior).__name__
    assert isinstance(prior.name, str) and prior.name, "a prior needs a name"
    width = prior.decoder_input_dim
    assert width == prior.latent_dim + prior.extra_encoder_dim, \
        "decoder_input_dim must be latent_dim + extra_encoder_dim"
    _assert_free_energy(prior, width, seed)
    _assert_kl(prior, batch, seed)
    _assert_sample(prior, num_samples, seed)
    _assert_decoder_input(prior, batch, seed)
    _assert_round_trip(prior)
    _assert_basins(prior, num_samples, seed)


def _dtype(prior):
    return next((t.dtype for t in prior.parameters()), torch.float32)


def _assert_round_trip(prior):
    from . import build_prior
    clone = build_prior(**prior.config())
    assert type(clone) is type(prior), "build_prior(**config()) gives another class"
    assert clone.config() == prior.config(), "config() does not survive build_prior"
    clone = clone.to(_dtype(prior))
    clone.load_state_dict(prior.state_dict())
    for key, value in prior.state_dict().items():
        other = clone.state_dict()[key]
        same = torch.equal(other, value) or (
            other.is_floating_point() and torch.equal(other.isnan(), value.isnan())
            and torch.equal(other.nan_to_num(), value.nan_to_num()))
        assert same, "state_dict entry %r differs after load_state_dict" % key
    z = torch.randn(6, prior.decoder_input_dim, dtype=_dtype(prior),
                    generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(clone.free_energy(z), prior.free_energy(z)), \
            "the restored prior has another free energy"


def _assert_kl(prior, batch, seed):
    mu, logvar, extra = random_posterior(prior, batch, seed + 1, _dtype(prior))
    loss, logs = prior.kl(mu, logvar, extra)
    assert loss.shape == (batch,), "kl loss must be (batch,), got %s" % (tuple(loss.shape),)
    assert torch.isfinite(loss).all(), "kl loss is not finite"
    for key in ("kl", "log_z"):
        assert key in logs and math.isfinite(logs[key]), "kl logs need a finite %r" % key
    loss.sum().backward()
    inputs = [("mu", mu), ("logvar", logvar)] + ([("extra", extra)] if extra is not None else [])
    for name, tensor in inputs + list(prior.named_parameters()):
        assert tensor.grad is not None, "the kl gives no gradient to %s" % name
        assert torch.isfinite(tensor.grad).all(), "non-finite kl gradient of %s" % name
        assert tensor.grad.abs().sum() > 0, "zero kl gradient of %s" % name
    prior.zero_grad(set_to_none=True)
    wrong = torch.zeros(batch, prior.latent_dim + 1, dtype=mu.dtype)
    try:
        prior.kl(wrong, wrong, extra)
    except ValueError:
        pass
    else:
        raise AssertionError("kl accepts posteriors of the wrong width")


def _assert_free_energy(prior, width, seed):
    z = torch.randn(7, width, dtype=_dtype(prior), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        free = prior.free_energy(z)
        assert free.shape == (7,), "free_energy must be (n,)"
        assert torch.isfinite(free).all(), "free_energy is not finite"
        log_z = prior.log_z()
        if log_z is not None:
            assert log_z.dim() == 0 and torch.isfinite(log_z), "log_z must be a finite 0-d tensor"
            assert prior.log_prob(z).shape == (7,), "log_prob must be (n,)"
    try:
        prior.free_energy(torch.zeros(3, width + 1, dtype=z.dtype))
    except ValueError:
        pass
    else:
        raise AssertionError("free_energy accepts latents of the wrong width")


def _assert_sample(prior, n, seed):
    with torch.no_grad():
        z, info = prior.sample(n, seed=seed)
        again, _ = prior.sample(n, seed=seed)
    assert z.shape == (n, prior.latent_dim), "sample z must be (n, latent_dim)"
    assert torch.equal(z, again), "sample is not reproducible with a seed"
    for key in SAMPLE_INFO_KEYS:
        assert key in info, "sample info lacks %r" % key
    inputs = torch.as_tensor(info["decoder_input"])
    assert inputs.shape == (n, prior.decoder_input_dim), \
        "sample decoder_input must be (n, decoder_input_dim)"
    assert torch.equal(inputs[:, :prior.latent_dim], z), \
        "decoder_input must start with the sampled z"
    with torch.no_grad():
        expected = prior.free_energy(inputs.to(_dtype(prior)))
    np.testing.assert_allclose(np.asarray(info["free_energy"]), expected.numpy(), rtol=1e-5,
                               atol=1e-5, err_msg="sample free_energy is not F(decoder_input)")
    if prior.to_bqm() is not None:
        assert info["energies"] is not None and np.shape(info["energies"]) == (n,), \
            "a Boltzmann prior's samples need their BQM energies (n,)"


def _assert_decoder_input(prior, batch, seed):
    mu, _, extra = random_posterior(prior, batch, seed + 2, _dtype(prior))
    with torch.no_grad():
        relaxed = prior.decoder_input(mu, extra, training=True)
        hard = prior.decoder_input(mu, extra, training=False)
    for value in (relaxed, hard):
        assert value.shape == (batch, prior.decoder_input_dim), \
            "decoder_input must be (batch, decoder_input_dim)"
        assert torch.equal(value[:, :prior.latent_dim], mu.detach()), \
            "decoder_input must start with z"
    if prior.extra_encoder_dim:
        code = relaxed[:, prior.latent_dim:]
        assert ((code > 0) & (code < 1)).all(), "a relaxed code must lie in (0, 1)"
        assert set(hard[:, prior.latent_dim:].unique().tolist()) <= {0.0, 1.0}, \
            "the code outside training must be binary"


def _assert_basins(prior, n, seed):
    options = {"seed": seed} if prior.to_bqm() is not None else {}
    with torch.no_grad():
        basins = prior.basins(num_reads=30, **options)
    assert basins, "a prior has at least one basin"
    for basin in basins:
        for key in BASIN_KEYS:
            assert key in basin, "a basin lacks %r" % key
        assert np.shape(basin["z"]) == (prior.decoder_input_dim,), \
            "a basin's z must be (decoder_input_dim,)"
    energies = [b["energy"] for b in basins]
    assert energies == sorted(energies), "basins must come lowest energy first"
    with torch.no_grad():
        _, info = prior.sample(n, seed=seed)
    inputs = np.asarray(info["decoder_input"])
    z = inputs[:, :prior.latent_dim]
    codes = inputs[:, prior.latent_dim:].round() if prior.extra_encoder_dim else None
    try:
        labels = prior.assign_to_basins(z, basins, codes)
    except ValueError as err:
        assert len(basins) == 1 and "single basin" in str(err), \
            "assign_to_basins refused %d basins: %s" % (len(basins), err)
    else:
        labels = np.asarray(labels)
        assert labels.shape == (n,) and labels.dtype == np.int64, \
            "assign_to_basins must give (n,) int64 labels"
        assert ((labels >= 0) & (labels < len(basins))).all(), \
            "assign_to_basins gives a label outside the basins"
    try:
        prior.assign_to_basins(z, [], codes)
    except ValueError:
        pass
    else:
        raise AssertionError("assign_to_basins accepts an empty basin list")
