"""engine/particle_scores.py: robust z-scores of the per-particle image loss,
reading them back, and the junk they mark."""
import numpy as np
import pytest

from cryostar_boltz.engine.particle_scores import (
    DEFAULT_JUNK_Z, ScoresUnavailable, junk_exclusion, junk_mask, load_particle_scores,
    robust_z, save_particle_scores)


def test_robust_z_is_the_median_and_mad_score():
    z = robust_z([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, MAD median(|-2, -1, 0, 1, 97|) = 1, scaled by 1.4826
    np.testing.assert_allclose(z, np.array([-2, -1, 0, 1, 97]) / 1.4826, rtol=1e-6)
    assert z.dtype == np.float32
    assert junk_mask(z).tolist() == [False] * 4 + [True]


def test_robust_z_of_normal_values_is_about_a_standard_score():
    values = np.random.default_rng(0).normal(5.0, 2.0, 20000)
    z = robust_z(values)
    assert abs(np.std(z) - 1.0) < 0.03
    assert 0.0005 < np.mean(z > 3.0) < 0.003  # about 0.13 %
    assert 0.015 < np.mean(z > DEFAULT_JUNK_Z) < 0.03  # about 2.3 %


def test_robust_z_of_equal_values_is_zero_and_bad_values_are_refused():
    assert robust_z([2.0, 2.0, 2.0]).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="1 non-finite values"):
        robust_z([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="no values"):
        robust_z([])


def test_scores_written_and_read_back(tmp_path):
    # own pose, then 2 random orientations: the contrast is the first minus
    # the mean of the others; the last particle fits no better than random
    losses = np.array([[-0.60, -0.30, -0.30], [-0.61, -0.31, -0.33],
                       [-0.59, -0.28, -0.30], [-0.58, -0.32, -0.34],
                       [-0.30, -0.31, -0.29]])
    scores = save_particle_scores(tmp_path, losses)
    read = load_particle_scores(tmp_path, 5)
    for key in ("loss", "contrast", "z"):
        np.testing.assert_array_equal(read[key], scores[key])
    np.testing.assert_allclose(read["loss"], losses[:, 0], rtol=1e-6)
    np.testing.assert_allclose(read["contrast"], [-0.3, -0.29, -0.3, -0.25, 0.0],
                               atol=1e-6)
    np.testing.assert_array_equal(read["z"], robust_z(losses[:, 0] - losses[:, 1:].mean(1)))
    criterion, junk = junk_exclusion(tmp_path, 5, 3.0)
    assert junk.tolist() == [False] * 4 + [True]
    assert criterion["n_junk"] == 1 and criterion["junk_threshold"] == 3.0
    assert criterion["junk_score"] == "junk_score.npy"
    with pytest.raises(ValueError, match="particle_loss.npy: expected one score per "
                                         "particle \\(6\\), got shape \\(5,\\)"):
        load_particle_scores(tmp_path, 6)
    with pytest.raises(ValueError, match="expected \\(N, 1 \\+ K\\) image losses"):
        save_particle_scores(tmp_path, losses[:, 0])


def test_a_run_without_scores_says_so(tmp_path):
    with pytest.raises(ScoresUnavailable, match="no per-particle scores .*particle_loss.npy"
                                                ".*junk_score.npy.*trained before they "
                                                "were written"):
        load_particle_scores(tmp_path)
    with pytest.raises(ValueError, match="^--exclude-junk: .*no per-particle scores"):
        junk_exclusion(tmp_path, 3)


def test_damaged_score_files_are_refused_naming_the_file(tmp_path):
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.engine.particle_scores import load_particle_scores
    layout = RunLayout(tmp_path)
    for path in (layout.particle_loss, layout.pose_contrast, layout.junk_score):
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.zeros(4, np.float32))
    assert len(load_particle_scores(tmp_path, 4)["z"]) == 4
    bad = np.zeros(4, np.float32)
    bad[2] = np.nan
    np.save(layout.junk_score, bad)
    with pytest.raises(ValueError, match=r"junk_score.npy: 1 values that are not finite"):
        load_particle_scores(tmp_path, 4)
    layout.junk_score.write_text("not an array\n")
    with pytest.raises(ValueError, match=r"junk_score.npy: not a NumPy array file"):
        load_particle_scores(tmp_path, 4)


def test_training_loss_saved_apart_from_the_contrast_losses(tmp_path):
    # the contrast's losses (own pose, then random orientations) come from
    # the coarse scoring projection; the particle loss is the training loss
    losses = np.array([[-0.50, -0.20, -0.30], [-0.40, -0.40, -0.40]])
    scores = save_particle_scores(tmp_path, losses, loss=[-0.9, -0.7])
    np.testing.assert_allclose(scores["loss"], [-0.9, -0.7], rtol=1e-6)
    np.testing.assert_allclose(scores["contrast"], [-0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose(load_particle_scores(tmp_path, 2)["loss"], [-0.9, -0.7],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="one training loss per particle"):
        save_particle_scores(tmp_path, losses, loss=[-0.9])
