"""A focus mask (``train --mask``): the image loss counts the pixels where
the masked region projects, with each particle's pose.

The mask is an MRC map of values in [0, 1] (a soft-edged mask from
``relion_mask_create``, ChimeraX or Scipion) on the grid of the consensus
map: with ``--map``, the same box, voxel size and origin as that map;
without it, a cube of the particles' box width whose voxel ``D//2`` is the
box centre, as the reference is then centred on the box
(``docs/conventions.rst``). It is read through ``mapfile.read_map`` and
checked before anything is written.

Per particle, the mask is projected with the particle's pose and origin
(RELION's ``A`` and ``rlnOriginX/YAngst``, as ``imaging.project_gaussians``
projects the model): ``P(p)``, the length (Angstrom) of mask along the ray
through pixel ``p``. The loss weight of pixel ``p`` is ``min(1, P(p) /
(SATURATION x max P))``, times the circular loss mask: pixels whose rays
cross at least half of the thickest part of the mask count fully, fainter
ones (the soft edge, rays grazing the region) in proportion. The
correlation loss (``losses.correlation_loss``) is normalised by the sum of
each image's weights, so its scale (minus a correlation) does not depend
on the mask's size.

The image loss sees nothing finer than ``--low-pass``, so the mask is
projected on a coarser grid, of voxels ``max(apix, low_pass / 2)``
(Gaussian-smoothed before resampling when coarser than the file's), and
its projection is interpolated bilinearly to the training box: for the
64 px, 10 Angstrom-low-pass default about ``(D/2)^3`` samples per particle,
once per particle (the weights are kept, one byte a pixel, up to
:data:`CACHE_BYTES`).

A mask the loss cannot use is refused before a run folder is made, in one
line naming ``--mask`` and the file: values outside [0, 1], a mask empty
after thresholding at :data:`INSIDE` (:func:`read_focus_mask`), a mask
whose inside holds no atom of the reference (:func:`check_overlap`), and a
mask whose projection leaves no particle a *loss area* (the sum of its
weights, in pixels) of one resolution element of the low-pass
(``imaging.resolution_element``; fewer pixels carry no correlation, and
none makes the loss 0/0): its support lies outside the loss circle for
every pose. Particles whose own loss area is that small while others'
are not (a mask near the edge of the loss circle, seen from some
directions; large origins) are left out of the image loss, said in one
log line (:meth:`FocusMask.select_particles`): their views cannot show the
masked region, like a focused refinement's; their KL term and the
restraints stay.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .imaging import resolution_element
from .mapfile import read_map, read_map_header

#: Pixels whose ray crosses this fraction of the thickest crossing count
#: fully.
SATURATION = 0.5
#: Values a mask may exceed [0, 1] by (rounding in 8- and 16-bit maps).
TOLERANCE = 1e-3
#: A voxel is inside the mask from this value on: the middle of a soft
#: edge (RELION's masks are 1 inside and fall to 0 across the edge).
INSIDE = 0.5
#: Memory for the particles' weights, kept after their first use (1 byte a
#: pixel: 20,000 particles of 64 px take 82 MB); beyond it they are
#: projected at every use.
CACHE_BYTES = 1 << 30


def read_focus_mask(path, box, apix, map_path=None):
    """The mask ``path`` as a float32 ``[z, y, x]`` cube and its voxel size
    (Angstrom), checked against the particles (``box`` px of ``apix``
    Angstrom) and the consensus map ``map_path`` (None without ``--map``).
    ValueError in one line naming ``--mask`` and the file for a map that is
    not a cube, a width other than the particle box's (2 %), a grid other
    than the consensus map's (box, voxel size, origin), values outside
    [0, 1], a mask of zeros, or one with no voxel inside (none reaches
    :data:`INSIDE`; NaN or infinite voxels are refused by
    ``mapfile.read_map``)."""
    mask = read_map(path)
    nz, ny, nx = mask.shape
    where = "--mask %s" % path
    if not nz == ny == nx:
        raise ValueError("%s: the mask is %d x %d x %d voxels (x, y, z), not a cube "
                         "like the consensus map" % (where, nx, ny, nz))
    width, particle_width = nx * mask.voxel_size, box * apix
    if abs(width - particle_width) > 0.02 * particle_width:
        raise ValueError("%s: the mask is %d voxels of %.3f A (%.1f A wide) but the "
                         "particles are %d px of %.3f A (%.1f A): make the mask on the "
                         "consensus map of these particles" % (
                             where, nx, mask.voxel_size, width, box, apix, particle_width))
    if map_path is not None:
        ref = read_map_header(map_path)
        if (ref.shape != mask.shape
                or abs(ref.voxel_size - mask.voxel_size) > 1e-3 * ref.voxel_size
                or np.abs(ref.origin - mask.origin).max() > 0.5 * ref.voxel_size):
            raise ValueError(
                "%s: the mask is not on the grid of the consensus map %s (mask: %d voxels "
                "of %.4f A, origin %s A; map: %d of %.4f A, origin %s A): make it on "
                "that map" % (where, map_path, nx, mask.voxel_size, _xyz(mask.origin),
                              ref.shape[2], ref.voxel_size, _xyz(ref.origin)))
    low, high = float(mask.data.min()), float(mask.data.max())
    if low < -TOLERANCE or high > 1 + TOLERANCE:
        raise ValueError("%s: values from %.4g to %.4g; a mask holds values in [0, 1] "
                         "(1 inside, a soft edge, 0 outside): make one with "
                         "relion_mask_create or a threshold" % (where, low, high))
    if not high > TOLERANCE:
        raise ValueError("%s: the mask is empty (every value is 0)" % where)
    if high < INSIDE:
        raise ValueError("%s: the mask is empty after thresholding at %g (its largest "
                         "value is %.3g): a mask is 1 inside, a soft edge, 0 outside "
                         "(RELION's convention); make one with relion_mask_create or "
                         "a threshold" % (where, INSIDE, high))
    return np.clip(mask.data, 0.0, 1.0), float(mask.voxel_size)


def check_overlap(volume, voxel, coords, where="--mask"):
    """ValueError naming ``where`` (``--mask FILE``) when no point of
    ``coords`` (A, 3; x, y, z Angstrom in the box frame: the placed
    reference's atoms) lies inside the mask ``volume`` ([z, y, x], voxel
    ``M//2`` at the box centre, ``voxel`` Angstrom; inside: at least
    :data:`INSIDE`, interpolated trilinearly): the loss would focus on a
    region where the model has nothing to fit."""
    from scipy import ndimage
    coords = np.asarray(coords, dtype=np.float64)
    centre = volume.shape[0] // 2
    index = coords[:, ::-1].T / voxel + centre                     # (3, A): z, y, x
    values = ndimage.map_coordinates(np.asarray(volume, dtype=np.float32), index,
                                     order=1, mode="constant", cval=0.0)
    if (values >= INSIDE).any():
        return
    inside = np.argwhere(np.asarray(volume) >= INSIDE)[:, ::-1]    # x, y, z
    raise ValueError("%s: the mask does not overlap the reference model: none of its "
                     "%d atoms lies inside it (value >= %g; in the box frame the "
                     "mask's inside is centred at %s A, the model at %s A): make the "
                     "mask on the map the model is docked into"
                     % (where, len(coords), INSIDE,
                        _xyz((inside.mean(0) - centre) * voxel), _xyz(coords.mean(0))))


def _xyz(values):
    return "(%s)" % ", ".join("%.2f" % v for v in values)


def coarse_grid(D, apix, low_pass):
    """(voxels, voxel size) of the projection grid: voxels of
    ``max(apix, low_pass / 2)`` Angstrom spanning the training box (``D``
    px of ``apix``), an even count, at least 16 and at most ``D``."""
    step = max(apix, low_pass / 2.0)
    count = int(math.ceil(D * apix / step / 2.0)) * 2
    count = min(D, max(16, count))
    return count, D * apix / count


def resample(volume, voxel, count, step):
    """``volume`` (M, M, M) of ``voxel`` Angstrom, box-centred (voxel M//2
    at 0), resampled trilinearly to ``count`` voxels of ``step``
    (box-centred too), after a Gaussian of ``step / 2`` when coarser."""
    from scipy import ndimage
    volume = np.asarray(volume, dtype=np.float32)
    ratio = step / voxel
    if ratio > 1.0:
        volume = ndimage.gaussian_filter(volume, 0.5 * ratio, mode="constant")
    positions = (np.arange(count) - count // 2) * step / voxel + volume.shape[0] // 2
    grid = np.meshgrid(positions, positions, positions, indexing="ij")
    return ndimage.map_coordinates(volume, grid, order=1, mode="constant", cval=0.0)


class FocusMask:
    """Per-particle loss weights (B, D, D) of a 3D mask, for a training box
    of ``D`` px of ``apix`` Angstrom; ``circle`` (D, D) the circular loss
    mask they are multiplied by. Particles left out
    (:meth:`select_particles`) get the circle as their weights, so their
    loss stays finite, and weigh 0 in the image loss (:meth:`kept`)."""

    def __init__(self, volume, voxel, D, apix, low_pass, circle, device=None):
        self.D, self.apix, self.low_pass = int(D), float(apix), float(low_pass)
        self.left_out = None
        self.count, self.step = coarse_grid(self.D, self.apix, float(low_pass))
        coarse = resample(volume, voxel, self.count, self.step)
        self.device = torch.device(device or "cpu")
        self.volume = torch.as_tensor(coarse, device=self.device)[None, None]
        self.circle = torch.as_tensor(circle, dtype=torch.float32, device=self.device)
        axis = (torch.arange(self.count, device=self.device, dtype=torch.float32)
                - self.count // 2) * self.step
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        self.plane = torch.stack([x, y], -1).reshape(-1, 2)          # (C^2, 2)
        self.depth = axis
        # the training pixels in the coarse grid's normalised coordinates
        fine = (torch.arange(self.D, device=self.device, dtype=torch.float32)
                - self.D // 2) * self.apix
        fine = (fine / self.step + self.count // 2) / (self.count - 1) * 2 - 1
        fy, fx = torch.meshgrid(fine, fine, indexing="ij")
        self.fine = torch.stack([fx, fy], -1)[None]                  # (1, D, D, 2)
        self._cache = self._known = None

    def projections(self, rotations, shifts=None):
        """Line integrals (B, C, C) Angstrom of the mask on the coarse grid,
        with RELION matrices ``rotations`` (B, 3, 3) and origins ``shifts``
        (B, 2) Angstrom: image point ``p`` sees model points ``A^T (p + o,
        z)``."""
        rotations = torch.as_tensor(rotations, dtype=torch.float32, device=self.device)
        b, c = rotations.shape[0], self.count
        plane = self.plane[None].expand(b, -1, -1)
        if shifts is not None:
            plane = plane + torch.as_tensor(shifts, dtype=torch.float32,
                                            device=self.device)[:, None]
        points = torch.cat([plane[:, :, None].expand(-1, -1, c, -1),
                            self.depth[None, None, :, None].expand(b, c * c, -1, -1)], -1)
        model = torch.matmul(points.reshape(b, -1, 3), rotations)    # A^T x as rows
        grid = (model / self.step + c // 2) / (c - 1) * 2 - 1
        sampled = F.grid_sample(self.volume.expand(b, -1, -1, -1, -1),
                                grid.reshape(b, c * c, c, 1, 3), mode="bilinear",
                                padding_mode="zeros", align_corners=True)
        return sampled.reshape(b, c, c, c).sum(-1) * self.step

    @torch.no_grad()
    def weights(self, rotations, shifts=None):
        """(B, D, D) loss weights in [0, 1] (module docstring), in steps of
        1/255 (what :meth:`particle_weights` keeps)."""
        coarse = self.projections(rotations, shifts)
        fine = F.grid_sample(coarse[:, None], self.fine.expand(len(coarse), -1, -1, -1),
                             mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0]
        peak = fine.flatten(1).max(1).values.clamp(min=1e-6)[:, None, None]
        w = (fine / (SATURATION * peak)).clamp(max=1.0) * self.circle
        return torch.round(w * 255) / 255

    @torch.no_grad()
    def particle_weights(self, indices, rotations, shifts):
        """:meth:`weights` of the particles ``indices`` (B,) with their poses
        ``rotations`` (B, 3, 3) and ``shifts`` (B, 2): a particle's weights
        depend on its pose only, so they are kept (one byte a pixel, up to
        :data:`CACHE_BYTES` for all particles) after their first use."""
        indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        if self._cache is None:
            w = self.weights(rotations, shifts)
        else:
            missing = ~self._known[indices]
            if missing.any():
                rows = torch.nonzero(missing).squeeze(1).to(rotations.device)
                new = self.weights(rotations[rows], shifts[rows])
                self._cache[indices[missing]] = torch.round(new * 255).to(torch.uint8).cpu()
                self._known[indices[missing]] = True
            w = self._cache[indices].to(self.device, torch.float32) / 255
        if self.left_out is not None:
            out = self.left_out[indices].to(self.device)
            if out.any():
                w = torch.where(out[:, None, None], self.circle, w)
        return w

    @torch.no_grad()
    def loss_areas(self, rotations, shifts, chunk=32):
        """(N,) float64: each particle's loss area, the sum of its weights
        (pixels of the training box), for all the particles' poses
        ``rotations`` (N, 3, 3) and ``shifts`` (N, 2); their weights are
        kept (:meth:`keep`) on the way."""
        n = len(rotations)
        areas = np.empty(n)
        for lo in range(0, n, chunk):
            rows = np.arange(lo, min(n, lo + chunk))
            t = torch.as_tensor(rows, device=rotations.device)
            areas[rows] = self.particle_weights(rows, rotations[t], shifts[t]).sum(
                (1, 2)).double().cpu().numpy()
        return areas

    def select_particles(self, rotations, shifts, where="--mask", radius=None,
                         low_pass_source=None):
        """Leave out of the image loss the particles whose loss area
        (:meth:`loss_areas`) is below one resolution element of the
        low-pass (``imaging.resolution_element``); returns (left out,
        particles). ValueError naming ``where`` (``--mask FILE``) when every
        particle would be: the mask's support lies outside the loss circle
        (``radius``, Angstrom, for the message; ``low_pass_source``, where
        the low-pass comes from, e.g. ``--low-pass``) for every pose. One pass
        over all the poses: what the first epoch would project anyway when
        the weights are kept (:meth:`keep`), once more otherwise."""
        areas = self.loss_areas(rotations, shifts)
        least = resolution_element(self.low_pass, self.apix)
        small = areas < least
        if small.all():
            raise ValueError(
                "%s: its support lies outside the loss circle%s for every particle's "
                "pose: the largest loss area is %.3g px, less than one resolution "
                "element of the %g A low-pass (%.3g px of %.3g A%s); make the mask on "
                "the consensus map of these particles, or widen --mask-radius"
                % (where, "" if radius is None else " of radius %.4g A" % radius,
                   float(areas.max()), self.low_pass, least, self.apix,
                   "; " + low_pass_source if low_pass_source else ""))
        self.left_out = torch.as_tensor(small) if small.any() else None
        return int(small.sum()), len(areas)

    def kept(self, indices):
        """(B,) float32 image-loss weights of the particles ``indices``: 0
        for those left out (:meth:`select_particles`), else 1."""
        indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        if self.left_out is None:
            return torch.ones(len(indices), device=self.device)
        return (~self.left_out[indices]).to(self.device, torch.float32)

    def keep(self, n_particles):
        """Keep the weights of ``n_particles`` particles once computed, when
        they fit in :data:`CACHE_BYTES`."""
        if n_particles * self.D * self.D <= CACHE_BYTES:
            self._cache = torch.zeros(n_particles, self.D, self.D, dtype=torch.uint8)
            self._known = torch.zeros(n_particles, dtype=torch.bool)
