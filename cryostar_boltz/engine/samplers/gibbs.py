"""``gibbs``: vectorised block-Gibbs Boltzmann sampler in torch (CPU or GPU).

Samples p(x) proportional to exp(-beta E(x)) for any BQM. Variables are
grouped by a colouring of the interaction graph; every group is updated at
once for all chains (two matrix products per sweep for an RBM, one
single-site update per variable for a dense model). Persistent chains:
pass the previous ``SampleSet`` as ``initial_states``.
"""
from __future__ import annotations

import time

import dimod
import numpy as np
import torch
from dimod.core.initialized import Initialized

from .dense import DenseBQM


class GibbsSampler(dimod.Sampler, Initialized):
    """Block-Gibbs sampler at a fixed inverse temperature ``beta``.

    Parameters of :meth:`sample`: ``num_reads`` (chains), ``num_sweeps``,
    ``beta``, ``initial_states`` (a SampleSet or samples-like: persistent
    chains), ``initial_states_generator`` ('random', 'tile' or 'none'),
    ``seed`` and ``device`` (a torch device).
    """

    parameters = {"num_reads": [], "num_sweeps": [], "beta": [],
                  "initial_states": [], "initial_states_generator": [],
                  "seed": [], "device": []}
    properties = {"vartypes": ("SPIN", "BINARY"), "boltzmann": True}

    def __init__(self, device="cpu", dtype=torch.float32):
        self.device = device
        self.dtype = dtype

    def sample(self, bqm, num_reads=None, num_sweeps=100, beta=1.0,
               initial_states=None, initial_states_generator="random",
               seed=None, device=None, **kwargs):
        """Gibbs-sample ``bqm``; ``info`` holds beta, sweeps and timing."""
        self.remove_unknown_kwargs(**kwargs)
        if num_sweeps < 0:
            raise ValueError(f"num_sweeps must be >= 0, got {num_sweeps}")
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite non-negative number, got {beta}")
        start = time.perf_counter()
        parsed = self.parse_initial_states(
            bqm, initial_states=initial_states,
            initial_states_generator=initial_states_generator,
            num_reads=num_reads, seed=seed)
        device = torch.device(device or self.device)
        model = DenseBQM.from_bqm(bqm, device=device, dtype=self.dtype)
        states = parsed.initial_states
        columns = [states.variables.index(v) for v in model.labels]
        x = torch.as_tensor(np.asarray(states.record.sample[:, columns], dtype=np.float64),
                            dtype=self.dtype, device=device)
        generator = torch.Generator(device=device)
        generator.manual_seed(int(parsed.seed) if parsed.seed is not None
                              else int(np.random.SeedSequence().generate_state(1)[0]))
        model.sweep(x, beta=beta, num_sweeps=num_sweeps, generator=generator)
        samples = x.to(torch.int8).cpu().numpy()
        elapsed = time.perf_counter() - start
        info = {"sampler": "gibbs", "beta": float(beta), "num_sweeps": int(num_sweeps),
                "num_blocks": len(model.blocks),
                "timing": {"sample_seconds": elapsed}}
        return dimod.SampleSet.from_samples_bqm((samples, model.labels), bqm, info=info)
