"""Focus masks: read and checked, projected with each pose (engine/focus_mask.py)."""
import mrcfile
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.focus_mask import (FocusMask, check_overlap, coarse_grid,
                                              read_focus_mask)
from cryostar_boltz.engine.geometry import euler_to_matrix
from cryostar_boltz.engine.losses import correlation_loss

D, APIX = 32, 3.0


def ball(centre, radius, D=D, apix=APIX):
    r = (np.arange(D) - D // 2) * apix
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    d = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
    return np.clip((radius + apix - d) / (2 * apix), 0, 1).astype(np.float32)  # soft edge


def write_map(path, data, apix=APIX, origin=(0, 0, 0)):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, np.float32))
        mrc.voxel_size = apix
        mrc.header.origin = tuple(origin)
    return path


def test_weights_follow_the_pose_and_origin():
    centre = np.array([15.0, -9.0, 6.0])
    circle = imaging.circular_mask(D)
    focus = FocusMask(ball(centre, 8.0), APIX, D, APIX, 6.0, circle)
    rotations = torch.as_tensor(euler_to_matrix(np.array(
                                          ((0, 0, 0), (30, 60, 90), (200, 120, -45)), float)),
                                dtype=torch.float32)
    shifts = torch.tensor([[0.0, 0.0], [6.0, -3.0], [-4.5, 9.0]])
    w = focus.weights(rotations, shifts)
    assert w.shape == (3, D, D) and float(w.min()) >= 0 and float(w.max()) == 1.0
    # the ball projects where a point at its centre does (project_gaussians)
    point = imaging.project_gaussians(torch.tensor(centre[None], dtype=torch.float32),
                                      torch.ones(1), rotations, D, APIX, 2.0, shifts)
    for k in range(3):
        peak = np.unravel_index(int(point[k].argmax()), (D, D))
        assert float(w[k][peak]) == 1.0
        inside = w[k] > 0.5
        ys, xs = np.nonzero(inside.numpy())
        assert abs(ys.mean() - peak[0]) < 1 and abs(xs.mean() - peak[1]) < 1
        # a ball of 8 A (+ soft edge) covers about pi (9 A)^2 / 9 A^2 pixels
        assert 15 < int(inside.sum()) < 45


@pytest.mark.parametrize("low_pass, voxels, least", [(6.0, 32, 0.9999), (10.0, 20, 0.98)])
def test_coarse_projection_matches_the_full_one(low_pass, voxels, least):
    """At the training box it is project_volume's projection; on the
    coarser grid of a 10 A low-pass, a blurred copy of it, centred alike."""
    volume = np.clip(ball([10.0, 0.0, -5.0], 12.0) + ball([-12.0, 8.0, 4.0], 7.0), 0, 1)
    rotations = torch.as_tensor(euler_to_matrix(np.array([[40.0, 70.0, 10.0]])),
                                dtype=torch.float32)
    focus = FocusMask(volume, APIX, D, APIX, low_pass, torch.ones(D, D))
    assert coarse_grid(D, APIX, low_pass) == (voxels, D * APIX / voxels)
    full = imaging.project_volume(torch.as_tensor(volume), rotations, APIX)[0].numpy()
    coarse = torch.nn.functional.grid_sample(
        focus.projections(rotations)[:, None], focus.fine, align_corners=True)[0, 0].numpy()
    assert np.corrcoef(full.ravel(), coarse.ravel())[0, 1] > least
    assert abs(coarse.sum() / full.sum() - 1) < 0.01
    g = np.arange(D)
    for axis in (0, 1):
        centre = lambda a: (a.sum(1 - axis) * g).sum() / a.sum()
        assert abs(centre(full) - centre(coarse)) < 0.05


