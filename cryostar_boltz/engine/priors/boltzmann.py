"""What the Boltzmann-machine priors (``grbm``, ``rbm``) share: a binary
quadratic model over their units, its log Z (exact by enumeration when
small, annealed importance sampling beyond), persistent Gibbs chains for
the negative phase of the gradient, sampling and basins through dimod.

Energies follow dimod's convention for a BINARY model,
E(x) = a.x + sum_{i<j} J_ij x_i x_j + offset, and p(x) proportional to
exp(-E(x)).
"""
import dimod
import numpy as np
import torch

from ..samplers import DenseBQM, ais_log_partition, get_sampler
from .base import Prior, seeded_generator


def all_binary_states(n, dtype, device=None):
    """Every state of ``n`` binary units, (2^n, n), unit j = bit j of the
    row index."""
    index = torch.arange(1 << n, device=device)
    return ((index[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


def _sample_array(sampleset, labels):
    """Samples as an array in ``labels`` order, one row per occurrence."""
    columns = [sampleset.variables.index(v) for v in labels]
    samples = sampleset.record.sample[:, columns]
    return np.repeat(samples, sampleset.record.num_occurrences, axis=0)


class BoltzmannPrior(Prior):
    """A prior built on a binary Boltzmann machine.

    Subclasses define ``_bqm_tensors() -> (linear (U,), coupling (U, U)
    symmetric with zero diagonal, offset)``, differentiable in the
    parameters, so that E(x) = linear.x + x.coupling.x / 2 + offset;
    ``_blocks()`` (Gibbs blocks of mutually independent units);
    ``_exact()`` (whether log Z is enumerated) and ``_exact_log_z()``.

    Log Z and its gradient: exact when ``_exact()``; otherwise the loss
    uses -E averaged over ``num_chains`` persistent chains (advanced
    ``gibbs_steps`` sweeps per training call: the right gradient of log Z,
    not its value), and the value comes from AIS (``ais_chains`` chains,
    ``ais_betas`` temperatures; Salakhutdinov and Murray 2008), refreshed
    every ``ais_every`` training calls or by :meth:`refresh_log_z`.
    """

    default_sampler = "gibbs"

    def _setup_boltzmann(self, num_units, num_chains, gibbs_steps, ais_every,
                         ais_chains, ais_betas, seed):
        self.num_chains = int(num_chains)
        self.gibbs_steps = int(gibbs_steps)
        self.ais_every = int(ais_every)
        self.ais_chains = int(ais_chains)
        self.ais_betas = int(ais_betas)
        generator = seeded_generator(seed + 1)
        self.register_buffer("chains", (torch.rand(self.num_chains, num_units,
                                                   generator=generator) < 0.5).float())
        self.register_buffer("log_z_estimate", torch.tensor(float("nan")))
        self.register_buffer("log_z_error", torch.tensor(float("nan")))
        self.register_buffer("kl_calls", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------ to define
    def _bqm_tensors(self):
        raise NotImplementedError

    def _blocks(self):
        raise NotImplementedError

    def _exact(self):
        raise NotImplementedError

    def _exact_log_z(self):
        raise NotImplementedError

    # ------------------------------------------------------------ the model
    def _log_unnormalised(self, x):
        """-E(x) of binary states (n, units), differentiable in the parameters."""
        linear, coupling, offset = self._bqm_tensors()
        return -(x @ linear + 0.5 * ((x @ coupling) * x).sum(-1) + offset)

    def _dense_model(self):
        linear, coupling, offset = self._bqm_tensors()
        return DenseBQM(linear.detach(), coupling.detach(), float(offset), dimod.BINARY,
                        self._blocks())

    def to_bqm(self):
        """The BINARY ``dimod.BinaryQuadraticModel`` of the units (labels
        0..U-1), float64."""
        linear, coupling, offset = (t.detach().cpu().double().numpy() if torch.is_tensor(t)
                                    else t for t in self._bqm_tensors())
        return dimod.BinaryQuadraticModel(linear, np.triu(coupling, 1), float(offset),
                                          dimod.BINARY)

    @torch.no_grad()
    def sweep_chains(self, num_sweeps=None):
        """Advance the persistent chains by ``num_sweeps`` block-Gibbs sweeps
        (default ``gibbs_steps``), in place; returns them (num_chains, U)."""
        steps = self.gibbs_steps if num_sweeps is None else int(num_sweeps)
        self._dense_model().sweep(self.chains, num_sweeps=steps)
        return self.chains

    # ------------------------------------------------------------ log Z
    @torch.no_grad()
    def refresh_log_z(self):
        """Recompute the AIS estimate of log Z of the BQM and cache it
        (``log_z_estimate``, ``log_z_error``); returns the estimate."""
        log_z, error = ais_log_partition(self._dense_model(), num_chains=self.ais_chains,
                                         num_betas=self.ais_betas)
        self.log_z_estimate.fill_(log_z)
        self.log_z_error.fill_(error)
        return log_z

    def _bqm_log_z(self):
        """log Z of the BQM: exact (differentiable) or the cached AIS value."""
        if self._exact():
            return self._exact_log_z()
        if torch.isnan(self.log_z_estimate):
            self.refresh_log_z()
        return self.log_z_estimate.clone()

    def _log_z_terms(self):
        """(term for the loss: right gradient of log Z, value of log Z)."""
        if self._exact():
            log_z = self._exact_log_z()
            return log_z, log_z.detach()
        if self.training:
            self.kl_calls += 1
            self.sweep_chains()
            if self.ais_every > 0 and int(self.kl_calls) % self.ais_every == 0:
                self.refresh_log_z()
        negative = self._log_unnormalised(self.chains.detach()).mean()
        return negative, self._bqm_log_z().detach()

    # ------------------------------------------------------------ dimod
    def _sample_bits(self, n, sampler, kw):
        bqm = self.to_bqm()
        dimod_sampler = get_sampler(sampler)
        sampleset = dimod_sampler.sample(bqm, num_reads=int(n), **kw)
        bits = _sample_array(sampleset, list(range(len(bqm))))
        name = sampler if isinstance(sampler, str) else type(sampler).__name__
        return bits, sampleset, name

    def _local_minima(self, sampler, num_reads, max_basins, kw):
        """Distinct local minima of the BQM energy, lowest first, as rows
        (bits, energy, count): annealing (``sa`` means ``sa-optimise``)
        polished by steepest descent (dwave-samplers)."""
        from dwave.samplers import SteepestDescentSolver
        bqm = self.to_bqm()
        name = "sa-optimise" if sampler == "sa" else sampler
        found = get_sampler(name).sample(bqm, num_reads=int(num_reads), **kw)
        minima = SteepestDescentSolver().sample(bqm, initial_states=found).aggregate()
        minima = minima.truncate(len(minima), sorted_by="energy")
        bits = minima.record.sample[:, [minima.variables.index(v) for v in range(len(bqm))]]
        rows = list(zip(bits, minima.record.energy, minima.record.num_occurrences))
        return rows[:max_basins]
