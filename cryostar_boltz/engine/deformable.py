"""Deformation-corrected (deformable) backprojection: every particle added
into one map of a chosen conformation.

Method (DynaMight, Schwab et al., Nature Methods 2024; ``METHOD.md`` 9):
particle ``i``'s decoded pseudo-atoms ``r_ij`` differ from the target
conformation's ``t_j`` by ``d_ij = r_ij - t_j``. The displacement of a
voxel ``x`` of the target is the Gaussian-weighted mean of the nearby
residues' displacements, ``u_i(x) = sum_j w_j(x) d_ij / sum_j w_j(x)`` with ``w_j(x) =
exp(-|x - t_j|^2 / 2 sigma^2)``, for every voxel inside the sphere
inscribed in the box (beyond it, where only noise is, voxels stay put):
the solvent around a moving domain moves with it, so the delocalised
signal of the CTF-multiplied images moves with its domain too. Voxel ``x`` sits at
``x + u_i(x)`` in particle ``i``; its image position is the first two rows
of ``A_i (x + u_i(x))`` minus the particle's origin (RELION's projection
matrix and ``rlnOriginX/YAngst``, ``docs/conventions.rst``), and the
CTF-corrected image is sampled there (bilinear) and added to voxel ``x``.
The CTF-squared point-spread images are backprojected the same way without
the deformation, and the map is the Wiener-like ratio of the two
accumulations' spectra (``reconstruct.py``'s filter): a real-space
backprojection's spectrum is the image spectrum on the central slice, so
numerator and weight share one slice kernel.

Cost: one bilinear sample per voxel per particle (``D^3`` per image, in
batches on the device); the voxel-to-residue weights are computed once
for the voxels of the inscribed sphere (``D^3 N`` numbers at most:
~0.2 GB for 64 px and 200 residues).
"""
from pathlib import Path

import numpy as np
import torch

from . import imaging

#: Target conformations of ``--deform-to``.
TARGETS = ("reference", "z", "basin")


def parse_target(tokens):
    """``--deform-to`` words -> ``(kind, value)``: ``reference``; ``z
    FILE.npy`` (one latent point); ``basin B``. ValueError naming
    ``--deform-to`` otherwise (torch-free check: the file is read here)."""
    tokens = list(tokens or [])
    kind = tokens[0] if tokens else None
    usage = ("--deform-to %s: expected 'reference', 'z FILE.npy' or 'basin B'"
             % " ".join(tokens))
    if kind == "reference" and len(tokens) == 1:
        return "reference", None
    if kind == "z" and len(tokens) == 2:
        from .latents import load_points
        if not Path(tokens[1]).is_file():
            raise FileNotFoundError("--deform-to z %s: file not found" % tokens[1])
        points = load_points(tokens[1])
        if len(points) != 1:
            raise ValueError("--deform-to z %s: holds %d latent points; give one"
                             % (tokens[1], len(points)))
        return "z", points[0]
    if kind == "basin" and len(tokens) == 2 and tokens[1].isdigit():
        return "basin", int(tokens[1])
    raise ValueError(usage)


