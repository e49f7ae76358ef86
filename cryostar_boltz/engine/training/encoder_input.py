"""What the stage-1 encoder sees of each particle.

``aligned`` (the default): the image turned in-plane and centred by the
particle's pose (``imaging.in_plane_aligned``), so that every view of one
conformation from one direction reaches the encoder the same way. A
particle's conformation does not depend on its in-plane angle or its shift;
an encoder given raw images must learn that from the data, and given noisy
images it instead memorises them (on the adk path, |Spearman(PC1, frame)|
of 2,000 particles it never saw: 0.51 raw, 0.75 aligned, against 0.95 for
its own). ``raw``: the image as recorded, as in the published method and in
cryoDRGN. The image loss always compares the recorded image.

Either way the image is then Fourier-cropped to the encoder's box
(``--encoder-box``; by default the smallest fast box that holds the
training low-pass, ``derived.band_box``): the encoder sees the band the
image loss compares, with a first layer 2.6 times smaller at the default
low-pass.
"""
import numpy as np
import torch

from ..imaging import fourier_crop, in_plane_aligned

#: Bytes the encoder's inputs of every particle may hold in memory
#: (``EncoderInput``); above it they are computed per batch.
INPUT_CACHE_BYTES = 512 * 1024 ** 2
#: Particles whose inputs are computed at once when filling the cache.
_CHUNK = 1024


class EncoderInput:
    """``mode`` (``config.ENCODER_INPUTS``; None reads as "raw", runs made
    before the option), the particles' ``rotations`` (N, 3, 3) and
    ``shifts`` (N, 2, Angstrom) on the device, the training pixel size
    ``apix`` (Angstrom). Call with the particles' indices and images (B, D,
    D) to get the encoder's input (B, d, d), ``d = encoder.D`` (at most
    ``D``: the images are Fourier-cropped to it after the turn); pixels
    turned in from outside the box take ``encoder.input_mean``, the value
    the encoder standardises to zero.

    A particle's input depends only on its image and pose, so with ``data``
    (the run's ``TrainingData``) every particle's is computed once, at the
    first call (after a checkpoint has restored ``input_mean``), a chunk at
    a time with the same functions, and then read from memory: float32
    (N, d, d), when it fits in ``budget`` bytes (:data:`INPUT_CACHE_BYTES`),
    else per batch as without ``data``. On the adk path (d = 40) this saves
    the turn and the crop, about 8 % of a training step's time, for 6.4 kB
    per particle."""

    def __init__(self, mode, rotations, shifts, apix, encoder, data=None, budget=None):
        self.mode = mode or "raw"
        self.rotations, self.shifts, self.apix = rotations, shifts, float(apix)
        self.encoder = encoder
        self._data = data
        self._budget = INPUT_CACHE_BYTES if budget is None else budget
        self._cache = None

    @property
    def cached(self):
        """Whether every particle's input is held in memory."""
        return self._cache is not None

    def _fill(self):
        data, self._data = self._data, None   # tried once
        d = self.encoder.D
        if (self.mode == "raw" and d == data.D) or data.n * d * d * 4 > self._budget:
            return   # raw images on the whole box: nothing to compute
        chunks = [np.arange(lo, min(data.n, lo + _CHUNK)) for lo in range(0, data.n, _CHUNK)]
        self._cache = torch.cat([self.compute(c, data.load_images(c)) for c in chunks])

    def __call__(self, idx, images):
        if self._data is not None:
            self._fill()
        if self._cache is not None:
            return self._cache[torch.as_tensor(idx, device=self._cache.device)]
        return self.compute(idx, images)

    def compute(self, idx, images):
        """The encoder's input (B, d, d) of the particles ``idx`` from their
        ``images`` (B, D, D), without the cache."""
        t = torch.as_tensor(idx, device=self.rotations.device)
        return self.posed(images, self.rotations[t], self.shifts[t])

    def posed(self, images, rotations, shifts):
        """The encoder's input (B, d, d) of ``images`` (B, D, D) whose poses
        are ``rotations`` (B, 3, 3, RELION A) and ``shifts`` (B, 2, origins
        in Angstrom): the particles' own or searched ones
        (``pose_search``); "raw" inputs ignore them."""
        if self.mode != "raw":
            images = in_plane_aligned(images, rotations, shifts, self.apix,
                                      fill=float(self.encoder.input_mean))
        return fourier_crop(images, self.encoder.D)
