"""Pictures of a run: latent space, training curves, the prior's landscape,
trajectories and ensembles.

Every figure is a plain ``matplotlib.figure.Figure`` (no pyplot, so it works
on any backend, with or without a display, in threads and in Scipion's Tk
GUI alike). Functions come in two layers:

* ``*_figure(arrays...)`` draw from arrays and know nothing of files;
* ``*_plots(run_dir, out_dir, ...)`` read a run folder (and the folders of
  ``analyze``, ``sample-prior`` and ``generate``) and return
  ``{name: Figure}``, writing ``out_dir/name.png`` when ``out_dir`` is given.

:func:`plot_run` writes every picture of a run (``cryostar-boltz plot``).
Nothing here imports pyworkflow or pwem.
"""
import json
import os
from pathlib import Path

import numpy as np

#: Picture groups of :func:`plot_run` (``--what``).
GROUPS = ("latent", "training", "prior", "trajectory", "ensemble")
#: Colourings of the latent scatter.
COLOR_BY = ("cluster", "free_energy", "dim", "density")
#: Most points drawn in a scatter (a random subset beyond: hexbins take all).
MAX_SCATTER = 50_000
#: Most hidden/binary units enumerated for the exact energy distribution.
MAX_EXACT_UNITS = 16
DPI = 110
_TRAINING_TERMS = (("loss", "total loss"), ("image", "image (-correlation)"),
                   ("continuity", "continuity"), ("elastic", "elastic network"),
                   ("clash", "clash"), ("kl", "KL"))


class PlotError(ValueError):
    """A picture cannot be drawn from what the folder holds."""


# ------------------------------------------------------------------ basics

def new_figure(width=7.0, height=5.5):
    """A Figure not managed by pyplot (safe on any backend)."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(fig, path):
    """Write ``fig`` as a PNG, atomically (never a truncated picture)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".%s.tmp.png" % path.stem)
    fig.savefig(tmp, dpi=DPI, format="png", facecolor="white")
    os.replace(tmp, path)
    return path


def save_all(figures, out_dir):
    """Write each ``{name: Figure}`` as ``out_dir/name.png``; the paths."""
    return {name: save_figure(fig, Path(out_dir) / (name + ".png"))
            for name, fig in figures.items()}


def _subsample(n, limit=MAX_SCATTER, seed=0):
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def _cluster_colours(k):
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    base = colormaps["tab10" if k <= 10 else "tab20"]
    return ListedColormap([base(i % base.N) for i in range(max(k, 1))])


def _smooth(values, window):
    """Moving average ignoring NaNs (same length; shorter at the edges)."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < 3:
        return values
    ok = np.isfinite(values)
    kernel = np.ones(window)
    total = np.convolve(np.where(ok, values, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


# ------------------------------------------------------------------ latent space

def latent_figure(xy, values=None, kind="scatter", color_label=None,
                  categorical=False, axis_labels=("PC1", "PC2"), contours=None,
                  centres=None, title="Latent space"):
    """Particles in a 2-D embedding ``xy`` (n, 2).

    ``values`` (n,) colour them: cluster labels (``categorical``) or a
    continuous quantity; None colours by density. ``kind`` is 'scatter' or
    'hexbin' (every particle, coloured by the mean value or the most
    frequent cluster of each hexagon). ``contours`` = (X, Y, F) draws the
    prior's free energy F (nats) on the grid X, Y; ``centres`` (k, 2)
    marks cluster centres with their numbers.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not len(xy):
        raise PlotError("latent picture: expected (n, 2) coordinates, got %s"
                        % (xy.shape,))
    if kind not in ("scatter", "hexbin"):
        raise PlotError("latent picture: kind must be scatter or hexbin, not %r"
                        % kind)
    fig = new_figure(7.2, 6.0)
    ax = fig.add_subplot()
    n = len(xy)
    note = ""
    k = int(values.max()) + 1 if categorical and values is not None else 0
    cmap = _cluster_colours(k) if categorical else "viridis"
    if kind == "hexbin":
        gridsize = int(np.clip(np.sqrt(n) / 1.5, 15, 80))
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
        keep = _subsample(n)
        if len(keep) < n:
            note = " (%d of %d particles shown)" % (len(keep), n)
        size = float(np.clip(3000.0 / np.sqrt(len(keep)), 2, 30))
        if values is None:
            values = _point_density(xy)
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
        levels = _free_energy_levels(F)
        cs = ax.contour(X, Y, F, levels=levels, colors="0.15", linewidths=0.8,
                        alpha=0.8)
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
    return fig


def _mode(values):
    return np.bincount(np.asarray(values, dtype=np.int64)).argmax()


def _point_density(xy, bins=64):
    """Density of the 2-D histogram bin of each point (for colouring)."""
    hist, ex, ey = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins)
    ix = np.clip(np.searchsorted(ex, xy[:, 0], side="right") - 1, 0, bins - 1)
    iy = np.clip(np.searchsorted(ey, xy[:, 1], side="right") - 1, 0, bins - 1)
    density = hist[ix, iy]
    return density / density.max()


