"""Figures and what every picture shares: a ``matplotlib.figure.Figure``
made without pyplot (so it draws on any backend, with or without a display,
in threads alike), written as a PNG atomically, and the small drawing
helpers of the pictures (subsampling, cluster colours, smoothing, free-energy
contour levels).

matplotlib is imported inside the functions that draw, so importing this
module costs nothing.
"""
from pathlib import Path

import numpy as np

from ..io import atomic_path

#: Resolution of every picture (dots per inch).
DPI = 110
#: Most points drawn in a scatter (a random subset beyond: hexbins take all).
MAX_SCATTER = 50_000


class PlotError(ValueError):
    """A picture cannot be drawn from what the folder holds."""


def new_figure(width=7.0, height=5.5):
    """A Figure of ``width`` x ``height`` inches not managed by pyplot."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(fig, path):
    """Write ``fig`` to ``path`` as a PNG (white background, :data:`DPI`)
    through :func:`cryostar_boltz.engine.io.atomic_path`: a reader never
    sees a truncated picture. Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", facecolor="white")
    return path


def save_all(figures, out_dir):
    """Write each ``{name: Figure}`` as ``out_dir/name.png``; returns
    ``{name: path}``."""
    return {name: save_figure(fig, Path(out_dir) / (name + ".png"))
            for name, fig in figures.items()}


def save_if(figures, out_dir):
    """:func:`save_all` when ``out_dir`` is given; returns ``figures``."""
    if out_dir is not None:
        save_all(figures, out_dir)
    return figures


def subsample(n, limit=MAX_SCATTER, seed=0):
    """Sorted indices of at most ``limit`` of ``n`` points (all when
    ``n <= limit``; a seeded random subset otherwise)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def cluster_colours(k):
    """A categorical colour map of ``k`` colours (tab10, or tab20 beyond 10
    clusters, repeated when needed)."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    base = colormaps["tab10" if k <= 10 else "tab20"]
    return ListedColormap([base(i % base.N) for i in range(max(k, 1))])


def smooth(values, window):
    """Moving average over ``window`` samples ignoring NaNs: same length as
    ``values``, averaged over fewer samples at the edges."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < 3:
        return values
    ok = np.isfinite(values)
    kernel = np.ones(window)
    total = np.convolve(np.where(ok, values, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def free_energy_levels(F, count=8):
    """``count`` contour levels (nats) spanning a free energy ``F`` (above
    its minimum) up to its 90th percentile, at most 12 nats, so flat and
    steep landscapes both show; rounded to two significant digits."""
    F = np.asarray(F, dtype=np.float64)
    finite = F[np.isfinite(F)]
    top = min(float(np.percentile(finite, 90)), 12.0) if len(finite) else 1.0
    top = top if top > 0 else 1.0
    return np.unique(np.float64(["%.2g" % v for v in
                                 np.linspace(top / count, top, count)]))
