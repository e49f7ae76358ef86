"""dimod samplers chosen by name: ``gibbs``, ``sa``, ``sa-optimise``, ``exact``, ``qpu``.

Every sampler is a ``dimod.Sampler``: ``sampler.sample(bqm, num_reads=...,
**options) -> dimod.SampleSet``. Boltzmann samplers target
p(x) proportional to exp(-beta E(x)), dimod's energy convention
E(x) = h.x + sum_{i<j} J_ij x_i x_j + offset.

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
``qpu``
    :class:`QPUSampler`: D-Wave hardware (extra ``dwave``), fixed
    embedding, problem scaled by beta/beta_eff and clipped, ``beta_eff``
    re-estimated by maximum pseudo-likelihood. Without credentials:
    :class:`QPUUnavailableError` at construction, within a second.

Third-party samplers plug in through the entry-point group
``cryostar_boltz.samplers`` (:data:`ENTRY_POINT_GROUP`): an entry point
``name = package.module:factory`` where ``factory(**options)`` returns a
``dimod.Sampler`` (a sampler class works). Built-in names win over entry
points of the same name.
"""
from __future__ import annotations

from importlib.metadata import entry_points

import dimod

from .ais import ais_log_partition
from .dense import DenseBQM, colour_classes
from .exact import ExactSampler, exact_distribution, log_partition_function
from .gibbs import GibbsSampler
from .qpu import QPUSampler, QPUUnavailableError, effective_beta, estimate_beta_mpl
from .sa import SimulatedAnnealingBoltzmannSampler

ENTRY_POINT_GROUP = "cryostar_boltz.samplers"


class UnknownSamplerError(ValueError):
    """A sampler name that is neither built in nor an installed entry point."""


def _sa(**options):
    return SimulatedAnnealingBoltzmannSampler(schedule="constant", **options)


def _sa_optimise(**options):
    return SimulatedAnnealingBoltzmannSampler(schedule="anneal", **options)


#: Built-in sampler factories by name; each returns a ``dimod.Sampler``.
SAMPLERS = {"gibbs": GibbsSampler, "sa": _sa, "sa-optimise": _sa_optimise,
            "exact": ExactSampler, "qpu": QPUSampler}


def _entry_points():
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_samplers():
    """Names accepted by :func:`get_sampler`, built-in first."""
    return list(SAMPLERS) + sorted(set(_entry_points()) - set(SAMPLERS))


def get_sampler(name, **options):
    """The ``dimod.Sampler`` called ``name``, built with ``options``."""
    if isinstance(name, dimod.Sampler):
        return name
    factory = SAMPLERS.get(name)
    if factory is None:
        plugin = _entry_points().get(name)
        if plugin is None:
            raise UnknownSamplerError(f"unknown sampler {name!r}; available: "
                                      f"{', '.join(available_samplers())}")
        factory = plugin.load()
    sampler = factory(**options)
    if not isinstance(sampler, dimod.Sampler):
        raise UnknownSamplerError(f"sampler {name!r} is a {type(sampler).__name__}, "
                                  "not a dimod.Sampler")
    return sampler


__all__ = ["SAMPLERS", "ENTRY_POINT_GROUP", "UnknownSamplerError", "available_samplers",
           "get_sampler", "GibbsSampler", "SimulatedAnnealingBoltzmannSampler",
           "ExactSampler", "QPUSampler", "QPUUnavailableError", "DenseBQM",
           "colour_classes", "ais_log_partition", "exact_distribution",
           "log_partition_function", "effective_beta", "estimate_beta_mpl"]
