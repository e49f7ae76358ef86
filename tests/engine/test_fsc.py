"""Fourier shell correlation and resolution."""
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.fsc import fsc, fsc_resolution, resolution


def _blobs(D=32, apix=2.0, seed=0):
    rng = np.random.default_rng(seed)
    coords = torch.as_tensor(rng.normal(0, 8.0, (40, 3)))
    return imaging.render_volume(coords, torch.ones(40, dtype=torch.float64), D,
                                 apix, sigma=1.5).numpy()


def test_fsc_of_a_map_with_itself_is_one():
    vol = _blobs()
    freq, curve = fsc(vol, 3.0 * vol, apix=2.0)
    assert len(freq) == 17 and freq[-1] == pytest.approx(0.25)   # Nyquist of 2 A
    np.testing.assert_allclose(curve, 1.0, atol=1e-9)
    assert fsc_resolution(vol, vol, 2.0) == pytest.approx(4.0)


def test_fsc_with_noise_falls_with_frequency():
    vol = _blobs()
    noisy = vol + np.random.default_rng(1).normal(0, 1.0 * vol.std(), vol.shape)
    freq, curve = fsc(vol, noisy, apix=2.0)
    assert curve[1] > 0.95 and curve[-1] < 0.5
    assert np.mean(curve[:5]) > np.mean(curve[-5:])
    res = resolution(freq, curve, 0.5)
    assert 4.0 < res < 40.0
    # more noise, worse resolution
    noisier = vol + np.random.default_rng(1).normal(0, 5.0 * vol.std(), vol.shape)
    assert fsc_resolution(vol, noisier, 2.0) > res


def test_resolution_interpolates_the_crossing():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    assert resolution(freq, np.array([1.0, 0.9, 0.3, 0.1]), 0.5) == pytest.approx(
        1.0 / (0.1 + 0.1 * (0.4 / 0.6)))
    assert resolution(freq, np.array([1.0, 0.2, 0.1, 0.0]), 0.143) == \
        pytest.approx(1.0 / (0.1 + 0.1 * (0.057 / 0.1)))


def test_fsc_refuses_maps_of_different_sizes():
    with pytest.raises(ValueError, match="cubic"):
        fsc(np.zeros((8, 8, 8)), np.zeros((8, 8, 6)))
