"""Root-mean-square deviation between pseudo-atom sets."""
import numpy as np


def ca_rmsd(a, b, superpose=True):
    """RMSD (Angstrom) between pseudo-atom sets, batched over leading axes.

    ``a`` and ``b`` are (..., N, 3) and broadcast against each other;
    returns an array of the broadcast leading shape. With ``superpose`` the
    optimal rigid superposition (Kabsch 1976, Acta Cryst. A32:922; the sign
    of det(H) excludes reflections) is applied first, computed in closed
    form from the singular values; without it, coordinates are compared as
    they are. ValueError for other shapes.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1] != 3 or b.shape[-1] != 3 or a.shape[-2] != b.shape[-2]:
        raise ValueError(f"expected (..., N, 3) arrays with the same N, "
                         f"got {a.shape} and {b.shape}")
    n = a.shape[-2]
    if not superpose:
        return np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1), axis=-1))
    a = a - a.mean(axis=-2, keepdims=True)
    b = b - b.mean(axis=-2, keepdims=True)
    h = np.swapaxes(a, -1, -2) @ b
    s = np.linalg.svd(h, compute_uv=False)
    sign = np.sign(np.linalg.det(h))
    sign = np.where(sign == 0, 1.0, sign)
    trace = s[..., 0] + s[..., 1] + sign * s[..., 2]
    sq = (np.sum(a ** 2, axis=(-1, -2)) + np.sum(b ** 2, axis=(-1, -2))
          - 2.0 * trace) / n
    return np.sqrt(np.maximum(sq, 0.0))
