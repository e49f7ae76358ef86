"""Per-epoch convergence measures (training/convergence.py): latent
correlation after Procrustes alignment, PC1-path RMSD, the tracker's state
and the sentence shown to users."""
import math

import numpy as np
import pytest
from scipy.stats import ortho_group

from cryostar_boltz.engine.training.convergence import (
    SUBSET, ConvergenceTracker, latent_correlation, path_rmsd, pc1_path, reading,
    subset_indices)


def embedding(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.array([3.0, 1.5, 0.7, 0.3][:d])


def linear_decoder(weights):
    """A decoder (M, d) -> (M, 5, 3) linear in the latent; like the
    network's (``torch.as_tensor``), it takes only arrays without negative
    strides, so a reversed path must come as a copy."""
    def decode(points):
        assert all(step > 0 for step in np.asarray(points).strides), "negative strides"
        return (np.asarray(points) @ weights).reshape(len(points), 5, 3)
    return decode


def test_a_rotated_rescaled_shifted_copy_correlates_one():
    z = embedding()
    rotation = ortho_group.rvs(4, random_state=1)
    assert latent_correlation(z, 2.5 * z @ rotation + 7.0) == pytest.approx(1.0, abs=1e-12)
    reflection = np.diag([-1.0, 1.0, 1.0, 1.0])
    assert latent_correlation(z, z @ reflection) == pytest.approx(1.0, abs=1e-12)


def test_unrelated_embeddings_correlate_little_and_noise_lowers_it():
    z = embedding()
    other = embedding(seed=5)
    low = latent_correlation(z, other)
    assert 0.0 <= low < 0.3
    noisy = z + np.random.default_rng(2).normal(scale=1.0, size=z.shape)
    mid = latent_correlation(z, noisy)
    assert low < mid < 1.0
    # for independent noise E the congruence is about
    # ||Z|| / sqrt(||Z||^2 + ||E||^2) (centred), 0.86 here
    zc, ec = z - z.mean(0), (noisy - z) - (noisy - z).mean(0)
    expected = np.linalg.norm(zc) / np.hypot(np.linalg.norm(zc), np.linalg.norm(ec))
    assert expected == pytest.approx(0.86, abs=0.01)
    assert mid == pytest.approx(expected, abs=0.02)


def test_latent_correlation_refuses_different_shapes():
    with pytest.raises(ValueError, match="same"):
        latent_correlation(np.zeros((10, 3)), np.zeros((10, 4)))
    assert math.isnan(latent_correlation(np.ones((10, 3)), embedding(10, 3)))


def test_path_rmsd_of_identical_paths_is_zero_and_of_shifted_is_the_shift():
    path = np.random.default_rng(0).normal(size=(10, 20, 3)) * 10
    assert path_rmsd(path, path.copy()) == 0.0
    assert path_rmsd(path, path + [0.6, 0.0, 0.8]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes"):
        path_rmsd(path, path[:5])


def test_pc1_path_spans_two_standard_deviations():
    z = embedding()
    points, scores = pc1_path(z)
    assert points.shape == (10, 4) and scores.shape == (300,)
    sd = scores.std(ddof=1)
    along = (points - z.mean(0)) @ (points[-1] - points[0]) / np.linalg.norm(
        points[-1] - points[0])
    np.testing.assert_allclose(along, np.linspace(-2 * sd, 2 * sd, 10), atol=1e-9)


@pytest.mark.parametrize("rotation", ["flip", "random"])
def test_tracker_sees_no_change_when_the_latent_space_only_rotates(rotation):
    """The same particles in a rotated latent space, with a decoder that
    follows the rotation: correlation 1, path RMSD 0 (-I flips the sign of
    PC1, which the tracker aligns to the previous epoch's)."""
    z = embedding()
    weights = np.random.default_rng(3).normal(size=(4, 15))
    R = -np.eye(4) if rotation == "flip" else ortho_group.rvs(4, random_state=4)
    tracker = ConvergenceTracker(len(z), seed=0)
    first = tracker.update(z, linear_decoder(weights))
    assert math.isnan(first["latent_corr"]) and math.isnan(first["pc1_rmsd"])
    second = tracker.update(z @ R, linear_decoder(R.T @ weights))
    assert second["latent_corr"] == pytest.approx(1.0, abs=1e-9)
    assert second["pc1_rmsd"] == pytest.approx(0.0, abs=1e-4)


def test_tracker_reports_a_changed_motion():
    z = embedding()
    weights = np.random.default_rng(3).normal(size=(4, 15))
    tracker = ConvergenceTracker(len(z), seed=0)
    tracker.update(z, linear_decoder(weights))
    values = tracker.update(z, linear_decoder(1.1 * weights))
    assert values["latent_corr"] == pytest.approx(1.0)
    # every structure of the path moves by 10 % of itself
    points, _ = pc1_path(z)
    expected = 0.1 * np.sqrt((linear_decoder(weights)(points) ** 2).sum(-1).mean())
    assert values["pc1_rmsd"] == pytest.approx(expected, rel=1e-4)


def test_tracker_state_resumes_the_same_values():
    z1, z2 = embedding(seed=1), embedding(seed=1) + 0.3 * embedding(seed=2)
    decode = linear_decoder(np.random.default_rng(3).normal(size=(4, 15)))
    a = ConvergenceTracker(len(z1), seed=0)
    a.update(z1, decode)
    b = ConvergenceTracker(len(z1), seed=0)
    b.load_state_dict(a.state_dict())
    assert a.update(z2, decode) == b.update(z2, decode)
    fresh = ConvergenceTracker(len(z1), seed=0)
    fresh.load_state_dict(None)  # a checkpoint without the state
    assert math.isnan(fresh.update(z2, decode)["latent_corr"])


def test_non_finite_latents_give_nan_and_forget_the_previous_epoch():
    z = embedding()
    decode = linear_decoder(np.ones((4, 15)))
    tracker = ConvergenceTracker(len(z), seed=0)
    tracker.update(z, decode)
    bad = z.copy()
    bad[0, 0] = np.nan
    values = tracker.update(bad, decode)
    assert math.isnan(values["latent_corr"]) and math.isnan(values["pc1_rmsd"])
    assert tracker.state_dict() is None


def test_subset_is_all_particles_or_a_fixed_seeded_draw():
    np.testing.assert_array_equal(subset_indices(50, seed=1), np.arange(50))
    big = subset_indices(10 * SUBSET, seed=1)
    assert len(big) == SUBSET == len(np.unique(big))
    assert (np.diff(big) > 0).all() and big.max() < 10 * SUBSET
    np.testing.assert_array_equal(big, subset_indices(10 * SUBSET, seed=1))
    assert not np.array_equal(big, subset_indices(10 * SUBSET, seed=2))


def test_reading_says_whether_more_epochs_would_help():
    assert reading(0.998, 0.05) == ("latent correlation with the previous epoch "
                                    "0.998; PC1 path moved 0.05 A: more epochs "
                                    "would change little")
    assert reading("0.9", "0.3").endswith("still changing: more epochs may help")
    assert reading(0.999, 2.0).endswith("still changing: more epochs may help")
    assert reading(0.97, 0.7).endswith("settling: a few more epochs may still refine it")
    assert reading("nan", "") is None and reading(None, None) is None
