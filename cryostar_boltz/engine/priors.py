"""Latent priors of the VAE: ``gaussian``, ``gmm``, ``grbm``, ``rbm``; one interface.

Build one with ``build_prior(name, latent_dim, **options)`` (names in
:data:`PRIORS`); rebuild it from ``prior.config()`` and restore its state
with ``load_state_dict``: every parameter, persistent Gibbs chain and cached
log Z is a parameter or buffer, so ``state_dict()`` saves them with the
checkpoint.

Every prior is a ``torch.nn.Module`` with:

``name``, ``latent_dim``
    registry name and size of the continuous latent z.
``extra_encoder_dim``
    extra logits the encoder must output (``rbm``: one per binary unit;
    0 otherwise); they are passed to :meth:`Prior.kl` and
    :meth:`Prior.decoder_input` as ``extra``.
``decoder_input_dim``
    width of what the decoder consumes (``latent_dim``, plus the binary
    units for ``rbm``).
``kl(mu, logvar, extra=None) -> (loss (B,), logs)``
    the per-particle term to add to the objective, and a dict of floats:
    ``kl`` (the true KL estimate), ``log_z`` (normaliser of exp(-F)) and
    prior-specific terms. ``gaussian``: analytic KL (``kl_per_dim`` gives
    it per dimension, for free bits). ``gmm``/``grbm``: analytic entropy of
    q plus a reparameterised Monte-Carlo E_q[F(z)] (``kl_samples`` draws).
    ``grbm`` with more hidden units than ``exact_max_hidden``: a surrogate
    whose gradient is right (negative phase from persistent Gibbs chains)
    but whose value is not; ``logs['kl']`` then uses log Z from annealed
    importance sampling, refreshed every ``ais_every`` training calls
    (or by :meth:`refresh_log_z`).
``free_energy(z) -> (n,)``
    p(z) proportional to exp(-F(z)) (``rbm``: z is a decoder input, the
    continuous latent followed by the binary code).
``log_z()``, ``log_prob(z)``
    normaliser of exp(-F) (exact or cached AIS) and -F(z) - log Z.
``sample(n, sampler='gibbs', **kw) -> (z (n, latent_dim), info)``
    ``info``: ``sampler``, ``energies`` (BQM energies, Boltzmann priors),
    ``free_energy``, ``decoder_input`` (what to decode: z, or z with the
    binary code for ``rbm``), ``timing``, ``beta_eff`` (qpu) and
    ``sampleset_info``. ``kw`` go to the dimod sampler (``num_sweeps``,
    ``beta``, ``seed``...); ``sampler`` is a name or a dimod.Sampler.
``to_bqm() -> dimod.BinaryQuadraticModel | None``
    ``grbm``: the BINARY model of the hidden units with z integrated out
    (energy = -log p(h) + const); ``rbm``: the RBM over (visible, hidden).
``basins(sampler='sa', num_reads=200, max_basins=None)``
    distinct local minima of the BQM energy, lowest first, each a dict
    with ``h`` (bits), ``energy``, ``count``, ``z`` (the latent mean
    b + W h for ``grbm``, the decoder input for ``rbm``) and
    ``free_energy`` (F at ``z``). 'sa' here means annealing to low
    temperature (``sa-optimise``), polished by steepest descent.
``decoder_input(z, extra=None, training=False)``
    what the decoder consumes: z; for ``rbm`` z concatenated with the
    binary code, relaxed (binary Concrete, temperature ``tau``) while
    training and the posterior mode otherwise.

Energies follow METHOD's Gaussian-Bernoulli RBM:
E(z, h) = |z - b|^2 / (2 sigma^2) - c.h - z.W h / sigma^2, so
F(z) = |z - b|^2 / (2 sigma^2) - sum_j softplus(c_j + (W^T z)_j / sigma^2)
and p(z) is a mixture of 2^H Gaussians with means b + W h. ``sigma`` is
fixed at 1 by default (it anchors the latent scale as N(0, I) does);
``learn_sigma=True`` makes it a parameter. The initial W is small
(``init_scale``) and b = -W 1/2 centres the mixture, so training starts
close to N(0, (1 + H init_scale^2 / 4) I).
"""
from __future__ import annotations

