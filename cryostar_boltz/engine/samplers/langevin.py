"""``langevin`` and ``mala``: Langevin samplers of a continuous energy.

Both move every chain by the Langevin step (one "sweep": all variables
at once)

    z' = z - eps beta dF/dz + sqrt(2 eps) xi,   xi ~ N(0, I),

with ``step_size`` eps (Pang et al. 2020 write s^2 / 2 for eps).

``langevin``
    :class:`LangevinSampler`, unadjusted (ULA): the short-run sampler of
    the latent EBM prior (Pang et al., NeurIPS 2020: 60 steps of s = 0.4
    from N(0, I), about 5 units of Langevin time; here 100 steps of eps =
    0.05 by default). Its samples carry a bias of order eps (for a unit
    Gaussian the variance comes out as 1 / (1 - eps / 2)).
``mala``
    :class:`MALASampler`, Metropolis-adjusted Langevin (Roberts and
    Tweedie 1996): each move is accepted with the Metropolis-Hastings
    probability, which makes exp(-beta F) exactly invariant; exact in the
    limit of many sweeps. During the first half of the sweeps (burn-in)
    the step adapts towards 57.4 % acceptance (the optimal scaling of
    Roberts and Rosenthal 1998), then stays fixed.

:func:`langevin_step` and :func:`mala_step` are the moves themselves,
used by the samplers, by annealed importance sampling
(:func:`~.ais.ais_log_partition_continuous`) and by the persistent chains
of the ``ebm`` prior.
"""
from __future__ import annotations

import math

import torch

from .continuous import ContinuousSampler

#: Acceptance rate the MALA step adapts to (Roberts and Rosenthal 1998).
TARGET_ACCEPTANCE = 0.574


def _noise(z, generator):
    return torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)


def langevin_step(value_and_gradient, z, step, generator, gradient=None):
    """One unadjusted Langevin move of states z (n, d) under the energy
    whose ``value_and_gradient(z) -> (F (n,), dF/dz (n, d))`` is given
    (beta folded in); ``step`` eps, a number or (n, 1). ``gradient``: dF/dz
    at z when already known. Returns the new states."""
    if gradient is None:
        _, gradient = value_and_gradient(z)
    return z - step * gradient + torch.sqrt(2.0 * torch.as_tensor(step, dtype=z.dtype)) \
        * _noise(z, generator)


def mala_step(value_and_gradient, z, step, generator, value=None, gradient=None):
    """One Metropolis-adjusted Langevin move of states z (n, d).

    ``value_and_gradient`` and ``step`` as :func:`langevin_step`; ``value``
    and ``gradient``: F and dF/dz at z when already known. Returns
    ``(z, value, gradient, accepted)``: the new states, their F and dF/dz,
    and which chains moved (n,) bool."""
    if value is None or gradient is None:
        value, gradient = value_and_gradient(z)
    step = torch.as_tensor(step, dtype=z.dtype, device=z.device)
    noise = _noise(z, generator)
    proposal = z - step * gradient + torch.sqrt(2.0 * step) * noise
    new_value, new_gradient = value_and_gradient(proposal)
    forward = -0.5 * noise.pow(2).sum(-1)
    reverse = -(z - proposal + step * new_gradient).pow(2).sum(-1) / (4.0 * step.reshape(-1))
    log_ratio = value - new_value + reverse - forward
    uniform = torch.rand(len(z), generator=generator, dtype=z.dtype, device=z.device)
    accepted = torch.log(uniform) < log_ratio
    accepted &= torch.isfinite(new_value)
    keep = accepted[:, None]
    return (torch.where(keep, proposal, z), torch.where(accepted, new_value, value),
            torch.where(keep, new_gradient, gradient), accepted)


def adapted_step(step, acceptance, rate=0.1, target=TARGET_ACCEPTANCE):
    """The step after one adaptation: multiplied by exp(rate (acceptance -
    target))."""
    return step * math.exp(rate * (float(acceptance) - target))


def _tempered(model, beta):
    def value_and_gradient(z):
        value, gradient = model.energy_and_gradient(z)
        return beta * value, beta * gradient
    return value_and_gradient


def _check(num_sweeps, step_size):
    if int(num_sweeps) < 0:
        raise ValueError("num_sweeps must be >= 0, got %r" % (num_sweeps,))
    if not math.isfinite(step_size) or step_size <= 0:
        raise ValueError("step_size must be a finite positive number, got %r" % (step_size,))


class LangevinSampler(ContinuousSampler):
    """Unadjusted Langevin (ULA), short-run from N(0, I) unless
    ``initial_states`` are given. Options of :meth:`sample`: ``num_reads``,
    ``num_sweeps`` (steps, default 100), ``step_size`` (eps, default 0.05),
    ``beta``, ``initial_states``, ``seed``."""

    name = "langevin"
    parameters = {"num_reads": [], "num_sweeps": [], "step_size": [], "beta": [],
                  "initial_states": [], "seed": []}
    properties = {"continuous": True, "vartype": "REAL", "exact": False}

    def _run(self, model, z, beta, generator, num_sweeps=100, step_size=0.05):
        _check(num_sweeps, step_size)
        energy = _tempered(model, beta)
        for _ in range(int(num_sweeps)):
            z = langevin_step(energy, z, step_size, generator)
        return z, {"num_sweeps": int(num_sweeps), "step_size": float(step_size)}


class MALASampler(ContinuousSampler):
    """Metropolis-adjusted Langevin. Options of :meth:`sample`:
    ``num_reads``, ``num_sweeps`` (default 500), ``step_size`` (initial eps,
    default 0.1), ``adapt`` (adapt eps during the first half of the sweeps;
    default True), ``beta``, ``initial_states``, ``seed``. ``info`` adds
    ``acceptance`` (after burn-in) and the final ``step_size``."""

    name = "mala"
    parameters = {"num_reads": [], "num_sweeps": [], "step_size": [], "adapt": [],
                  "beta": [], "initial_states": [], "seed": []}
    properties = {"continuous": True, "vartype": "REAL", "exact": True}

    def _run(self, model, z, beta, generator, num_sweeps=500, step_size=0.1, adapt=True):
        _check(num_sweeps, step_size)
        energy = _tempered(model, beta)
        value, gradient = energy(z)
        burn_in = int(num_sweeps) // 2 if adapt else 0
        moved = total = 0
        for sweep in range(int(num_sweeps)):
            z, value, gradient, accepted = mala_step(energy, z, step_size, generator,
                                                     value, gradient)
            if sweep < burn_in:
                step_size = adapted_step(step_size, accepted.double().mean())
            else:
                moved, total = moved + int(accepted.sum()), total + len(accepted)
        return z, {"num_sweeps": int(num_sweeps), "step_size": float(step_size),
                   "adapt": bool(adapt),
                   "acceptance": moved / total if total else None}