def voxel_positions(D, apix, device=None, dtype=torch.float32):
    """(D^3, 3) x, y, z Angstrom of the voxels of a ``[z, y, x]`` box, voxel
    D//2 at the origin (the engine's box frame)."""
    r = (torch.arange(D, device=device, dtype=dtype) - D // 2) * apix
    Z, Y, X = torch.meshgrid(r, r, r, indexing="ij")
    return torch.stack([X, Y, Z], -1).reshape(-1, 3)


class Deformer:
    """Carries the voxels of a target conformation (pseudo-atoms ``target``
    (N, 3) Angstrom, box frame) to each particle: :meth:`displacements`
    of the voxels inside the sphere inscribed in the box (``support``)."""

    def __init__(self, target, sigma, D, apix, device=None, label="target",
                 chunk=8192):
        self.device = torch.device(device or "cpu")
        self.target = torch.as_tensor(target, dtype=torch.float32, device=self.device)
        self.sigma, self.D, self.apix, self.label = float(sigma), int(D), float(apix), label
        voxels = voxel_positions(self.D, self.apix, self.device)
        support, weights = [], []
        radius = (self.D // 2) * self.apix
        for start in range(0, len(voxels), chunk):
            block = voxels[start:start + chunk]
            near = block.norm(dim=1) < radius
            d2 = torch.cdist(block[near], self.target) ** 2
            support.append(torch.nonzero(near).squeeze(1) + start)
            weights.append(torch.softmax(-d2 / (2 * self.sigma ** 2), dim=1))
        self.support = torch.cat(support)
        self.weights = torch.cat(weights)            # (S, N)

    @classmethod
    def for_run(cls, run, target, sigma, D, apix, seed=0):
        """The deformer of ``run`` (a ``TrainedRun``) into ``target``
        (:func:`parse_target`) for maps of ``D`` voxels of ``apix``."""
        kind, value = target
        vae = run.vae
        if kind == "reference":
            coords, label = vae.ref_coords.detach(), "the reference"
        else:
            if kind == "z":
                inputs, label = run.decoder_inputs(value[None]), "latent %s" % (
                    np.array2string(np.asarray(value), precision=3))
            else:
                from .sampling import basin_table
                _, inputs = basin_table(run.prior, max_basins=max(10, value + 1),
                                        seed=seed, particles=run.latents())
                if value >= len(inputs):
                    raise ValueError("--deform-to basin %d: the prior has %d basins "
                                     "(0..%d)" % (value, len(inputs), len(inputs) - 1))
                inputs, label = inputs[value:value + 1], "basin %d" % value
            with torch.no_grad():
                coords = vae.decode(torch.as_tensor(np.asarray(inputs, np.float32),
                                                    device=run.device))[0]
        deformer = cls(coords.float().cpu(), sigma, D, apix, run.device, label)
        deformer.kind, deformer.value = kind, value
        return deformer

    def describe(self):
        return "%s (sigma %.1f A)" % (self.label, self.sigma)

    def record(self):
        """JSON-ready facts of the target."""
        value = getattr(self, "value", None)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return {"target": getattr(self, "kind", "coordinates"), "value": value,
                "label": self.label, "sigma": self.sigma,
                "support_voxels": int(len(self.support))}

    def displacements(self, coords):
        """(b, S, 3) displacements of the support voxels in particles whose
        pseudo-atoms are ``coords`` (b, N, 3) Angstrom, box frame."""
        d = coords.to(self.device, torch.float32) - self.target[None]
        return torch.einsum("sn,bnc->bsc", self.weights, d)


class RealSpaceBackprojector:
    """Sums of CTF-corrected images ``c G / (c^2 + kappa)`` and of their
    point-spread images ``c^2 / (c^2 + kappa)`` backprojected in real space
    (the images optionally through per-particle voxel displacements) into a
    ``D``-voxel box of ``apix``; the map is the Wiener-like ratio of their
    spectra."""

    def __init__(self, D, apix, device=None, kappa=0.1):
        self.D, self.apix, self.kappa = int(D), float(apix), float(kappa)
        self.device = torch.device(device or "cpu")
        self.voxels = voxel_positions(self.D, self.apix, self.device)
        self.numerator = torch.zeros(self.D ** 3, device=self.device)
        self.weight = torch.zeros(self.D ** 3, device=self.device)
        self.count = 0

    def _sample(self, images, positions):
        """Bilinear samples (b, V) of ``images`` (b, D, D) at image
        positions (b, V, 2) Angstrom from the box centre (0 outside)."""
        D = self.D
        pixels = positions / self.apix + D // 2
        grid = (pixels / (D - 1)) * 2 - 1
        out = torch.nn.functional.grid_sample(images[:, None], grid[:, None],
                                              mode="bilinear", padding_mode="zeros",
                                              align_corners=True)
        return out[:, 0, 0]

    def add(self, images, rotations, shifts, ctf, displacements=None, support=None):
        """Add particles: images (b, D, D), RELION matrices (b, 3, 3),
        origins (b, 2) Angstrom, CTF (b, 8); ``displacements`` (b, S, 3)
        Angstrom of the voxels ``support`` (S,) (the rest stay put)."""
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32,
                                         device=self.device)
        images, rotations, shifts, ctf = map(as_t, (images, rotations, shifts, ctf))
        c = imaging.compute_ctf(ctf, self.D, self.apix, rfft=False)
        spectra = torch.fft.fft2(torch.fft.ifftshift(images, dim=(-2, -1)))
        # each image corrected for its CTF first (Wiener, constant kappa):
        # the signal of a moving domain then sits where the domain is, not
        # delocalised by the defocus, and moves with it
        gain = c / (c * c + self.kappa)
        filtered = torch.fft.fftshift(torch.fft.ifft2(spectra * gain), dim=(-2, -1)).real
        psf = torch.fft.fftshift(torch.fft.ifft2(c * gain), dim=(-2, -1)).real
        b = len(images)
        positions = self.voxels[None].expand(b, -1, -1)
        plain = torch.matmul(positions, rotations.transpose(1, 2))[..., :2]
        if displacements is not None:
            positions = positions.clone()
            positions[:, support] += displacements.to(self.device, torch.float32)
            moved = torch.matmul(positions, rotations.transpose(1, 2))[..., :2]
        else:
            moved = plain
        self.numerator += self._sample(filtered, moved - shifts[:, None]).sum(0)
        self.weight += self._sample(psf, plain).sum(0)
        self.count += b

    def volume(self, regularisation=0.01):
        """The map (D, D, D) ``[z, y, x]`` float32 (units of
        ``reconstruct.FourierBackprojector``)."""
        if not self.count:
            raise ValueError("no particles were inserted")
        D = self.D
        shape = (D, D, D)
        num = torch.fft.fftn(torch.fft.ifftshift(self.numerator.reshape(shape)))
        weight = torch.fft.fftn(torch.fft.ifftshift(self.weight.reshape(shape))).real
        weight = weight.clamp(min=0)
        k = torch.fft.fftfreq(D, device=self.device) * D
        radius = torch.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2
                            + k[None, None, :] ** 2)
        inside = radius < D // 2
        lam = regularisation * float(weight[inside].mean())
        spectrum = torch.where(inside, num / (weight + lam), torch.zeros_like(num))
        volume = torch.fft.fftshift(torch.fft.ifftn(spectrum).real) / self.apix
        return volume.float().cpu().numpy()


