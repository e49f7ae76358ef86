"""Annealed importance sampling (Salakhutdinov and Murray 2008) for log Z.

For models too big to enumerate: chains start uniform (beta = 0, where
log Z = n log 2) and are carried to the target beta through Gibbs sweeps at
intermediate temperatures, accumulating importance weights.
"""
from __future__ import annotations

import math

import dimod
import numpy as np
import torch

from .dense import DenseBQM


def ais_log_partition(model, beta=1.0, num_chains=500, num_betas=1000,
                      generator=None, dtype=torch.float64):
    """Estimate log sum_x exp(-beta E(x)) of a BQM or :class:`DenseBQM`.

    Returns ``(log_z, standard_error)``; the error is the delta-method
    standard error of the log of the mean importance weight.
    """
    if isinstance(model, dimod.BinaryQuadraticModel):
        model = DenseBQM.from_bqm(model, dtype=dtype)
    if num_betas < 2 or num_chains < 2:
        raise ValueError("AIS needs at least 2 temperatures and 2 chains")
    n = model.num_variables
    betas = np.linspace(0.0, float(beta), int(num_betas))
    with torch.no_grad():
        x = model.random_states(num_chains, generator=generator)
        log_w = torch.zeros(num_chains, dtype=x.dtype, device=x.device)
        for previous, current in zip(betas[:-1], betas[1:]):
            log_w -= (current - previous) * model.energy(x)
            model.sweep(x, beta=current, num_sweeps=1, generator=generator)
        log_w = log_w.double()
        log_mean = torch.logsumexp(log_w, 0) - math.log(num_chains)
        weights = torch.exp(log_w - log_mean)
        error = float(weights.std() / math.sqrt(num_chains))
    return float(n * math.log(2.0) + log_mean), error