def _free_energy_levels(F, count=8):
    """Contour levels spanning F (above its minimum) up to its 90th
    percentile, at most 12 nats: flat and steep landscapes both show."""
    finite = F[np.isfinite(F)]
    top = min(float(np.percentile(finite, 90)), 12.0) if len(finite) else 1.0
    top = top if top > 0 else 1.0
    return np.unique(np.float64(["%.2g" % v for v in
                                 np.linspace(top / count, top, count)]))


def training_figure(metrics, title="Training"):
    """Every loss term against the step, raw (thin) and smoothed (thick),
    epoch boundaries dotted; the KL weight and learning rate below."""
    if not metrics or "step" not in metrics:
        raise PlotError("training picture: the metrics table is empty")
    step = np.asarray(metrics["step"], dtype=np.float64)
    epoch = np.asarray(metrics.get("epoch", np.ones_like(step)))
    window = max(1, len(step) // 40)
    fig = new_figure(11, 7.5)
    axes = fig.subplots(3, 3).ravel()
    boundaries = step[1:][np.diff(epoch) > 0] - 0.5
    panels = [(k, label) for k, label in _TRAINING_TERMS if k in metrics]
    extra = [k for k in ("kl_gaussian", "kl_binary") if k in metrics]
    panels += [(k, k.replace("_", " ")) for k in extra]
    for ax, (key, label) in zip(axes, panels):
        values = np.asarray(metrics[key], dtype=np.float64)
        ax.plot(step, values, lw=0.6, color="tab:blue", alpha=0.45)
        ax.plot(step, _smooth(values, window), lw=1.8, color="tab:blue")
        _epoch_lines(ax, boundaries)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    used = len(panels)
    ax = axes[used]
    for key, colour, label in (("beta", "tab:orange", "KL weight beta"),):
        if key in metrics:
            ax.plot(step, metrics[key], color=colour, label=label)
    if "lr" in metrics:
        twin = ax.twinx()
        twin.plot(step, metrics["lr"], color="tab:green", ls="--",
                  label="learning rate")
        twin.set_ylabel("learning rate", color="tab:green")
    ax.set_ylabel("beta", color="tab:orange")
    ax.set_title("KL weight and learning rate")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if used + 1 < len(axes) and "particles_per_s" in metrics:
        ax = axes[used + 1]
        ax.plot(step, metrics["particles_per_s"], lw=0.8, color="tab:gray")
        ax.set_title("throughput")
        ax.set_ylabel("particles / s")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        used += 1
    for ax in axes[used + 1:]:
        ax.set_visible(False)
    skipped = int(np.nansum(metrics.get("skipped", [0])))
    fig.suptitle("%s: %d steps, %d epochs%s" % (
        title, len(step), int(np.nanmax(epoch)) if len(epoch) else 0,
        ", %d batches skipped (non-finite)" % skipped if skipped else ""))
    return fig


def _epoch_lines(ax, boundaries):
    if 0 < len(boundaries) <= 50:
        for b in boundaries:
            ax.axvline(b, color="0.6", lw=0.6, ls=":")


# ------------------------------------------------------------------ prior

def landscape_figure(X, Y, F, points=None, basins=None, basin_labels=None,
                     axis_labels=("PC1", "PC2"), title="Prior free energy"):
    """The free energy F (nats above its minimum) over a plane, with the
    particles (``points`` (n, 2)) and the basins (``basins`` (m, 2))
    marked and numbered (``basin_labels``: text per basin)."""
    F = np.asarray(F, dtype=np.float64)
    fig = new_figure(7.4, 6.0)
    ax = fig.add_subplot()
    finite = F[np.isfinite(F)]
    top = float(np.percentile(finite, 95)) if len(finite) else 1.0
    mesh = ax.contourf(X, Y, np.minimum(F, top), levels=24, cmap="viridis")
    ax.contour(X, Y, F, levels=_free_energy_levels(F), colors="white",
               linewidths=0.5, alpha=0.6)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.9)
    bar.set_label("free energy F(z) - min F (nats)")
    if points is not None and len(points):
        keep = _subsample(len(points), 5000)
        ax.scatter(points[keep, 0], points[keep, 1], s=7, c="white",
                   alpha=0.7, edgecolors="black", linewidths=0.2,
                   label="particles", rasterized=True)
    if basins is not None and len(basins):
        basins = np.asarray(basins)
        ax.scatter(basins[:, 0], basins[:, 1], marker="*", s=260, c="red",
                   edgecolors="black", linewidths=0.8, zorder=5, label="basins")
        for i, (x, y) in enumerate(basins[:, :2]):
            text = basin_labels[i] if basin_labels else str(i)
            ax.annotate(text, (x, y), xytext=(6, 6), textcoords="offset points",
                        fontsize=8, color="white", weight="bold",
                        bbox=dict(boxstyle="round,pad=0.15", fc="black",
                                  alpha=0.55, lw=0))
    if (points is not None and len(points)) or (basins is not None and len(basins)):
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)
    return fig


