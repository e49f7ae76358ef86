"""Basins of a continuous prior's free energy (priors/landscape.py): descent,
saddles, merging by barrier, populations, basin of attraction."""
import math

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.priors import build_prior
from cryostar_boltz.engine.priors.landscape import (BARRIER, Landscape, assign, descend,
                                                    find_basins, merge_minima,
                                                    segment_saddles, string_saddles)


def mixture(means, weights, scale=1.0):
    """A gmm prior with the given component means (K, d), weights and a
    shared isotropic scale."""
    means = torch.as_tensor(np.asarray(means, dtype=np.float64))
    prior = build_prior("gmm", means.shape[1], components=len(means)).double()
    with torch.no_grad():
        prior.means.copy_(means)
        prior.log_scales.fill_(math.log(scale))
        prior.logits.copy_(torch.log(torch.as_tensor(weights, dtype=torch.float64)))
    return prior


def two_wells(distance):
    """Equal Gaussians N(+-distance/2, 1) in 1-D: F at the modes and at 0."""
    return mixture([[-distance / 2], [distance / 2]], [0.5, 0.5])


def test_descent_ends_at_the_minima_of_a_quadratic_and_of_a_double_well():
    prior = mixture([[1.0, -2.0]], [1.0], scale=0.3)
    ends, values = descend(Landscape(prior), np.random.default_rng(0).normal(size=(50, 2)) * 3)
    np.testing.assert_allclose(ends.numpy(), np.tile([1.0, -2.0], (50, 1)), atol=1e-5)
    # well separated equal wells: every start ends in the mode on its side
    prior = two_wells(8.0)
    starts = np.linspace(-6, 6, 13)[np.arange(13) != 6][:, None]
    ends, _ = descend(Landscape(prior), starts)
    np.testing.assert_allclose(ends.numpy()[:, 0], np.sign(starts[:, 0]) * 4.0, atol=1e-4)


@pytest.mark.parametrize("distance", [3.0, 5.0])
def test_saddles_of_two_wells_are_the_density_at_the_midpoint(distance):
    prior = two_wells(distance)
    landscape = Landscape(prior)
    ends, values = descend(landscape, np.array([[-distance], [distance]]))
    with torch.no_grad():
        middle = float(prior.free_energy(torch.zeros(1, 1, dtype=torch.float64)))
    a, b = ends[:1], ends[1:]
    assert float(segment_saddles(landscape, a, b)) == pytest.approx(middle, abs=1e-9)
    assert float(string_saddles(landscape, a, b)) == pytest.approx(middle, abs=1e-9)


def test_minima_merge_when_the_barrier_is_below_one_nat():
    """Equal unit wells: barrier D^2/8 - log 2 (about), 0.43 nats at D = 3
    (one basin), 2.43 nats at D = 5 (two)."""
    assert BARRIER == 1.0
    for distance, expected in ((3.0, 1), (5.0, 2)):
        prior = two_wells(distance)
        starts = np.linspace(-distance, distance, 21)[:, None]
        basins = find_basins(prior, starts)
        assert len(basins) == expected
    # an explicit barrier merges the D = 5 wells too
    assert len(find_basins(two_wells(5.0), np.array([[-5.0], [5.0]]), barrier=3.0)) == 1


def test_a_curved_valley_is_one_basin_though_its_straight_segment_climbs():
    """Components along a half circle of radius 4: the straight segment
    between the end minima crosses the empty centre (several nats up), the
    string follows the arc (no barrier), so everything is one basin."""
    angles = np.linspace(0.0, np.pi, 9)
    means = 4.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    means[[0, -1]] *= 1.1          # deeper ends: two minima on the arc
    weights = np.ones(9)
    weights[[0, -1]] = 1.5
    prior = mixture(means, weights / weights.sum(), scale=0.8)
    landscape = Landscape(prior)
    ends, values = descend(landscape, means[[0, -1]])
    straight = float(segment_saddles(landscape, ends[:1], ends[1:])) - float(values.max())
    curved = float(string_saddles(landscape, ends[:1], ends[1:])) - float(values.max())
    # the arc of radius 4 is a path: the string is no higher than it
    arc = np.linspace(0.0, np.pi, 2001)
    with torch.no_grad():
        along = prior.free_energy(torch.as_tensor(4.0 * np.stack([np.cos(arc), np.sin(arc)], 1)))
    assert straight > 3.0 and curved < min(0.5, float(along.max() - values.max()) + 0.05)
    group, _ = merge_minima(landscape, ends, values)
    assert group.tolist() == [0, 0]


