"""Pose screening during stage 1 (engine/training/pose_screen.py): which
epochs screen, which particles leave the image loss, resume."""
import numpy as np
import torch

from cryostar_boltz.engine.training.pose_screen import SCREEN_POSES, PoseScreen


def test_screening_epochs_are_the_first_and_a_quarter_of_the_run():
    assert PoseScreen(10, 20, 2.0).screening_epochs() == {0, 5}
    assert PoseScreen(10, 3, 2.0).screening_epochs() == {0}
    assert PoseScreen(10, 1, 2.0).screening_epochs() == {0}
    # no threshold: nothing screened, every particle weighs 1
    off = PoseScreen(10, 20, 0.0)
    assert off.screening_epochs() == set() and not off.scoring(0)
    assert off.weights(np.arange(10), torch.zeros(10)).tolist() == [1.0] * 10


def test_particles_that_fit_no_better_than_random_poses_leave_the_loss():
    n = 200
    screen = PoseScreen(n, 20, 2.0)
    junk = np.zeros(n, bool)
    junk[[3, 50, 177]] = True
    # good particles spread evenly (robust z within 1.35), junk at 0
    own = np.where(junk, -0.20, -0.45 + 0.01 * np.linspace(-1, 1, n))
    random = np.full((n, SCREEN_POSES), -0.20)
    seen = np.arange(n - 8)  # the last incomplete batch is not reached
    for batch in np.array_split(seen, 6):
        screen.record(batch, torch.tensor(own[batch]), torch.tensor(random[batch]))
    line = screen.finish(0)
    assert line.startswith("epoch 1: pose screen: 3 of the 192 particles judged (1.6 %)")
    assert line.endswith(": left out of the image loss from the next epoch; the other 8 "
                         "(outside the epoch's full batches, or without a finite loss) "
                         "were not judged and stay in the image loss")
    weights = screen.weights(np.arange(n), torch.zeros(n, dtype=torch.float64))
    assert weights.dtype == torch.float64
    assert np.flatnonzero(weights.numpy() == 0).tolist() == [3, 50, 177]
    # a screening starts afresh: nothing recorded, too few to judge
    assert "too few particles" in screen.finish(5)
    assert (screen.weights([3], torch.zeros(1)) == 0).all()  # the weights stay


def test_screen_state_survives_a_resume_and_rotations_follow_the_step():
    screen = PoseScreen(20, 8, 2.0, seed=3)
    screen.keep[4] = 0
    screen.record([1, 2], torch.tensor([-0.4, -0.4]), torch.tensor([[-0.2], [-0.2]]))
    resumed = PoseScreen(20, 8, 2.0, seed=3)
    resumed.load_state_dict(screen.state_dict())
    assert resumed.keep.tolist() == screen.keep.tolist()
    assert resumed.state_dict()["sum"].tolist() == screen.state_dict()["sum"].tolist()
    resumed.load_state_dict(None)  # a run saved before screening: unchanged
    assert resumed.keep[4] == 0
    a = screen.rotations(5, 11, "cpu")
    assert len(a) == SCREEN_POSES and a[0].shape == (5, 3, 3)
    torch.testing.assert_close(a[0], resumed.rotations(5, 11, "cpu")[0])
    assert not torch.allclose(a[0], screen.rotations(5, 12, "cpu")[0])
    eye = a[0] @ a[0].transpose(1, 2)
    torch.testing.assert_close(eye, torch.eye(3).expand(5, 3, 3), atol=1e-5, rtol=0)


def test_particles_without_a_finite_contrast_are_not_judged():
    # a focus mask that misses a particle's loss area gives it no finite loss
    screen = PoseScreen(40, 1, 2.0)
    own = torch.tensor([-0.45 + 0.001 * k for k in range(39)] + [float("nan")])
    screen.record(np.arange(40), own, torch.full((40, 2), -0.2))
    line = screen.finish(0)
    assert "0 of the 39 particles judged" in line
    assert line.endswith("this is the run's last epoch, so its training is unchanged; "
                         "the other 1 "
                         "(outside the epoch's full batches, or without a finite loss) "
                         "were not judged and stay in the image loss")
    assert screen.keep.tolist() == [1.0] * 40


def test_screen_threshold_is_off_or_at_least_one_sd():
    import pytest

    from cryostar_boltz.engine.options import OptionError, screen_threshold
    assert screen_threshold("0") == 0 and screen_threshold("2.5") == 2.5
    for bad in ("0.01", "-1", "nan", "inf"):
        with pytest.raises(OptionError):
            screen_threshold(bad)
