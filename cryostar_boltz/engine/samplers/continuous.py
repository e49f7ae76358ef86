"""What the continuous samplers share: the energy they sample, their
interface, and log Z by numerical integration in one or two dimensions.

A continuous sampler is the counterpart of a dimod sampler for a real
latent: where a dimod sampler takes a binary quadratic model, it takes an
:class:`EnergyModel`, a differentiable energy F over R^d, and draws z from
p(z) proportional to exp(-beta F(z)). It keeps dimod's shape
(``parameters``, ``properties``, ``sample(model, num_reads=..., **options)
-> dimod.SampleSet``); the sample set's variables are REAL (dimod's
``Vartype.REAL``), labelled as the model's, with ``energy`` F(z) (at beta
1, as dimod samplers report the BQM's energy). It is not a
``dimod.Sampler`` (those accept BQMs only): :func:`is_continuous` tells the
two kinds apart in the one registry.
"""
from __future__ import annotations

import math
import time
import warnings

import dimod
import numpy as np
import torch

LOG_2PI = math.log(2.0 * math.pi)


class EnergyModel:
    """A differentiable energy F(z) over ``num_variables`` real variables.

    ``energy``: a callable taking z (n, d) (a tensor of ``dtype`` on
    ``device``) and returning F (n,) in nats, differentiable in z.
    ``labels``: the variables' labels in a sample set (default 0..d-1).
    A prior gives its own with ``prior.energy_model()``.
    """

    def __init__(self, energy, num_variables, labels=None, dtype=torch.float64,
                 device="cpu"):
        if int(num_variables) < 1:
            raise ValueError("an energy model needs at least one variable")
        self._energy = energy
        self.num_variables = int(num_variables)
        self.labels = list(range(self.num_variables)) if labels is None else list(labels)
        if len(self.labels) != self.num_variables:
            raise ValueError("%d labels for %d variables" % (len(self.labels),
                                                             self.num_variables))
        self.dtype = dtype
        self.device = torch.device(device)

    def energy(self, z):
        """F(z) (n,) of states z (n, d), without a graph."""
        with torch.no_grad():
            return self._energy(z.to(self.dtype))

    def energy_and_gradient(self, z):
        """(F(z) (n,), dF/dz (n, d)) of states z (n, d), both detached.
        Only z is differentiated: the gradients of any parameters inside
        F are left as they are."""
        with torch.enable_grad():
            z = z.detach().to(self.dtype).requires_grad_(True)
            value = self._energy(z)
            (gradient,) = torch.autograd.grad(value.sum(), z)
        return value.detach(), gradient.detach()

    def energies(self, samples):
        """F of an array (n, d) or sample set, as a float64 numpy array."""
        if isinstance(samples, dimod.SampleSet):
            samples = samples_array(samples, self.labels)
        z = torch.as_tensor(np.asarray(samples), dtype=self.dtype, device=self.device)
        return self.energy(z).double().cpu().numpy()


def samples_array(sampleset, labels):
    """The samples of ``sampleset`` as an (n, len(labels)) array in
    ``labels`` order, one row per occurrence."""
    columns = [sampleset.variables.index(v) for v in labels]
    samples = sampleset.record.sample[:, columns]
    return np.repeat(samples, sampleset.record.num_occurrences, axis=0)


def is_continuous(sampler):
    """Whether ``sampler`` (an object) samples an :class:`EnergyModel`."""
    return isinstance(sampler, ContinuousSampler)


