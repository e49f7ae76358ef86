"""``qpu``: D-Wave hardware as a Boltzmann sampler (optional extra ``dwave``).

A QPU returns samples that are roughly Boltzmann for the programmed Ising
problem at an unknown effective inverse temperature ``beta_eff``. To sample
exp(-beta E) we program ``(beta / beta_eff) E`` on a fixed embedding (a
biclique embedding for a bipartite model, a clique embedding otherwise),
clip the physical biases to the solver's ``h_range``/``j_range`` with
``auto_scale=False``, and re-estimate ``beta_eff`` from the returned
physical samples by maximum pseudo-likelihood (Benedetti et al., Phys.
Rev. A 94, 022308, 2016), ready for the next call.

Credentials come only from the standard D-Wave configuration (``dwave
config create``) or the environment (``DWAVE_API_TOKEN``); they are never
read from, or written to, our configuration or logs. ``dwave.system`` is
imported only on this code path.
"""
from __future__ import annotations

import time

import dimod
import numpy as np
import torch
from scipy.optimize import brentq

from .dense import DenseBQM, colour_classes


class QPUUnavailableError(ValueError):
    """No D-Wave credentials, or the solver cannot be reached."""


def connect_dwave_sampler(profile=None, solver=None):
    """A ``dwave.system.DWaveSampler``, or :class:`QPUUnavailableError` fast.

    The token is looked up (files and environment, no network) before any
    connection is tried, so a missing token fails without waiting.
    """
    try:
        from dwave.cloud.config import load_config
        from dwave.system import DWaveSampler
    except ImportError as error:
        raise QPUUnavailableError(
            "the 'qpu' sampler needs dwave-system: pip install "
            "'scipion-em-cryostar-boltz[dwave]'") from error
    try:
        config = load_config(profile=profile)
    except Exception as error:  # unreadable or malformed config file
        raise QPUUnavailableError(f"cannot read the D-Wave configuration: "
                                  f"{type(error).__name__}: {error}") from None
    if not config.get("token"):
        raise QPUUnavailableError(
            "no D-Wave API token: set DWAVE_API_TOKEN or run 'dwave config "
            "create' (Leap account needed); or choose another sampler (gibbs, sa)")
    options = {"profile": profile} if profile else {}
    if solver:
        options["solver"] = solver
    try:
        return DWaveSampler(**options)
    except Exception as error:
        # the message of a failed connection never contains the token
        raise QPUUnavailableError(f"cannot reach a D-Wave solver: "
                                  f"{type(error).__name__}") from None


def target_graph(child):
    """The structured sampler's hardware graph as a dwave-networkx graph."""
    import dwave_networkx as dnx
    topology = child.properties.get("topology", {})
    family = topology.get("type")
    builders = {"pegasus": dnx.pegasus_graph, "zephyr": dnx.zephyr_graph,
                "chimera": dnx.chimera_graph}
    if family not in builders:
        raise QPUUnavailableError(f"unsupported QPU topology {family!r}")
    return builders[family](*topology["shape"], node_list=child.nodelist,
                            edge_list=child.edgelist)


def find_embedding(bqm, graph):
    """A fixed embedding: biclique for a bipartite BQM, clique otherwise."""
    from minorminer import busclique
    labels = list(bqm.variables)
    lin, (rows, cols, _), _ = bqm.to_numpy_vectors(variable_order=labels)
    classes = colour_classes(len(labels), rows, cols)
    cache = busclique.busgraph_cache(graph)
    if len(classes) == 2:
        embedding = cache.find_biclique_embedding([labels[i] for i in classes[0]],
                                                  [labels[i] for i in classes[1]])
    else:
        embedding = cache.find_clique_embedding(labels)
    if not embedding:
        raise ValueError(f"a model of {len(labels)} variables does not fit the QPU graph")
    return embedding


def estimate_beta_mpl(bqm, samples, weights=None):
    """Maximum pseudo-likelihood inverse temperature of samples of ``bqm``.

    Solves sum_s sum_i dE_i(s) sigmoid(-beta dE_i(s)) = 0, with dE_i the
    energy change of flipping variable i (concave pseudo-log-likelihood).
    Returns ``inf`` when every sample is a local minimum.
    """
    if isinstance(samples, dimod.SampleSet):
        weights = samples.record.num_occurrences if weights is None else weights
        array, labels = samples.record.sample, list(samples.variables)
    else:
        array, labels = dimod.as_samples(samples)
    model = DenseBQM.from_bqm(bqm, dtype=torch.float64)
    columns = [labels.index(v) for v in model.labels]
    x = torch.as_tensor(np.asarray(array)[:, columns], dtype=torch.float64)
    field = model.linear + x @ model.coupling
    flip = -2.0 * x if bqm.vartype is dimod.SPIN else 1.0 - 2.0 * x
    delta = (flip * field).numpy()
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)

    def slope(log_beta):
        arg = np.clip(np.exp(log_beta) * delta, -500, 500)
        return float(w @ (delta / (1.0 + np.exp(arg))).sum(1))

    low, high = np.log(1e-4), np.log(1e4)
    if slope(high) > 0:
        return float("inf")
    if slope(low) < 0:
        return 0.0
    return float(np.exp(brentq(slope, low, high, xtol=1e-10)))


