"""The density decoder and its maps (density.py): Fourier-slice
conventions, map evaluation, Friedel symmetry. Training it and the maps of
a trained decoder: tests/engine/training/test_training_stage2.py."""
import math

import numpy as np
import torch

from cryostar_boltz.engine import density, imaging
from cryostar_boltz.engine.geometry import euler_to_matrix

BOX = 32


# ------------------------------------------------------------ conventions

def _gaussians(seed=0, n=6):
    gen = torch.Generator().manual_seed(seed)
    coords = torch.randn(n, 3, generator=gen, dtype=torch.float64) * 8.0
    amps = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
    return coords, amps


def _gaussian_spectrum(coords, amps, sigma, k):
    """Continuous 3D Fourier transform of Gaussian blobs at ``k`` (1/A)."""
    phase = -2.0 * math.pi * k @ coords.T
    envelope = amps * torch.exp(-2.0 * math.pi ** 2 * sigma ** 2
                                * (k ** 2).sum(-1, keepdim=True))
    return (envelope * torch.polar(torch.ones_like(phase), phase)).sum(-1)


def test_central_slice_matches_the_projection_in_fourier_and_hartley_space():
    apix, sigma = 3.0, 4.0          # wide blobs: no aliasing at Nyquist
    coords, amps = _gaussians()
    euler = np.array([[30.0, 50.0, 70.0], [120.0, 10.0, -40.0], [0.0, 90.0, 0.0]])
    rotations = torch.as_tensor(euler_to_matrix(euler))
    shifts = torch.tensor([[3.0, -2.0], [1.5, 4.0], [0.0, 0.0]], dtype=torch.float64)
    images = imaging.project_gaussians(coords, amps, rotations, BOX, apix,
                                       sigma=sigma, shifts=shifts)
    spectra = density.centre_spectra(density.centred_rfft2(images), shifts, apix)
    grid = density.SliceGrid(BOX)
    observed = grid.gather(spectra)
    k = grid.rotated(rotations.float()).double() / apix
    # the discrete transform of an image is the continuous one / apix^2
    expected = _gaussian_spectrum(coords, amps, sigma, k) / apix ** 2
    scale = expected.abs().max()
    assert (observed - expected).abs().max() < 1e-4 * scale
    hartley = density.hartley_from_fourier(observed)
    assert (hartley - density.hartley_from_fourier(expected)).abs().max() < 1e-4 * scale
    # a wrong convention (A instead of A^T) breaks the agreement
    wrong = torch.matmul(grid.coords, rotations.float().transpose(1, 2)).double() / apix
    assert (observed - _gaussian_spectrum(coords, amps, sigma, wrong) / apix ** 2
            ).abs().max() > 0.1 * scale


def test_slice_grid_weights_count_the_full_disk():
    grid = density.SliceGrid(BOX)
    ky, kx = np.meshgrid(np.fft.fftfreq(BOX), np.fft.fftfreq(BOX), indexing="ij")
    assert float(grid.weights.sum()) == np.sum(kx ** 2 + ky ** 2 < 0.25)


def test_volume_from_fourier_matches_the_rendered_map():
    apix, sigma = 3.0, 4.0
    coords, amps = _gaussians(1)

    def spectrum(k):   # the normalised image spectrum of a centred particle
        values = _gaussian_spectrum(coords, amps, sigma, k.double() / apix) / apix ** 2
        return torch.view_as_real(values)

    volume = density.volume_from_fourier(spectrum, BOX, apix)
    rendered = imaging.render_volume(coords, amps, BOX, apix, sigma=sigma)
    np.testing.assert_allclose(volume.double().numpy(), rendered.numpy(),
                               atol=1e-3 * float(rendered.max()))


def test_decoder_output_is_hermitian():
    decoder = density.DensityDecoder(BOX, 4, hidden=16, layers=2, seed=3)
    k = torch.rand(2, 50, 3) - 0.5
    z = torch.randn(2, 4)
    plus, minus = decoder(k, z), decoder(-k, z)
    torch.testing.assert_close(minus[..., 0], plus[..., 0])
    torch.testing.assert_close(minus[..., 1], -plus[..., 1])
    assert plus[..., 1].abs().max() > 0
