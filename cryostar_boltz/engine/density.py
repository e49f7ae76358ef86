"""Stage 2: a density decoder on Fourier-space coordinates, and its maps.

The decoder is cryoDRGN's implicit volume: 3D spatial frequencies ``k``
(cycles per pixel, model frame) go through a random Gaussian positional
encoding (``sin``/``cos`` of ``B k``), the fixed stage-1 latent ``z`` is
added through its own linear map, and an MLP of residual blocks returns the
Fourier coefficient ``F(k)`` of the map as ``(Re, Im)`` -- equivalently the
Hartley coefficients of the pair ``+-k``, ``H(k) = Re - Im`` and
``H(-k) = Re + Im``.

Friedel symmetry holds by construction: every query is moved to a
canonical half-space (``kx > 0``, ties broken on ``ky`` then ``kz``), and a
query in the other half gets the complex conjugate. So a real map has
exactly one set of coefficients, and a particle needs the decoder on half
of its central slice only (the ``rfft2`` half-plane).

Conventions (``cryostar_boltz.engine``): a particle with pose ``A``
(``x_image = A x_model``) sees the central slice ``k_model = A^T (kx, ky,
0)`` (Fourier slice theorem); transforms are phase-referenced to pixel
``D//2``; the discrete transform of a projection is ``apix`` times the 3D
transform of the map, so maps come out in the units of ``render_volume``
(per cubic Angstrom) when the particles are in those of
``project_gaussians``.

A finished stage-2 run is ``RUN/density/model.pt``; ``TrainedDensity``
reads it and writes MRC maps that overlay the structures ``generate``
writes (same reference frame).
"""
import math
from pathlib import Path

import mrcfile
import numpy as np
import torch
from torch import nn

from .io import atomic_path
from .layout import DENSITY, MODEL, RunLayout, map_file

#: Decoder activations (points x width) evaluated at once for a map.
_VOLUME_ELEMENTS_PER_CHUNK = 1 << 24


# ------------------------------------------------------------ Fourier grids

def centred_rfft2(images):
    """``rfft2`` of images (..., D, D) with the phase origin at pixel D//2."""
    return torch.fft.rfft2(torch.fft.ifftshift(images, dim=(-2, -1)))


def hartley_from_fourier(spectrum):
    """Hartley coefficients ``Re F - Im F`` of a Fourier transform."""
    return spectrum.real - spectrum.imag


def centre_spectra(spectra, shifts, apix):
    """Spectra (B, D, D//2+1) of particles whose centres sit at the box
    centre minus ``shifts`` (B, 2, RELION origins in Angstrom), translated
    back onto the box centre (a phase ramp)."""
    D = spectra.shape[-2]
    fy = torch.fft.fftfreq(D, d=apix, device=spectra.device)[:, None]
    fx = torch.fft.rfftfreq(D, d=apix, device=spectra.device)[None, :]
    shifts = shifts.to(fy.dtype)
    phase = -2.0 * math.pi * (fx * shifts[:, 0, None, None]
                              + fy * shifts[:, 1, None, None])
    return spectra * torch.polar(torch.ones_like(phase), phase)


