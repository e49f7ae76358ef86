"""The latent energy-based prior (Pang, Han, Nijkamp, Zhu and Wu, "Learning
latent space energy-based prior model", NeurIPS 2020).

p(z) = exp(-E(z)) N(z; 0, I) / Z' with E a small neural network (an MLP
with SiLU activations): the free energy is F(z) = E(z) + |z|^2 / 2 and
Z = (2 pi)^(d/2) Z'. E grows at most linearly, so the Gaussian keeps
p normalisable; E starts at zero (the last layer is zero), so training
starts from N(0, I), the published method's prior.

KL(q || p) = E_q[F(z)] - H(q) + log Z. Its gradient: the encoder's through
reparameterised draws of q; the energy's through E_q[dE/dtheta] minus
E_p[dE/dtheta], the second on persistent chains kept in the prior's
state (saved with a checkpoint), advanced at each training call by
``langevin_steps`` Langevin steps (Metropolis-adjusted with a step
adapted to 57 % acceptance unless ``metropolis=False``, the paper's
unadjusted steps of ``step_size``).

Chains alone cannot follow a multi-basin prior: Langevin steps rarely
cross the barriers between basins, so the chains keep the populations
they happened to have while training deepens one basin and fills
another, and the learned basins come out with the wrong weights (a
three-basin fit to posteriors of weights 0.5 / 0.3 / 0.2 gave the prior
0.74 / 0.18 / 0.08 while its chains still held 0.50 / 0.22 / 0.28). So the
chains carry importance weights, as in sequential Monte Carlo: each
change of the energy between two calls multiplies a chain's weight by
exp(-(E_new(z) - E_old(z))) (the Langevin moves leave the current prior
invariant and do not change it), the negative phase is the weighted mean,
and the chains are resampled (systematic resampling) when their
effective number falls below half. Mass thus moves between basins
without crossing barriers. log Z (logged, and added to the loss so
that the loss is the KL) is estimated, every ``log_z_every`` training
calls and whenever asked after the parameters changed: by numerical
integration on a grid for d <= 2, by annealed importance sampling from
N(0, I) with MALA moves above (``ais_chains`` chains, ``ais_betas``
temperatures; :func:`~cryostar_boltz.engine.samplers.ais_log_partition_continuous`).

Sampling goes through a continuous sampler (``mala`` by default,
``langevin``), started from the weighted persistent chains; basins are
those of F (:mod:`.landscape`, shared by every prior over a continuous
latent), their prior populations from the weighted chains, which the final
fit's polish grows to :data:`POLISH_CHAINS`.
"""
import math

import torch
from torch import nn

from .base import Prior, gaussian_entropy, reparameterise, seeded_generator


#: Bound of the energy (nats): E = b tanh(u / b) for the network's output u,
#: so that the prior's density stays within exp(+-b) of N(0, I). Unbounded,
#: the energy followed the posteriors as they spread (median |z| 4.4-6.4,
#: E down to -100 to -260 at the particles on every run of the three-state
#: benchmarks), the Gaussian no longer set the latent's scale, AIS's log Z
#: ran up to 100-200 during training, and on the adk seed 1 two states
#: fell into one basin. The particles' latents reach |z| 5.5-7 (99th
#: percentile) with the Gaussian prior too, so a bound of 12 still clipped
#: the energy at the edge of the data (1A28 dimer, seed 1: 2 basins, ARI
#: 0.41); at 20, 3 basins (0.91) there and on adk (0.97).
ENERGY_BOUND = 20.0
#: Persistent chains during the final fit's polish (:mod:`.fit`), and the
#: MALA steps that spread the copies of a resampled chain first. The
#: basins' prior populations are the chains' weighted shares, so their
#: error follows the chains' effective number: with the training's 256 the
#: three-state adk benchmark's populations were off by up to 0.07 (seed 1:
#: 0.45 / 0.37 / 0.18 for the truth's 0.5 / 0.3 / 0.2, the particles 0.51 /
#: 0.30 / 0.19); the same run's prior polished on 2,048 gives 0.51 / 0.29 /
#: 0.20, and seeds 0-2 are all within 0.03 (docs/benchmarks.rst).
POLISH_CHAINS = 2048
POLISH_SPREAD_STEPS = 200