def occupancy_figure(particle_probabilities, sample_states=None, labels=None,
                     unit_name="hidden unit", title="Hidden-unit occupancy"):
    """How often each binary unit is on: the particles' p(unit on | z)
    (n, H) as a heat map (sorted by ``labels`` when given) and, beside
    it, the mean per unit for the particles and for each sampler's
    samples (``sample_states``: {sampler: (m, H) bits})."""
    p = np.asarray(particle_probabilities, dtype=np.float64)
    if p.ndim != 2 or not p.size:
        raise PlotError("occupancy picture: expected (n, units) probabilities")
    n, units = p.shape
    fig = new_figure(11, 5.0)
    left, right = fig.subplots(1, 2, width_ratios=[1.1, 1])
    order = np.argsort(labels, kind="stable") if labels is not None else np.arange(n)
    image = left.imshow(p[order], aspect="auto", interpolation="nearest",
                        cmap="Blues", vmin=0, vmax=1,
                        extent=(-0.5, units - 0.5, n, 0))
    fig.colorbar(image, ax=left, shrink=0.9, label="p(%s on | z)" % unit_name)
    if labels is not None:
        labels = np.asarray(labels)[order]
        for edge in np.flatnonzero(np.diff(labels)) + 1:
            left.axhline(edge, color="red", lw=0.8)
    left.set_xlabel(unit_name)
    left.set_ylabel("particle" + (" (sorted by cluster)" if labels is not None else ""))
    left.set_xticks(range(units) if units <= 32 else np.linspace(0, units - 1, 9).round())
    left.set_title("per particle")
    series = {"particles": p.mean(0)}
    for name, states in (sample_states or {}).items():
        states = np.asarray(states, dtype=np.float64)
        if states.ndim == 2 and states.shape[1] == units and len(states):
            series["samples: %s" % name] = states.mean(0)
    width = 0.8 / len(series)
    for i, (name, mean) in enumerate(series.items()):
        right.bar(np.arange(units) + (i - (len(series) - 1) / 2) * width, mean,
                  width=width, label=name)
    right.set_ylim(0, 1)
    right.set_xlabel(unit_name)
    right.set_ylabel("fraction on")
    right.set_xticks(range(units) if units <= 32 else np.linspace(0, units - 1, 9).round())
    right.set_title("mean occupancy")
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


