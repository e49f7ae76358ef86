"""Poses searched for the particles whose consensus pose failed the pose
screen, so that their latents come from an image the encoder can read
(``--pose-search``).

The encoder reads each image turned in-plane and centred by the particle's
pose (``encoder_input``), and it needs that alignment to be right: on the
adk path a trained encoder's |Spearman(PC1, frame)| falls from 0.959 to
0.906 when its inputs are shifted by 1 A, and to 0.873 when turned by 3
degrees. A particle whose consensus pose is wrong (a junk score above
``--outlier-z``) reaches it misaligned, so its latent says nothing of its
conformation: on the pose-error copy of the adk path (5 % random poses),
|Spearman| of the junk's latents is 0.24, and they take the whole set's
from 0.94 (the good particles) to 0.89. After training, each such particle
gets a pose searched against its image:

1. *global*: a consensus structure of the run is projected at
   :data:`GLOBAL_ORIENTATIONS` uniformly random orientations on the box of
   twice the low-pass (:func:`.derived.band_box`); each template, filtered
   by the particle's CTF, is cross-correlated with the particle's image
   over every origin within a quarter box (one FFT per template, as in
   template matching), divided by its norm (the Gaussian likelihood at the
   best scale is monotonic in this score); the :data:`GLOBAL_CANDIDATES`
   best orientations, each at its best origin, are kept;
2. *local*: for each of those, rounds of :data:`LOCAL_CANDIDATES`
   perturbations of the best pose so far, turned by Gaussian angles of the
   shrinking widths :data:`LOCAL_WIDTHS`, on the box of the low-pass band,
   with origins within :data:`LOCAL_SHIFT_PIXELS` of the best; the best
   refined pose is the particle's.

Stage 1 then encodes the particle with the searched pose and keeps that
latent only where the searched pose lies more than :data:`CONFIRM_ANGLE`
from the consensus pose and the structure decoded from that latent,
projected with the searched pose, fits the image better (the training
loss) than the consensus latent's with the consensus pose
(``stage1.Stage1Trainer.search_poses``). A search that lands near the
consensus pose confirms it: the particle was flagged by chance, and its
consensus latent, from the pose the encoder was trained with, is the
better one (on the 1A28 dimer path, without junk, 176 particles are
flagged; replacing the latents of those whose searched pose merely fits
better, 38, took |Spearman(PC1, frame)| from 0.9245 to 0.9242; with the
angle's condition 4 are replaced). And it searches
:data:`CONTROL_PARTICLES` kept particles alike: where it finds fewer than
:data:`MIN_RECOVERY` of their consensus poses, the images are too noisy
for a searched pose to mean anything (on the demo's 300 particles of 48
px it finds 13 of 64, and without the check it replaced all 12 flagged
latents, from correct poses, with poses 41-161 degrees off), and no
latent is replaced. The junk score is left as it is: it says the
consensus pose failed.
"""
import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from .. import imaging
from ..imaging import crop_spectrum
from ..pseudoatoms import RESIDUE_SIGMA
from .derived import band_box

#: Orientations of the global search: uniformly random, about 19 degrees
#: apart (the volume of SO(3), 8 pi^2, over this many), within reach of the
#: local search's first round.
GLOBAL_ORIENTATIONS = 2048
#: The best orientations of the global search each refined by the local
#: search (the best refined pose is kept): a view whose coarse projection
#: resembles another's is not lost at the first stage.
GLOBAL_CANDIDATES = 4
#: Rounds of the local search and the widths (degrees, per axis) of their
#: perturbations.
LOCAL_WIDTHS = (8.0, 4.0, 2.0, 1.0)
#: Perturbed poses per particle in a local round (the first is the best so far).
LOCAL_CANDIDATES = 16
#: Origins searched around the best in a local round (pixels of the band box).
LOCAL_SHIFT_PIXELS = 2
#: A searched pose within this many degrees of the consensus pose confirms it.
CONFIRM_ANGLE = 15.0
#: Kept particles (whose consensus poses the screen trusts) searched alike,
#: to measure how often the search finds a pose the data support.
CONTROL_PARTICLES = 64
#: The fraction of those whose consensus pose the search must find (within
#: :data:`CONFIRM_ANGLE`) for any searched pose to replace a latent.
MIN_RECOVERY = 0.5
#: Elements (templates x box x box) cross-correlated at once.
CHUNK_ELEMENTS = 1 << 22


