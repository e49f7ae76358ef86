"""Annealed importance sampling (Salakhutdinov and Murray 2008) for log Z.

For models too big to enumerate: chains start uniform (beta = 0, where
log Z = n log 2) and are carried to the target beta through Gibbs sweeps at
intermediate temperatures, accumulating importance weights.
:func:`ais_log_partition_continuous` does the same for a continuous energy
(from N(0, I), Metropolis-adjusted Langevin moves).
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


def ais_log_partition_continuous(model, num_chains=256, num_betas=200, step_size=0.1,
                                 generator=None):
    """Estimate log of the integral of exp(-F(z)) over R^d for an
    :class:`~.continuous.EnergyModel` F by annealed importance sampling
    from N(0, I) (Neal 2001).

    The path F_b(z) = (1 - b) |z|^2 / 2 + b F(z), b from 0 to 1 in
    ``num_betas`` equal steps, starts at the standard normal (log Z_0 =
    d log(2 pi) / 2) and ends at F; each temperature moves every chain by
    one Metropolis-adjusted Langevin step (:func:`~.langevin.mala_step`,
    which leaves F_b invariant: the estimate of Z is unbiased), its step
    adapted towards 57 % acceptance. Every F_b is normalisable when F
    is (a convex combination of two confining energies); the estimate is
    good when F's mass lies within reach of N(0, I) (a prior's
    F = E(z) + |z|^2 / 2 with a neural E of at most linear growth).

    Returns ``(log_z, standard_error)``, the error the delta-method
    standard error of the log of the mean importance weight."""
    from .langevin import adapted_step, mala_step
    if num_betas < 2 or num_chains < 2:
        raise ValueError("AIS needs at least 2 temperatures and 2 chains")
    d = model.num_variables
    betas = np.linspace(0.0, 1.0, int(num_betas))
    z = torch.randn(int(num_chains), d, generator=generator, dtype=model.dtype,
                    device=model.device)
    log_w = torch.zeros(int(num_chains), dtype=torch.float64, device=model.device)
    free, grad = model.energy_and_gradient(z)
    proposed = {}

    def tempered(x, b):
        value, gradient = model.energy_and_gradient(x)
        proposed["free"], proposed["grad"] = value, gradient
        return (1.0 - b) * 0.5 * x.pow(2).sum(-1) + b * value, (1.0 - b) * x + b * gradient

    for previous, current in zip(betas[:-1], betas[1:]):
        log_w -= (current - previous) * (free - 0.5 * z.pow(2).sum(-1)).double()
        value = (1.0 - current) * 0.5 * z.pow(2).sum(-1) + current * free
        gradient = (1.0 - current) * z + current * grad
        z, _, _, accepted = mala_step(lambda x, b=current: tempered(x, b), z, step_size,
                                      generator, value, gradient)
        free = torch.where(accepted, proposed["free"], free)
        grad = torch.where(accepted[:, None], proposed["grad"], grad)
        step_size = adapted_step(step_size, accepted.double().mean())
    log_mean = torch.logsumexp(log_w, 0) - math.log(num_chains)
    weights = torch.exp(log_w - log_mean)
    error = float(weights.std() / math.sqrt(num_chains))
    return float(0.5 * d * math.log(2.0 * math.pi) + log_mean), error