import math
import time

import dimod
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .samplers import DenseBQM, ais_log_partition, get_sampler

LOG_2PI = math.log(2.0 * math.pi)


class UnknownPriorError(ValueError):
    """A prior name that is not in :data:`PRIORS`."""


def gaussian_entropy(logvar):
    """Entropy of the diagonal Gaussian posterior, per particle (B,)."""
    return 0.5 * (1.0 + LOG_2PI + logvar).sum(-1)


def reparameterise(mu, logvar, num_samples=1):
    """(num_samples, B, d) draws from q = N(mu, exp(logvar))."""
    eps = torch.randn((num_samples,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _generator(seed, device):
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def _sample_array(sampleset, labels):
    """Samples as an array in ``labels`` order, one row per occurrence."""
    columns = [sampleset.variables.index(v) for v in labels]
    samples = sampleset.record.sample[:, columns]
    return np.repeat(samples, sampleset.record.num_occurrences, axis=0)


class Prior(nn.Module):
    """The interface shared by every prior (see the module docstring)."""

    name = ""
    extra_encoder_dim = 0

    def __init__(self, latent_dim, **options):
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self._options = dict(options)

    def config(self):
        """Arguments of :func:`build_prior` that rebuild this prior's shape."""
        return {"name": self.name, "latent_dim": self.latent_dim, **self._options}

    @property
    def decoder_input_dim(self):
        return self.latent_dim + self.extra_encoder_dim

    def _check_posterior(self, mu, logvar):
        if mu.shape != logvar.shape or mu.shape[-1] != self.latent_dim:
            raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must "
                             f"both be (batch, {self.latent_dim})")

    def _check_z(self, z, width=None):
        width = self.latent_dim if width is None else width
        if z.dim() != 2 or z.shape[-1] != width:
            raise ValueError(f"{self.name} prior: z must be (n, {width}), got {tuple(z.shape)}")

    def kl(self, mu, logvar, extra=None):
        raise NotImplementedError

    def free_energy(self, z):
        raise NotImplementedError

    def log_z(self):
        """Normaliser of exp(-F(z)) (a 0-d tensor), or None if unknown."""
        return None

    def log_prob(self, z):
        log_z = self.log_z()
        if log_z is None:
            raise ValueError(f"{self.name} prior: log Z is not available")
        return -self.free_energy(z) - log_z

    def sample(self, n, sampler="gibbs", **kw):
        raise NotImplementedError

    def to_bqm(self):
        return None

    def basins(self, sampler="sa", num_reads=200, max_basins=None, **kw):
        raise NotImplementedError

    def decoder_input(self, z, extra=None, training=False):
        return z


class GaussianPrior(Prior):
    """N(0, I): the published method's prior, analytic KL."""

    name = "gaussian"

    def kl_per_dim(self, mu, logvar):
        """KL(q || N(0, I)) per latent dimension (B, d), for free bits."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        loss = self.kl_per_dim(mu, logvar).sum(-1)
        return loss, {"kl": float(loss.detach().mean()), "log_z": float(self.log_z())}

    def free_energy(self, z):
        self._check_z(z)
        return 0.5 * z.pow(2).sum(-1)

    def log_z(self):
        return torch.tensor(0.5 * self.latent_dim * LOG_2PI)

    def sample(self, n, sampler="direct", seed=None, **kw):
        start = time.perf_counter()
        z = torch.randn(int(n), self.latent_dim, generator=_generator(seed, "cpu"))
        return z, {"sampler": "direct", "energies": None, "free_energy": self.free_energy(z),
                   "decoder_input": z, "timing": {"sample_seconds": time.perf_counter() - start}}

    def basins(self, sampler="sa", num_reads=200, max_basins=None, **kw):
        z = torch.zeros(1, self.latent_dim)
        return [{"h": None, "energy": 0.0, "count": 1, "z": z[0].numpy(),
                 "free_energy": float(self.free_energy(z)[0])}]


class GMMPrior(Prior):
    """Learnable mixture of ``components`` diagonal Gaussians (VaDE-style)."""

    name = "gmm"

    def __init__(self, latent_dim, components=8, kl_samples=1, init_spread=0.5, seed=0):
        super().__init__(latent_dim, components=components, kl_samples=kl_samples,
                         init_spread=init_spread, seed=seed)
        if components < 1:
            raise ValueError(f"gmm prior needs components >= 1, got {components}")
        generator = _generator(seed, "cpu")
        self.kl_samples = int(kl_samples)
        self.means = nn.Parameter(init_spread * torch.randn(components, latent_dim,
                                                            generator=generator))
        self.log_scales = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def component_log_density(self, z):
        """(..., K) log pi_k + log N(z; m_k, s_k^2)."""
        diff = (z.unsqueeze(-2) - self.means) * torch.exp(-self.log_scales)
        log_normal = -0.5 * diff.pow(2).sum(-1) - self.log_scales.sum(-1) \
            - 0.5 * self.latent_dim * LOG_2PI
        return torch.log_softmax(self.logits, -1) + log_normal

    def free_energy(self, z):
        self._check_z(z)
        return -torch.logsumexp(self.component_log_density(z), -1)

    def log_z(self):
        return torch.zeros((), dtype=self.means.dtype)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        z = reparameterise(mu, logvar, self.kl_samples)
        energy = -torch.logsumexp(self.component_log_density(z), -1).mean(0)
        loss = energy - gaussian_entropy(logvar)
        return loss, {"kl": float(loss.detach().mean()), "log_z": 0.0,
                      "prior_energy": float(energy.detach().mean())}

    def initialise_from(self, z, iterations=20):
        """Place the components by k-means on latents ``z`` (n, d)."""
        from sklearn.cluster import KMeans
        data = np.asarray(z.detach().cpu() if torch.is_tensor(z) else z, dtype=np.float64)
        k = self.means.shape[0]
        fit = KMeans(k, n_init=1, max_iter=iterations, random_state=0).fit(data)
        with torch.no_grad():
            self.means.copy_(torch.as_tensor(fit.cluster_centers_))
            for j in range(k):
                members = data[fit.labels_ == j]
                if len(members) > 1:
                    self.log_scales[j].copy_(torch.as_tensor(
                        np.log(members.std(0) + 1e-3)))
            counts = np.bincount(fit.labels_, minlength=k) + 1.0
            self.logits.copy_(torch.as_tensor(np.log(counts / counts.sum())))

    def sample(self, n, sampler="direct", seed=None, **kw):
        start = time.perf_counter()
        with torch.no_grad():
            generator = _generator(seed, "cpu")
            weights = torch.softmax(self.logits.detach().cpu().double(), -1)
            component = torch.multinomial(weights, int(n), replacement=True,
                                          generator=generator)
            eps = torch.randn(int(n), self.latent_dim, generator=generator,
                              dtype=self.means.dtype)
            z = self.means.cpu()[component] + torch.exp(self.log_scales.cpu()[component]) * eps
            free = self.free_energy(z.to(self.means.device)).cpu()
        return z, {"sampler": "direct", "energies": None, "free_energy": free,
                   "component": component, "decoder_input": z,
                   "timing": {"sample_seconds": time.perf_counter() - start}}

    def basins(self, sampler="sa", num_reads=200, max_basins=None, **kw):
        with torch.no_grad():
            free = self.free_energy(self.means).cpu()
        order = torch.argsort(free).tolist()[:max_basins]
        weights = torch.softmax(self.logits.detach(), -1).cpu()
        return [{"h": None, "energy": float(free[k]), "count": float(weights[k]),
                 "component": k, "z": self.means[k].detach().cpu().numpy(),
                 "free_energy": float(free[k])} for k in order]


class _BoltzmannPrior(Prior):
    """Shared machinery of priors built on a binary Boltzmann machine:
    exact log Z by enumeration when small, persistent Gibbs chains for the
    negative phase and AIS for the value of log Z beyond that."""

    def _setup_boltzmann(self, num_units, num_chains, gibbs_steps, ais_every,
                         ais_chains, ais_betas, seed):
        self.num_chains = int(num_chains)
        self.gibbs_steps = int(gibbs_steps)
        self.ais_every = int(ais_every)
        self.ais_chains = int(ais_chains)
        self.ais_betas = int(ais_betas)
        generator = _generator(seed + 1, "cpu")
        self.register_buffer("chains", (torch.rand(self.num_chains, num_units,
                                                   generator=generator) < 0.5).float())
        self.register_buffer("log_z_estimate", torch.tensor(float("nan")))
        self.register_buffer("log_z_error", torch.tensor(float("nan")))
        self.register_buffer("kl_calls", torch.zeros((), dtype=torch.long))

    # to define: _bqm_tensors() -> (linear, symmetric coupling, offset), all
    # differentiable; _blocks(); _exact(); _exact_log_z(); _bqm_log_z_offset()

    def _log_unnormalised(self, x):
        """-E(x) of binary states (n, units), differentiable in the parameters."""
        linear, coupling, offset = self._bqm_tensors()
        return -(x @ linear + 0.5 * ((x @ coupling) * x).sum(-1) + offset)

    def _dense_model(self):
        linear, coupling, offset = self._bqm_tensors()
        return DenseBQM(linear.detach(), coupling.detach(), float(offset), dimod.BINARY,
                        self._blocks())

    def to_bqm(self):
        linear, coupling, offset = (t.detach().cpu().double().numpy() if torch.is_tensor(t)
                                    else t for t in self._bqm_tensors())
        return dimod.BinaryQuadraticModel(linear, np.triu(coupling, 1), float(offset),
                                          dimod.BINARY)

    @torch.no_grad()
    def refresh_log_z(self):
        """Recompute the AIS estimate of log Z of the BQM and cache it."""
        log_z, error = ais_log_partition(self._dense_model(), num_chains=self.ais_chains,
                                         num_betas=self.ais_betas)
        self.log_z_estimate.fill_(log_z)
        self.log_z_error.fill_(error)
        return log_z

    def _bqm_log_z(self):
        """log Z of the BQM: exact (differentiable) or the cached AIS value."""
        if self._exact():
            return self._exact_log_z()
        if torch.isnan(self.log_z_estimate):
            self.refresh_log_z()
        return self.log_z_estimate.clone()

    def _log_z_terms(self):
        """(term for the loss: right gradient of log Z, value of log Z)."""
        if self._exact():
            log_z = self._exact_log_z()
            return log_z, log_z.detach()
        if self.training:
            self.kl_calls += 1
            with torch.no_grad():
                self._dense_model().sweep(self.chains, num_sweeps=self.gibbs_steps)
            if self.ais_every > 0 and int(self.kl_calls) % self.ais_every == 0:
                self.refresh_log_z()
        negative = self._log_unnormalised(self.chains.detach()).mean()
        return negative, self._bqm_log_z().detach()

    def _sample_bits(self, n, sampler, kw):
        bqm = self.to_bqm()
        dimod_sampler = get_sampler(sampler)
        sampleset = dimod_sampler.sample(bqm, num_reads=int(n), **kw)
        bits = _sample_array(sampleset, list(range(len(bqm))))
        name = sampler if isinstance(sampler, str) else type(sampler).__name__
        return bits, sampleset, name

    def _local_minima(self, sampler, num_reads, max_basins, kw):
        """Distinct local minima of the BQM energy (annealing + steepest descent)."""
        from dwave.samplers import SteepestDescentSolver
        bqm = self.to_bqm()
        name = "sa-optimise" if sampler == "sa" else sampler
        found = get_sampler(name).sample(bqm, num_reads=int(num_reads), **kw)
        minima = SteepestDescentSolver().sample(bqm, initial_states=found).aggregate()
        minima = minima.truncate(len(minima), sorted_by="energy")
        bits = minima.record.sample[:, [minima.variables.index(v) for v in range(len(bqm))]]
        rows = list(zip(bits, minima.record.energy, minima.record.num_occurrences))
        return rows[:max_basins]


class GRBMPrior(_BoltzmannPrior):
    """Gaussian-Bernoulli RBM over the continuous latent, ``hidden_units`` H."""

    name = "grbm"

    def __init__(self, latent_dim, hidden_units=8, learn_sigma=False, init_scale=0.1,
                 kl_samples=1, exact_max_hidden=16, num_chains=256, gibbs_steps=1,
                 ais_every=1000, ais_chains=500, ais_betas=1000, seed=0):
        super().__init__(latent_dim, hidden_units=hidden_units, learn_sigma=learn_sigma,
                         init_scale=init_scale, kl_samples=kl_samples,
                         exact_max_hidden=exact_max_hidden, num_chains=num_chains,
                         gibbs_steps=gibbs_steps, ais_every=ais_every,
                         ais_chains=ais_chains, ais_betas=ais_betas, seed=seed)
        if hidden_units < 1:
            raise ValueError(f"grbm prior needs hidden_units >= 1, got {hidden_units}")
        self.hidden_units = int(hidden_units)
        self.kl_samples = int(kl_samples)
        self.exact_max_hidden = int(exact_max_hidden)
        generator = _generator(seed, "cpu")
        weight = init_scale * torch.randn(latent_dim, hidden_units, generator=generator)
        self.weight = nn.Parameter(weight)
        self.visible_bias = nn.Parameter(-0.5 * weight.sum(1))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden_units))
        log_sigma = torch.zeros(())
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self._setup_boltzmann(hidden_units, num_chains, gibbs_steps, ais_every,
                              ais_chains, ais_betas, seed)

    def _exact(self):
        return self.hidden_units <= self.exact_max_hidden

    def _blocks(self):
        return [(j, j + 1) for j in range(self.hidden_units)]

    def _bqm_tensors(self):
        """Energy of h with z integrated out: -log p(h) up to a constant."""
        inv_var = torch.exp(-2.0 * self.log_sigma)
        w, b = self.weight, self.visible_bias
        gram = (w.T @ w) * inv_var
        linear = -(self.hidden_bias + (b @ w) * inv_var + 0.5 * torch.diagonal(gram))
        coupling = -(gram - torch.diag_embed(torch.diagonal(gram)))
        offset = -0.5 * self.latent_dim * (LOG_2PI + 2.0 * self.log_sigma)
        return linear, coupling, offset

    def _all_hidden_states(self):
        n = self.hidden_units
        index = torch.arange(1 << n, device=self.weight.device)
        return ((index[:, None] >> torch.arange(n, device=index.device)) & 1).to(
            self.weight.dtype)

    def _exact_log_z(self):
        return torch.logsumexp(self._log_unnormalised(self._all_hidden_states()), 0)

    def log_z(self):
        return self._bqm_log_z()

    def hidden_field(self, z):
        """(..., H) input of each hidden unit at latents z (..., d):
        c + W^T z / sigma^2, so that p(h_j = 1 | z) = sigmoid(field_j).
        Computed in z's dtype (float64 latents give a float64 field)."""
        weight, bias, log_sigma = (t.to(z.dtype) for t in
                                   (self.weight, self.hidden_bias, self.log_sigma))
        return bias + (z @ weight) * torch.exp(-2.0 * log_sigma)

    def hidden_probabilities(self, z):
        """(..., H) probability that each hidden unit is on given z."""
        return torch.sigmoid(self.hidden_field(z))

    def free_energy(self, z):
        self._check_z(z)
        inv_var = torch.exp(-2.0 * self.log_sigma)
        quadratic = 0.5 * (z - self.visible_bias).pow(2).sum(-1) * inv_var
        return quadratic - F.softplus(self.hidden_field(z)).sum(-1)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        z = reparameterise(mu, logvar, self.kl_samples)
        energy = self.free_energy(z.reshape(-1, self.latent_dim)).reshape(z.shape[:2]).mean(0)
        entropy = gaussian_entropy(logvar)
        term, log_z = self._log_z_terms()
        loss = energy - entropy + term
        kl_value = (energy - entropy).detach() + log_z
        logs = {"kl": float(kl_value.mean()), "log_z": float(log_z),
                "prior_energy": float(energy.detach().mean())}
        if not self._exact():
            logs["log_z_error"] = float(self.log_z_error)
        return loss, logs

    def latent_means(self, h):
        """Means b + W h of the Gaussian components for hidden states h."""
        return self.visible_bias + torch.as_tensor(h, dtype=self.weight.dtype,
                                                   device=self.weight.device) @ self.weight.T

    def sample(self, n, sampler="gibbs", **kw):
        start = time.perf_counter()
        bits, sampleset, name = self._sample_bits(n, sampler, kw)
        with torch.no_grad():
            generator = _generator(kw.get("seed"), "cpu")
            h = torch.as_tensor(bits, dtype=self.weight.dtype)
            eps = torch.randn(len(h), self.latent_dim, generator=generator,
                              dtype=self.weight.dtype)
            z = (self.latent_means(h).cpu() + torch.exp(self.log_sigma).cpu() * eps)
            free = self.free_energy(z.to(self.weight.device)).cpu()
        energies = self.to_bqm().energies((bits, list(range(self.hidden_units))))
        return z, {"sampler": name, "energies": energies, "free_energy": free, "hidden": h,
                   "decoder_input": z, "beta_eff": sampleset.info.get("beta_eff"),
                   "timing": {"sample_seconds": time.perf_counter() - start},
                   "sampleset_info": sampleset.info}

    def basins(self, sampler="sa", num_reads=200, max_basins=None, **kw):
        rows = self._local_minima(sampler, num_reads, max_basins, kw)
        if not rows:
            return []
        with torch.no_grad():
            means = self.latent_means(np.stack([r[0] for r in rows]).astype(np.float32))
            free = self.free_energy(means).cpu().numpy()
        return [{"h": bits.astype(np.int8), "energy": float(energy), "count": int(count),
                 "z": means[i].cpu().numpy(), "free_energy": float(free[i])}
                for i, (bits, energy, count) in enumerate(rows)]


class RBMPrior(_BoltzmannPrior):
    """A binary latent code (visible + hidden units of an RBM) next to the
    continuous latent, which keeps N(0, I) (DVAE family).

    The encoder outputs ``extra_encoder_dim`` logits of a factorial q over
    the code; KL = E(q means) + log Z - H(q), exact for the multilinear
    RBM energy. The decoder sees a binary-Concrete relaxation of the code
    while training (temperature ``tau``; ``straight_through`` rounds it in
    the forward pass) and the posterior mode otherwise.
    """

    name = "rbm"

    def __init__(self, latent_dim, visible_units=8, hidden_units=8, tau=0.5,
                 straight_through=False, init_scale=0.01, exact_max_units=20,
                 num_chains=256, gibbs_steps=1, ais_every=1000, ais_chains=500,
                 ais_betas=1000, seed=0):
        super().__init__(latent_dim, visible_units=visible_units, hidden_units=hidden_units,
                         tau=tau, straight_through=straight_through, init_scale=init_scale,
                         exact_max_units=exact_max_units, num_chains=num_chains,
                         gibbs_steps=gibbs_steps, ais_every=ais_every,
                         ais_chains=ais_chains, ais_betas=ais_betas, seed=seed)
        if visible_units < 1 or hidden_units < 1:
            raise ValueError("rbm prior needs visible_units and hidden_units >= 1")
        self.visible_units, self.hidden_units = int(visible_units), int(hidden_units)
        self.tau = float(tau)
        self.straight_through = bool(straight_through)
        self.exact_max_units = int(exact_max_units)
        generator = _generator(seed, "cpu")
        self.weight = nn.Parameter(init_scale * torch.randn(visible_units, hidden_units,
                                                            generator=generator))
        self.visible_bias = nn.Parameter(torch.zeros(visible_units))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden_units))
        self._setup_boltzmann(self.binary_dim, num_chains, gibbs_steps, ais_every,
                              ais_chains, ais_betas, seed)

    @property
    def binary_dim(self):
        return self.visible_units + self.hidden_units

    @property
    def extra_encoder_dim(self):
        return self.binary_dim

    def _exact(self):
        return min(self.visible_units, self.hidden_units) <= self.exact_max_units

    def _blocks(self):
        return [(0, self.visible_units), (self.visible_units, self.binary_dim)]

    def _bqm_tensors(self):
        """E(v, h) = -a.v - c.h - v.W h over the joint code (visible first)."""
        nv = self.visible_units
        linear = -torch.cat([self.visible_bias, self.hidden_bias])
        w = self.weight
        top = torch.cat([w.new_zeros(nv, nv), -w], 1)
        bottom = torch.cat([-w.T, w.new_zeros(self.hidden_units, self.hidden_units)], 1)
        return linear, torch.cat([top, bottom], 0), 0.0

    def _energy(self, x):
        """RBM energy of (relaxed) codes x (n, binary_dim); multilinear."""
        v, h = x[:, :self.visible_units], x[:, self.visible_units:]
        return -(v @ self.visible_bias) - (h @ self.hidden_bias) - ((v @ self.weight) * h).sum(-1)

    def _exact_log_z(self):
        """log Z by enumerating the smaller side, the other summed analytically."""
        small, bias_small, bias_large, weight = (
            (self.visible_units, self.visible_bias, self.hidden_bias, self.weight)
            if self.visible_units <= self.hidden_units else
            (self.hidden_units, self.hidden_bias, self.visible_bias, self.weight.T))
        index = torch.arange(1 << small, device=weight.device)
        states = ((index[:, None] >> torch.arange(small, device=weight.device)) & 1).to(
            weight.dtype)
        return torch.logsumexp(states @ bias_small
                               + F.softplus(bias_large + states @ weight).sum(-1), 0)

    def _code_log_z(self):
        return self._bqm_log_z()

    def log_z(self):
        return self._code_log_z() + 0.5 * self.latent_dim * LOG_2PI

    def free_energy(self, z):
        self._check_z(z, self.decoder_input_dim)
        continuous, code = z[:, :self.latent_dim], z[:, self.latent_dim:]
        return 0.5 * continuous.pow(2).sum(-1) + self._energy(code)

    def _check_extra(self, extra, batch):
        if extra is None or extra.shape != (batch, self.binary_dim):
            shape = None if extra is None else tuple(extra.shape)
            raise ValueError(f"rbm prior needs extra logits of shape ({batch}, "
                             f"{self.binary_dim}), got {shape}")

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        self._check_extra(extra, mu.shape[0])
        kl_gaussian = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
        q = torch.sigmoid(extra)
        entropy = (q * F.softplus(-extra) + (1.0 - q) * F.softplus(extra)).sum(-1)
        energy = self._energy(q)
        term, log_z = self._log_z_terms()
        kl_binary = energy - entropy + term
        loss = kl_gaussian + kl_binary
        kl_binary_value = (energy - entropy).detach() + log_z
        logs = {"kl": float((kl_gaussian.detach() + kl_binary_value).mean()),
                "kl_gaussian": float(kl_gaussian.detach().mean()),
                "kl_binary": float(kl_binary_value.mean()),
                "log_z": float(log_z + 0.5 * self.latent_dim * LOG_2PI),
                "log_z_binary": float(log_z)}
        return loss, logs

    def decoder_input(self, z, extra=None, training=False):
        self._check_extra(extra, z.shape[0])
        if training:
            u = torch.rand_like(extra).clamp_(1e-6, 1.0 - 1e-6)
            code = torch.sigmoid((extra + torch.log(u) - torch.log1p(-u)) / self.tau)
            if self.straight_through:
                code = (code > 0.5).to(code.dtype) + code - code.detach()
        else:
            code = (extra > 0).to(z.dtype)
        return torch.cat([z, code], -1)

    def sample(self, n, sampler="gibbs", **kw):
        start = time.perf_counter()
        bits, sampleset, name = self._sample_bits(n, sampler, kw)
        with torch.no_grad():
            code = torch.as_tensor(bits, dtype=self.weight.dtype)
            z = torch.randn(len(code), self.latent_dim, dtype=self.weight.dtype,
                            generator=_generator(kw.get("seed"), "cpu"))
            decoder_input = torch.cat([z, code], -1)
            free = self.free_energy(decoder_input.to(self.weight.device)).cpu()
        energies = self.to_bqm().energies((bits, list(range(self.binary_dim))))
        return z, {"sampler": name, "energies": energies, "free_energy": free,
                   "binary": code, "decoder_input": decoder_input,
                   "beta_eff": sampleset.info.get("beta_eff"),
                   "timing": {"sample_seconds": time.perf_counter() - start},
                   "sampleset_info": sampleset.info}

    def basins(self, sampler="sa", num_reads=200, max_basins=None, **kw):
        rows = self._local_minima(sampler, num_reads, max_basins, kw)
        basins = []
        for bits, energy, count in rows:
            z = np.concatenate([np.zeros(self.latent_dim, dtype=np.float32),
                                bits.astype(np.float32)])
            basins.append({"h": bits.astype(np.int8), "energy": float(energy),
                           "count": int(count), "z": z,
                           "free_energy": float(energy)})
        return basins