def test_three_states_give_three_basins_with_their_populations():
    """Latents of three states 0.5 / 0.3 / 0.2 and a mixture of 8
    components fitted to them (k-means start, as after training): the
    components are 8, the basins 3, their populations the states'."""
    from cryostar_boltz.engine.priors import fit_to_posteriors
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [2.0, 3.5, 0.0]])
    truth = rng.choice(3, size=3000, p=[0.5, 0.3, 0.2])
    z = (centres[truth] + 0.5 * rng.normal(size=(3000, 3))).astype(np.float32)
    prior = build_prior("gmm", 3)
    assert prior.means.shape[0] == 8
    fit_to_posteriors(prior, z, np.full_like(z, np.log(0.05)), 300, batch=256)
    basins = prior.basins(num_reads=3000, particles=z, seed=0)
    assert len(basins) == 3
    order = [int(np.argmin(((centres - b["z"]) ** 2).sum(1))) for b in basins]
    assert sorted(order) == [0, 1, 2]
    for b, state in zip(basins, order):
        true = np.mean(truth == state)
        assert b["particle_population"] == pytest.approx(true, abs=0.01)
        assert b["prior_population"] == pytest.approx(true, abs=0.04)
        assert b["exit_barrier"] > BARRIER
    assert sorted(sum((b["components"] for b in basins), [])) == list(range(8))
    labels = prior.assign_to_basins(z, basins)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, labels) > 0.97


def test_assign_is_the_basin_of_attraction():
    prior = two_wells(6.0)
    basins = find_basins(prior, np.array([[-3.0], [3.0]]))
    z = np.linspace(-5, 5, 41)[:, None]
    labels = assign(prior, z, basins)
    left = int(np.argmin([b["z"][0] for b in basins]))
    expected = np.where(z[:, 0] < 0, left, 1 - left)
    keep = z[:, 0] != 0
    np.testing.assert_array_equal(labels[keep], expected[keep])


def test_weighted_prior_samples_give_each_basin_its_share_of_the_weight():
    """Importance-weighted prior samples (the ebm's chains): a basin's prior
    population is its samples' share of the weight, not their number."""
    prior = two_wells(6.0)
    samples = np.array([[-3.2], [-2.9], [-3.1], [3.0]])
    basins = find_basins(prior, samples, prior_weights=np.array([1.0, 1.0, 2.0, 12.0]))
    population = {round(float(b["z"][0])): b["prior_population"] for b in basins}
    assert population == {-3: pytest.approx(0.25), 3: pytest.approx(0.75)}
    assert sorted(b["count"] for b in basins) == [1, 3]
    plain = find_basins(prior, samples)
    assert sorted(b["prior_population"] for b in plain) == [0.25, 0.75]
    for bad in (np.ones(3), np.array([1.0, -1.0, 1.0, 1.0]), np.zeros(4),
                np.array([1.0, np.nan, 1.0, 1.0])):
        with pytest.raises(ValueError, match=r"prior_weights must be \(4,\)"):
            find_basins(prior, samples, prior_weights=bad)


