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
import torch

from ..imaging import fourier_crop, in_plane_aligned


class EncoderInput:
    """``mode`` (``config.ENCODER_INPUTS``; None reads as "raw", runs made
    before the option), the particles' ``rotations`` (N, 3, 3) and
    ``shifts`` (N, 2, Angstrom) on the device, the training pixel size
    ``apix`` (Angstrom). Call with the particles' indices and images (B, D,
    D) to get the encoder's input (B, d, d), ``d = encoder.D`` (at most
    ``D``: the images are Fourier-cropped to it after the turn); pixels
    turned in from outside the box take ``encoder.input_mean``, the value
    the encoder standardises to zero."""

    def __init__(self, mode, rotations, shifts, apix, encoder):
        self.mode = mode or "raw"
        self.rotations, self.shifts, self.apix = rotations, shifts, float(apix)
        self.encoder = encoder

    def __call__(self, idx, images):
        if self.mode != "raw":
            t = torch.as_tensor(idx, device=self.rotations.device)
            images = in_plane_aligned(images, self.rotations[t], self.shifts[t], self.apix,
                                      fill=float(self.encoder.input_mean))
        return fourier_crop(images, self.encoder.D)
