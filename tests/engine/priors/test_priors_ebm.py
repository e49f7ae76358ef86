"""The latent energy-based prior (priors/ebm.py): its log Z against
numerical integration, its KL gradient against the exact one, its
importance-weighted persistent chains, resume, basins and sampling."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from cryostar_boltz.engine.priors import build_prior, fit_to_posteriors
from cryostar_boltz.engine.priors.testing import perturb
from cryostar_boltz.engine.samplers import ais_log_partition_continuous


def small(d, seed=0, scale=0.5, **options):
    options = {"energy_width": 16, "num_chains": 64, "langevin_steps": 5, **options}
    return perturb(build_prior("ebm", d, **options), scale=scale, seed=seed).double()


def test_log_z_agrees_with_numerical_integration():
    one = small(1)
    with torch.no_grad():
        value, _ = integrate.quad(lambda x: math.exp(-float(one.free_energy(
            torch.tensor([[x]], dtype=torch.float64)))), -12, 12, limit=200)
    assert float(one.log_z()) == pytest.approx(math.log(value), abs=1e-6)
    # above two dimensions log Z comes from AIS: in 2-D it meets the grid
    two = small(2)
    estimate, error = ais_log_partition_continuous(
        two.energy_model(), num_chains=400, num_betas=200,
        generator=torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(float(two.log_z()), abs=4 * error + 0.02)


def test_log_z_above_two_dimensions_matches_importance_sampling():
    """8-D: the prior's AIS estimate against plain importance sampling from
    N(0, I) with a million draws (Z = (2 pi)^(d/2) E_N[exp(-E)])."""
    prior = small(8, scale=0.2)
    estimate, error = float(prior.log_z()), float(prior.log_z_error)
    assert 0 < error < 0.05
    z = torch.randn(1_000_000, 8, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    with torch.no_grad():
        log_w = -prior.energy(z)
    reference = float(torch.logsumexp(log_w, 0) - math.log(len(z))) + 4 * math.log(2 * math.pi)
    assert estimate == pytest.approx(reference, abs=4 * error + 0.01)
    again = build_prior(**prior.config()).double()
    again.load_state_dict(prior.state_dict())
    assert float(again.log_z()) == estimate  # cached with the state


def test_log_z_is_refreshed_when_the_parameters_change():
    prior = small(2)
    before = float(prior.log_z())
    with torch.no_grad():
        prior.energy_net[-1].weight.mul_(2.0)
    assert float(prior.log_z()) != before


def test_kl_parameter_gradient_matches_the_exact_gradient():
    """1-D, chains equilibrated: the surrogate's gradient in the energy's
    parameters is the gradient of the exact KL (log Z on a grid)."""
    prior = small(1, num_chains=20000, scale=0.3)
    prior.chains.copy_(torch.randn(20000, 1, generator=torch.Generator().manual_seed(2)))
    prior.advance_chains(steps=100)
    prior.eval()  # no chain moves inside kl
    mu = torch.tensor([[-0.5], [0.8], [0.1]], dtype=torch.float64)
    logvar = torch.full((3, 1), -1.0, dtype=torch.float64)
    parameters = list(prior.parameters())
    torch.manual_seed(3)
    surrogate = torch.autograd.grad(prior.kl(mu, logvar)[0].sum(), parameters)
    grid = torch.linspace(-12, 12, 4001, dtype=torch.float64)[:, None]
    torch.manual_seed(3)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(1, 3, 1, dtype=torch.float64)[0]
    log_z = torch.logsumexp(-prior.free_energy(grid), 0) + math.log(float(grid[1] - grid[0]))
    exact = torch.autograd.grad((prior.free_energy(z) + log_z).sum(), parameters)
    got = torch.cat([g.flatten() for g in surrogate])
    want = torch.cat([g.flatten() for g in exact])
    assert float((got - want).abs().max()) < 0.05 * float(want.abs().max())


def three_clusters(d, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    centres = np.array([-2.0, 0.0, 2.0]) if d == 1 else None
    mu = centres[labels][:, None] + 0.2 * rng.standard_normal((n, 1))
    return labels, mu.astype(np.float32), np.full((n, 1), np.log(0.1 ** 2), np.float32)


@pytest.fixture(scope="module")
def fitted():
    """A 1-D ebm fitted to posteriors in three clusters of weights 0.5 /
    0.3 / 0.2."""
    labels, mu, logvar = three_clusters(1)
    prior = build_prior("ebm", 1, energy_width=32, num_chains=256)
    torch.set_num_threads(1)
    fit_to_posteriors(prior, mu, logvar, steps=2500, batch=256, seed=0)  # the ebm's own rate
    return prior.eval(), labels, mu


def test_fitted_basins_hold_the_clusters_with_their_weights(fitted):
    from sklearn.metrics import adjusted_rand_score
    prior, labels, mu = fitted
    basins = prior.basins(num_reads=1000)
    minima = sorted(float(b["z"][0]) for b in basins)
    assert len(basins) == 3 and np.allclose(minima, [-2, 0, 2], atol=0.2)
    assigned = prior.assign_to_basins(mu, basins)
    assert assigned.dtype == np.int64 and adjusted_rand_score(labels, assigned) == 1.0
    # the prior's own populations (integrated on a grid) are the data's:
    # the importance-weighted chains move mass between basins
    grid = torch.linspace(-6, 6, 2401)[:, None]
    with torch.no_grad():
        p = torch.softmax(-prior.free_energy(grid).double(), 0).numpy()
    order = np.argsort([float(b["z"][0]) for b in basins])
    label_of = np.empty(3, int)
    label_of[order] = [0, 1, 2]
    mass = np.bincount(label_of[prior.assign_to_basins(grid.numpy(), basins)], weights=p,
                       minlength=3)
    np.testing.assert_allclose(mass, [0.5, 0.3, 0.2], atol=0.05)
    # and so do the basins' prior populations, from the weighted chains
    # (short MALA runs from N(0, I) do not cross the barriers)
    populations = np.array([b["prior_population"] for b in basins])[order]
    np.testing.assert_allclose(populations, [0.5, 0.3, 0.2], atol=0.05)


def test_sampling_through_named_samplers(fitted):
    prior, _, _ = fitted
    z, info = prior.sample(200, seed=1)
    again, _ = prior.sample(200, seed=1)
    assert info["sampler"] == "mala" and torch.equal(z, again) and z.shape == (200, 1)
    assert 0.3 < info["sampleset_info"]["acceptance"] < 0.8
    z, info = prior.sample(50, sampler="langevin", seed=1, num_sweeps=20)
    assert info["sampler"] == "langevin" and info["sampleset_info"]["num_sweeps"] == 20
    with pytest.raises(ValueError, match="sampler gibbs samples binary models: the ebm "
                       "prior's latent is continuous; use langevin or mala"):
        prior.sample(5, sampler="gibbs")


def test_training_calls_resume_exactly_from_the_state():
    """The persistent chains, their weights and step are state: a prior
    restored from it continues exactly as the original."""
    prior = small(3)
    mu, logvar = torch.randn(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64)
    torch.manual_seed(0)
    prior.kl(mu, logvar)
    clone = build_prior(**prior.config()).double()
    clone.load_state_dict(prior.state_dict())
    for key in ("chains", "chain_log_weight", "chain_energy", "chain_step", "kl_calls"):
        assert key in prior.state_dict()
    outputs = []
    for model in (prior, clone):
        torch.manual_seed(5)
        loss, logs = model.kl(mu, logvar)
        outputs.append((loss.detach(), logs, model.chains.clone()))
    assert torch.equal(outputs[0][0], outputs[1][0]) and outputs[0][1] == outputs[1][1]
    assert torch.equal(outputs[0][2], outputs[1][2])
    assert set(outputs[0][1]) >= {"kl", "log_z", "prior_energy", "log_z_error",
                                  "langevin_step"}


def test_options_short_names_and_refusals():
    prior = build_prior("ebm", 2, width=8, layers=1, steps=3, chains=10)
    assert (prior.config()["energy_width"], prior.config()["energy_layers"],
            prior.langevin_steps, prior.num_chains) == (8, 1, 3, 10)
    assert prior.chains.shape == (10, 2)
    with pytest.raises(ValueError, match="prior ebm option energy_width must be an integer >= 1"):
        build_prior("ebm", 2, energy_width=0)
    with pytest.raises(ValueError, match="ais_chains and ais_betas >= 2"):
        build_prior("ebm", 2, ais_chains=1)
    with pytest.raises(ValueError, match="option step_size must be a finite number"):
        build_prior("ebm", 2, step_size=float("nan"))


def test_samples_keep_the_basins_weights(fitted):
    """MALA started from the weighted persistent chains keeps each basin's
    mass (from N(0, I) it would not cross the barriers)."""
    prior, _, _ = fitted
    z = prior.sample(2000, seed=1)[0].numpy()[:, 0]
    shares = [np.mean(z < -1), np.mean((z > -1) & (z < 1)), np.mean(z > 1)]
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.05)


@pytest.mark.parametrize("option, limit", [("energy_width", 4096), ("num_chains", 100000),
                                           ("energy_layers", 32)])
def test_options_that_allocate_have_upper_bounds(option, limit):
    """A huge width or chain count is refused in one line before any tensor
    is allocated (it would exhaust memory in the constructor)."""
    with pytest.raises(ValueError, match="option %s must be an integer <= %d"
                                         % (option, limit)):
        build_prior("ebm", 2, **{option: 10 ** 9})


def test_named_samplers_keep_the_basins_weights(fitted):
    """sample-prior reaches the ebm through sampling.draw_samples with a
    named continuous sampler: it starts from the weighted chains too."""
    from cryostar_boltz.engine.sampling import draw_samples
    prior, _, _ = fitted
    arrays, _ = draw_samples(prior, 2000, sampler="mala", seed=1)
    z = np.asarray(arrays["z"])[:, 0]
    shares = [np.mean(z < -1), np.mean((z > -1) & (z < 1)), np.mean(z > 1)]
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.05)


def test_energy_stays_within_its_bound_and_old_runs_load_unbounded():
    """E = b tanh(u / b): however large the network's output, the prior's
    density stays within exp(+-b) of N(0, I); a state saved before the
    bound existed (no ``energy_bound`` key) loads unbounded, as trained."""
    from cryostar_boltz.engine.priors.ebm import ENERGY_BOUND
    prior = small(4, scale=3.0)
    z = 20 * torch.randn(5000, 4, generator=torch.Generator().manual_seed(4),
                         dtype=torch.float64)
    with torch.no_grad():
        raw = prior.energy_net(z).squeeze(-1)
        energy = prior.energy(z)
    assert float(raw.abs().max()) > 3 * ENERGY_BOUND      # the network alone runs away
    assert float(energy.abs().max()) <= ENERGY_BOUND
    torch.testing.assert_close(energy, ENERGY_BOUND * torch.tanh(raw / ENERGY_BOUND))
    old = {k: v for k, v in prior.state_dict().items() if k != "energy_bound"}
    again = build_prior(**prior.config()).double()
    again.load_state_dict(old)
    with torch.no_grad():
        torch.testing.assert_close(again.energy(z), raw)
    with pytest.raises(ValueError, match="energy_bound"):
        build_prior("ebm", 2, energy_bound=0.0)


def test_basin_prior_populations_are_the_chains_weighted_shares(fitted):
    """Without a named sampler, every chain descends with its importance
    weight: the populations are the weighted shares, whatever num_reads."""
    from cryostar_boltz.engine.priors.landscape import assign
    prior, _, _ = fitted
    saved = prior.chain_log_weight.clone()
    try:
        with torch.no_grad():   # weights tilted to the right: counts would differ
            prior.chain_log_weight.copy_(prior.chains[:, 0])
        basins = prior.basins(num_reads=10, seed=0)
        weights = prior._current_chains()[1].numpy()   # brought up to E now
        labels = assign(prior, prior.chains.numpy(), basins)
        shares = [float(weights[labels == b].sum()) for b in range(len(basins))]
        populations = [b["prior_population"] for b in basins]
        # (a chain next to a saddle may end on either side: 0.001 here)
        np.testing.assert_allclose(populations, shares, atol=0.005)
        assert sum(b["count"] for b in basins) == prior.num_chains
        counts = [b["count"] / prior.num_chains for b in basins]
        assert np.abs(np.subtract(populations, counts)).max() > 0.1
        assert basins == prior.basins(num_reads=500, seed=3)
        named = prior.basins(sampler="mala", num_reads=40, seed=0)
        assert sum(b["count"] for b in named) == 40
    finally:
        prior.chain_log_weight.copy_(saved)


def test_the_polish_grows_the_chains_and_a_saved_prior_loads_them(fitted):
    """The final fit's polish runs on POLISH_CHAINS chains (the basins'
    populations are their weighted shares); the state saved with them loads
    into a prior built with the training's chain count."""
    from cryostar_boltz.engine.priors.ebm import POLISH_CHAINS
    prior, _, mu = fitted
    assert prior.num_chains == POLISH_CHAINS and prior.chains.shape == (POLISH_CHAINS, 1)
    assert len(torch.unique(prior.chains)) > 0.9 * POLISH_CHAINS   # copies spread apart
    loaded = build_prior("ebm", 1, energy_width=32, num_chains=256)
    loaded.load_state_dict(prior.state_dict())
    loaded.eval()
    assert loaded.num_chains == POLISH_CHAINS
    assert torch.equal(loaded.chains, prior.chains)
    assert torch.equal(loaded.chain_log_weight, prior.chain_log_weight)
    here = [b["prior_population"] for b in prior.basins(num_reads=500, seed=3)]
    there = [b["prior_population"] for b in loaded.basins(num_reads=500, seed=3)]
    assert here == there


