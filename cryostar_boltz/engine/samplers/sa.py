"""``sa`` and ``sa-optimise``: dwave-samplers simulated annealing.

``sa`` runs Metropolis sweeps at one constant inverse temperature, which
makes simulated annealing a Boltzmann sampler of p(x) ~ exp(-beta E(x)).
``sa-optimise`` keeps dwave-samplers' default annealing schedule, which
ends far colder than beta = 1: an optimiser, the tool for the lowest-energy
states (basins) of a prior, not for Boltzmann samples.
"""
from __future__ import annotations

import time

import dimod
import numpy as np


class SimulatedAnnealingBoltzmannSampler(dimod.Sampler):
    """Simulated annealing with a constant schedule (``schedule='constant'``)
    or dwave-samplers' default annealing schedule (``schedule='anneal'``).

    Parameters of :meth:`sample`: ``num_reads``, ``num_sweeps``, ``beta``
    (constant schedule only), ``initial_states`` (persistent chains),
    ``seed``, ``schedule``.
    """

    parameters = {"num_reads": [], "num_sweeps": [], "beta": [],
                  "initial_states": [], "initial_states_generator": [],
                  "seed": [], "schedule": []}

    def __init__(self, schedule="constant"):
        from dwave.samplers import SimulatedAnnealingSampler
        if schedule not in ("constant", "anneal"):
            raise ValueError(f"schedule must be 'constant' or 'anneal', got {schedule!r}")
        self.schedule = schedule
        self.child = SimulatedAnnealingSampler()

    @property
    def properties(self):
        return {"schedule": self.schedule, "boltzmann": self.schedule == "constant"}

    def sample(self, bqm, num_reads=None, num_sweeps=None, beta=1.0,
               initial_states=None, initial_states_generator="random",
               seed=None, schedule=None, **kwargs):
        """Sample ``bqm`` with simulated annealing; ``info`` holds the schedule."""
        self.remove_unknown_kwargs(**kwargs)
        schedule = schedule or self.schedule
        options = {"num_reads": num_reads, "seed": seed,
                   "initial_states": initial_states,
                   "initial_states_generator": initial_states_generator}
        if schedule == "constant":
            sweeps = 100 if num_sweeps is None else int(num_sweeps)
            if not np.isfinite(beta) or beta < 0:
                raise ValueError(f"beta must be a finite non-negative number, got {beta}")
            options.update(beta_schedule_type="custom", num_sweeps=sweeps,
                           num_sweeps_per_beta=1,
                           beta_schedule=np.full(sweeps, float(beta)))
        elif schedule == "anneal":
            sweeps = 1000 if num_sweeps is None else int(num_sweeps)
            options["num_sweeps"] = sweeps
        else:
            raise ValueError(f"schedule must be 'constant' or 'anneal', got {schedule!r}")
        start = time.perf_counter()
        if len(bqm) == 0:
            result = dimod.SampleSet.from_samples_bqm(
                (np.empty((1 if num_reads is None else int(num_reads), 0)), []), bqm)
        else:
            result = self.child.sample(bqm, **options)
        result.info.update({"sampler": "sa" if schedule == "constant" else "sa-optimise",
                            "schedule": schedule, "num_sweeps": sweeps,
                            "timing": {"sample_seconds": time.perf_counter() - start}})
        if schedule == "constant":
            result.info["beta"] = float(beta)
        return result