#: Prior classes by name (``--prior``).
PRIORS = {"gaussian": GaussianPrior, "gmm": GMMPrior, "grbm": GRBMPrior, "rbm": RBMPrior}


#: Short option names accepted on command lines and in Scipion forms.
OPTION_ALIASES = {"hidden": "hidden_units", "visible": "visible_units",
                  "k": "components"}


def build_prior(name, latent_dim, **options):
    """The prior called ``name`` over a ``latent_dim``-dimensional latent.

    Unknown options raise a ValueError listing the ones the prior takes."""
    if name not in PRIORS:
        raise UnknownPriorError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    options = {OPTION_ALIASES.get(k, k): v for k, v in options.items()}
    import inspect
    accepted = [p.name for p in inspect.signature(PRIORS[name].__init__).parameters.values()
                if p.name not in ("self", "latent_dim")
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"prior {name!r} has no option {', '.join(unknown)}; "
                         f"its options are {', '.join(accepted) or 'none'}")
    return PRIORS[name](latent_dim, **options)


def fit_to_posteriors(prior, mu, logvar, steps, lr=1e-3, batch=1024, seed=0):
    """Train ``prior`` alone on frozen posteriors N(mu, exp(logvar)) by the
    gradient of its KL term (maximum likelihood on posterior samples); a
    Gaussian mixture first takes its means from k-means of ``mu``. Returns
    the mean KL of the last steps. Deterministic for a given ``seed``."""
    mu = torch.as_tensor(mu, dtype=torch.float32)
    logvar = torch.as_tensor(logvar, dtype=torch.float32)
    device = next(prior.parameters()).device
    mu, logvar = mu.to(device), logvar.to(device)
    if hasattr(prior, "initialise_from"):
        prior.initialise_from(mu)
    was_training = prior.training
    prior.train()
    optimiser = torch.optim.Adam(prior.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    recent = []
    for _ in range(int(steps)):
        idx = torch.randint(len(mu), (min(batch, len(mu)),), generator=generator)
        loss, _ = prior.kl(mu[idx.to(device)], logvar[idx.to(device)])
        loss = loss.mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent = (recent + [loss.item()])[-20:]
    prior.train(was_training)
    return sum(recent) / max(len(recent), 1)