def test_weights_are_a_soft_loss_mask():
    """The loss with (B, D, D) weights of 0 and 1 is the loss with that mask."""
    pred, obs = torch.randn(2, D, D), torch.randn(2, D, D)
    circle = imaging.circular_mask(D)
    same = correlation_loss(pred, obs, circle[None].expand(2, -1, -1).float())
    assert torch.allclose(same, correlation_loss(pred, obs, circle), atol=1e-6)
    # only the weighted pixels count: what lies outside them changes nothing
    half = torch.zeros(2, D, D)
    half[:, :, : D // 2] = 1
    changed = obs.clone()
    changed[:, :, D // 2:] = 5.0
    assert torch.allclose(correlation_loss(pred, obs, half),
                          correlation_loss(pred, changed, half))


def test_a_mask_on_the_particle_box_is_read(tmp_path):
    volume, voxel = read_focus_mask(write_map(tmp_path / "m.mrc", ball([0, 0, 0], 9)),
                                    D, APIX)
    assert volume.shape == (D, D, D) and voxel == pytest.approx(APIX)


@pytest.mark.parametrize("data, apix, origin, words", [
    (np.ones((D, D, 30)), APIX, (0, 0, 0), "is 30 x 32 x 32 voxels (x, y, z), not a cube"),
    (np.ones((D, D, D)), 2.0, (0, 0, 0), "(64.0 A wide) but the particles are 32 px"),
    (2 * np.ones((D, D, D)), APIX, (0, 0, 0), "values from 2 to 2; a mask holds values in [0, 1]"),
    (np.zeros((D, D, D)), APIX, (0, 0, 0), "the mask is empty"),
    (0.3 * ball([0, 0, 0], 9), APIX, (0, 0, 0), "the mask is empty after thresholding at "
     "0.5 (its largest value is 0.3): a mask is 1 inside"),
    (np.ones((D, D, D)), APIX, (9, 0, 0), "is not on the grid of the consensus map"),
])
def test_masks_that_do_not_fit_are_refused(tmp_path, data, apix, origin, words):
    consensus = write_map(tmp_path / "map.mrc", np.zeros((D, D, D)))
    mask = write_map(tmp_path / "mask.mrc", data, apix, origin)
    with pytest.raises(ValueError) as err:
        read_focus_mask(mask, D, APIX, consensus)
    message = str(err.value)
    assert message.startswith("--mask %s" % mask) and words in message
    assert "\n" not in message


def test_a_particles_weights_are_kept_after_first_use():
    focus = FocusMask(ball([6.0, 0.0, 3.0], 10.0), APIX, D, APIX, 6.0,
                      imaging.circular_mask(D))
    focus.keep(5)
    rotations = torch.as_tensor(euler_to_matrix(np.array(
        [[10.0, 20.0, 30.0], [50.0, 90.0, 0.0], [0.0, 45.0, 270.0]])), dtype=torch.float32)
    shifts = torch.tensor([[1.0, 2.0], [0.0, -3.0], [4.0, 0.0]])
    first = focus.particle_weights([4, 0, 2], rotations, shifts)
    assert torch.equal(first, focus.weights(rotations, shifts))
    assert focus._known.tolist() == [True, False, True, False, True]
    # kept: the same weights again, whatever poses are passed
    again = focus.particle_weights([2, 4], rotations[:2] * 0, shifts[:2])
    assert torch.equal(again, first[[2, 0]])


def test_a_mask_beside_the_model_is_refused():
    """The loss would focus on solvent: the model has nothing there."""
    atoms = np.array([[0.0, 0.0, 0.0], [5.0, -3.0, 2.0], [-6.0, 4.0, 1.0]])
    check_overlap(ball([4.0, -3.0, 2.0], 3.0), APIX, atoms, "--mask m.mrc")
    with pytest.raises(ValueError) as err:
        check_overlap(ball([30.0, 30.0, 30.0], 6.0), APIX, atoms, "--mask m.mrc")
    assert str(err.value).startswith(
        "--mask m.mrc: the mask does not overlap the reference model: none of its 3 "
        "atoms lies inside it (value >= 0.5; in the box frame the mask's inside is "
        "centred at (30.00, 30.00, 30.00) A, the model at (-0.33, 0.33, 1.00) A)")


def test_the_least_loss_area_is_one_resolution_element():
    # a disk of the low-pass's diameter, in pixels; Nyquist (2 px) at least
    assert imaging.resolution_element(8.0, 3.2) == pytest.approx(np.pi * 2.5 ** 2 / 4)
    assert imaging.resolution_element(1.0, 3.2) == pytest.approx(np.pi)


#: A ball 30 A along x and a loss circle of 15 A: seen along z (the identity
#: pose) it projects outside the circle, seen along x onto its centre.
OFF_CENTRE = ([30.0, 0.0, 0.0], 4.0)
ALONG_Z = np.eye(3)
ALONG_X = euler_to_matrix(np.array([[0.0, 90.0, 0.0]]))[0]


def off_centre_focus():
    circle = imaging.circular_mask(D, 15.0 / (D / 2 * APIX))
    return FocusMask(ball(*OFF_CENTRE), APIX, D, APIX, 6.0, circle), circle


def test_a_mask_outside_the_loss_circle_for_every_pose_is_refused():
    focus, _ = off_centre_focus()
    rotations = torch.as_tensor(np.stack([ALONG_Z] * 4), dtype=torch.float32)
    with pytest.raises(ValueError) as err:
        focus.select_particles(rotations, torch.zeros(4, 2), "--mask m.mrc", 15.0)
    assert str(err.value).startswith(
        "--mask m.mrc: its support lies outside the loss circle of radius 15 A for every "
        "particle's pose: the largest loss area is 0 px, less than one resolution "
        "element of the 6 A low-pass (3.14 px of 3 A)")


def test_particles_that_see_no_mask_are_left_out_and_their_loss_stays_finite():
    focus, circle = off_centre_focus()
    focus.keep(4)
    poses = [ALONG_Z, ALONG_X, ALONG_Z, ALONG_X]
    rotations = torch.as_tensor(np.stack(poses), dtype=torch.float32)
    # an origin of 30 A brings the ball back into the circle seen along z
    shifts = torch.tensor([[0.0, 0.0], [0.0, 0.0], [30.0, 0.0], [0.0, 0.0]])
    assert focus.select_particles(rotations, shifts, "--mask m.mrc", 15.0) == (1, 4)
    assert focus.kept([0, 1, 2, 3]).tolist() == [0.0, 1.0, 1.0, 1.0]
    weights = focus.particle_weights([0, 1, 2, 3], rotations, shifts)
    # the one left out gets the circle: a finite loss, weighed 0
    assert torch.equal(weights[0], circle.float())
    assert float(weights[1].sum()) > imaging.resolution_element(6.0, APIX)
    loss = correlation_loss(torch.randn(4, D, D), torch.randn(4, D, D), weights)
    assert torch.isfinite(loss).all()