def test_basins_refuse_starts_of_the_wrong_width():
    prior = two_wells(6.0)
    with pytest.raises(ValueError, match=r"particles must be \(n, 1\)"):
        find_basins(prior, np.zeros((3, 1)), particles=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no option"):
        prior.basins(nonsense=1)


def test_a_shallow_minimum_does_not_bridge_three_states():
    """Three states at the corners of a triangle (side 2.5, width 0.4) and
    a light component at its centre: the centre is a shallow minimum 0.1
    nat below its saddles to each state, which are more than 2 nats above
    the states. Merged pair by pair it would join all three; by
    persistence it joins one state and the three stay apart."""
    angles = np.radians([90.0, 210.0, 330.0])
    corners = 2.5 / np.sqrt(3) * np.stack([np.cos(angles), np.sin(angles)], 1)
    prior = mixture(np.concatenate([corners, [[0.0, 0.0]]]), [1, 1, 1, 0.1], scale=0.4)
    landscape = Landscape(prior)
    ends, values = descend(landscape, np.concatenate([corners, [[0.05, 0.0]]]))
    assert float(ends[3].norm()) < 0.1            # the centre is a minimum
    to_centre = [float(string_saddles(landscape, ends[i:i + 1], ends[3:])) - float(values[3])
                 for i in range(3)]
    assert max(to_centre) < BARRIER
    group, _ = merge_minima(landscape, ends, values)
    assert sorted(set(group[:3].tolist())) == [0, 1, 2] and int(group[3]) in (0, 1, 2)
    basins = find_basins(prior, prior.sample(600, seed=0)[0])
    assert len(basins) == 3
    assert all(b["prior_population"] == pytest.approx(1 / 3, abs=0.06) for b in basins)


def test_particle_dip_is_zero_in_one_cloud_and_deep_between_two():
    """The particles' density dip between two groups: none when one
    Gaussian cloud is cut in two (its projection has one mode), about
    D^2 / 8 s^2 - log 2 between two clouds of width s, D apart (the 1-D
    density of two equal Gaussians), less than the threshold when D is
    2 s (no dip)."""
    from cryostar_boltz.engine.priors.landscape import particle_dip
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(3000, 4))
    assert particle_dip(cloud[cloud[:, 0] < 0], cloud[cloud[:, 0] >= 0]) < 0.2
    a = rng.normal(size=(1500, 4)) * 0.5
    b = a[::-1] + np.array([3.0, 0.0, 0.0, 0.0])
    assert particle_dip(a, b) == pytest.approx(9.0 / 8.0 / 0.25 - math.log(2.0), abs=0.6)
    assert particle_dip(a, a + np.array([1.0, 0.0, 0.0, 0.0])) < BARRIER
    # too few particles on one side to measure
    assert particle_dip(a[:10], b) == 0.0


def shoulder_prior():
    """Three states on a line: a deep one at 0, a deep one at 7 and a
    shallow one at 4.4 whose barrier towards the state at 7 is 0.44 nat;
    the prior's components are wider than the states (a smooth fit)."""
    return mixture([[0.0, 0.0], [4.4, 0.0], [7.0, 0.0]], [0.5, 0.2, 0.3], scale=0.8)


def test_a_shallow_barrier_the_particles_show_keeps_three_states_apart():
    """The failure kind of a smooth fit: the prior has three minima but
    the saddle between the shallow one and its neighbour is less than a
    nat above it, so from the prior alone two states merge. The particles
    (three tight clouds at the states, 0.5 / 0.2 / 0.3) have a deep dip in
    their density there: with them, three basins, each holding its state,
    with the states' populations."""
    prior = shoulder_prior()
    landscape = Landscape(prior)
    starts = np.array([[0.0, 0.0], [4.4, 0.0], [7.0, 0.0]])
    ends, values = descend(landscape, starts)
    assert float((ends[1] - ends[2]).norm()) > 1.0          # three minima
    saddle = float(string_saddles(landscape, ends[1:2], ends[2:]))
    assert 0.0 < saddle - float(values[1]) < BARRIER
    samples = prior.sample(1500, seed=0)[0]
    assert len(find_basins(prior, samples)) == 2
    rng = np.random.default_rng(1)
    truth = rng.choice(3, size=3000, p=[0.5, 0.2, 0.3])
    particles = starts[truth] + 0.35 * rng.normal(size=(3000, 2))
    basins = find_basins(prior, samples, particles)
    assert len(basins) == 3
    labels = assign(prior, particles, basins)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, labels) > 0.97
    for b in basins:
        state = int(np.argmin(((starts - b["z"]) ** 2).sum(1)))
        assert b["particle_population"] == pytest.approx(np.mean(truth == state), abs=0.02)


