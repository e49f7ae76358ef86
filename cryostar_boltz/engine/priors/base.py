"""The interface every latent prior implements, and what the families share.

A prior is a ``torch.nn.Module``; every parameter, persistent Gibbs chain
and cached log Z is a parameter or buffer, so ``state_dict()`` saves it
with a checkpoint, and ``build_prior(**prior.config())`` followed by
``load_state_dict`` restores it (:mod:`cryostar_boltz.engine.priors`).

Shapes: ``B`` particles in a batch, ``d = latent_dim`` the continuous
latent, ``n`` points or samples. Energies and log-probabilities are in
nats (natural logarithms); the free energy F is defined by
p(z) = exp(-F(z)) / Z.
"""
import math

import numpy as np
import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)
#: Particles' posterior means descended to find basins (a seeded random subset beyond).
MAX_PARTICLE_STARTS = 20000


class UnknownPriorError(ValueError):
    """A prior name that is not in :data:`~cryostar_boltz.engine.priors.PRIORS`."""


def gaussian_entropy(logvar):
    """Entropy (nats) of diagonal Gaussians N(mu, exp(logvar)): (B, d) -> (B,).

    H = sum_i (1 + log 2 pi + logvar_i) / 2."""
    return 0.5 * (1.0 + LOG_2PI + logvar).sum(-1)


