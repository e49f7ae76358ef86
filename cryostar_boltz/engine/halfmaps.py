"""Gold-standard half-maps of a particle subset: the two half-sets, their
two independent reconstructions, the map of both, and the FSC between the
halves.

Half-sets follow the input: RELION's ``rlnRandomSubset`` (1, 2) or
cryoSPARC's ``alignments3D/split`` (0, 1, read as 1, 2) when the particle
file has them, so a subset keeps the halves its refinement used (the
gold-standard rule: a particle never changes half); otherwise a split of
all the particles seeded by ``seed`` (every subset of a dataset then shares
one split). Each half is reconstructed on its own
(:class:`cryostar_boltz.engine.reconstruct.FourierBackprojector`); the map
is the reconstruction of both halves' sums. The resolution is where the
half-map FSC falls below 0.143 (Rosenthal & Henderson 2003), and where it
falls below 0.5 is reported beside it.
"""
from dataclasses import dataclass

import numpy as np

from .fsc import fsc, fsc_table, resolution

#: FSC thresholds reported: half-maps (0.143) and the customary 0.5.
THRESHOLDS = (0.143, 0.5)
#: Where the half-sets came from (``HalfMaps.source``).
SOURCES = ("rlnRandomSubset", "alignments3D/split", "seeded split")


def half_sets(particles, seed=0):
    """``(halves (n,) int in {1, 2}, source)`` for every particle of
    ``particles`` (:class:`~cryostar_boltz.engine.particles.Particles`):
    the file's ``rlnRandomSubset`` or cryoSPARC ``alignments3D/split``
    (+1), else a random half of the particles chosen with ``seed``
    (``source`` is one of :data:`SOURCES`)."""
    n = particles.n
    table = particles.table or {}
    if "rlnRandomSubset" in table:
        halves = np.asarray(table["rlnRandomSubset"]).astype(np.float64)
        return halves.astype(np.int64), SOURCES[0]
    raw = particles.raw
    if raw is not None and raw.dtype.names and "alignments3D/split" in raw.dtype.names:
        return raw["alignments3D/split"].astype(np.int64) + 1, SOURCES[1]
    halves = np.ones(n, dtype=np.int64)
    halves[np.random.default_rng(seed).permutation(n)[n // 2:]] = 2
    return halves, SOURCES[2]


def split_subset(indices, halves, what="the subset"):
    """The rows of ``indices`` in half 1 and in half 2; ValueError naming
    ``what`` when a half would be empty."""
    indices = np.asarray(indices, dtype=np.int64)
    one, two = indices[halves[indices] == 1], indices[halves[indices] == 2]
    if not len(one) or not len(two):
        raise ValueError("%s has %d particles in half-set 1 and %d in half-set 2: "
                         "each half needs at least one particle"
                         % (what, len(one), len(two)))
    return one, two


@dataclass
class HalfMaps:
    """Two half-maps and the map of both (each (D, D, D) float32 ``[z, y,
    x]``), the voxel size (Angstrom), the FSC curve (``frequency`` 1/A,
    ``curve``) and the particles in each half."""
    half1: np.ndarray
    half2: np.ndarray
    full: np.ndarray
    apix: float
    frequency: np.ndarray
    curve: np.ndarray
    counts: tuple

    def resolution(self, threshold=0.143):
        """Resolution (Angstrom) where the half-map FSC falls below
        ``threshold`` (:func:`cryostar_boltz.engine.fsc.resolution`)."""
        return float(resolution(self.frequency, self.curve, threshold))

    def table(self):
        """The FSC as CSV text: ``resolution_A,fsc`` per shell from the
        first (the zero frequency, infinite resolution, is left out)."""
        return fsc_table(self.frequency, self.curve)


def reconstruct_halves(images, rotations, shifts, ctf, apix, indices, halves,
                       pad=2, regularisation=0.01, batch=256, device=None,
                       log=None):
    """Backproject the particles ``indices`` of ``images`` (an
    ``ImageStack`` or (N, D, D) array, read ``batch`` at a time) into one
    map per half-set (``halves`` (N,) in {1, 2}, e.g. from
    :func:`half_sets`) and the map of both. Poses (N, 3, 3) RELION
    matrices, origins (N, 2) Angstrom, CTF (N, 8), ``apix`` Angstrom per
    pixel (the engine's conventions, ``docs/conventions.rst``). Returns a
    :class:`HalfMaps`."""
    from .reconstruct import FourierBackprojector
    one, two = split_subset(indices, np.asarray(halves))
    D = images[one[:1]].shape[-1]
    rotations, shifts, ctf = (np.asarray(a) for a in (rotations, shifts, ctf))
    projectors = []
    for rows in (one, two):
        bp = FourierBackprojector(D, apix, pad=pad, device=device)
        for start in range(0, len(rows), batch):
            idx = rows[start:start + batch]
            bp.add(images[idx], rotations[idx], shifts[idx], ctf[idx])
            if log is not None:
                log(len(idx))
        projectors.append(bp)
    half1, half2 = (bp.volume(regularisation) for bp in projectors)
    full = projectors[0].merged(projectors[1], regularisation)
    frequency, curve = fsc(half1, half2, apix)
    return HalfMaps(half1, half2, full, float(apix), frequency, curve,
                    (int(len(one)), int(len(two))))


def fourier_resize(volume, D):
    """``volume`` (n, n, n) resampled to (D, D, D) over the same width by
    cropping (or zero-padding) its centred spectrum: a map of another box
    compared at the coarser sampling. Phase origin at voxel n//2."""
    volume = np.asarray(volume, dtype=np.float64)
    n = volume.shape[0]
    if n == D:
        return volume.astype(np.float32)
    spectrum = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(volume)))
    out = np.zeros((D, D, D), dtype=complex)
    m = min(n, D)
    src = slice(n // 2 - m // 2, n // 2 - m // 2 + m)
    dst = slice(D // 2 - m // 2, D // 2 - m // 2 + m)
    out[dst, dst, dst] = spectrum[src, src, src]
    resized = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(out))).real
    return (resized * (D / n) ** 3).astype(np.float32)