def deformed_halves(deformer, run, particles, indices, halves, apix, batch=32,
                    device=None, regularisation=0.01):
    """:class:`~cryostar_boltz.engine.halfmaps.HalfMaps` of the particles
    ``indices`` backprojected through their displacements from the target
    of ``deformer`` (None: no displacement), each half-set on its own.
    ``particles`` must hold images, poses and CTF."""
    from .fsc import fsc
    from .halfmaps import HalfMaps, split_subset
    one, two = split_subset(indices, np.asarray(halves))
    D = particles.box
    projectors = []
    for rows in (one, two):
        bp = RealSpaceBackprojector(D, apix, device)
        for start in range(0, len(rows), batch):
            idx = rows[start:start + batch]
            disp = support = None
            if deformer is not None:
                inputs = run.particle_decoder_inputs(idx)
                with torch.no_grad():
                    coords = run.vae.decode(torch.as_tensor(inputs, device=run.device))
                disp, support = deformer.displacements(coords), deformer.support
            bp.add(particles.images[idx], particles.rotations[idx],
                   particles.shifts[idx], particles.ctf[idx], disp, support)
        projectors.append(bp)
    half1, half2 = (bp.volume(regularisation) for bp in projectors)
    merged = RealSpaceBackprojector(D, apix, device)
    merged.numerator = projectors[0].numerator + projectors[1].numerator
    merged.weight = projectors[0].weight + projectors[1].weight
    merged.count = projectors[0].count + projectors[1].count
    full = merged.volume(regularisation)
    frequency, curve = fsc(half1, half2, apix)
    return HalfMaps(half1, half2, full, float(apix), frequency, curve,
                    (int(len(one)), int(len(two))))
