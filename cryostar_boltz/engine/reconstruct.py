"""Homogeneous reconstruction: one map from all particles by direct Fourier
inversion (the baseline a heterogeneous method has to beat).

Each particle's centred spectrum times its CTF is inserted on its central
slice ``A^T (kx, ky, 0)`` into a 3D Fourier grid (trilinear weights), with
the CTF squared into a weight grid; the map is the inverse transform of
``sum(ctf * F) / (sum(ctf^2) + lambda)``, a Wiener-like filter whose
constant ``lambda`` is a fraction of the mean weight. Images are zero-padded
(``pad`` times the box) so that the slices sample the 3D grid finely. The
map is in the units of ``render_volume`` when the particles are in those of
``project_gaussians`` (see ``density``).
"""
import math

import numpy as np
import torch

from . import imaging


class FourierBackprojector:
    """Accumulates CTF-weighted central slices for a map of ``D`` voxels
    (float32 sums by default: ``pad^3 D^3`` complex numbers and weights)."""

    def __init__(self, D, apix, pad=2, device=None, dtype=torch.float32, half_plane=True):
        if int(D) % 2 or int(pad) < 1:
            raise ValueError("FourierBackprojector: the box must be even and "
                             "pad >= 1 (got D=%s, pad=%s)" % (D, pad))
        self.D, self.apix, self.pad = int(D), float(apix), int(pad)
        self.Dp = self.D * self.pad
        self.device = torch.device(device or "cpu")
        self.dtype = dtype
        n = self.Dp ** 3
        self.numerator = torch.zeros(n, dtype=torch.complex128 if dtype == torch.float64
                                     else torch.complex64, device=self.device)
        self.weight = torch.zeros(n, dtype=dtype, device=self.device)
        self.count = 0
        m = torch.arange(self.Dp, device=self.device, dtype=dtype) - self.Dp // 2
        MY, MX = torch.meshgrid(m, m, indexing="ij")
        inside = MX ** 2 + MY ** 2 < (self.Dp // 2 - 1) ** 2
        if half_plane:
            # Friedel symmetry: a real image's spectrum is Hermitian, so only
            # the half plane ky > 0 (and ky = 0, kx > 0) is inserted and the
            # other half is added back by symmetry in ``invert``; the zero
            # frequency, its own mirror, counts one half.
            inside = inside & ((MY > 0) | ((MY == 0) & (MX >= 0)))
        inside = inside.reshape(-1)
        self.half_plane = bool(half_plane)
        self._points = torch.nonzero(inside).squeeze(1)
        self._plane = torch.stack([MX, MY, torch.zeros_like(MX)], -1).reshape(-1, 3)[inside]
        self._scale = torch.ones(len(self._points), dtype=dtype, device=self.device)
        if half_plane:
            self._scale[(self._plane[:, 0] == 0) & (self._plane[:, 1] == 0)] = 0.5

    def _spectra(self, images, shifts):
        """Centred, padded full spectra (b, Dp, Dp), zero frequency at the centre."""
        b, D, Dp = images.shape[0], self.D, self.Dp
        padded = images.new_zeros((b, Dp, Dp))
        lo = Dp // 2 - D // 2
        padded[:, lo:lo + D, lo:lo + D] = images
        spectra = torch.fft.fft2(torch.fft.ifftshift(padded, dim=(-2, -1)))
        fy, fx = imaging.fourier_frequencies(Dp, self.apix, rfft=False,
                                             device=self.device, dtype=self.dtype)
        phase = -2.0 * math.pi * (fx * shifts[:, 0, None, None] + fy * shifts[:, 1, None, None])
        spectra = spectra * torch.polar(torch.ones_like(phase), phase)
        return spectra

    def add(self, images, rotations, shifts, ctf):
        """Insert particles: images (b, D, D), RELION poses (b, 3, 3),
        origins (b, 2) Angstrom, CTF parameters (b, 8)."""
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device)
        images, rotations, shifts, ctf = map(as_t, (images, rotations, shifts, ctf))
        spectra = self._spectra(images, shifts)
        c = imaging.compute_ctf(ctf, self.Dp, self.apix, rfft=False)
        values = torch.fft.fftshift(spectra * c, dim=(-2, -1)).flatten(1)[:, self._points]
        weights = torch.fft.fftshift(c * c, dim=(-2, -1)).flatten(1)[:, self._points]
        values, weights = values * self._scale, weights * self._scale
        coords = torch.matmul(self._plane, rotations)          # (b, P, 3) x, y, z
        self._insert(coords.reshape(-1, 3), values.reshape(-1), weights.reshape(-1))
        self.count += len(images)

    def _insert(self, coords, values, weights):
        Dp, half = self.Dp, self.Dp // 2
        base = torch.floor(coords)
        frac = coords - base
        base = base.long() + half
        for corner in range(8):
            offset = [(corner >> axis) & 1 for axis in range(3)]
            w = torch.ones_like(frac[:, 0])
            for axis in range(3):
                w = w * (frac[:, axis] if offset[axis] else 1.0 - frac[:, axis])
            x, y, z = (base[:, axis] + offset[axis] for axis in range(3))
            index = (z * Dp + y) * Dp + x
            self.numerator.index_add_(0, index, values * w)
            self.weight.index_add_(0, index, weights * w)

    def volume(self, regularisation=0.01):
        """The map (D, D, D) ``[z, y, x]`` as float32 numpy."""
        return self.invert(self.numerator, self.weight, self.count, regularisation)

    def merged(self, other, regularisation=0.01):
        """The map of this backprojector's particles and ``other``'s together
        (sums of both, one Wiener filter: the full map of two half-sets)."""
        if (other.D, other.Dp, other.apix) != (self.D, self.Dp, self.apix):
            raise ValueError("cannot merge backprojectors of different boxes")
        return self.invert(self.numerator + other.numerator, self.weight + other.weight,
                           self.count + other.count, regularisation)

    @staticmethod
    def _symmetrised(grid):
        """``grid(k) + conj(grid(-k))`` on a centred grid (Dp, Dp, Dp): index
        i holds frequency i - Dp/2, so -k sits at Dp - i; the inserted
        slices never reach index 0 (they stay inside radius Dp/2 - 1)."""
        out = grid.clone()
        inner = grid[1:, 1:, 1:]
        mirror = torch.flip(inner, dims=(0, 1, 2))
        out[1:, 1:, 1:] = inner + (mirror.conj() if mirror.is_complex() else mirror)
        return out

    def invert(self, numerator, weight, count, regularisation=0.01):
        """Map (D, D, D) float32 of accumulated sums ``numerator / (weight +
        lambda)``, ``lambda = regularisation * mean filled weight``."""
        if not count:
            raise ValueError("no particles were inserted")
        Dp, D = self.Dp, self.D
        numerator, weight = numerator.reshape(Dp, Dp, Dp), weight.reshape(Dp, Dp, Dp)
        if self.half_plane:
            numerator, weight = self._symmetrised(numerator), self._symmetrised(weight)
        filled = weight > 0
        lam = regularisation * float(weight[filled].mean())
        spectrum = numerator / (weight + lam)
        volume = torch.fft.ifftn(torch.fft.ifftshift(spectrum)).real
        volume = torch.fft.fftshift(volume) / self.apix
        lo = Dp // 2 - D // 2
        return volume[lo:lo + D, lo:lo + D, lo:lo + D].float().cpu().numpy()


def reconstruct(images, rotations, shifts, ctf, apix, indices=None, pad=2,
                regularisation=0.01, batch=256, device=None, dtype=torch.float32):
    """Homogeneous map (D, D, D) of particles ``indices`` (default all).

    ``images`` is an ``ImageStack`` (read ``batch`` at a time: bounded
    memory) or an array (N, D, D); poses, origins and CTF are (N, ...)
    arrays in the engine's conventions.
    """
    n = len(images)
    indices = np.arange(n) if indices is None else np.sort(np.asarray(indices))
    if not len(indices):
        raise ValueError("no particles to reconstruct")
    D = images[indices[:1]].shape[-1]
    bp = FourierBackprojector(D, apix, pad=pad, device=device, dtype=dtype)
    rotations, shifts, ctf = (np.asarray(a) for a in (rotations, shifts, ctf))
    for start in range(0, len(indices), batch):
        idx = indices[start:start + batch]
        bp.add(images[idx], rotations[idx], shifts[idx], ctf[idx])
    return bp.volume(regularisation)