def test_particles_of_one_cloud_do_not_split_a_shallow_double_well():
    """Particles drawn from the prior itself (equal unit wells 3 apart, a
    0.4-nat barrier): their density has no deeper dip than F, so the
    wells stay one basin."""
    prior = two_wells(3.0)
    samples = prior.sample(3000, seed=0)[0]
    assert len(find_basins(prior, samples, particles=samples.numpy())) == 1


def beads_on_a_line():
    """A prior rougher than its data: four narrow components (scale 0.35)
    spaced 2 apart along the diagonal, 3.4 nats of barrier between
    neighbours, fitted where the particles of one state lie spread evenly
    along the diagonal; a fifth component for a second, round state."""
    axis = np.array([1.0, 1.0]) / math.sqrt(2.0)
    beads = np.linspace(-3.0, 3.0, 4)[:, None] * axis
    means = np.concatenate([beads, [[3.0, -3.0]]])
    return mixture(means, [0.15] * 4 + [0.4], scale=0.35), means, axis


def test_a_prior_rougher_than_its_particles_does_not_split_their_state():
    """The failure kind of a mixture (or a GRBM's shared-width components)
    fitted to one elongated state: F has a barrier of several nats between
    neighbouring components where the particles' density has no dip. The
    prior alone gives five basins; with the particles, whose density
    decides between groups that both hold enough of them, two: the states,
    with their populations 0.6 / 0.4."""
    prior, means, axis = beads_on_a_line()
    landscape = Landscape(prior)
    ends, values = descend(landscape, means)
    saddle = float(string_saddles(landscape, ends[1:2], ends[2:3]))
    assert saddle - float(values[1:3].max()) > 3.0
    samples = prior.sample(1000, seed=0)[0]
    assert len(find_basins(prior, samples)) == 5
    rng = np.random.default_rng(0)
    truth = rng.choice(2, size=3000, p=[0.6, 0.4])
    along = rng.uniform(-3.0, 3.0, size=3000)[:, None] * axis + 0.15 * rng.normal(size=(3000, 2))
    round_ = np.array([3.0, -3.0]) + 0.3 * rng.normal(size=(3000, 2))
    particles = np.where(truth[:, None] == 0, along, round_)
    basins = find_basins(prior, samples, particles)
    assert len(basins) == 2
    labels = assign(prior, particles, basins)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, labels) == 1.0
    line = int(np.argmax([len(b["minima"]) for b in basins]))
    assert len(basins[line]["minima"]) == 4
    assert basins[line]["particle_population"] == pytest.approx(0.6, abs=0.02)
    assert basins[1 - line]["particle_population"] == pytest.approx(0.4, abs=0.02)


def test_a_mixture_fitted_to_an_oblique_elongated_state_gives_its_basin():
    """The default mixture (8 diagonal components) fitted, as after
    training, to an elongated state along the diagonal of 3-D (spread 1.5
    along it, 0.12 across) and a round one (0.6 / 0.4): the axis-aligned
    components tile the elongated state with barriers between them (six
    basins from F alone), the particles' density has none, so the basins
    are the two states with their populations."""
    from sklearn.metrics import adjusted_rand_score

    from cryostar_boltz.engine.priors import fit_to_posteriors
    rng = np.random.default_rng(1)
    truth = rng.choice(2, size=3000, p=[0.6, 0.4])
    axis = np.ones(3) / math.sqrt(3.0)
    elongated = rng.normal(size=3000)[:, None] * 1.5 * axis + 0.12 * rng.normal(size=(3000, 3))
    round_ = np.array([3.0, -3.0, 0.0]) + 0.3 * rng.normal(size=(3000, 3))
    z = np.where(truth[:, None] == 0, elongated, round_).astype(np.float32)
    prior = build_prior("gmm", 3)
    fit_to_posteriors(prior, z, np.full_like(z, math.log(0.01)), 300, batch=256)
    prior.eval()
    basins = prior.basins(num_reads=2000, particles=z, seed=0)
    assert len(basins) == 2
    assert adjusted_rand_score(truth, prior.assign_to_basins(z, basins)) == 1.0
    for b in basins:
        state = int(np.linalg.norm(b["z"] - np.array([3.0, -3.0, 0.0])) < 1.0)
        assert b["particle_population"] == pytest.approx(np.mean(truth == state), abs=0.01)
        assert b["prior_population"] == pytest.approx(np.mean(truth == state), abs=0.03)


