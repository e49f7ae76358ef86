"""Latent points of a trained run: along a principal component, at k-means
centres, at the prior's basins, prior samples, or read from a file. What
``generate`` decodes and what the Scipion protocols ask for by name.
"""
from pathlib import Path

import numpy as np

#: Where latent points can come from (besides a file of points).
SOURCES = ("pca", "kmeans", "basins", "samples")
#: source ("file": points of a .npy) -> the options that choose its points
#: (generate refuses the others).
SOURCE_OPTIONS = {"file": (), "pca": ("component", "n"), "kmeans": ("k",),
                  "basins": ("k", "seed"), "samples": ("n", "sampler", "seed")}


def load_points(path):
    """A finite (M, d) float32 array from a .npy file (a 1-D array is one
    point); ValueError naming the file: unreadable, not numbers, not 2-D,
    an .npz archive, or rows with NaN, infinity or values float32 cannot
    hold (their count and the first row)."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except EOFError:  # an empty file
        raise ValueError("%s: not a .npy file (it is empty)" % path) from None
    except (OSError, ValueError) as err:
        raise ValueError("%s: not a readable .npy file (%s)" % (path, err)) from None
    if not isinstance(z, np.ndarray):  # an .npz archive
        names = ", ".join(getattr(z, "files", [])[:6])
        if hasattr(z, "close"):
            z.close()
        raise ValueError("%s: an .npz archive (%s), not a .npy array of latent "
                         "points: save the (M, latent_dim) array alone with "
                         "numpy.save" % (path, names))
    if z.ndim == 1:
        z = z[None]
    if not np.issubdtype(z.dtype, np.number):
        raise ValueError("%s: expected numbers, got an array of %s" % (path, z.dtype))
    if z.ndim != 2 or z.size == 0:
        raise ValueError("%s: expected a (M, latent_dim) array of latent points, "
                         "got shape %s" % (path, z.shape))
    bad = np.flatnonzero(~np.isfinite(z).all(axis=1))
    if len(bad):
        raise ValueError("%s: %d of %d latent points are not finite (NaN or "
                         "infinity), first at row %d" % (path, len(bad), len(z), bad[0]))
    with np.errstate(over="ignore"):
        z32 = z.astype(np.float32)  # the decoder's type
    bad = np.flatnonzero(~np.isfinite(z32).all(axis=1))
    if len(bad):
        raise ValueError("%s: %d of %d latent points overflow float32 (a coordinate "
                         "beyond +-3.4e38), first at row %d" % (path, len(bad), len(z),
                                                                bad[0]))
    return z32


def points_from_run(run, source, component=1, n=10, k=10, sampler=None, seed=0,
                    log=print):
    """Decoder inputs (M, d) of ``source`` (:data:`SOURCES`) and a label."""
    from .analysis import fit_pca, kmeans, pc_path
    if source not in SOURCES:
        raise ValueError("unknown latent source %r: choose from %s"
                         % (source, ", ".join(SOURCES)))
    if source in ("pca", "samples") and n < 1:
        raise ValueError("the number of points must be at least 1, got %d" % n)
    if source in ("kmeans", "basins") and k < 1:
        raise ValueError("the number of clusters must be at least 1, got %d" % k)
    if source == "pca":
        z = run.latents()
        pca = fit_pca(z, z.shape[1])
        if not 1 <= component <= pca.n_components_:
            raise ValueError("--component %d: the run has %d principal "
                             "components" % (component, pca.n_components_))
        return run.decoder_inputs(pc_path(pca, z, component - 1, n))
    if source == "kmeans":
        z = run.latents()
        if k > len(z):
            raise ValueError("%d clusters: the run has only %d particles"
                             % (k, len(z)))
        _, _, snapped = kmeans(z, k)
        return run.particle_decoder_inputs(snapped)
    if source == "basins":
        from .sampling import basin_table
        _, z = basin_table(run.prior, max_basins=k, seed=seed,
                           particles=run.latents())
        return z
    from .sampling import draw_samples
    arrays, _ = draw_samples(run.prior, n, sampler, seed, log=log)
    return arrays["z"]
