"""Tests of engine/samplers: dimod conformance, Boltzmann accuracy, QPU path."""
import os
import time
import unittest

import dimod
import dimod.testing
import networkx as nx
import numpy as np
import pytest
from scipy.special import expit, logsumexp

from cryostar_boltz.engine.samplers import (
    ExactSampler, GibbsSampler, QPUSampler, QPUUnavailableError,
    SimulatedAnnealingBoltzmannSampler, UnknownSamplerError, ais_log_partition,
    available_samplers, effective_beta, estimate_beta_mpl, exact_distribution,
    get_sampler)

dnx = pytest.importorskip("dwave_networkx")


@dimod.testing.load_sampler_bqm_tests(GibbsSampler)
class TestGibbsConformance(unittest.TestCase):
    pass


@dimod.testing.load_sampler_bqm_tests(SimulatedAnnealingBoltzmannSampler)
class TestSAConformance(unittest.TestCase):
    pass


@dimod.testing.load_sampler_bqm_tests(ExactSampler, max_num_variables=12)
class TestExactConformance(unittest.TestCase):
    pass


def random_rbm(nv, nh, scale=0.5, seed=0):
    """(BINARY BQM, a, c, W) of an RBM with E = -a.v - c.h - v.W h."""
    rng = np.random.default_rng(seed)
    a, c = rng.normal(0, scale, nv), rng.normal(0, scale, nh)
    w = rng.normal(0, scale, (nv, nh))
    quadratic = np.zeros((nv + nh, nv + nh))
    quadratic[:nv, nv:] = -w
    bqm = dimod.BinaryQuadraticModel(np.concatenate([-a, -c]), quadratic, 0.0, dimod.BINARY)
    return bqm, a, c, w


def rbm_enumerated(a, c, w):
    """Exact marginals (visible then hidden) and log Z, enumerating v."""
    nv = len(a)
    v = ((np.arange(1 << nv)[:, None] >> np.arange(nv)) & 1).astype(float)
    log_p = v @ a + np.logaddexp(0, c + v @ w).sum(1)
    log_z = logsumexp(log_p)
    p = np.exp(log_p - log_z)
    return np.concatenate([p @ v, p @ expit(c + v @ w)]), log_z


def marginals(sampleset, n):
    columns = [sampleset.variables.index(i) for i in range(n)]
    return sampleset.record.sample[:, columns].mean(0)


@pytest.fixture(scope="module")
def rbm10():
    bqm, a, c, w = random_rbm(10, 10)
    exact, log_z = rbm_enumerated(a, c, w)
    return bqm, exact, log_z


@pytest.mark.parametrize("name, options", [
    ("gibbs", {"num_sweeps": 50}), ("sa", {"num_sweeps": 50}), ("exact", {"method": "tree"})])
def test_rbm_marginals_match_enumeration(rbm10, name, options):
    bqm, exact, _ = rbm10
    sampleset = get_sampler(name).sample(bqm, num_reads=8000, seed=3, **options)
    assert np.abs(marginals(sampleset, 20) - exact).max() < 0.03


def test_exact_sampler_log_z_and_marginals(rbm10):
    bqm, exact, log_z = rbm10
    info = ExactSampler().sample(bqm, method="tree").info
    assert info["log_partition_function"] == pytest.approx(log_z, abs=1e-9)
    np.testing.assert_allclose([info["variable_marginals"][i] for i in range(20)], exact,
                               atol=1e-9)
    spin = dimod.generators.gnp_random_bqm(10, 0.5, dimod.SPIN, random_state=1)
    by_enumeration, spin_marginals, _ = exact_distribution(spin, beta=0.7)
    tree = ExactSampler().sample(spin, method="tree", beta=0.7).info
    assert tree["log_partition_function"] == pytest.approx(by_enumeration, abs=1e-9)
    assert all(abs(tree["variable_marginals"][v] - spin_marginals[v]) < 1e-9 for v in spin.variables)


def test_gibbs_dense_spin_model_matches_exact():
    """Non-bipartite model: sequential blocks; singles and pairs match."""
    bqm = dimod.generators.gnp_random_bqm(8, 1.0, dimod.SPIN, random_state=2)
    bqm.scale(0.4)
    _, _, (states, p) = exact_distribution(bqm)
    sampleset = GibbsSampler().sample(bqm, num_reads=6000, num_sweeps=60, seed=0)
    assert sampleset.info["num_blocks"] == 8
    x = sampleset.record.sample[:, [sampleset.variables.index(v) for v in bqm.variables]].astype(float)
    np.testing.assert_allclose(x.mean(0), p @ states, atol=0.05)
    np.testing.assert_allclose(x.T @ x / len(x), (states.T * p) @ states, atol=0.05)


def test_gibbs_persistent_chains_and_beta():
    bqm, *_ = random_rbm(4, 3)
    first = GibbsSampler().sample(bqm, num_reads=50, num_sweeps=5, seed=1)
    frozen = GibbsSampler().sample(bqm, initial_states=first, num_sweeps=0)
    assert np.array_equal(frozen.record.sample, first.record.sample)
    hot = GibbsSampler().sample(bqm, num_reads=4000, num_sweeps=20, beta=0.0, seed=2)
    assert np.abs(hot.record.sample.mean(0) - 0.5).max() < 0.04
    with pytest.raises(ValueError):
        GibbsSampler().sample(bqm, beta=-1.0)


