"""Fourier shell correlation between two maps, and the resolution at a
threshold (0.5 against a ground truth, 0.143 between half maps)."""
import numpy as np


def _check_pair(map1, map2):
    a = np.asarray(map1, dtype=np.float64)
    b = np.asarray(map2, dtype=np.float64)
    if a.ndim != 3 or a.shape != b.shape or len(set(a.shape)) != 1:
        raise ValueError("FSC needs two cubic maps of one size, got shapes %s "
                         "and %s" % (a.shape, b.shape))
    return a, b


def shell_index(D):
    """Shell (rounded radius in Fourier pixels) of each ``rfftn`` coefficient
    (D, D, D//2+1), and the weight (2 where the Friedel mate is not stored)."""
    k = np.fft.fftfreq(D) * D
    kx = np.fft.rfftfreq(D) * D
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2
                     + kx[None, None, :] ** 2)
    column = np.arange(D // 2 + 1)
    weight = np.where((column > 0) & (column < D - column), 2.0, 1.0)
    return np.rint(radius).astype(np.int64), np.broadcast_to(weight, radius.shape)


def fsc(map1, map2, apix=1.0):
    """FSC curve of two maps (D, D, D).

    Returns ``(frequency, curve)``: shells 0 .. D//2, spatial frequency in
    1/Angstrom (``shell / (D * apix)``) and the correlation of the Fourier
    coefficients in each shell (0 where a map is empty in the shell).
    """
    a, b = _check_pair(map1, map2)
    D = a.shape[0]
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    shells, weight = shell_index(D)
    keep = shells <= D // 2
    s, w = shells[keep], weight[keep]
    n = D // 2 + 1
    cross = np.bincount(s, w * (fa[keep] * np.conj(fb[keep])).real, minlength=n)
    pa = np.bincount(s, w * np.abs(fa[keep]) ** 2, minlength=n)
    pb = np.bincount(s, w * np.abs(fb[keep]) ** 2, minlength=n)
    denom = np.sqrt(pa * pb)
    curve = np.divide(cross, denom, out=np.zeros(n), where=denom > 0)
    return np.arange(n) / (D * float(apix)), curve


def resolution(frequency, curve, threshold=0.5):
    """Resolution (Angstrom) where the FSC first falls below ``threshold``.

    Linear interpolation between the shells either side of the crossing;
    a curve that never falls below gives the Nyquist resolution (the last
    shell), one that starts below gives infinity.
    """
    frequency, curve = np.asarray(frequency), np.asarray(curve)
    below = np.flatnonzero(curve[1:] < threshold) + 1
    if not len(below):
        return 1.0 / frequency[-1]
    i = below[0]
    c0, c1 = curve[i - 1], curve[i]
    t = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
    f = frequency[i - 1] + t * (frequency[i] - frequency[i - 1])
    return 1.0 / f if f > 0 else np.inf


def fsc_resolution(map1, map2, apix, threshold=0.5):
    """Resolution (Angstrom) of the FSC of two maps at ``threshold``."""
    return resolution(*fsc(map1, map2, apix), threshold)


def fsc_table(frequency, curve):
    """An FSC curve as CSV text, ``resolution_A,fsc`` per shell (Angstrom,
    from the first shell: the zero frequency is left out)."""
    rows = ["resolution_A,fsc"] + ["%.4f,%.6f" % (1.0 / f, c) for f, c in
                                   zip(np.asarray(frequency)[1:], np.asarray(curve)[1:])]
    return "\n".join(rows) + "\n"
