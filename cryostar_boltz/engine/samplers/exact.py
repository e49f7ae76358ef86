"""``exact``: exact Boltzmann samples, marginals and log Z for small models.

Enumeration of all 2^n states (n up to ``MAX_ENUMERATE`` variables) or
``dwave.samplers.TreeDecompositionSampler`` (exact for any size of low
treewidth, e.g. an RBM with few units on one side).
"""
from __future__ import annotations

import time

import dimod
import numpy as np
from scipy.special import logsumexp

from .dense import VARTYPE_VALUES

#: Largest model enumerated state by state (2^24 energies: 128 MiB).
MAX_ENUMERATE = 24
_CHUNK = 1 << 16


def enumerate_energies(bqm):
    """(labels, all states (2^n, n) int8, their energies (2^n,)).

    States are in the BQM's vartype; for n > ``MAX_ENUMERATE`` a ValueError.
    """
    labels = list(bqm.variables)
    n = len(labels)
    if n > MAX_ENUMERATE:
        raise ValueError(f"cannot enumerate {n} variables (limit {MAX_ENUMERATE}); "
                         "use method='tree'")
    lin, (rows, cols, vals), offset = bqm.to_numpy_vectors(variable_order=labels)
    low, high = VARTYPE_VALUES[bqm.vartype]
    index = np.arange(1 << n, dtype=np.int64)
    bits = ((index[:, None] >> np.arange(n)) & 1).astype(np.int8)
    states = (low + (high - low) * bits).astype(np.int8)
    upper = np.zeros((n, n))
    np.add.at(upper, (rows, cols), vals)
    energies = np.empty(1 << n)
    for start in range(0, 1 << n, _CHUNK):
        x = states[start:start + _CHUNK].astype(np.float64)
        energies[start:start + _CHUNK] = x @ lin + np.einsum("si,si->s", x @ upper, x) + offset
    return labels, states, energies


def exact_distribution(bqm, beta=1.0):
    """Log Z of exp(-beta E) and the marginal probabilities of the high value."""
    labels, states, energies = enumerate_energies(bqm)
    log_weights = -float(beta) * energies
    log_z = float(logsumexp(log_weights))
    probabilities = np.exp(log_weights - log_z)
    low, high = VARTYPE_VALUES[bqm.vartype]
    marginals = probabilities @ (states == high)
    return log_z, dict(zip(labels, marginals.tolist())), (states, probabilities)


def log_partition_function(bqm, beta=1.0, method="auto"):
    """log sum_x exp(-beta E(x)), exact (enumeration or tree decomposition)."""
    return ExactSampler().sample(bqm, num_reads=1, beta=beta, method=method).info[
        "log_partition_function"]


class ExactSampler(dimod.Sampler):
    """Exact Boltzmann sampler; ``info`` holds ``log_partition_function``
    and ``variable_marginals`` (probability of the high value, 1 or +1).

    ``method``: 'enumerate', 'tree' or 'auto' (enumerate up to 20 variables).
    """

    parameters = {"num_reads": [], "beta": [], "seed": [], "method": []}
    properties = {"boltzmann": True, "methods": ("auto", "enumerate", "tree")}

    def sample(self, bqm, num_reads=1, beta=1.0, seed=None, method="auto", **kwargs):
        """Draw ``num_reads`` independent exact samples of exp(-beta E)."""
        self.remove_unknown_kwargs(**kwargs)
        num_reads = 1 if num_reads is None else int(num_reads)
        if method == "auto":
            method = "enumerate" if len(bqm) <= 20 else "tree"
        start = time.perf_counter()
        if method == "enumerate":
            result = self._enumerate(bqm, num_reads, beta, seed)
        elif method == "tree":
            result = self._tree(bqm, num_reads, beta, seed)
        else:
            raise ValueError(f"method must be 'auto', 'enumerate' or 'tree', got {method!r}")
        result.info.update({"sampler": "exact", "method": method, "beta": float(beta),
                            "timing": {"sample_seconds": time.perf_counter() - start}})
        return result

    @staticmethod
    def _enumerate(bqm, num_reads, beta, seed):
        log_z, marginals, (states, probabilities) = exact_distribution(bqm, beta)
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(probabilities), size=num_reads, p=probabilities)
        return dimod.SampleSet.from_samples_bqm(
            (states[picks], list(bqm.variables)), bqm,
            info={"log_partition_function": log_z, "variable_marginals": marginals})

    @staticmethod
    def _tree(bqm, num_reads, beta, seed):
        from dwave.samplers import TreeDecompositionSampler
        if len(bqm) == 0:
            return ExactSampler._enumerate(bqm, num_reads, beta, seed)
        result = TreeDecompositionSampler().sample(
            bqm, num_reads=num_reads, beta=float(beta), marginals=True, seed=seed)
        marginals = result.info["variable_marginals"]
        result.info["variable_marginals"] = {v: float(marginals[v]) for v in bqm.variables}
        return result