def test_weighted_chain_priors_are_the_priors_without_basin_reads():
    """layout.WEIGHTED_CHAIN_PRIORS (read before torch loads, to know
    whether --basin-reads applies) names the priors whose basins ignore it."""
    from cryostar_boltz.engine.layout import WEIGHTED_CHAIN_PRIORS
    from cryostar_boltz.engine.priors import PRIORS, Prior
    assert WEIGHTED_CHAIN_PRIORS == tuple(
        name for name, cls in PRIORS.items()
        if cls._weighted_basin_samples is not Prior._weighted_basin_samples)


def test_run_layout_reads_the_prior_name(tmp_path):
    from cryostar_boltz.engine.layout import CONFIG, RunLayout
    (tmp_path / CONFIG).write_text('{"prior": "ebm"}')
    assert RunLayout(tmp_path).prior_name() == "ebm"
    assert RunLayout(tmp_path).basin_reads_used(100, True) is None
    (tmp_path / CONFIG).write_text('{"prior": "gmm"}')
    assert RunLayout(tmp_path).basin_reads_used(100, True) == 100
    assert RunLayout(tmp_path).basin_reads_used(100, False) is None
    (tmp_path / CONFIG).write_text('{"prior": ')
    with pytest.raises(ValueError, match="config.json: not JSON"):
        RunLayout(tmp_path).prior_name()