def test_mpl_recovers_beta_of_gibbs_samples():
    bqm = dimod.generators.gnp_random_bqm(12, 0.5, dimod.SPIN, random_state=3)
    samples = GibbsSampler().sample(bqm, num_reads=2000, num_sweeps=30, beta=2.0, seed=0)
    ours = estimate_beta_mpl(bqm, samples)
    assert ours == pytest.approx(2.0, rel=0.05)
    assert effective_beta(bqm, samples) == pytest.approx(ours, rel=1e-4)


def test_ais_log_z_matches_enumeration(rbm10):
    bqm, _, log_z = rbm10
    estimate, error = ais_log_partition(bqm, num_chains=200, num_betas=300)
    assert abs(estimate - log_z) < 0.05
    assert error < 0.05


def test_sa_optimise_finds_ground_state():
    bqm = dimod.generators.gnp_random_bqm(12, 0.5, dimod.SPIN, random_state=4)
    best = get_sampler("sa-optimise").sample(bqm, num_reads=20, seed=0).first.energy
    assert best == pytest.approx(dimod.ExactSolver().sample(bqm).first.energy)


def test_registry_and_entry_points(tmp_path, monkeypatch):
    assert {"gibbs", "sa", "sa-optimise", "exact", "qpu"} <= set(available_samplers())
    with pytest.raises(UnknownSamplerError, match="available"):
        get_sampler("no-such-sampler")
    (tmp_path / "fakeplugin.py").write_text(
        "import dimod\ndef make(**kw):\n    return dimod.RandomSampler()\n")
    dist = tmp_path / "fakeplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[cryostar_boltz.samplers]\nrandom-test = fakeplugin:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "random-test" in available_samplers()
    assert isinstance(get_sampler("random-test"), dimod.RandomSampler)


# ----------------------------------------------------------------- QPU path

class MockQPU(dimod.StructureComposite):
    """A structured sampler with a real Pegasus topology and QPU ranges
    around a Gibbs reference sampler at a hidden inverse temperature."""

    def __init__(self, beta_true=2.5, shape=6):
        graph = dnx.pegasus_graph(shape)
        super().__init__(GibbsSampler(), list(graph.nodes), list(graph.edges))
        self.beta_true = beta_true
        self.shape = shape
        self.programmed = None

    @property
    def properties(self):
        return {"h_range": [-4.0, 4.0], "j_range": [-1.0, 1.0],
                "topology": {"type": "pegasus", "shape": [self.shape]}}

    def sample(self, bqm, auto_scale=True, **kwargs):
        assert auto_scale is False
        self.programmed = bqm
        return super().sample(bqm, beta=self.beta_true, num_sweeps=100, seed=0, **kwargs)


def test_qpu_embedding_scaling_and_beta_eff():
    bqm, *_ = random_rbm(6, 6, scale=0.3, seed=5)
    mock = MockQPU(beta_true=2.5)
    sampler = QPUSampler(child=mock, beta_eff=1.0)
    result = sampler.sample(bqm, num_reads=2000, beta=1.0)
    embedding = sampler.embedding_for(bqm)
    graph = dnx.pegasus_graph(6)
    for chain in embedding.values():
        assert nx.is_connected(graph.subgraph(chain))
    programmed, spin = mock.programmed, bqm.spin
    for v, chain in embedding.items():  # biases split over each chain, unscaled at beta_eff 1
        assert sum(programmed.linear[q] for q in chain) == pytest.approx(spin.linear[v])
    assert result.info["clipped_h"] == 0 and result.info["clipped_j"] == 0
    assert result.info["beta_eff"] == pytest.approx(2.5, rel=0.1)
    assert sampler.beta_eff == result.info["beta_eff"]
    assert set(result.variables) == set(bqm.variables)
    assert result.vartype is dimod.BINARY and len(result) == 2000
    # the next call programs beta / beta_eff and reaches beta = 1 in model units
    again = sampler.sample(bqm, num_reads=2000, beta=1.0)
    assert again.info["beta_eff_used"] == pytest.approx(result.info["beta_eff"])
    v0 = next(iter(embedding))
    assert sum(mock.programmed.linear[q] for q in embedding[v0]) == pytest.approx(
        spin.linear[v0] / result.info["beta_eff"])
    assert again.info["beta_achieved"] == pytest.approx(1.0, rel=0.1)


def test_qpu_clips_to_solver_ranges():
    bqm, *_ = random_rbm(5, 5, scale=2.0, seed=6)
    mock = MockQPU()
    result = QPUSampler(child=mock, beta_eff=0.05, update_beta_eff=False).sample(
        bqm, num_reads=50)
    linear, (_, _, quadratic), _ = mock.programmed.to_numpy_vectors()
    assert linear.min() >= -4.0 and linear.max() <= 4.0
    assert quadratic.min() >= -1.0 and quadratic.max() <= 1.0
    assert result.info["clipped_h"] + result.info["clipped_j"] > 0
    assert result.info["chain_strength"] <= 1.0


def test_qpu_without_credentials_fails_fast(tmp_path, monkeypatch):
    import dwave.cloud.config  # noqa: F401  (import time is not the check)
    import dwave.system  # noqa: F401
    for name in list(os.environ):
        if name.startswith("DWAVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DWAVE_CONFIG_FILE", str(tmp_path / "missing.conf"))
    start = time.perf_counter()
    with pytest.raises(QPUUnavailableError, match="D-Wave"):
        get_sampler("qpu")
    assert time.perf_counter() - start < 1.0