def energy_histogram_figure(energies, beta_eff=None, exact=None,
                            title="Energies of prior samples"):
    """Histograms of sample energies per sampler (``energies``:
    {sampler: (m,)}), with the exact Boltzmann distribution at beta 1
    (``exact`` = (all state energies, their probabilities)) as a step line
    and each QPU run's effective inverse temperature (``beta_eff``:
    {sampler: value}) in its legend and a text box."""
    energies = {k: np.asarray(v, dtype=np.float64).ravel()
                for k, v in energies.items() if v is not None and len(v)}
    if not energies:
        raise PlotError("energy histogram: no sample energies")
    beta_eff = {k: v for k, v in (beta_eff or {}).items() if v is not None}
    fig = new_figure(7.4, 5.0)
    ax = fig.add_subplot()
    values = np.concatenate(list(energies.values()))
    if exact is not None:
        values = np.concatenate([values, np.asarray(exact[0])])
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    bins = np.linspace(low, high, 41)
    for name, e in energies.items():
        label = "%s (n=%d)" % (name, len(e))
        if name in beta_eff:
            label += ", beta_eff %.3g" % beta_eff[name]
        ax.hist(e, bins=bins, density=True, histtype="stepfilled", alpha=0.35,
                label=label)
        ax.hist(e, bins=bins, density=True, histtype="step", lw=1.2,
                color=ax.patches[-1].get_facecolor()[:3])
    if exact is not None:
        state_energies, probabilities = exact
        hist, _ = np.histogram(state_energies, bins=bins, weights=probabilities)
        ax.stairs(hist / np.diff(bins), bins, color="black", lw=1.6, ls="--",
                  label="exact Boltzmann (beta 1)")
    if beta_eff:
        ax.text(0.98, 0.6, "\n".join("beta_eff %s = %.3g" % kv
                                     for kv in beta_eff.items()),
                transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox=dict(boxstyle="round", fc="lightyellow", ec="0.6"))
    ax.set_xlabel("energy of the binary model (dimod convention)")
    ax.set_ylabel("probability density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------ structures

def rmsf(coords):
    """Per-residue root-mean-square fluctuation about the mean (Angstrom)
    of (M, N, 3) models sharing one frame."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.sqrt(((coords - coords.mean(0)) ** 2).sum(-1).mean(0))


def displacement(coords):
    """Per-residue distance (Angstrom) between the first and last model."""
    coords = np.asarray(coords, dtype=np.float64)
    return np.linalg.norm(coords[-1] - coords[0], axis=-1)


def trajectory_figure(coords, reference=None, residues=None, frame_values=None,
                      frame_label="model", title="Trajectory"):
    """RMSD of each model (M, N, 3) to the reference (N, 3) and to the
    first model (superposed), and per-residue RMSF and first-to-last
    displacement. ``residues`` numbers the x axis; ``frame_values`` (M,)
    places the models (e.g. their PC coordinate)."""
    from .structure import ca_rmsd
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[-1] != 3 or len(coords) < 1:
        raise PlotError("trajectory picture: expected (M, N, 3) coordinates, "
                        "got %s" % (coords.shape,))
    m, n = coords.shape[:2]
    x = np.arange(m) if frame_values is None else np.asarray(frame_values)
    fig = new_figure(11, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
    if reference is not None:
        left.plot(x, ca_rmsd(coords, np.asarray(reference)[None]), "o-",
                  label="to the reference, superposed")
    left.plot(x, ca_rmsd(coords, coords[:1]), "s--",
              label="to the first model, superposed")
    left.plot(x, ca_rmsd(coords, coords[:1], superpose=False), "^:",
              label="to the first model, in place")
    left.set_xlabel(frame_label)
    left.set_ylabel("CA RMSD (Angstrom)")
    left.set_title("RMSD along the trajectory")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    resid = np.arange(1, n + 1) if residues is None else np.asarray(residues)
    index = np.arange(n)
    right.fill_between(index, rmsf(coords), color="tab:blue", alpha=0.35,
                       step="mid", label="RMSF about the mean model")
    right.plot(index, displacement(coords), color="tab:red", lw=1.0,
               label="displacement first -> last")
    ticks = np.linspace(0, n - 1, min(n, 10)).round().astype(int)
    right.set_xticks(ticks, [str(resid[t]) for t in ticks])
    right.set_xlim(-0.5, n - 0.5)
    right.set_ylim(bottom=0)
    right.set_xlabel("residue")
    right.set_ylabel("Angstrom")
    right.set_title("Per-residue motion (%d models)" % m)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def _principal_frame(coords):
    """Rotation putting the reference's longest axis along x."""
    centred = coords - coords.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    if np.linalg.det(vt) < 0:
        vt[-1] *= -1
    return vt.T


def _trace_segments(points, breaks):
    starts = np.arange(len(points) - 1)
    keep = ~np.isin(starts, breaks)
    return np.stack([points[:-1], points[1:]], 1)[keep], starts[keep]


def ensemble_figure(coords, values=None, value_label="displacement (Angstrom)",
                    title="Ensemble", break_distance=4.6):
    """CA traces of every model (M, N, 3) in two orthogonal views (the
    reference's principal axes), each bond coloured by the per-residue
    ``values`` (default: RMSF); the first model is drawn thick."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[-1] != 3 or coords.shape[1] < 2:
        raise PlotError("ensemble picture: expected (M, N, 3) coordinates, "
                        "got %s" % (coords.shape,))
    values = rmsf(coords) if values is None else np.asarray(values, np.float64)
    rotation = _principal_frame(coords[0])
    centre = coords[0].mean(0)
    frames = (coords - centre) @ rotation
    gaps = np.linalg.norm(np.diff(coords[0], axis=0), axis=-1)
    breaks = np.flatnonzero(gaps > break_distance)
    norm = Normalize(0.0, max(float(values.max()), 1e-6))
    fig = new_figure(11, 5.2)
    axes = fig.subplots(1, 2)
    m = len(frames)
    for ax, (i, j), name in zip(axes, ((0, 1), (0, 2)), ("front", "top")):
        for k, frame in enumerate(frames):
            segments, starts = _trace_segments(frame[:, [i, j]], breaks)
            bond_values = 0.5 * (values[starts] + values[starts + 1])
            first = k == 0
            lines = LineCollection(segments, cmap="plasma", norm=norm,
                                   linewidths=2.4 if first else 0.9,
                                   alpha=1.0 if first else max(0.25, 0.8 / np.sqrt(m)),
                                   zorder=3 if first else 2)
            lines.set_array(bond_values)
            ax.add_collection(lines)
        lo = frames[..., [i, j]].reshape(-1, 2).min(0)
        hi = frames[..., [i, j]].reshape(-1, 2).max(0)
        pad = 0.05 * (hi - lo).max()
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("principal axis %d (Angstrom)" % (i + 1))
        ax.set_ylabel("principal axis %d (Angstrom)" % (j + 1))
        ax.set_title("%s view" % name)
    from matplotlib.cm import ScalarMappable
    bar = fig.colorbar(ScalarMappable(norm, "plasma"), ax=axes, shrink=0.85)
    bar.set_label(value_label)
    fig.suptitle("%s: CA traces of %d models (first one thick)" % (title, m))
    return fig


def maps_figure(maps, names=None, title="Maps"):
    """Projections along z of density maps (each (D, D, D)), one panel each."""
    maps = [np.asarray(v, dtype=np.float32) for v in maps]
    if not maps:
        raise PlotError("maps picture: no maps")
    count = min(len(maps), 12)
    cols = min(count, 4)
    rows = int(np.ceil(count / cols))
    fig = new_figure(2.8 * cols + 0.5, 2.8 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= count:
            continue
        ax.imshow(maps[k].sum(0), cmap="gray", origin="lower")
        ax.set_title(names[k] if names else "map %d" % k, fontsize=9)
    fig.suptitle("%s: projections along z%s" % (
        title, "" if count == len(maps) else " (first %d of %d)" % (count, len(maps))))
    return fig


# ------------------------------------------------------------------ run folders

class RunPictures:
    """What the pictures of a training run need, read lazily from its
    folder: latents, PCA, clusters, metrics, the prior."""

    def __init__(self, run_dir, analysis_dir=None):
        from .runs import check_run_folder
        self.run_dir = check_run_folder(run_dir)
        self.analysis_dir = Path(analysis_dir) if analysis_dir else None
        self._run = self._pca = None

    @property
    def run(self):
        if self._run is None:
            from .runs import TrainedRun
            self._run = TrainedRun(self.run_dir)
        return self._run

    @property
    def z(self):
        return self.run.latents()

    def pca(self):
        """(scores (n, c), components (c, d), mean (d,), variance ratios)."""
        if self._pca is None:
            from .analysis import fit_pca
            pca = fit_pca(self.z, min(self.z.shape[1], 10))
            self._pca = (pca.transform(self.z), pca.components_, pca.mean_,
                         pca.explained_variance_ratio_)
        return self._pca

    def pc_labels(self, a=0, b=1):
        ratio = self.pca()[3]
        return tuple("PC%d (%.0f%% of the variance)" % (c + 1, 100 * ratio[c])
                     if c < len(ratio) else "PC%d" % (c + 1) for c in (a, b))

    def project(self, points):
        _, components, mean, _ = self.pca()
        return (np.asarray(points, dtype=np.float64)[:, :len(mean)] - mean) @ components.T

    def clusters(self):
        """(labels, centres in latent space, source) from the analysis
        folder given, else the run's own k-means; None when neither."""
        folders = [self.analysis_dir] if self.analysis_dir else []
        folders += sorted((self.run_dir / "analysis").glob("kmeans*"))
        for folder in folders:
            labels = folder / "labels.npy"
            if labels.is_file():
                centres = next((folder / name for name in ("centres.npy", "centers.npy")
                                if (folder / name).is_file()), None)
                return (np.load(labels), None if centres is None else np.load(centres),
                        folder.name)
        return None

    def metrics(self):
        from .training.progress import read_metrics
        path = self.run_dir / "metrics.csv"
        if not path.is_file():
            raise PlotError("%s: no metrics.csv" % self.run_dir)
        return read_metrics(path)

    @property
    def prior(self):
        return self.run.prior

    def free_energy(self, points):
        """F at latent ``points`` (continuous part; an rbm prior's binary
        code is taken from the particles' codes when they are known, else
        zero: it shifts F by a constant per code)."""
        import torch
        prior = self.prior
        points = np.atleast_2d(np.asarray(points, dtype=np.float32))
        extra = prior.decoder_input_dim - points.shape[1]
        if extra > 0:
            points = np.concatenate([points, np.zeros((len(points), extra),
                                                      np.float32)], 1)
        out = []
        with torch.no_grad():
            for start in range(0, len(points), 65536):
                block = torch.from_numpy(points[start:start + 65536])
                out.append(prior.free_energy(block).double().numpy())
        return np.concatenate(out)

    def particle_free_energy(self):
        z = self.z
        codes = self.run_dir / "z_code.npy"
        if self.prior.decoder_input_dim > z.shape[1] and codes.is_file():
            z = np.concatenate([z, np.load(codes).astype(np.float32)], 1)
        return self.free_energy(z)

    def landscape(self, grid=120, a=0, b=1, margin=0.15, include=None):
        """(X, Y, F - min F) on the plane of PCs ``a``, ``b`` through the
        mean latent, covering the particles and the points ``include``
        (m, 2) of that plane."""
        scores, components, mean, _ = self.pca()
        if components.shape[0] <= max(a, b):
            raise PlotError("%s: the latents have fewer than %d principal "
                            "components" % (self.run_dir, max(a, b) + 1))
        lo = np.percentile(scores[:, [a, b]], 0.5, axis=0)
        hi = np.percentile(scores[:, [a, b]], 99.5, axis=0)
        if include is not None and len(include):
            lo = np.minimum(lo, np.min(include, axis=0))
            hi = np.maximum(hi, np.max(include, axis=0))
        span = hi - lo
        xs = np.linspace(lo[0] - margin * span[0], hi[0] + margin * span[0], grid)
        ys = np.linspace(lo[1] - margin * span[1], hi[1] + margin * span[1], grid)
        X, Y = np.meshgrid(xs, ys)
        points = mean + X.reshape(-1, 1) * components[a] + Y.reshape(-1, 1) * components[b]
        F = self.free_energy(points).reshape(X.shape)
        return X, Y, F - np.nanmin(F)


def _save(figures, out_dir):
    if out_dir is not None:
        save_all(figures, out_dir)
    return figures


def latent_plots(run_dir, out_dir=None, color_by=COLOR_BY[:3], dim=1,
                 embedding="pca", kind="scatter", contours=True,
                 analysis_dir=None, pictures=None):
    """Latent-space pictures of a run: one per colouring in ``color_by``
    (``cluster``, ``free_energy``, ``dim`` = latent dimension ``dim``
    (1-based), ``density``), on the PCA plane or the UMAP embedding
    (``embedding='umap'``: ``umap.npy`` of the analysis folder, computed
    when umap-learn is installed). Names: ``latent_<embedding>_<colour>``."""
    pics = pictures or RunPictures(run_dir, analysis_dir)
    if embedding == "pca":
        xy = pics.pca()[0][:, :2]
        if xy.shape[1] < 2:
            xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
        axis_labels = pics.pc_labels()
    elif embedding == "umap":
        xy = _umap_coordinates(pics)
        axis_labels = ("UMAP 1", "UMAP 2")
    else:
        raise PlotError("unknown embedding %r: pca or umap" % embedding)
    landscape = None
    if contours and embedding == "pca" and pics.pca()[1].shape[0] >= 2:
        landscape = pics.landscape(grid=90)
    figures = {}
    clusters = pics.clusters()
    for colour in ([color_by] if isinstance(color_by, str) else color_by):
        centres, categorical, values = None, False, None
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
        elif colour == "density":
            label = None
        else:
            raise PlotError("unknown colouring %r: choose from %s"
                            % (colour, ", ".join(COLOR_BY)))
        name = "latent_%s_%s" % (embedding, colour if colour != "dim" else "z%d" % dim)
        figures[name] = latent_figure(
            xy, values, kind, label, categorical, axis_labels, landscape,
            centres, title="Latent space (%s, %s prior), coloured by %s" % (
                embedding.upper(), pics.run.prior_name,
                {"cluster": "cluster", "free_energy": "prior free energy",
                 "dim": "z%d" % dim, "density": "density"}[colour]))
    return _save(figures, out_dir)


def _umap_coordinates(pics):
    folders = [pics.analysis_dir] if pics.analysis_dir else []
    folders += sorted(pics.run_dir.glob("analysis*"))
    for folder in folders:
        if (folder / "umap.npy").is_file():
            return np.load(folder / "umap.npy")
    from .analysis import umap_embedding
    return umap_embedding(pics.z)  # a clear error without umap-learn


def training_plots(run_dir, out_dir=None, pictures=None):
    """``training``: every loss term against the step."""
    pics = pictures or RunPictures(run_dir)
    figures = {"training": training_figure(pics.metrics(), "Training of %s"
                                           % pics.run_dir.name)}
    return _save(figures, out_dir)


def _read_sample_folder(folder):
    folder = Path(folder)
    info_path = folder / "info.json"
    if not (folder / "energies.npy").is_file() or not info_path.is_file():
        raise PlotError("%s: not a sample-prior folder (no energies.npy and "
                        "info.json)" % folder)
    info = json.loads(info_path.read_text())
    states = folder / "states.npy"
    return {"name": info.get("sampler", folder.name), "info": info,
            "energies": np.load(folder / "energies.npy"),
            "states": np.load(states) if states.is_file() else None,
            "z": np.load(folder / "z.npy") if (folder / "z.npy").is_file() else None}


def _unique_name(name, taken):
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = "%s (%d)" % (name, k), k + 1
    return candidate


def prior_plots(run_dir, out_dir=None, sample_dirs=(), draw=300, basins=True,
                pictures=None, log=None):
    """The prior's pictures: ``prior_landscape`` (F over the PC plane,
    particles, basins), and for Boltzmann priors ``prior_occupancy`` and
    ``prior_energies`` (per sampler: the ``sample-prior`` folders given,
    else ``draw`` fresh samples with gibbs and sa; the exact distribution
    when the model is small; beta_eff of QPU runs)."""
    pics = pictures or RunPictures(run_dir)
    prior = pics.prior
    figures = {}
    samples = [_read_sample_folder(f) for f in sample_dirs]
    basin_xy = basin_text = None
    labels = None
    if basins and prior.name != "gaussian":
        table = _basins(prior)
        if table:
            basin_xy = pics.project(np.stack([b["z"] for b in table]))[:, :2]
            basin_text = ["%d: %.3g" % (i, b["energy"]) for i, b in enumerate(table)]
            if prior.name == "grbm":
                from .analysis import basin_labels as assign
                labels = assign(prior, pics.z, table)
    scores = pics.pca()[0]
    if pics.pca()[1].shape[0] >= 2:
        X, Y, F = pics.landscape(include=basin_xy)
        figures["prior_landscape"] = landscape_figure(
            X, Y, F, scores[:, :2], basin_xy, basin_text, pics.pc_labels(),
            title="%s prior: free energy over the PC1-PC2 plane%s" % (
                prior.name, "" if basin_xy is None else
                " (%d basins projected; number: energy)" % len(basin_xy)))
    if prior.to_bqm() is None:
        return _save(figures, out_dir)
    if not samples and draw:
        samples = _draw_samples(prior, draw, log)
    probabilities, unit_name = _unit_probabilities(pics)
    if probabilities is not None:
        states, taken = {}, set()
        for s in samples:
            if s["states"] is not None:
                name = _unique_name(s["name"], taken)
                taken.add(name)
                states[name] = s["states"]
        figures["prior_occupancy"] = occupancy_figure(
            probabilities, states, labels, unit_name,
            title="%s prior: %s occupancy" % (prior.name, unit_name))
    energies, beta_eff, taken = {}, {}, set()
    for s in samples:
        name = _unique_name(s["name"], taken)
        taken.add(name)
        energies[name] = s["energies"]
        if s["info"].get("beta_eff") is not None:
            beta_eff[name] = float(s["info"]["beta_eff"])
    if energies:
        figures["prior_energies"] = energy_histogram_figure(
            energies, beta_eff, _exact_energies(prior),
            title="%s prior: energies of samples per sampler" % prior.name)
    return _save(figures, out_dir)


def _basins(prior):
    import torch
    options = {"seed": 0} if prior.to_bqm() is not None else {}
    with torch.no_grad():
        return prior.basins(num_reads=100, max_basins=20, **options)


def _draw_samples(prior, n, log):
    from .sampling import draw_samples
    out = []
    for sampler in ("gibbs", "sa"):
        arrays, info = draw_samples(prior, n, sampler, seed=0,
                                    log=log or (lambda *a: None))
        out.append({"name": sampler, "info": info, "energies": arrays["energies"],
                    "states": arrays.get("states"), "z": arrays["z"]})
    return out


def _unit_probabilities(pics):
    """Per particle, the probability that each binary unit is on."""
    import torch
    prior = pics.prior
    if prior.name == "grbm":
        with torch.no_grad():
            z = torch.as_tensor(pics.z, dtype=torch.float64)
            return prior.hidden_probabilities(z).numpy(), "hidden unit"
    codes = pics.run_dir / "z_code.npy"
    if prior.name == "rbm" and codes.is_file():
        return np.load(codes).astype(np.float64), "binary unit"
    return None, None


def _exact_energies(prior):
    bqm = prior.to_bqm()
    if bqm is None or len(bqm) > MAX_EXACT_UNITS:
        return None
    from scipy.special import logsumexp
    from .samplers.exact import enumerate_energies
    _, _, energies = enumerate_energies(bqm)
    log_w = -energies
    return energies, np.exp(log_w - logsumexp(log_w))


def read_trajectory(path, reference=None):
    """(pseudo-atom coordinates (M, N, 3), residue numbers (N,)) of a
    multi-model PDB/mmCIF written by the engine; the numbers come from
    ``reference`` (a CoarseModel) when it has as many residues, else from
    the file (its coarse copy when there is one: much faster to parse)."""
    from .structure import load_structure, read_models
    path = Path(path)
    coords = read_models(path)
    if reference is not None and reference.n == coords.shape[1]:
        return coords, reference.res_ids
    coarse = path.with_name(_stem(path) + "_coarse" + path.suffix)
    model = load_structure(coarse if coarse.is_file() else path)
    return coords, model.res_ids


def trajectory_plots(run_dir, out_dir=None, model_files=None, pictures=None):
    """``trajectory_<name>`` for each multi-model file (default: the run's
    PC paths, ``analysis/pc*.pdb``): RMSD to the reference and RMSF."""
    pics = pictures or RunPictures(run_dir)
    files = _model_files(pics, model_files)
    reference = pics.run.reference
    figures = {}
    for path in files:
        coords, res_ids = read_trajectory(path, reference)
        frame_values, frame_label = _frame_axis(path, coords, pics)
        ref = reference.coords if reference.n == coords.shape[1] else None
        figures["trajectory_%s" % _stem(path)] = trajectory_figure(
            coords, ref, res_ids, frame_values, frame_label,
            title="%s (%d models)" % (Path(path).name, len(coords)))
    return _save(figures, out_dir)


def _stem(path):
    name = Path(path).name
    for suffix in (".pdb", ".cif", ".mmcif", ".ent"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return Path(path).stem


def _frame_axis(path, coords, pics):
    """PC coordinate of the models of a PC path (its pcN.npy sits beside
    it), else the model number."""
    stem = _stem(path)
    latents = Path(path).with_name(stem + ".npy")
    if stem.startswith("pc") and stem[2:].isdigit() and latents.is_file():
        z = np.load(latents)
        if len(z) == len(coords):
            c = int(stem[2:]) - 1
            if c < pics.pca()[1].shape[0]:
                return pics.project(z)[:, c], "PC%d coordinate" % (c + 1)
    return np.arange(1, len(coords) + 1), "model"


def _model_files(pics, model_files):
    if model_files:
        files = [Path(f) for f in model_files]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise PlotError("model files not found: %s" % ", ".join(missing))
        return files
    return sorted(f for f in (pics.run_dir / "analysis").glob("pc*.pdb")
                  if not f.name.endswith("_coarse.pdb"))


def ensemble_plots(run_dir, out_dir=None, model_files=None, map_files=None,
                   pictures=None, script_dir=None):
    """``ensemble_<name>``: CA traces of each multi-model file coloured by
    RMSF (default files: the PC paths and the k-means centres).
    ``script_dir`` also gets, per file, ``<name>_displacement.pdb`` (RMSF
    in the B-factor column, every model) and ``<name>.cxc`` for ChimeraX
    (see :mod:`cryostar_boltz.engine.chimerax`). ``map_files`` add
    ``ensemble_maps`` (projections)."""
    pics = pictures or RunPictures(run_dir)
    files = _model_files(pics, model_files)
    if not model_files:
        files += sorted(f for f in (pics.run_dir / "analysis").glob("kmeans*/centers.pdb"))
    figures = {}
    reference = _reference_or_none(pics)
    for path in files:
        from .structure import read_models
        coords = read_models(path)
        values = rmsf(coords)
        name = _stem(path) if path.parent == pics.run_dir / "analysis" \
            else "%s_%s" % (path.parent.name, _stem(path))
        figures["ensemble_%s" % name] = ensemble_figure(
            coords, values, "RMSF about the mean model (Angstrom)",
            title=Path(path).name)
        if script_dir is not None:
            from . import chimerax
            chimerax.write_ensemble_session(path, script_dir, name, reference)
    if map_files:
        import mrcfile
        maps = []
        for f in map_files:
            with mrcfile.open(f, permissive=True) as mrc:
                maps.append(np.asarray(mrc.data, dtype=np.float32))
        figures["ensemble_maps"] = maps_figure(maps, [Path(f).name for f in map_files])
        if script_dir is not None:
            from . import chimerax
            chimerax.write_cxc(Path(script_dir) / "maps.cxc", maps=map_files)
    return _save(figures, out_dir)


def _reference_or_none(pics):
    """The run's reference model (the topology of its decoded models)."""
    try:
        return pics.run.reference
    except (ValueError, FileNotFoundError, AttributeError):
        return None


def plot_run(run_dir, out_dir, what=GROUPS, analysis_dir=None, sample_dirs=(),
             model_files=None, map_files=None, embedding="pca", kind="scatter",
             dim=1, log=print):
    """Write the PNGs of the groups ``what`` (:data:`GROUPS`) for a run to
    ``out_dir``; returns their paths. A group that cannot be drawn (no
    clusters, UMAP not installed...) is reported through ``log`` and
    skipped; unknown group names raise."""
    unknown = sorted(set(what) - set(GROUPS))
    if unknown:
        raise PlotError("unknown picture groups %s: choose from %s"
                        % (", ".join(unknown), ", ".join(GROUPS)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pics = RunPictures(run_dir, analysis_dir)
    makers = {
        "latent": lambda: latent_plots(None, None, COLOR_BY, dim, embedding, kind,
                                       pictures=pics),
        "training": lambda: training_plots(None, None, pictures=pics),
        "prior": lambda: prior_plots(None, None, sample_dirs, pictures=pics, log=log),
        "trajectory": lambda: trajectory_plots(None, None, model_files, pictures=pics),
        "ensemble": lambda: ensemble_plots(None, None, model_files, map_files,
                                           pictures=pics, script_dir=out_dir),
    }
    written = {}
    for group in [g for g in GROUPS if g in what]:
        try:
            figures = makers[group]()
        except PlotError as err:
            log("plot: %s pictures skipped: %s" % (group, err))
            continue
        except ValueError as err:  # e.g. UMAP without umap-learn
            log("plot: %s pictures skipped: %s" % (group, err))
            continue
        written.update(save_all(figures, out_dir))
        for fig in figures.values():
            fig.clear()
    return written