@dataclass
class DecodedComparison:
    """The stage-2 map at a subset's mean latent (``map``, its voxel size
    ``apix`` and MRC ``origin``), and the FSC of a reconstruction against
    it at the decoder's box (``frequency``, ``curve``, ``resolutions``
    {threshold: Angstrom}, ``table`` CSV text)."""
    map: np.ndarray
    apix: float
    origin: np.ndarray
    frequency: np.ndarray
    curve: np.ndarray
    resolutions: dict
    table: str


def decoded_comparison(run, z, maps):
    """Compare ``maps`` (:class:`HalfMaps`) with the stage-2 map of ``run``
    (a ``TrainedRun``) at the mean of the latents ``z`` (n, d); None when
    the run has no density decoder. The reconstruction is resampled to the
    decoder's box (same width: the decoder's box is the particles' box,
    downsampled); ValueError when the widths differ by more than 2%."""
    if not run.has_density():
        return None
    density = run.density()
    mean = np.asarray(z, dtype=np.float64).mean(0)[:density.latent_dim]
    decoded = density.volume(mean.astype(np.float32))
    width, decoder_width = maps.full.shape[0] * maps.apix, density.box * density.apix
    if abs(width - decoder_width) > 0.02 * width:
        raise ValueError("%s: the density decoder's box is %.1f A wide but the "
                         "particles' is %.1f A" % (run.run_dir, decoder_width, width))
    resized = fourier_resize(maps.full, density.box)
    frequency, curve = fsc(resized, decoded, density.apix)
    resolutions = {t: float(resolution(frequency, curve, t)) for t in THRESHOLDS}
    return DecodedComparison(decoded, density.apix, density.origin, frequency, curve,
                             resolutions, fsc_table(frequency, curve))