class SliceGrid:
    """The points of the ``rfft2`` half-plane a particle is compared on:
    inside the circle ``|k| < 1/2`` cycles per pixel (radius D/2 pixels).

    ``index`` (P,) flat indices into (D, D//2+1); ``coords`` (P, 3) the
    frequencies ``(kx, ky, 0)`` in cycles per pixel; ``weights`` (P,) 2 for
    points whose Friedel mate is not in the half-plane, 1 otherwise, so that
    weighted sums over the half-plane equal sums over the full disk.
    """

    def __init__(self, D, device=None):
        ky = torch.fft.fftfreq(D, dtype=torch.float64)
        kx = torch.fft.rfftfreq(D, dtype=torch.float64)
        KY, KX = torch.meshgrid(ky, kx, indexing="ij")
        inside = (KX ** 2 + KY ** 2 < 0.25).reshape(-1)
        self.D = D
        self.index = torch.nonzero(inside).squeeze(1).to(device)
        coords = torch.stack([KX, KY, torch.zeros_like(KX)], -1).reshape(-1, 3)
        self.coords = coords[inside].float().to(device)
        column = torch.arange(D // 2 + 1).expand(D, -1).reshape(-1)[inside]
        self.weights = torch.where((column > 0) & (column < D - column),
                                   2.0, 1.0).float().to(device)

    def __len__(self):
        return len(self.index)

    def gather(self, half_plane):
        """Values (..., P) at the grid's points of arrays (..., D, D//2+1)."""
        return half_plane.flatten(-2)[..., self.index]

    def rotated(self, rotations):
        """Model-frame slice coordinates (B, P, 3) ``A^T k`` for poses (B, 3, 3)."""
        return torch.matmul(self.coords, rotations.to(self.coords.dtype))


def volume_grid(D, device=None):
    """Points of the ``rfftn`` layout (D, D, D//2+1) inside the sphere
    ``|k| < 1/2``: (mask, coords (Q, 3) as ``(kx, ky, kz)`` cycles/pixel)."""
    k = torch.fft.fftfreq(D, dtype=torch.float64)
    kx = torch.fft.rfftfreq(D, dtype=torch.float64)
    KZ, KY, KX = torch.meshgrid(k, k, kx, indexing="ij")
    mask = KX ** 2 + KY ** 2 + KZ ** 2 < 0.25
    coords = torch.stack([KX[mask], KY[mask], KZ[mask]], -1).float()
    return mask.to(device), coords.to(device)


def canonical_half(coords):
    """Coordinates moved to the half-space ``kx > 0`` (ties: ``ky > 0``,
    then ``kz >= 0``) and the sign (+1 kept, -1 flipped)."""
    x, y, z = coords.unbind(-1)
    keep = (x > 0) | ((x == 0) & ((y > 0) | ((y == 0) & (z >= 0))))
    sign = torch.where(keep, 1.0, -1.0).to(coords.dtype)
    return coords * sign.unsqueeze(-1), sign


# ------------------------------------------------------------ the decoder

class ResidualLinear(nn.Module):
    """``x + W x + b``: a residual block of the decoder."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x):
        return x + self.linear(x)


class DensityDecoder(nn.Module):
    """``(k, z) -> F(k)`` as ``(Re, Im)``, in units of the normalised
    particle spectra (divide by ``apix`` and multiply by the data scale for
    the map's transform; ``TrainedDensity`` does it).

    ``D`` the box the decoder is trained at; ``pe_dim`` random frequency
    vectors per axis (3 * pe_dim in all, cryoDRGN's count; default D//2),
    drawn once from N(0, (feat_sigma * D/2)^2) with ``seed`` and saved with
    the weights. The latent enters the first layer through its own linear
    map, added once per particle rather than concatenated to every point.
    """

    def __init__(self, D, latent_dim, hidden=1024, layers=3, pe_dim=None,
                 feat_sigma=0.5, seed=0):
        super().__init__()
        pe_dim = int(pe_dim or D // 2)
        if min(int(D), int(hidden), pe_dim) < 1 or int(layers) < 0 or latent_dim < 0:
            raise ValueError("DensityDecoder: invalid sizes D=%s hidden=%s "
                             "layers=%s pe_dim=%s latent_dim=%s"
                             % (D, hidden, layers, pe_dim, latent_dim))
        self.config = dict(D=int(D), latent_dim=int(latent_dim), hidden=int(hidden),
                           layers=int(layers), pe_dim=pe_dim,
                           feat_sigma=float(feat_sigma), seed=int(seed))
        gen = torch.Generator().manual_seed(int(seed))
        freqs = torch.randn(3 * pe_dim, 3, generator=gen) * (feat_sigma * (D // 2))
        self.register_buffer("freqs", freqs)
        self.encoding = nn.Linear(2 * 3 * pe_dim, hidden)
        self.latent = nn.Linear(latent_dim, hidden, bias=False) if latent_dim else None
        blocks = []
        for _ in range(int(layers)):
            blocks += [nn.ReLU(inplace=True), ResidualLinear(hidden)]
        self.body = nn.Sequential(*blocks, nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, 2)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def latent_dim(self):
        return self.config["latent_dim"]

    def encode(self, coords):
        """Random Fourier features (..., 6 pe_dim) of coordinates (..., 3)."""
        phase = torch.matmul(coords, self.freqs.T)
        return torch.cat([torch.sin(phase), torch.cos(phase)], -1)

    def forward(self, coords, z=None):
        """``F`` (B, P, 2) at model-frame frequencies (B, P, 3) for latents
        (B, latent_dim); ``z`` may be None for a homogeneous decoder."""
        coords, sign = canonical_half(coords)
        h = self.encoding(self.encode(coords))
        if self.latent is not None:
            if z is None or z.shape[-1] != self.latent_dim:
                raise ValueError("the decoder takes %d-dimensional latents"
                                 % self.latent_dim)
            h = h + self.latent(z.to(h.dtype)).unsqueeze(-2)
        out = self.head(self.body(h))
        return torch.stack([out[..., 0], out[..., 1] * sign], -1)


# ------------------------------------------------------------ maps

def volume_from_fourier(evaluate, D, apix, scale=1.0, device=None,
                        chunk=65536):
    """Map (D, D, D) ``[z, y, x]`` whose transform is ``evaluate``.

    ``evaluate(coords (Q, 3)) -> (Q, 2)`` gives ``(Re, Im)`` of the
    normalised spectrum at frequencies in cycles per pixel; it is called on
    the ``rfftn`` half of the grid inside the sphere ``|k| < 1/2`` (zero
    outside), in chunks of ``chunk`` points. A projection's transform is
    ``apix`` times the map's, so the map is ``irfftn(F * scale / apix)``,
    phase origin at voxel D//2.
    """
    mask, coords = volume_grid(D, device)
    values = torch.cat([evaluate(coords[start:start + chunk]).float()
                        for start in range(0, len(coords), chunk)])
    spectrum = torch.zeros(mask.shape, dtype=torch.complex64, device=mask.device)
    spectrum[mask] = torch.complex(values[:, 0], values[:, 1])
    volume = torch.fft.irfftn(spectrum * (scale / apix), s=(D, D, D))
    return torch.fft.fftshift(volume)


def map_origin(reference_centre, D, apix):
    """MRC origin (x, y, z) Angstrom putting voxel D//2 at the box centre,
    which sits at ``reference_centre`` in the reference's frame."""
    return np.asarray(reference_centre, dtype=np.float64) - (D // 2) * apix


def write_map(path, volume, apix, origin=(0.0, 0.0, 0.0)):
    """Write a float32 MRC map ``[z, y, x]`` atomically (temporary name,
    then rename): an interrupted write never leaves a partial file under
    ``path``."""
    path = Path(path)
    volume = np.ascontiguousarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError("%s: a map must be 3D, got shape %s" % (path, volume.shape))
    with atomic_path(path) as tmp:
        with mrcfile.new(str(tmp)) as mrc:
            mrc.set_data(volume)
            mrc.voxel_size = float(apix)
            mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = (
                float(v) for v in origin)
            mrc.update_header_stats()
    return path


class TrainedDensity:
    """The trained density decoder of ``run_dir`` (``RUN/density/model.pt``):
    maps at any latents, in the reference's frame."""

    def __init__(self, run_dir, device="cpu"):
        self.run_dir = Path(run_dir)
        path = RunLayout(run_dir).density_run.model
        if not path.is_file():
            raise FileNotFoundError(
                "%s: no %s/%s: train the density decoder first "
                "('cryostar-boltz train-density --run %s', or --resume to "
                "finish an interrupted one)" % (self.run_dir, DENSITY, MODEL,
                                                self.run_dir))
        self.device = torch.device(device)
        from .training.loop import load_torch
        state = load_torch(path, self.device, "density model file")
        self.state = state
        self.decoder = DensityDecoder.from_config(state["decoder_config"])
        self.decoder.load_state_dict(state["decoder"])
        self.decoder.to(self.device).eval()
        self.box = int(state["box"])
        self.apix = float(state["apix"])
        self.scale = float(state["scale"])
        self.reference_centre = np.asarray(state["reference_centre"], dtype=np.float64)

    @property
    def latent_dim(self):
        return self.decoder.latent_dim

    @property
    def origin(self):
        """MRC origin (x, y, z) in Angstrom of the maps."""
        return map_origin(self.reference_centre, self.box, self.apix)

    def _latents(self, z):
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not np.isfinite(z).all():
            raise ValueError("latents must be a finite (M, %d) array, got shape %s"
                             % (self.latent_dim, z.shape))
        return torch.from_numpy(z).to(self.device)

    @torch.no_grad()
    def volume(self, z):
        """Map (D, D, D) ``[z, y, x]`` float32 at one latent (latent_dim,)."""
        zt = self._latents(z)
        if len(zt) != 1:
            raise ValueError("volume() takes one latent; use volumes() for %d"
                             % len(zt))
        chunk = max(1024, _VOLUME_ELEMENTS_PER_CHUNK // self.decoder.config["hidden"])
        volume = volume_from_fourier(
            lambda coords: self.decoder(coords[None], zt)[0], self.box,
            self.apix, self.scale, self.device, chunk)
        return volume.cpu().numpy().astype(np.float32)

    def volumes(self, z):
        """Maps one at a time (a generator) for latents (M, latent_dim)."""
        for row in self._latents(z).cpu().numpy():
            yield self.volume(row)

    def write_maps(self, z, out_dir, stem="map", skip_existing=False):
        """Write ``out_dir/stem_000.mrc``... one map per latent row
        (names: ``layout.map_file``).

        Each file is written atomically; with ``skip_existing`` maps
        already present are kept, so an interrupted generation resumes.
        Returns the paths in row order.
        """
        zt = self._latents(z)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, row in enumerate(zt.cpu().numpy()):
            path = map_file(out_dir / stem, i, len(zt))
            if not (skip_existing and path.is_file()):
                write_map(path, self.volume(row), self.apix, self.origin)
            paths.append(path)
        return paths
