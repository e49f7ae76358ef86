"""Pictures of the latent space: the particles on the PCA plane (or a UMAP
embedding), coloured by cluster, by the prior's free energy, by one latent
coordinate or by density, with the prior's free-energy contours and the
cluster centres numbered. Names: ``latent_<embedding>_<colour>``."""
import numpy as np

from ..layout import PICTURE_POINTS_SUFFIX
from .figure import (PlotError, cluster_colours, free_energy_levels,
                     new_figure, save_if, subsample)
from .pictures import RunPictures

#: Colourings of the latent scatter (``dim``: the latent coordinate ``dim``).
COLOR_BY = ("cluster", "free_energy", "dim", "density")
#: Embeddings of the latents.
EMBEDDINGS = ("pca", "umap")
#: How the particles are drawn.
KINDS = ("scatter", "hexbin")
_COLOUR_TITLES = {"cluster": "cluster", "free_energy": "prior free energy",
                  "density": "density"}


def picture_name(embedding, colour, dim=1):
    """``latent_<embedding>_<colour>``; the ``dim`` colouring is ``z<dim>``."""
    return "latent_%s_%s" % (embedding, colour if colour != "dim" else "z%d" % dim)


def points_name(picture):
    """The file of the points a latent picture draws: ``NAME_points.npz``
    (``xy`` (n, 2), ``values`` (n,) its colours, NaN for density,
    ``categorical``, ``axis_labels``, ``color_label``)."""
    return picture + PICTURE_POINTS_SUFFIX