def effective_beta(bqm, sampleset):
    """Inverse temperature of ``sampleset`` for ``bqm``: dwave-system's MPL
    estimator when installed, :func:`estimate_beta_mpl` otherwise."""
    try:
        from dwave.system.temperatures import maximum_pseudolikelihood_temperature
    except ImportError:
        return estimate_beta_mpl(bqm, sampleset)
    temperature, _ = maximum_pseudolikelihood_temperature(
        bqm=bqm, sampleset=sampleset,
        sample_weights=np.asarray(sampleset.record.num_occurrences, dtype=float))
    return float("inf") if temperature <= 0 else 1.0 / float(temperature)


def clip_to_ranges(bqm, h_range, j_range):
    """(clipped copy of a SPIN BQM, number of clipped h, number of clipped J)."""
    labels = list(bqm.variables)
    lin, (rows, cols, vals), offset = bqm.to_numpy_vectors(variable_order=labels)
    new_lin = np.clip(lin, *h_range)
    new_vals = np.clip(vals, *j_range)
    clipped = dimod.BinaryQuadraticModel.from_numpy_vectors(
        new_lin, (rows, cols, new_vals), offset, dimod.SPIN, variable_order=labels)
    return clipped, int(np.sum(new_lin != lin)), int(np.sum(new_vals != vals))


class QPUSampler(dimod.Sampler):
    """Boltzmann sampling at ``beta`` on a structured (QPU) sampler.

    ``child``: a structured dimod sampler with ``h_range``, ``j_range`` and
    ``topology`` properties (default: connect to a real ``DWaveSampler``).
    ``beta_eff``: the current estimate of the device's inverse temperature
    for the programmed problem, updated after each call when
    ``update_beta_eff`` is true. The embedding is found once per model
    structure and reused (fixed embedding).
    """

    parameters = {"num_reads": [], "beta": [], "beta_eff": [], "chain_strength": [],
                  "embedding": []}

    def __init__(self, child=None, beta_eff=1.0, update_beta_eff=True,
                 profile=None, solver=None):
        self.child = child if child is not None else connect_dwave_sampler(profile, solver)
        if not beta_eff > 0:
            raise ValueError(f"beta_eff must be positive, got {beta_eff}")
        self.beta_eff = float(beta_eff)
        self.update_beta_eff = update_beta_eff
        self._embeddings = {}
        self._graph = None

    @property
    def properties(self):
        props = self.child.properties
        return {"child_properties": {k: props[k] for k in ("h_range", "j_range", "topology")
                                     if k in props},
                "beta_eff": self.beta_eff, "boltzmann": True}

    def embedding_for(self, bqm):
        """The fixed embedding of ``bqm``'s structure (found once, then reused)."""
        key = (frozenset(bqm.variables), frozenset(frozenset(e) for e in bqm.quadratic))
        if key not in self._embeddings:
            if self._graph is None:
                self._graph = target_graph(self.child)
            self._embeddings[key] = find_embedding(bqm, self._graph)
        return self._embeddings[key]

    def sample(self, bqm, num_reads=100, beta=1.0, beta_eff=None, chain_strength=None,
               embedding=None, **child_kwargs):
        """Sample exp(-beta E) on the QPU; ``info`` holds ``beta_eff`` (new
        estimate), ``beta_eff_used``, ``beta_achieved`` (model units),
        ``chain_strength``, clipping counts and chain-break fraction."""
        from dwave.embedding import chain_breaks, embed_bqm, unembed_sampleset
        from dwave.embedding.chain_strength import uniform_torque_compensation
        start = time.perf_counter()
        beta_used = float(beta_eff or self.beta_eff)
        spin = bqm.spin
        scaled = spin.copy()
        scaled.scale(float(beta) / beta_used)
        embedding = embedding or self.embedding_for(bqm)
        props = self.child.properties
        h_range, j_range = props["h_range"], props["j_range"]
        if chain_strength is None:
            chain_strength = uniform_torque_compensation(scaled, embedding)
        chain_strength = float(min(chain_strength, -j_range[0]))
        adjacency = {v: set(self.child.adjacency[v]) for v in self.child.nodelist}
        physical = embed_bqm(scaled, embedding, adjacency, chain_strength=chain_strength)
        physical, clipped_h, clipped_j = clip_to_ranges(physical, h_range, j_range)
        response = self.child.sample(physical, num_reads=num_reads, auto_scale=False,
                                     **child_kwargs)
        response.resolve()
        beta_eff_new = effective_beta(physical, response)
        logical = unembed_sampleset(response, embedding, spin,
                                    chain_break_method=chain_breaks.majority_vote,
                                    chain_break_fraction=True)
        logical = logical.change_vartype(bqm.vartype, inplace=False)
        broken = float(np.average(logical.record.chain_break_fraction,
                                  weights=logical.record.num_occurrences))
        info = {"sampler": "qpu", "beta": float(beta), "beta_eff_used": beta_used,
                "beta_eff": beta_eff_new, "beta_achieved": beta_eff_new * beta / beta_used,
                "chain_strength": chain_strength, "clipped_h": clipped_h,
                "clipped_j": clipped_j, "chain_break_fraction": broken,
                "max_chain_length": max(len(c) for c in embedding.values()),
                "qpu_timing": dict(response.info.get("timing", {})),
                "timing": {"sample_seconds": time.perf_counter() - start}}
        if self.update_beta_eff and np.isfinite(beta_eff_new) and beta_eff_new > 0:
            self.beta_eff = beta_eff_new
        return dimod.SampleSet.from_samples_bqm(
            (logical.record.sample, list(logical.variables)), bqm,
            num_occurrences=logical.record.num_occurrences, info=info)
