"""training/scoring.py: the pose contrast's coarse projections on a
Fourier-cropped box give the losses of the full box."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.losses import correlation_loss
from cryostar_boltz.engine.particles.stacks import fourier_crop
from cryostar_boltz.engine.imaging import crop_spectrum
from cryostar_boltz.engine.training.derived import band_box
from cryostar_boltz.engine.training.scoring import PoseScorer

D, APIX, LOW_PASS = 48, 1.45, 3.5 * 1.45


@pytest.mark.parametrize("D, apix, low_pass, box", [
    (64, 1.45, 5.075, 40),   # the default: 3.5 pixels; 38 (2 x 19) holds it too
    (32, 3.2, 8.0, 30),      # 25.6 pixels of band; 26 and 28 have 13 and 7
    (64, 1.45, 2.0, 64),     # a low-pass finer than Nyquist keeps the box
    (64, 1.0, 16.0, 10),     # exactly 8 px of band -> the next even size
])
def test_scoring_box_is_the_smallest_that_holds_the_band(D, apix, low_pass, box):
    assert band_box(D, apix, low_pass) == box
    # the cropped box's Nyquist frequency lies beyond the low-pass
    assert box == D or box / (2.0 * D * apix) > 1.0 / low_pass
    assert box == D or band_box(D, apix, low_pass) % 2 == 0


def test_crop_spectrum_is_a_fourier_crop():
    images = torch.randn(3, D, D, dtype=torch.float64)
    cropped = torch.fft.irfft2(crop_spectrum(torch.fft.rfft2(images), 30), s=(30, 30))
    expected = fourier_crop(images.numpy(), 30) / (30 / D) ** 2
    np.testing.assert_allclose(cropped.numpy(), expected, atol=1e-4)
    spectrum = torch.fft.rfft2(images)
    assert crop_spectrum(spectrum, D) is spectrum


def residue_model(n=60, seed=0):
    rng = np.random.default_rng(seed)
    coords = torch.as_tensor(rng.normal(0.0, 8.0, (n, 3)) * [1.0, 0.6, 0.3],
                             dtype=torch.float32)
    return coords, torch.ones(n)


def full_box_losses(coords, amplitudes, rotations, shifts, filters, observed):
    """The same losses on the full box (D px), the way training computes them."""
    mask = imaging.circular_mask(D, 0.9375)
    losses = []
    for rotation in rotations:
        proj = imaging.project_gaussians(coords, amplitudes, rotation, D, APIX,
                                         sigma=2.0, shifts=shifts)
        losses.append(correlation_loss(imaging.apply_ctf(proj, filters), observed, mask))
    return torch.stack(losses, 1)


def test_cropped_box_losses_match_the_full_box():
    B = 6
    coords, amplitudes = residue_model()
    batch = coords.expand(B, -1, -1)
    own = torch.as_tensor(Rotation.random(B, random_state=1).as_matrix(), dtype=torch.float32)
    shifts = torch.as_tensor(np.random.default_rng(2).normal(0, 2, (B, 2)),
                             dtype=torch.float32)
    ctf = torch.tensor([[15000.0, 14000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0]]).expand(B, -1)
    filters = imaging.compute_ctf(ctf, D, APIX) * imaging.lowpass_mask(D, APIX, LOW_PASS)
    clean = imaging.apply_ctf(imaging.project_gaussians(batch, amplitudes, own, D, APIX,
                                                        sigma=2.0, shifts=shifts), filters)
    observed = clean + 0.5 * clean.std() * imaging.apply_fourier_mask(
        torch.randn(B, D, D, generator=torch.Generator().manual_seed(3)),
        imaging.lowpass_mask(D, APIX, LOW_PASS))
    randoms = torch.as_tensor(np.stack([Rotation.random(B, random_state=4 + k).as_matrix()
                                        for k in range(3)]), dtype=torch.float32)
    rotations = torch.cat([own[None], randoms])
    scorer = PoseScorer(D, APIX, LOW_PASS, 0.9375)
    assert scorer.box == 30   # 2 x 48 x 1.45 / 5.075 = 27.4 px of band
    losses = scorer.losses(batch, amplitudes, rotations, shifts, filters,
                           scorer.observed(observed))
    expected = full_box_losses(batch, amplitudes, rotations, shifts, filters, observed)
    assert losses.shape == (B, 4)
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), atol=0.02)
    # the own pose fits (the correlation of clean and noisy images), the
    # random orientations fit worse
    assert (losses[:, 0] < -0.95).all()
    assert (losses[:, 0] < losses[:, 1:].min(1).values - 0.05).all()
    # chunks of any size give the same losses
    scorer.elements_per_chunk = 1
    np.testing.assert_allclose(scorer.losses(batch, amplitudes, rotations, shifts, filters,
                                             scorer.observed(observed)).numpy(),
                               losses.numpy(), atol=1e-6)