def rotation_angles(a, b):
    """Degrees (B,) of the rotations taking ``b`` to ``a`` (both (B, 3, 3))."""
    trace = torch.einsum("bij,bij->b", a.double(), b.double())   # trace(a b^T)
    return torch.rad2deg(torch.arccos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0))).float()


def shift_window(box, radius, device=None):
    """(box, box) bool: the FFT-layout offsets within ``radius`` pixels
    along both axes."""
    q = torch.fft.fftfreq(box, 1.0 / box, device=device)
    return (q[:, None].abs() <= radius) & (q[None, :].abs() <= radius)


def best_matches(templates, filters, spectra, window, top=1):
    """Best template and origin of each particle.

    ``templates`` (B, T, box, box) or (T, box, box) real projections (shared
    by every particle when 3-D), ``filters`` (B, box, box//2 + 1) the
    particles' CTF times the low-pass, ``spectra`` (B, box, box//2 + 1) their
    images' ``rfft2``, ``window`` (box, box) bool: the offsets allowed
    (:func:`shift_window`). The score of template ``t`` at offset ``s`` is
    ``sum_q x(q + s) (f * t)(q) / ||f * t||``: the particle's image ``x``
    correlated with the filtered template. Returns ``(index (B,) long,
    offset (B, 2) pixels (x, y): the image matches the template moved by
    it, score (B,))``; with ``top`` > 1, the ``top`` best templates of each
    particle, best first, each at its best offset: (B, top), (B, top, 2),
    (B, top)."""
    B, box = spectra.shape[0], spectra.shape[-2]
    T = templates.shape[-3]
    q = torch.fft.fftfreq(box, 1.0 / box, device=spectra.device)
    blocked = torch.tensor(-torch.inf, device=spectra.device)
    shared = templates.dim() == 3
    if shared:
        template_spectra = torch.fft.rfft2(templates)
    index = torch.empty(B, top, dtype=torch.long, device=spectra.device)
    offset = torch.empty(B, top, 2, device=spectra.device)
    score = torch.empty(B, top, device=spectra.device)
    step = max(1, CHUNK_ELEMENTS // (T * box * box))
    for lo in range(0, B, step):
        hi = min(B, lo + step)
        ts = template_spectra if shared else torch.fft.rfft2(templates[lo:hi])
        filtered = ts * filters[lo:hi, None]                      # (b, T, box, box//2+1)
        norm = filtered.abs().square().sum((-2, -1)).sqrt().clamp_min(1e-12)
        corr = torch.fft.irfft2(spectra[lo:hi, None] * filtered.conj(), s=(box, box))
        corr = torch.where(window, corr, blocked) / norm[..., None, None]
        per_template = corr.flatten(2).max(2)                     # (b, T)
        best = per_template.values.topk(top, dim=1)
        pos = per_template.indices.gather(1, best.indices)
        index[lo:hi], score[lo:hi] = best.indices, best.values
        offset[lo:hi, ..., 0] = q[pos % box]
        offset[lo:hi, ..., 1] = q[pos // box]
    if top == 1:
        return index[:, 0], offset[:, 0], score[:, 0]
    return index, offset, score


class PoseSearch:
    """Global then local search of poses against particle images, for one
    structure: ``coords`` (N, 3, Angstrom, model frame) and ``amplitudes``
    (N,), rendered with ``sigma`` (Angstrom).

    ``D``, ``apix``: the training box (px) and pixel size (Angstrom);
    ``low_pass``: the training low-pass (Angstrom); ``seed``: the run's seed
    (orientations and perturbations follow it). The global templates are
    projected once, at the first search.
    """

    def __init__(self, coords, amplitudes, D, apix, low_pass, seed=0, sigma=RESIDUE_SIGMA):
        self.coords, self.amplitudes = coords, amplitudes
        self.D, self.apix, self.low_pass = int(D), float(apix), float(low_pass)
        self.seed, self.sigma = int(seed), float(sigma)
        self.coarse_box = band_box(self.D, self.apix, 2.0 * self.low_pass)
        self.fine_box = band_box(self.D, self.apix, self.low_pass)
        self._grid = self._templates = None

    def _project(self, rotations, box, shifts=None):
        return imaging.project_gaussians(self.coords, self.amplitudes, rotations, box,
                                         self.apix * self.D / box, sigma=self.sigma,
                                         shifts=shifts, truncate=False)

    def _global_templates(self):
        """The :data:`GLOBAL_ORIENTATIONS` orientations (T, 3, 3) and the
        structure's projections at them on the coarse box (T, box, box)."""
        if self._grid is None:
            rng = np.random.default_rng([self.seed, 11])
            self._grid = torch.as_tensor(
                Rotation.random(GLOBAL_ORIENTATIONS, random_state=rng).as_matrix(),
                dtype=torch.float32, device=self.coords.device)
            self._templates = torch.cat([self._project(self._grid[i:i + 256], self.coarse_box)
                                         for i in range(0, len(self._grid), 256)])
        return self._grid, self._templates

    @torch.no_grad()
    def search(self, observed, filters, first=0):
        """Poses of particles: ``observed`` (B, D, D) their low-passed
        images and ``filters`` (B, D, D//2 + 1) their CTF times the
        low-pass (``data.LossTargets``); ``first``: the batch's first
        particle index (seeds its perturbations). Returns ``(rotations (B,
        3, 3) RELION A, origins (B, 2, Angstrom), score (B,))``."""
        B, device = observed.shape[0], observed.device
        spectra = torch.fft.rfft2(observed)
        # global: shared templates on the coarse box, origins within a quarter box
        grid, templates = self._global_templates()
        box, k = self.coarse_box, GLOBAL_CANDIDATES
        index, offset, _ = best_matches(
            templates, crop_spectrum(filters, box), crop_spectrum(spectra, box),
            shift_window(box, box // 4, device), top=k)
        rotations = grid[index.flatten()]                          # (B k, 3, 3)
        origins = -offset.reshape(B * k, 2) * (self.apix * self.D / box)
        B *= k
        # local: perturbations of the best, on the band box
        box = self.fine_box
        apix_box = self.apix * self.D / box
        fine_filters = crop_spectrum(filters, box).repeat_interleave(k, 0)
        fine_spectra = crop_spectrum(spectra, box).repeat_interleave(k, 0)
        window = shift_window(box, LOCAL_SHIFT_PIXELS, device)
        rng = np.random.default_rng([self.seed, 13, int(first)])
        for width in LOCAL_WIDTHS:
            turns = Rotation.from_rotvec(rng.normal(0.0, math.radians(width),
                                                    (B * LOCAL_CANDIDATES, 3)))
            turns = torch.as_tensor(turns.as_matrix(), dtype=torch.float32,
                                    device=device).view(B, LOCAL_CANDIDATES, 3, 3)
            turns[:, 0] = torch.eye(3, device=device)
            candidates = turns @ rotations[:, None]                  # turned in the view frame
            templates = self._project(candidates.reshape(-1, 3, 3), box,
                                      shifts=origins.repeat_interleave(LOCAL_CANDIDATES, 0))
            index, offset, score = best_matches(templates.view(B, LOCAL_CANDIDATES, box, box),
                                                fine_filters, fine_spectra, window)
            rotations = candidates[torch.arange(B, device=device), index]
            origins = origins - offset * apix_box
        best = score.view(-1, k).argmax(1)
        pick = torch.arange(len(best), device=device) * k + best
        return rotations[pick], origins[pick], score[pick]