class EBMPrior(Prior):
    """Latent EBM prior over z with an MLP energy of ``energy_layers``
    hidden layers of ``energy_width`` units.

    Options: ``langevin_steps`` per training call on ``num_chains``
    persistent chains of initial step ``step_size``, ``metropolis``
    (adjust the steps; default on), ``kl_samples`` (draws of q per
    particle), ``log_z_every``, ``ais_chains``, ``ais_betas`` (log Z above
    two dimensions), ``seed`` (initial weights and chains).
    """

    name = "ebm"
    default_sampler = "mala"
    #: The final fit to the posteriors (:mod:`.fit`): a lower rate than the
    #: mixtures' and every step (no early stop on the sampled, noisy KL).
    #: On three 1-D clusters of weights 0.5 / 0.3 / 0.2, 2,500 steps so
    #: give 0.49 / 0.30 / 0.21 (1,500: 0.53 / 0.24 / 0.23); at the
    #: mixtures' 0.02 with the early stop, 0.44 / 0.28 / 0.28
    #: (tests/engine/priors/test_priors_ebm.py).
    fit_lr = 3e-3
    fit_tolerance = 0.0
    #: ... and for 3 x ``--prior-fit-steps``: on the three-state benchmark's
    #: seed 1, the basin clustering's ARI is 0.859 after 2,000 steps, 0.899
    #: after 4,000 and 0.918 after 6,000 (the mid basin is shallow and
    #: still drifting towards the open one after 2,000).
    fit_steps_factor = 3

    def __init__(self, latent_dim, energy_width=128, energy_layers=2, energy_bound=ENERGY_BOUND,
                 langevin_steps=20, step_size=0.05, num_chains=256, metropolis=True,
                 kl_samples=1, log_z_every=100, ais_chains=256, ais_betas=200, seed=0):
        super().__init__(latent_dim, energy_width=energy_width, energy_layers=energy_layers,
                         energy_bound=energy_bound,
                         langevin_steps=langevin_steps, step_size=step_size,
                         num_chains=num_chains, metropolis=metropolis,
                         kl_samples=kl_samples, log_z_every=log_z_every,
                         ais_chains=ais_chains, ais_betas=ais_betas, seed=seed)
        if energy_width < 1 or energy_layers < 1:
            raise ValueError("ebm prior needs energy_width and energy_layers >= 1")
        if not energy_bound > 0:
            raise ValueError("ebm prior needs energy_bound > 0 (inf: unbounded)")
        if ais_chains < 2 or ais_betas < 2:
            raise ValueError("ebm prior needs ais_chains and ais_betas >= 2")
        self.langevin_steps, self.num_chains = int(langevin_steps), int(num_chains)
        self.metropolis = bool(metropolis)
        self.kl_samples, self.log_z_every = int(kl_samples), int(log_z_every)
        self.ais_chains, self.ais_betas, self.seed = int(ais_chains), int(ais_betas), int(seed)
        generator = seeded_generator(seed)
        widths = [latent_dim] + [int(energy_width)] * int(energy_layers)
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [_linear(fan_in, fan_out, generator), nn.SiLU()]
        last = nn.Linear(widths[-1], 1, bias=False)  # a constant is log Z's
        nn.init.zeros_(last.weight)
        self.energy_net = nn.Sequential(*layers, last)
        # a buffer, so that a run saved before the bound (no such key in its
        # state) loads unbounded, as it was trained (_load_from_state_dict)
        self.register_buffer("energy_bound", torch.tensor(float(energy_bound)))
        self.register_buffer("chains", torch.randn(self.num_chains, latent_dim,
                                                   generator=seeded_generator(seed + 1)))
        self.register_buffer("chain_step", torch.tensor(float(step_size)))
        # importance log-weights of the chains, and E of each under the
        # parameters of the last call (NaN: not yet known)
        self.register_buffer("chain_log_weight", torch.zeros(self.num_chains))
        self.register_buffer("chain_energy", torch.full((self.num_chains,), float("nan")))
        self.register_buffer("log_z_estimate", torch.tensor(float("nan")))
        self.register_buffer("log_z_error", torch.tensor(float("nan")))
        self.register_buffer("log_z_key", torch.full((3,), float("nan"), dtype=torch.float64))
        self.register_buffer("kl_calls", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------ energies
    def energy(self, z):
        """The energy E(z) (n,) of latents z (n, d): the network's output
        ``u``, as ``b tanh(u / b)`` within the bound ``b``."""
        weight = self.energy_net[-1].weight
        raw = self.energy_net(z.to(weight.dtype)).squeeze(-1)
        bound = float(self.energy_bound)
        if math.isinf(bound):
            return raw
        return bound * torch.tanh(raw / bound)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "energy_bound", torch.tensor(math.inf))
        chains = state_dict.get(prefix + "chains")
        if chains is not None and chains.ndim == 2 and len(chains) != self.num_chains:
            self._resize_chains(len(chains))  # saved after the polish's expansion
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _resize_chains(self, n):
        """Reallocate the chain buffers for ``n`` chains (values unset)."""
        like = self.chains
        self.num_chains = int(n)
        self.chains = like.new_zeros(self.num_chains, like.shape[1])
        self.chain_log_weight = self.chain_log_weight.new_zeros(self.num_chains)
        self.chain_energy = self.chain_energy.new_full((self.num_chains,), float("nan"))

    def free_energy(self, z):
        self._check_z(z)
        return self.energy(z) + 0.5 * z.to(self.energy_net[-1].weight.dtype).pow(2).sum(-1)

    # ------------------------------------------------------------ log Z
    def _parameter_key(self):
        """A fingerprint of the parameters: (sum, sum of squares, weighted sum)."""
        flat = torch.cat([p.detach().double().flatten() for p in self.parameters()])
        index = torch.arange(1, len(flat) + 1, dtype=flat.dtype, device=flat.device)
        return torch.stack([flat.sum(), flat.pow(2).sum(), (flat * index).sum()])

    @torch.no_grad()
    def refresh_log_z(self):
        """Estimate log Z now (grid for d <= 2, AIS above; the AIS seeded
        by the prior's seed, so the same parameters give the same value),
        cache it with its standard error (0 for the grid) and return it."""
        from ..samplers import ais_log_partition_continuous, grid_log_partition
        model = self.energy_model()
        if self.latent_dim <= 2:
            reach = float(self.chains.abs().max()) if len(self.chains) else 0.0
            value, error = grid_log_partition(model, half_width=4.0 + max(4.0, reach)), 0.0
        else:
            generator = seeded_generator(self.seed + 2, device=model.device)
            value, error = ais_log_partition_continuous(
                model, num_chains=self.ais_chains, num_betas=self.ais_betas,
                generator=generator)
        self.log_z_estimate.fill_(value)
        self.log_z_error.fill_(error)
        self.log_z_key.copy_(self._parameter_key().to(self.log_z_key.dtype))
        return value

    def log_z(self):
        """log Z, re-estimated when the parameters changed since the last
        estimate (a 0-d tensor, not differentiable)."""
        key = self._parameter_key().to(self.log_z_key.dtype)
        if torch.isnan(self.log_z_estimate) or not torch.equal(key, self.log_z_key):
            self.refresh_log_z()
        return self.log_z_estimate.detach().clone()

    # ------------------------------------------------------------ training
    def chain_weights(self):
        """The chains' normalised importance weights (num_chains,)."""
        return torch.softmax(self.chain_log_weight.double(), 0).to(self.chains.dtype)

    @torch.no_grad()
    def advance_chains(self, steps=None):
        """Reweight the persistent chains for the change of E since the
        last call, resample them when their effective number is below half,
        then move them by ``steps`` (default ``langevin_steps``) Langevin
        steps (MALA with an adapted step when ``metropolis``); in place,
        from torch's global generator. Returns the chains."""
        from ..samplers.langevin import adapted_step, langevin_step, mala_step
        model = self.energy_model()
        chains = self.chains
        self._reweight_chains()
        weights = torch.softmax(self.chain_log_weight.double(), 0)
        if 1.0 / float(weights.pow(2).sum()) < 0.5 * len(chains):
            chains.copy_(chains[systematic_resample(weights)])
            self.chain_log_weight.zero_()
        z = chains.to(model.dtype)
        step = float(self.chain_step)
        value = gradient = None
        for _ in range(int(self.langevin_steps if steps is None else steps)):
            if self.metropolis:
                z, value, gradient, accepted = mala_step(
                    model.energy_and_gradient, z, step, None, value, gradient)
                step = adapted_step(step, accepted.double().mean())
            else:
                z = langevin_step(model.energy_and_gradient, z, step, None)
        chains.copy_(z.to(chains.dtype))
        self.chain_step.fill_(step)
        self.chain_energy.copy_(self.energy(chains).to(self.chain_energy.dtype))
        return chains

    @torch.no_grad()
    def prepare_polish(self):
        """Before the final fit's polish (:func:`.fit.fit_to_posteriors`):
        resample the weighted chains into :data:`POLISH_CHAINS` equally
        weighted ones (systematic resampling, torch's global generator) and
        spread the copies by :data:`POLISH_SPREAD_STEPS` MALA steps, so the
        polish and the basins' prior populations rest on that many chains.
        The prior keeps them (its state then holds the larger set)."""
        if self.num_chains >= POLISH_CHAINS:
            return
        self._reweight_chains()
        picked = self.chains[systematic_resample(self.chain_weights(), POLISH_CHAINS)]
        self._resize_chains(POLISH_CHAINS)
        self.chains.copy_(picked)
        self.chain_energy.fill_(float("nan"))
        self.advance_chains(POLISH_SPREAD_STEPS)

    def _reweight_chains(self):
        """Multiply each chain's weight by exp(-(E_now - E_then)) for the
        change of the energy since ``chain_energy`` was recorded."""
        current = self.energy(self.chains).to(self.chain_energy.dtype)
        known = torch.isfinite(self.chain_energy)
        self.chain_log_weight[known] -= (current - self.chain_energy)[known]

    def kl(self, mu, logvar, extra=None):
        """As the interface; the loss's value is the KL with the cached
        log Z, its gradient the KL's (see the module docstring). Logs add
        ``prior_energy`` (E_q[F]), ``log_z_error`` (AIS) and
        ``langevin_step`` (the chains' step)."""
        self._check_posterior(mu, logvar)
        z = reparameterise(mu, logvar, self.kl_samples)
        energy = self.free_energy(z.reshape(-1, self.latent_dim)).reshape(z.shape[:2]).mean(0)
        entropy = gaussian_entropy(logvar)
        if self.training:
            self.kl_calls += 1
            self.advance_chains()
            if torch.isnan(self.log_z_estimate) or (
                    self.log_z_every > 0 and int(self.kl_calls) % self.log_z_every == 0):
                self.refresh_log_z()
            log_z = self.log_z_estimate.detach().clone()
        else:
            log_z = self.log_z()
        # d log Z / d theta = -E_p[dE/dtheta]: the chains' weighted mean -E,
        # its value removed
        negative = -(self.chain_weights().detach() * self.energy(self.chains.detach())).sum()
        log_z = log_z.to(energy.dtype)
        loss = energy - entropy + log_z + (negative - negative.detach())
        logs = {"kl": float((energy - entropy).detach().mean() + log_z),
                "log_z": float(log_z), "prior_energy": float(energy.detach().mean()),
                "langevin_step": float(self.chain_step)}
        if self.latent_dim > 2:
            logs["log_z_error"] = float(self.log_z_error)
        return loss, logs

    # ------------------------------------------------------------ sampling
    def sample(self, n, sampler="mala", seed=None, **kw):
        """``n`` latents from the continuous ``sampler`` (``mala``, the
        default, or ``langevin``; a name or a sampler object) run on F,
        started (at beta 1, unless ``initial_states`` are given) from the
        persistent chains drawn by their importance weights; ``kw`` go to
        the sampler (``num_sweeps``, ``step_size``, ``beta``...)."""
        if sampler in (None, "direct"):
            sampler = self.default_sampler
        return self.sample_continuous(n, sampler, seed=seed, **kw)

    def sample_continuous(self, n, sampler, **kw):
        """As :meth:`.base.Prior.sample_continuous`, the chains started (at
        beta 1, unless ``initial_states`` are given) from the persistent
        chains drawn by their importance weights: they hold each basin's
        mass, where chains from N(0, I) do not cross the barriers (three
        1-D states of weights 0.5 / 0.3 / 0.2: 0.18 / 0.67 / 0.15 from
        N(0, I), 0.49 / 0.30 / 0.21 from the weighted chains)."""
        beta = kw.get("beta")
        if kw.get("initial_states") is None and (beta is None or float(beta) == 1.0):
            seed = kw.get("seed")
            kw["initial_states"] = self._basin_samples(
                int(n), None, 0 if seed is None else int(seed)).cpu().numpy()
        return super().sample_continuous(n, sampler, **kw)

    # ------------------------------------------------------------ basins
    @torch.no_grad()
    def _basin_samples(self, n, sampler, seed):
        """(n, d) prior samples for the basins' prior populations: with no
        ``sampler``, the persistent chains drawn by their importance
        weights brought up to the current energy (``chain_log_weight``
        minus the change of E since ``chain_energy``): the weighted chains
        hold each basin's mass where short MALA runs from N(0, I) cannot
        cross the barriers between basins. A named sampler is run as in
        :meth:`sample`."""
        if sampler is not None:
            return self.sample(n, sampler=sampler, seed=seed)[0]
        chains, weights = self._current_chains()
        pick = torch.multinomial(weights.float(), int(n), replacement=True,
                                 generator=seeded_generator(seed))
        return chains[pick]

    @torch.no_grad()
    def _weighted_basin_samples(self, n, sampler, seed):
        """With no ``sampler``, every persistent chain with its importance
        weight (``n`` does not apply): the basins' prior populations are
        then the chains' weighted shares themselves, without the noise of
        ``n`` draws from them (on the 1A28 dimer's three states, seed 0, the
        mid basin's 0.352 from 2,000 draws was 0.339 of the 2,048 chains'
        weight). A named sampler's ``n`` samples weigh the same."""
        if sampler is not None:
            return self.sample(n, sampler=sampler, seed=seed)[0], None
        return self._current_chains()

    @torch.no_grad()
    def _current_chains(self):
        """The persistent chains (m, d) and their normalised importance
        weights (m,), brought up to the current energy (``chain_log_weight``
        minus the change of E since ``chain_energy``)."""
        chains = self.chains.detach()
        log_weight = self.chain_log_weight.double()
        known = torch.isfinite(self.chain_energy)
        if bool(known.all()):
            log_weight = log_weight - (self.energy(chains).double()
                                       - self.chain_energy.double())
        return chains, torch.softmax(log_weight, 0)

    def _basin_starts(self, sampler=None):
        """The persistent chains: more starts of the basin search
        (:meth:`.base.Prior.basins`, :mod:`.landscape`) beside a named
        ``sampler``'s samples; without one they are the prior samples
        already (:meth:`_weighted_basin_samples`)."""
        return None if sampler is None else self.chains.detach()


def systematic_resample(weights, n=None):
    """Indices (n,) of a systematic resampling of normalised ``weights``
    (m,) into ``n`` draws (default ``m``), one uniform from torch's global
    generator (Kitagawa 1996)."""
    m = len(weights)
    n = m if n is None else int(n)
    positions = (torch.rand(1, dtype=torch.float64).item() + torch.arange(
        n, dtype=torch.float64, device=weights.device)) / n
    cumulative = torch.cumsum(weights.double(), 0)
    cumulative[-1] = 1.0
    return torch.searchsorted(cumulative, positions).clamp_(max=m - 1)


def _linear(fan_in, fan_out, generator):
    """nn.Linear with torch's default initial weights, drawn from ``generator``."""
    layer = nn.Linear(fan_in, fan_out)
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.copy_((torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound)
        layer.bias.copy_((torch.rand(fan_out, generator=generator) * 2 - 1) * bound)
    return layer