def latent_figure(xy, values=None, kind="scatter", color_label=None,
                  categorical=False, axis_labels=("PC1", "PC2"), contours=None,
                  centres=None, title="Latent space"):
    """Particles at 2-D coordinates ``xy`` (n, 2).

    ``values`` (n,) colour them: cluster labels 0..k-1 (``categorical``) or
    a continuous quantity labelled ``color_label``; None colours by the
    density of the plane. ``kind`` is 'scatter' (at most
    :data:`~.figure.MAX_SCATTER` points, a seeded random subset beyond) or
    'hexbin' (every particle; each hexagon shows the mean value or the
    most frequent cluster). ``contours`` = (X, Y, F) draws the prior's free
    energy F (nats above its minimum) on the grid X, Y; ``centres`` (k, 2)
    marks the cluster centres with their numbers. The figure's ``points``
    attribute keeps what was drawn (see :func:`points_name`). PlotError on
    other shapes or kinds.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not len(xy):
        raise PlotError("latent picture: expected (n, 2) coordinates, got %s"
                        % (xy.shape,))
    if kind not in KINDS:
        raise PlotError("latent picture: kind must be scatter or hexbin, not %r"
                        % kind)
    fig = new_figure(7.2, 6.0)
    ax = fig.add_subplot()
    all_xy, all_values = xy, values
    n = len(xy)
    note = ""
    if categorical and values is not None and (np.asarray(values) < 0).any():
        # label -1: particles left out of the clustering (analyze
        # --exclude-junk), drawn as grey crosses under the clusters
        values = np.asarray(values)
        out = values < 0
        shown = subsample(int(out.sum()))
        ax.scatter(xy[out][shown, 0], xy[out][shown, 1], marker="x", s=12,
                   linewidths=0.6, color="0.55", rasterized=True,
                   label="excluded (%d junk)" % int(out.sum()))
        ax.legend(loc="upper right", fontsize=8)
        xy, values = xy[~out], values[~out]
        if not len(xy):
            raise PlotError("latent picture: every particle is excluded")
    k = int(values.max()) + 1 if categorical and values is not None else 0
    cmap = cluster_colours(k) if categorical else "viridis"
    if kind == "hexbin":
        gridsize = int(np.clip(np.sqrt(len(xy)) / 1.5, 15, 80))
        if values is None:
            art = ax.hexbin(xy[:, 0], xy[:, 1], gridsize=gridsize, mincnt=1,
                            bins="log", cmap="magma_r")
            color_label = "particles per hexagon (log)"
        elif categorical:
            art = ax.hexbin(xy[:, 0], xy[:, 1], C=values, gridsize=gridsize,
                            reduce_C_function=_mode, cmap=cmap, vmin=-0.5,
                            vmax=k - 0.5)
        else:
            art = ax.hexbin(xy[:, 0], xy[:, 1], C=values, gridsize=gridsize,
                            reduce_C_function=np.mean, cmap=cmap)
    else:
        keep = subsample(len(xy))
        if len(keep) < len(xy):
            note = " (%d of %d particles shown)" % (len(keep), len(xy))
        size = float(np.clip(3000.0 / np.sqrt(len(keep)), 2, 30))
        if values is None:
            values = point_density(xy)
            color_label = "relative local density"
            cmap = "magma_r"
        v = np.asarray(values)[keep]
        order = np.argsort(v) if not categorical else np.arange(len(keep))
        art = ax.scatter(xy[keep][order, 0], xy[keep][order, 1], c=v[order],
                         s=size, cmap=cmap, linewidths=0, alpha=0.85,
                         vmin=-0.5 if categorical else None,
                         vmax=k - 0.5 if categorical else None,
                         rasterized=True)
    if contours is not None:
        X, Y, F = contours
        cs = ax.contour(X, Y, F, levels=free_energy_levels(F), colors="0.15",
                        linewidths=0.8, alpha=0.8)
        ax.clabel(cs, fmt="%.2g", fontsize=7)
    if centres is not None:
        for i, (x, y) in enumerate(np.asarray(centres)[:, :2]):
            ax.annotate(str(i), (x, y), ha="center", va="center", fontsize=9,
                        weight="bold", color="black",
                        bbox=dict(boxstyle="circle,pad=0.2", fc="white",
                                  ec="black", alpha=0.85))
    bar = fig.colorbar(art, ax=ax, shrink=0.9)
    if categorical:
        bar.set_ticks(np.arange(k) if k <= 20 else
                      np.linspace(0, k - 1, 11).round())
    bar.set_label(color_label or "")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title + note)
    if contours is not None:
        ax.text(0.01, 0.01, "contours: prior free energy F(z) - min F (nats), "
                "slice through the mean latent", transform=ax.transAxes,
                fontsize=7, color="0.25")
    # what was drawn, for tools that draw on the same plane (a lasso)
    fig.points = {"xy": all_xy, "values": np.full(n, np.nan) if all_values is None
                  else np.asarray(all_values, dtype=np.float64),
                  "categorical": bool(categorical),
                  "axis_labels": np.array(axis_labels, dtype=str),
                  "color_label": np.array(color_label or "", dtype=str)}
    return fig


def _mode(values):
    return np.bincount(np.asarray(values, dtype=np.int64)).argmax()


def point_density(xy, bins=64):
    """(n,) count of the ``bins`` x ``bins`` 2-D histogram bin holding each
    point of ``xy`` (n, 2), over the largest count (for colouring)."""
    hist, ex, ey = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins)
    ix = np.clip(np.searchsorted(ex, xy[:, 0], side="right") - 1, 0, bins - 1)
    iy = np.clip(np.searchsorted(ey, xy[:, 1], side="right") - 1, 0, bins - 1)
    density = hist[ix, iy]
    return density / density.max()


def latent_plots(run_dir, out_dir=None, color_by=COLOR_BY[:3], dim=1,
                 embedding="pca", kind="scatter", contours=True,
                 analysis_dir=None, pictures=None):
    """Latent-space pictures of a run, ``{name: Figure}`` (also
    ``out_dir/name.png`` when ``out_dir`` is given): one per colouring in
    ``color_by`` (:data:`COLOR_BY`; ``dim`` is latent coordinate ``dim``,
    1-based) on the PCA plane or the UMAP embedding (``umap.npy`` of the
    analysis folder, computed when umap-learn is installed). The cluster
    colouring is left out when the run has no clusters, unless it is the
    only one asked for (then a PlotError says so). ``contours``: the
    prior's free energy over the PCA plane."""
    pics = pictures or RunPictures(run_dir, analysis_dir)
    colours = [color_by] if isinstance(color_by, str) else list(color_by)
    unknown = [c for c in colours if c not in COLOR_BY]
    if unknown:
        raise PlotError("unknown colouring %r: choose from %s"
                        % (unknown[0], ", ".join(COLOR_BY)))
    if embedding == "pca":
        xy = pics.pca()[0][:, :2]
        if xy.shape[1] < 2:
            xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
        axis_labels = pics.pc_labels()
    elif embedding == "umap":
        xy = pics.umap()
        axis_labels = ("UMAP 1", "UMAP 2")
    else:
        raise PlotError("unknown embedding %r: pca or umap" % embedding)
    clusters = pics.clusters()
    if colours == ["cluster"] and clusters is None:
        raise PlotError("no clusters found for %s: colour by another quantity "
                        "or cluster the latents first (cryostar-boltz analyze)"
                        % pics.run_dir)
    landscape = None
    if contours and embedding == "pca" and pics.pca()[1].shape[0] >= 2:
        landscape = pics.landscape(grid=90)
    figures = {}
    for colour in colours:
        centres, categorical, values, label = None, False, None, None
        if colour == "cluster":
            if clusters is None:
                continue
            values, centres_z, source = clusters
            categorical = True
            label = "cluster (%s)" % source
            if centres_z is not None and embedding == "pca":
                centres = pics.project(centres_z)[:, :2]
            elif embedding != "pca":
                centres = np.stack([xy[values == c].mean(0) if np.any(values == c)
                                    else np.full(2, np.nan)
                                    for c in range(values.max() + 1)])
        elif colour == "free_energy":
            F = pics.particle_free_energy()
            values, label = F - F.min(), "prior free energy F(z) - min (nats)"
        elif colour == "dim":
            if not 1 <= dim <= pics.z.shape[1]:
                raise PlotError("latent dimension %d: the run has dimensions "
                                "1..%d" % (dim, pics.z.shape[1]))
            values, label = pics.z[:, dim - 1], "latent dimension z%d" % dim
        figures[picture_name(embedding, colour, dim)] = latent_figure(
            xy, values, kind, label, categorical, axis_labels, landscape,
            centres, title="Latent space (%s, %s prior), coloured by %s" % (
                embedding.upper(), pics.run.prior_name,
                _COLOUR_TITLES.get(colour, "z%d" % dim)))
    return save_if(figures, out_dir)