class ContinuousSampler:
    """The interface of a continuous sampler (see the module docstring).

    Subclasses set ``parameters`` (the keyword arguments of :meth:`sample`)
    and implement :meth:`_run` (states (num_reads, d) in, states out, plus
    an info dict). Common options of :meth:`sample`: ``num_reads`` (chains,
    one sample each), ``beta`` (inverse temperature), ``initial_states``
    (an array (num_reads, d) or a sample set: persistent chains; default
    N(0, I) draws, the base measure of every prior here), ``seed``.
    """

    parameters = {}
    properties = {"continuous": True, "vartype": "REAL"}
    name = ""

    def remove_unknown_kwargs(self, **kwargs):
        """Warn about (and drop) options this sampler does not take, as
        dimod samplers do."""
        for key in kwargs:
            if key not in self.parameters:
                warnings.warn("sampler %s ignores option %r" % (self.name, key),
                              dimod.exceptions.SamplerUnknownArgWarning, stacklevel=3)
        return {k: v for k, v in kwargs.items() if k in self.parameters}

    def sample(self, model, num_reads=None, beta=1.0, initial_states=None, seed=None,
               **kwargs):
        """Draw ``num_reads`` states of exp(-beta F) from ``model``; returns
        a REAL ``dimod.SampleSet`` whose ``info`` holds the sampler's name,
        beta, its own facts and ``timing``."""
        if not isinstance(model, EnergyModel):
            raise TypeError("sampler %s samples an EnergyModel (a continuous "
                            "energy), not a %s" % (self.name, type(model).__name__))
        options = self.remove_unknown_kwargs(**kwargs)
        if not np.isfinite(beta) or beta <= 0:
            raise ValueError("beta must be a finite positive number, got %r" % (beta,))
        start = time.perf_counter()
        generator = torch.Generator(device=model.device)
        generator.manual_seed(int(seed) if seed is not None
                              else int(np.random.SeedSequence().generate_state(1)[0]))
        z = self._initial(model, num_reads, initial_states, generator)
        z, info = self._run(model, z, float(beta), generator, **options)
        energies = model.energy(z).double().cpu().numpy()
        info.update({"sampler": self.name, "beta": float(beta),
                     "timing": {"sample_seconds": time.perf_counter() - start}})
        return dimod.SampleSet.from_samples(
            (z.double().cpu().numpy(), model.labels), vartype="REAL",
            energy=energies, info=info)

    @staticmethod
    def _initial(model, num_reads, initial_states, generator):
        d = model.num_variables
        if initial_states is not None:
            if isinstance(initial_states, dimod.SampleSet):
                initial_states = samples_array(initial_states, model.labels)
            z = torch.as_tensor(np.asarray(initial_states), dtype=model.dtype,
                                device=model.device)
            if z.dim() != 2 or z.shape[1] != d:
                raise ValueError("initial_states must be (num_reads, %d), got %s"
                                 % (d, tuple(z.shape)))
            if num_reads is not None and int(num_reads) != len(z):
                raise ValueError("num_reads %d differs from the %d initial states"
                                 % (num_reads, len(z)))
            return z.clone()
        n = 1 if num_reads is None else int(num_reads)
        if n < 1:
            raise ValueError("num_reads must be >= 1, got %d" % n)
        return torch.randn(n, d, generator=generator, dtype=model.dtype,
                           device=model.device)

    def _run(self, model, z, beta, generator, **options):
        raise NotImplementedError


def grid_log_partition(model, half_width=8.0, points=None, beta=1.0, chunk=65536):
    """log of the integral of exp(-beta F(z)) over [-half_width,
    half_width]^d by the rectangle rule on a regular grid (spectrally
    accurate for a smooth integrand that has decayed at the edges), for
    d = 1 or 2. ``points`` per axis: 4001 in 1-D, 401 in 2-D by default.
    Returns a float; ValueError above two dimensions."""
    d = model.num_variables
    if d > 2:
        raise ValueError("numerical integration is for 1 or 2 dimensions, not %d" % d)
    points = int(points or (4001 if d == 1 else 401))
    axis = torch.linspace(-half_width, half_width, points, dtype=model.dtype,
                          device=model.device)
    step = float(axis[1] - axis[0])
    grid = (torch.cartesian_prod(axis, axis) if d == 2 else axis[:, None])
    parts = [-beta * model.energy(grid[i:i + chunk]) for i in range(0, len(grid), chunk)]
    return float(torch.logsumexp(torch.cat(parts).double(), 0)) + d * math.log(step)
