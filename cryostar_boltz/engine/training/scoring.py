"""The pose contrast's projections: a coarse model on a Fourier-cropped box.

The pose contrast (:mod:`..particle_scores`) compares how well a
particle's decoded structure fits its image with its own pose and at
random orientations. It only needs the structure's shape within the
training low-pass, so it is measured on a cheaper image than the training
loss's, with nothing of the low-passed band lost:

* the box is cropped in Fourier space to the smallest even size whose
  Nyquist frequency lies beyond the low-pass and whose FFT is fast (40 px instead of 64 for the
  default 3.5-pixel low-pass): the low-passed images and the CTF are the
  same coefficients, fewer pixels;
* the structure is rendered as its pseudo-atoms (one Gaussian per residue,
  :data:`~..pseudoatoms.RESIDUE_SIGMA` wide), projected as the dense
  separable product, which at 214 residues and 40 px costs about a
  quarter of 1,656 heavy atoms on 7 x 7 patches at 64 px;
* every orientation of a batch is projected in one call.

The image loss is the training loss's (:func:`~..losses.correlation_loss`,
same mask radius). On 6,000 adk particles with 5 % junk (a 20-epoch default
run) the junk score keeps its ROC AUC (0.972, ``docs/benchmarks.rst``) and
the pass costs 2.3 times less.
"""
import torch

from .. import imaging
from ..imaging import crop_spectrum
from ..losses import correlation_loss
from ..pseudoatoms import RESIDUE_SIGMA
from .derived import band_box


class PoseScorer:
    """Image losses of decoded structures at several orientations, on the
    Fourier-cropped box of :func:`.derived.band_box`.

    ``D``, ``apix``: the training box (px) and pixel (Angstrom);
    ``low_pass``: the training low-pass (Angstrom); ``mask_radius``: the
    loss mask's radius (fraction of half the box); ``sigma``: the width
    (Angstrom) the residues are rendered with.
    """

    def __init__(self, D, apix, low_pass, mask_radius, device=None,
                 sigma=RESIDUE_SIGMA):
        self.D, self.box = int(D), band_box(D, apix, low_pass)
        self.apix = apix * self.D / self.box
        self.sigma = float(sigma)
        self.mask = imaging.circular_mask(self.box, mask_radius, device=device)
        #: Gaussian factor elements (particles x orientations x residues x
        #: box) projected at once: their temporaries stay in cache.
        self.elements_per_chunk = 1 << 20

    def observed(self, images):
        """Low-passed images (B, D, D) -> the same on the cropped box (B, box, box)."""
        return imaging.fourier_crop(images, self.box)

    @torch.no_grad()
    def losses(self, coords, amplitudes, rotations, shifts, filters, observed):
        """(B, R) image losses of structures ``coords`` (B, N, 3, Angstrom,
        model frame) with ``amplitudes`` (N,) at the R orientations
        ``rotations`` (R, B, 3, 3), shifted by ``shifts`` (B, 2, Angstrom),
        filtered by ``filters`` (B, D, D//2 + 1, the CTF times the
        low-pass) against ``observed`` (B, box, box, :meth:`observed`)."""
        R, B = rotations.shape[:2]
        filters = crop_spectrum(filters, self.box)
        out = observed.new_empty(B, R)
        step = max(1, self.elements_per_chunk // (R * coords.shape[1] * self.box))
        for lo in range(0, B, step):
            hi = min(B, lo + step)
            out[lo:hi] = self._losses(coords[lo:hi], amplitudes, rotations[:, lo:hi],
                                      shifts[lo:hi], filters[lo:hi], observed[lo:hi])
        return out

    def _losses(self, coords, amplitudes, rotations, shifts, filters, observed):
        R, B = rotations.shape[:2]
        proj = imaging.project_gaussians(
            coords.repeat(R, 1, 1), amplitudes, rotations.reshape(R * B, 3, 3),
            self.box, self.apix, sigma=self.sigma, shifts=shifts.repeat(R, 1),
            truncate=False)                                             # (R B, box, box)
        spectrum = torch.fft.rfft2(proj).view(R, B, self.box, self.box // 2 + 1) * filters
        images = torch.fft.irfft2(spectrum, s=(self.box, self.box))
        loss = correlation_loss(images.view(R * B, self.box, self.box),
                                observed.repeat(R, 1, 1), self.mask)
        return loss.view(R, B).t()