def reparameterise(mu, logvar, num_samples=1):
    """(num_samples, B, d) draws z = mu + exp(logvar / 2) eps, eps ~ N(0, I),
    from q = N(mu, exp(logvar)); differentiable in mu and logvar (Kingma and
    Welling 2014). The noise comes from torch's global generator."""
    eps = torch.randn((num_samples,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def seeded_generator(seed, device="cpu"):
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (None: from
    the operating system's entropy)."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


class Prior(nn.Module):
    """The interface shared by every prior.

    ``name``, ``latent_dim``
        registry name and size d of the continuous latent z.
    ``extra_encoder_dim``
        extra logits the encoder must output (``rbm``: one per binary unit;
        0 otherwise); they reach :meth:`kl` and :meth:`decoder_input` as
        ``extra`` (B, extra_encoder_dim).
    ``decoder_input_dim``
        width of what the decoder consumes: ``latent_dim`` plus
        ``extra_encoder_dim``.

    Subclasses implement :meth:`kl`, :meth:`free_energy` and :meth:`sample`;
    :meth:`basins` and :meth:`assign_to_basins` default to the basins of
    F over the continuous latent (:mod:`.landscape`), which a prior whose
    states are binary codes (``rbm``) or that has one basin (``gaussian``)
    replaces; Boltzmann priors also :meth:`to_bqm`. :func:`cryostar_boltz.engine.priors.testing.assert_prior_api`
    checks an implementation.
    """

    name = ""
    extra_encoder_dim = 0
    #: The sampler ``sample-prior`` uses when none is named: ``direct``
    #: (drawn exactly, without a sampler), a dimod sampler or a continuous one.
    default_sampler = "direct"
    #: The prior's learning rate in stage 1 as a multiple of the networks'
    #: (``--prior-lr`` overrides it): the prior learns only through the
    #: small KL term, so a larger rate lets it follow the encoder. At the
    #: networks' own rate a gmm's components spanned less than half the
    #: latents' range after 100 epochs, and their pull drew the outer
    #: states inwards (docs/benchmarks.rst, "Every prior at 10 x").
    lr_factor = 10.0

    def __init__(self, latent_dim, **options):
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self._options = dict(options)

    def config(self):
        """Keyword arguments of ``build_prior`` that rebuild this prior's
        shape and options (``name``, ``latent_dim`` and the options)."""
        return {"name": self.name, "latent_dim": self.latent_dim, **self._options}

    @property
    def decoder_input_dim(self):
        return self.latent_dim + self.extra_encoder_dim

    def check_particles(self, n):
        """ValueError when the prior cannot be fitted to the latents of
        ``n`` particles (checked before a run starts); every ``n`` >= 1
        by default."""

    def _check_posterior(self, mu, logvar):
        if mu.shape != logvar.shape or mu.shape[-1] != self.latent_dim:
            raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must "
                             f"both be (batch, {self.latent_dim})")

    def _check_z(self, z, width=None):
        width = self.latent_dim if width is None else width
        if z.dim() != 2 or z.shape[-1] != width:
            raise ValueError(f"{self.name} prior: z must be (n, {width}), got {tuple(z.shape)}")

    def kl(self, mu, logvar, extra=None):
        """KL(q || p) of posteriors q = N(mu, exp(logvar)) (B, d) each.

        Returns ``(loss (B,), logs)``: the per-particle term to add to the
        objective (its gradient is the KL's) and a dict of floats with at
        least ``kl`` (the KL estimate, nats, batch mean) and ``log_z``.
        Raises ValueError on shapes that do not match the prior."""
        raise NotImplementedError

    def free_energy(self, z):
        """F(z) (n,) of decoder inputs z (n, decoder_input_dim), with
        p(z) proportional to exp(-F(z)). Raises ValueError on another shape."""
        raise NotImplementedError

    def log_z(self):
        """Normaliser log Z of exp(-F(z)) (a 0-d tensor), or None if unknown."""
        return None

    def log_prob(self, z):
        """log p(z) = -F(z) - log Z (n,); ValueError when log Z is unknown."""
        log_z = self.log_z()
        if log_z is None:
            raise ValueError(f"{self.name} prior: log Z is not available")
        return -self.free_energy(z) - log_z

    def sample(self, n, sampler="gibbs", **kw):
        """``n`` latents: ``(z (n, latent_dim), info)``.

        ``info``: ``sampler`` (name), ``energies`` ((n,) BQM energies for
        Boltzmann priors, else None), ``free_energy`` (n,),
        ``decoder_input`` (n, decoder_input_dim): what to decode,
        ``timing`` (dict of seconds); Boltzmann priors add ``beta_eff``
        and ``sampleset_info``. ``kw`` go to the sampler (``seed``,
        ``num_sweeps``, ``beta``...). A continuous sampler (``langevin``,
        ``mala``) samples F of any prior with a continuous latent
        (:meth:`sample_continuous`)."""
        raise NotImplementedError

    def to_bqm(self):
        """The ``dimod.BinaryQuadraticModel`` a dimod sampler consumes, or
        None for priors sampled directly."""
        return None

    def energy_model(self):
        """The :class:`~cryostar_boltz.engine.samplers.EnergyModel` of F over
        the continuous latent (what a continuous sampler consumes), in the
        prior's dtype and device. ValueError for a prior whose decoder
        input has a binary part (``rbm``)."""
        from ..samplers import CONTINUOUS_SAMPLERS, EnergyModel
        if self.extra_encoder_dim:
            raise ValueError("the %s prior's code is binary: continuous samplers (%s) "
                             "do not apply; use a dimod sampler" % (
                                 self.name, ", ".join(CONTINUOUS_SAMPLERS)))
        reference = next(iter(self.parameters()), None)
        dtype = reference.dtype if reference is not None else torch.get_default_dtype()
        device = reference.device if reference is not None else "cpu"
        return EnergyModel(self.free_energy, self.latent_dim, dtype=dtype, device=device)

    def sample_continuous(self, n, sampler, **kw):
        """``n`` latents from a continuous ``sampler`` (a name or a
        :class:`~cryostar_boltz.engine.samplers.ContinuousSampler`) run on
        F: ``(z (n, latent_dim), info)`` as :meth:`sample`, with
        ``sampleset_info`` (the sampler's facts: step size, acceptance...).
        ``kw`` go to the sampler (``seed``, ``num_sweeps``, ``step_size``,
        ``beta``...). ValueError as :meth:`energy_model`."""
        import time

        from ..samplers import CONTINUOUS_SAMPLERS, get_sampler, is_continuous
        from ..samplers.continuous import samples_array
        model = self.energy_model()
        label = sampler if isinstance(sampler, str) else type(sampler).__name__
        sampler = get_sampler(sampler)
        if not is_continuous(sampler):
            raise ValueError("sampler %s samples binary models: the %s prior's latent is "
                             "continuous; use %s" % (label, self.name,
                                                     " or ".join(CONTINUOUS_SAMPLERS)))
        start = time.perf_counter()
        sampleset = sampler.sample(model, num_reads=int(n), **kw)
        z = torch.as_tensor(samples_array(sampleset, model.labels), dtype=model.dtype)
        with torch.no_grad():
            free = self.free_energy(z.to(model.device)).cpu()
        return z, {"sampler": sampler.name, "energies": None, "free_energy": free,
                   "decoder_input": z, "sampleset_info": sampleset.info,
                   "timing": {"sample_seconds": time.perf_counter() - start}}

    def basins(self, sampler=None, num_reads=200, max_basins=None, particles=None,
               seed=0, **kw):
        """Distinct states of the prior, lowest free energy first: dicts with
        ``h`` (bits, or None), ``energy``, ``count``, ``z`` (decoder input,
        (decoder_input_dim,)) and ``free_energy`` (F at ``z``).

        For a continuous latent (the default here) the basins of F(z)
        (:func:`.landscape.find_basins`): descent of F from ``num_reads``
        prior samples (drawn with ``sampler``, None: the prior's choice,
        seeded by ``seed``) and from ``particles`` (N, latent_dim), the
        particles' posterior means (at most :data:`MAX_PARTICLE_STARTS`,
        a seeded random subset beyond), minima merged when the saddle
        between them is less than ``barrier`` (a keyword, default
        :data:`.landscape.BARRIER` nats) above the higher one; between
        groups that both hold enough particles, when the particles'
        density has no dip of ``barrier`` nats between them instead
        (:func:`.landscape.merge_minima`). ``energy``
        is F at the basin's lowest minimum, ``count`` the prior samples
        descending into it (the ebm's: every persistent chain, weighted, in
        place of ``num_reads`` draws); each basin adds ``prior_population``,
        ``particle_population`` (None without particles), ``minima`` and
        ``exit_barrier`` (nats)."""
        from .landscape import BARRIER, find_basins
        barrier = kw.pop("barrier", BARRIER)
        if kw:
            raise ValueError("%s prior basins take no option %s"
                             % (self.name, ", ".join(sorted(kw))))
        with torch.no_grad():
            samples, weights = self._weighted_basin_samples(int(num_reads), sampler, seed)
        if particles is not None:
            particles = np.asarray(particles)
            if len(particles) > MAX_PARTICLE_STARTS:
                pick = np.random.default_rng(seed).choice(len(particles), MAX_PARTICLE_STARTS,
                                                          replace=False)
                particles = particles[np.sort(pick)]
        found = find_basins(self, samples, particles, self._basin_starts(sampler), barrier,
                            max_basins, prior_weights=weights)
        return [self._basin_row(b) for b in found]

    def _basin_samples(self, n, sampler, seed):
        """(n, latent_dim) prior samples whose descent gives each basin's
        prior population."""
        options = {} if sampler is None else {"sampler": sampler}
        return self.sample(n, seed=seed, **options)[0]

    def _weighted_basin_samples(self, n, sampler, seed):
        """Prior samples for the basins' prior populations and their
        importance weights (None: equal): ``_basin_samples``, unweighted."""
        return self._basin_samples(n, sampler, seed), None

    def _basin_starts(self, sampler=None):
        """More starts of the basin search (no population), or None, for
        prior samples drawn with ``sampler``."""
        return None

    def _basin_row(self, basin):
        """A basin of :func:`.landscape.find_basins` in the interface's form."""
        row = dict(basin)
        row.update(h=None, energy=basin["free_energy"],
                   z=np.asarray(basin["z"], dtype=np.float32))
        return row

    def assign_to_basins(self, z, basins, codes=None):
        """The basin (index into ``basins``, from :meth:`basins`) of each
        latent z (n, latent_dim): (n,) int64. ``codes`` (n, units): the
        particles' binary codes, for priors whose basins are codes.

        For a continuous latent (the default here) the basin of
        attraction: the basin holding the minimum of F nearest the end of
        z's descent (:func:`.landscape.assign`).

        Raises ValueError when ``basins`` is empty, for a prior with a
        single basin, or when codes are needed and missing."""
        from .landscape import assign
        self._check_basins(basins)
        return assign(self, z, basins)

    def fit_parameters(self):
        """Tensors the final fit to the posteriors (:mod:`.fit`) optimises:
        the parameters (a prior may add tensors fixed during training)."""
        return list(self.parameters())

    def decoder_input(self, z, extra=None, training=False):
        """What the decoder consumes for latents z (B, d): z itself unless
        the prior adds a code (see ``rbm``)."""
        return z

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _check_basins(basins):
        if not basins:
            raise ValueError("the prior has no basins to assign particles to")