def test_a_minimum_with_tied_saddles_joins_the_nearest_basin(monkeypatch):
    """A minimum on a plateau (a wide, light component that catches
    outliers, F = 5) has saddles of the same height towards both basins
    around it (5.08 towards the one 1 away, 5.07 towards the one 10 away):
    it joins the nearest; only a saddle lower by more than SADDLE_TIE
    (0.1 nat) would take it to the far one."""
    from cryostar_boltz.engine.priors import landscape
    minima = torch.tensor([[-1.0, 0.0], [10.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    values = torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64)

    def merged(plateau_to_far):
        saddles = torch.tensor([20.0, 5.08, plateau_to_far], dtype=torch.float64)
        monkeypatch.setattr(landscape, "segment_saddles", lambda *a, **k: saddles)
        monkeypatch.setattr(landscape, "string_saddles", lambda *a, **k: saddles)
        group, _ = merge_minima(None, minima, values)
        assert int(group[0]) != int(group[1])
        return int(group[2]) == int(group[0])

    assert landscape.SADDLE_TIE == 0.1
    assert merged(5.07)              # tied: the nearest basin
    assert not merged(4.95)          # lower by more than the tie: the far one


def test_a_basin_of_too_few_particles_to_be_a_state_joins_its_lowest_saddle():
    """Two states of 500 particles and a bump of the fitted prior that
    holds 10 (a deep, separate minimum): with the particles the bump joins
    the state its lowest saddle leads to (the nearer one, at y = 6 above
    the state at x = +3); without them the prior alone shows 3 basins."""
    rng = np.random.default_rng(0)
    prior = mixture([[-3.0, 0.0], [3.0, 0.0], [3.0, 6.0]], [0.49, 0.49, 0.02], scale=0.7)
    z = np.concatenate([rng.normal([-3.0, 0.0], 0.7, (500, 2)),
                        rng.normal([3.0, 0.0], 0.7, (500, 2)),
                        rng.normal([3.0, 6.0], 0.7, (10, 2))])
    samples = prior.sample(2000, seed=0)[0]
    assert len(find_basins(prior, samples)) == 3
    basins = find_basins(prior, samples, particles=z)
    assert len(basins) == 2
    labels = assign(prior, z, basins)
    assert len(set(labels[:500])) == 1 and len(set(labels[500:1000])) == 1
    assert set(labels[1000:]) == {labels[500]}           # the bump joined x = +3
    assert sorted(b["particle_population"] for b in basins) == \
        pytest.approx([500 / 1010, 510 / 1010])


def test_a_state_is_represented_where_its_particles_are_not_at_a_deeper_bump():
    """The bump is narrow and deeper than the state it joins (F lower at
    its minimum): the basin's z stays at the state's minimum, where its
    500 particles descend, and its free energy is F there."""
    rng = np.random.default_rng(1)
    prior = mixture([[-3.0, 0.0], [3.0, 0.0], [3.0, 4.0]], [0.49, 0.49, 0.02], scale=0.7)
    with torch.no_grad():
        prior.log_scales[2].fill_(math.log(0.1))
    z = np.concatenate([rng.normal([-3.0, 0.0], 0.7, (500, 2)),
                        rng.normal([3.0, 0.0], 0.7, (500, 2)),
                        rng.normal([3.0, 4.0], 0.1, (10, 2))])
    landscape = Landscape(prior)
    bump, state = landscape.value(landscape.tensor([[3.0, 4.0], [3.0, 0.0]]))
    assert bump < state                                   # the bump is deeper
    basins = find_basins(prior, prior.sample(2000, seed=0)[0], particles=z)
    assert len(basins) == 2
    zs = sorted((tuple(np.round(b["z"], 1)) for b in basins))
    assert zs == [(-3.0, 0.0), (3.0, 0.0)]
