"""Samplers chosen by name: the dimod samplers ``gibbs``, ``sa``,
``sa-optimise``, ``exact``, ``qpu`` of binary models, and the continuous
samplers ``langevin`` and ``mala`` of real latents.

Two kinds share one registry (:data:`SAMPLERS`, :func:`get_sampler`):

* a dimod sampler is a ``dimod.Sampler``: ``sampler.sample(bqm,
  num_reads=..., **options) -> dimod.SampleSet``. Boltzmann samplers
  target p(x) proportional to exp(-beta E(x)), dimod's energy convention
  E(x) = h.x + sum_{i<j} J_ij x_i x_j + offset;
* a continuous sampler (:class:`ContinuousSampler`) has the same shape
  but takes an :class:`EnergyModel`, a differentiable energy F(z) over
  R^d, in place of the BQM: ``sampler.sample(model, num_reads=...,
  **options) -> dimod.SampleSet`` of REAL variables, targeting
  p(z) proportional to exp(-beta F(z)). A prior with a continuous latent
  gives its F with ``prior.energy_model()`` (for a grbm, F has its hidden
  units summed out). :func:`is_continuous` tells the kinds apart.

Built-in names (:data:`SAMPLERS`):

``gibbs``
    :class:`GibbsSampler`: vectorised block-Gibbs in torch (CPU or GPU),
    any BQM, two matrix products per sweep for a bipartite model (RBM).
    Options: ``num_reads``, ``num_sweeps`` (100), ``beta`` (1),
    ``initial_states`` (a previous SampleSet: persistent chains), ``seed``,
    ``device``.
``sa``
    dwave-samplers simulated annealing at a constant ``beta``: a Boltzmann
    sampler (:class:`SimulatedAnnealingBoltzmannSampler`).
``sa-optimise``
    the same with dwave-samplers' default annealing schedule: an optimiser
    for the lowest-energy states (basins), not a Boltzmann sampler.
``exact``
    :class:`ExactSampler`: exact samples, ``log_partition_function`` and
    ``variable_marginals`` in ``info`` (enumeration up to 20 variables,
    ``TreeDecompositionSampler`` beyond, or ``method=``).
``langevin``
    :class:`LangevinSampler`: unadjusted Langevin, short-run from N(0, I)
    (the latent EBM prior's sampler; Pang et al. 2020). Options:
    ``num_reads``, ``num_sweeps`` (Langevin steps, 100), ``step_size``
    (0.05), ``beta``, ``initial_states``, ``seed``.
``mala``
    :class:`MALASampler`: Metropolis-adjusted Langevin, exact in the limit
    of many sweeps; step adapted during burn-in. Options as ``langevin``
    plus ``adapt`` (``num_sweeps`` 500, ``step_size`` 0.1 to start).
``qpu``
    :class:`QPUSampler`: D-Wave hardware (extra ``dwave``), fixed
    embedding, problem scaled by beta/beta_eff and clipped, ``beta_eff``
    re-estimated by maximum pseudo-likelihood. Without credentials:
    :class:`QPUUnavailableError` at construction, within a second.

Third-party samplers plug in through the entry-point group
``cryostar_boltz.samplers`` (:data:`ENTRY_POINT_GROUP`): an entry point
``name = package.module:factory`` where ``factory(**options)`` returns a
``dimod.Sampler`` or a :class:`ContinuousSampler` (a sampler class
works). Built-in names win over entry points of the same name.
"""
from __future__ import annotations

from importlib.metadata import entry_points

import dimod

from .ais import ais_log_partition, ais_log_partition_continuous
from .continuous import ContinuousSampler, EnergyModel, grid_log_partition, is_continuous
from .dense import DenseBQM, colour_classes
from .exact import ExactSampler, exact_distribution, log_partition_function
from .gibbs import GibbsSampler
from .langevin import LangevinSampler, MALASampler
from .qpu import QPUSampler, QPUUnavailableError, effective_beta, estimate_beta_mpl
from .sa import SimulatedAnnealingBoltzmannSampler

ENTRY_POINT_GROUP = "cryostar_boltz.samplers"


class UnknownSamplerError(ValueError):
    """A sampler name that is neither built in nor an installed entry point."""


def _sa(**options):
    return SimulatedAnnealingBoltzmannSampler(schedule="constant", **options)


def _sa_optimise(**options):
    return SimulatedAnnealingBoltzmannSampler(schedule="anneal", **options)


#: Built-in sampler factories by name; each returns a ``dimod.Sampler``
#: (binary models) or a :class:`ContinuousSampler` (real latents).
SAMPLERS = {"gibbs": GibbsSampler, "sa": _sa, "sa-optimise": _sa_optimise,
            "exact": ExactSampler, "qpu": QPUSampler,
            "langevin": LangevinSampler, "mala": MALASampler}
#: The continuous samplers among :data:`SAMPLERS`.
CONTINUOUS_SAMPLERS = ("langevin", "mala")


def _entry_points():
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_samplers():
    """Names accepted by :func:`get_sampler`, built-in first."""
    return list(SAMPLERS) + sorted(set(_entry_points()) - set(SAMPLERS))


def get_sampler(name, **options):
    """The sampler called ``name`` (a ``dimod.Sampler`` or a
    :class:`ContinuousSampler`), built with ``options``; a sampler object
    is returned as it is."""
    if isinstance(name, (dimod.Sampler, ContinuousSampler)):
        return name
    factory = SAMPLERS.get(name)
    if factory is None:
        plugin = _entry_points().get(name)
        if plugin is None:
            raise UnknownSamplerError(f"unknown sampler {name!r}; available: "
                                      f"{', '.join(available_samplers())}")
        factory = plugin.load()
    sampler = factory(**options)
    if not isinstance(sampler, (dimod.Sampler, ContinuousSampler)):
        raise UnknownSamplerError(f"sampler {name!r} is a {type(sampler).__name__}, "
                                  "not a dimod.Sampler or a ContinuousSampler")
    return sampler


__all__ = ["SAMPLERS", "CONTINUOUS_SAMPLERS", "ENTRY_POINT_GROUP", "UnknownSamplerError",
           "available_samplers", "get_sampler", "is_continuous", "ContinuousSampler",
           "EnergyModel", "LangevinSampler", "MALASampler", "grid_log_partition",
           "ais_log_partition_continuous", "GibbsSampler", "SimulatedAnnealingBoltzmannSampler",
           "ExactSampler", "QPUSampler", "QPUUnavailableError", "DenseBQM",
           "colour_classes", "ais_log_partition", "exact_distribution",
           "log_partition_function", "effective_beta", "estimate_beta_mpl"]
