"""The stage-1 encoder's input: images turned and centred by their poses,
then Fourier-cropped to the encoder's box."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.models import ImageEncoder, StructureVAE
from cryostar_boltz.engine.particles.stacks import fourier_crop
from cryostar_boltz.engine.training.encoder_input import EncoderInput


def _poses(n, seed=0):
    rotations = Rotation.random(n, random_state=seed).as_matrix()
    shifts = np.random.default_rng(seed).normal(0.0, 3.0, (n, 2))
    return (torch.as_tensor(rotations, dtype=torch.float32),
            torch.as_tensor(shifts, dtype=torch.float32))


def test_aligned_input_turns_and_centres_each_particle_by_its_own_pose():
    rotations, shifts = _poses(6)
    images = torch.randn(4, 32, 32, generator=torch.Generator().manual_seed(1)) + 2.0
    encoder = ImageEncoder(32)
    encoder.set_input_scale(2.0, 1.0)
    idx = [5, 0, 3, 3]
    aligned = EncoderInput("aligned", rotations, shifts, 1.5, encoder)(idx, images)
    expected = imaging.in_plane_aligned(images, rotations[idx], shifts[idx], 1.5, fill=2.0)
    assert torch.equal(aligned, expected)
    assert not torch.allclose(aligned, images)
    assert aligned[:, 0, 0].eq(2.0).all()   # outside the circle: the mean, zero once standardised


def test_raw_input_and_runs_made_before_the_option_pass_the_images_unchanged():
    rotations, shifts = _poses(3)
    images = torch.randn(3, 16, 16)
    for mode in ("raw", None):
        out = EncoderInput(mode, rotations, shifts, 2.0, ImageEncoder(16))([0, 1, 2], images)
        assert out is images


class _Stack:
    """The part of ``TrainingData`` the encoder's input cache reads."""

    def __init__(self, images):
        self.images, self.n, self.D = images, images.shape[0], images.shape[-1]
        self.loads = 0

    def load_images(self, idx):
        self.loads += 1
        return self.images[torch.as_tensor(idx)]


@pytest.mark.parametrize("mode, box", [("aligned", 20), ("aligned", 32), ("raw", 20)])
def test_cached_inputs_are_those_computed_per_batch(mode, box, monkeypatch):
    from cryostar_boltz.engine.training import encoder_input
    monkeypatch.setattr(encoder_input, "_CHUNK", 7)   # several chunks, the last partial
    rotations, shifts = _poses(30, seed=4)
    stack = _Stack(torch.randn(30, 32, 32, generator=torch.Generator().manual_seed(5)) + 1.0)
    encoder = ImageEncoder(box)
    encoder.set_input_scale(1.0, 1.0)
    cached = EncoderInput(mode, rotations, shifts, 1.5, encoder, data=stack)
    direct = EncoderInput(mode, rotations, shifts, 1.5, encoder)
    for idx in ([3, 29, 0, 3], list(range(12, 24))):
        got = cached(idx, stack.load_images(idx))
        torch.testing.assert_close(got, direct(idx, stack.load_images(idx)), rtol=0, atol=1e-6)
    assert cached.cached
    assert got.shape == (12, box, box)


def test_the_input_cache_keeps_to_its_budget_and_skips_raw_whole_box_images():
    rotations, shifts = _poses(10, seed=6)
    stack = _Stack(torch.randn(10, 16, 16))
    over = EncoderInput("aligned", rotations, shifts, 1.5, ImageEncoder(16), data=stack,
                        budget=10 * 16 * 16 * 4 - 1)
    over([0, 1], stack.load_images([0, 1]))
    assert not over.cached and stack.loads == 1
    fits = EncoderInput("aligned", rotations, shifts, 1.5, ImageEncoder(16), data=stack,
                        budget=10 * 16 * 16 * 4)
    fits([0, 1], stack.load_images([0, 1]))
    assert fits.cached
    raw = EncoderInput("raw", rotations, shifts, 1.5, ImageEncoder(16), data=stack)
    images = stack.load_images([2, 3])
    assert raw([2, 3], images) is images and not raw.cached


def test_a_particle_turned_in_plane_reaches_the_encoder_as_the_same_image():
    coords = torch.randn(30, 3, generator=torch.Generator().manual_seed(2)) * 6.0
    rotations, _ = _poses(1, seed=3)
    turns = torch.stack([torch.tensor([[math.cos(a), -math.sin(a), 0.0],
                                       [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
                         for a in (0.0, 0.7, -2.1)])
    poses = turns @ rotations
    shifts = torch.tensor([[0.0, 0.0], [2.5, -1.0], [-4.0, 3.0]])
    images = imaging.project_gaussians(coords, torch.ones(30), poses, 40, 1.5,
                                       sigma=2.0, shifts=shifts)
    encoder = ImageEncoder(40)
    seen = EncoderInput("aligned", poses, shifts, 1.5, encoder)([0, 1, 2], images)
    assert ((seen - seen[:1]).norm(dim=(1, 2)) / seen[0].norm()).max() < 0.05
    assert ((images - images[:1]).norm(dim=(1, 2)) / images[0].norm())[1:].min() > 0.5


def test_the_encoder_box_crops_the_turned_images_in_fourier_space():
    rotations, shifts = _poses(5)
    images = torch.randn(5, 32, 32, generator=torch.Generator().manual_seed(4)) + 3.0
    encoder, whole = ImageEncoder(20), ImageEncoder(32)
    for e in (encoder, whole):
        e.set_input_scale(3.0, 1.0)
    for mode in ("aligned", "raw"):
        seen = EncoderInput(mode, rotations, shifts, 1.5, encoder)(range(5), images)
        full = EncoderInput(mode, rotations, shifts, 1.5, whole)(range(5), images)
        assert seen.shape == (5, 20, 20)
        # the lowest 20 x 20 coefficients of the full-box input, the mean kept
        # (the numpy crop that downsamples particle stacks)
        assert np.allclose(seen.numpy(), fourier_crop(full.numpy(), 20), atol=1e-5)
        assert torch.allclose(seen.mean((1, 2)), full.mean((1, 2)), atol=1e-5)


def test_the_vae_encodes_on_its_encoder_box_and_old_runs_on_the_whole_box():
    coords = torch.randn(12, 3)
    vae = StructureVAE(32, coords, torch.ones(12), encoder_box=20)
    assert vae.encoder.D == 20 and vae.config["encoder_box"] == 20
    assert vae.encoder.body[0].in_features == 400
    again = StructureVAE.from_config(vae.config)
    again.load_state_dict(vae.state_dict())
    assert again.encoder.D == 20
    old = vae.config
    del old["encoder_box"]                 # a run saved before the option
    assert StructureVAE.from_config(old).encoder.D == 32
    assert StructureVAE(32, coords, torch.ones(12), encoder_box=0).encoder.D == 32
    for bad in (33, 40, 7):
        with pytest.raises(ValueError, match="encoder box"):
            StructureVAE(32, coords, torch.ones(12), encoder_box=bad)
