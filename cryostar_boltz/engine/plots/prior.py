"""Pictures of the latent prior: its free-energy landscape over the PCA
plane with the basins, and, for Boltzmann priors (grbm, rbm), the binary
units' occupancy and the energies of samples per sampler against the exact
Boltzmann distribution. Names: :data:`PICTURES`.

Samples come from ``sample-prior`` folders or are drawn through
:func:`cryostar_boltz.engine.sampling.draw_samples`; the exact distribution
enumerates the prior's binary quadratic model (``prior.to_bqm()``) with
:func:`cryostar_boltz.engine.samplers.exact.enumerate_energies`.
"""
import numpy as np

from ..training.derived import counted
from .figure import (PlotError, free_energy_levels, new_figure, save_if,
                     subsample)
from .pictures import RunPictures, read_sample_folder

#: The prior's pictures, in the order they are drawn.
PICTURES = ("prior_landscape", "prior_occupancy", "prior_energies")
#: Samplers drawn from when no sample-prior folder is given.
DRAW_SAMPLERS = ("gibbs", "sa")
#: Most binary units enumerated for the exact energy distribution.
MAX_EXACT_UNITS = 16
#: Basins searched for the landscape: most basins, sampler reads.
MAX_BASINS, BASIN_READS = 20, 1000


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
    ax.contour(X, Y, F, levels=free_energy_levels(F), colors="white",
               linewidths=0.5, alpha=0.6)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.9)
    bar.set_label("free energy F(z) - min F (nats)")
    if points is not None and len(points):
        keep = subsample(len(points), 5000)
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




def exact_energies(prior):
    """(energies of every state (2^u,), their Boltzmann probabilities at
    beta 1) of the prior's binary quadratic model, or None without one or
    beyond :data:`MAX_EXACT_UNITS` units."""
    bqm = prior.to_bqm()
    if bqm is None or len(bqm) > MAX_EXACT_UNITS:
        return None
    from scipy.special import logsumexp

    from ..samplers.exact import enumerate_energies
    _, _, energies = enumerate_energies(bqm)
    log_w = -energies
    return energies, np.exp(log_w - logsumexp(log_w))


def draw_prior_samples(prior, n, samplers=DRAW_SAMPLERS, log=None):
    """``n`` fresh samples of ``prior`` per sampler (seed 0), each as
    :func:`~.pictures.read_sample_folder` returns a folder."""
    from ..sampling import draw_samples
    out = []
    for sampler in samplers:
        arrays, info = draw_samples(prior, n, sampler, seed=0,
                                    log=log or (lambda *a: None))
        out.append({"name": sampler, "info": info, "energies": arrays["energies"],
                    "states": arrays.get("states"), "z": arrays["z"]})
    return out


def _unique_name(name, taken):
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = "%s (%d)" % (name, k), k + 1
    taken.add(candidate)
    return candidate


def prior_plots(run_dir, out_dir=None, sample_dirs=(), draw=300, basins=True,
                pictures=None, log=None, only=None):
    """The prior's pictures, ``{name: Figure}`` (also ``out_dir/name.png``
    when ``out_dir`` is given):

    * ``prior_landscape``: F over the PC1-PC2 plane with the particles and,
      with ``basins``, the prior's basins (numbered, with their energy);
    * Boltzmann priors only: ``prior_occupancy`` (per particle and mean
      unit occupancy, sorted by basin for a grbm when ``basins``) and
      ``prior_energies`` (histograms per sampler: the ``sample_dirs`` of
      ``sample-prior``, else ``draw`` fresh samples with gibbs and sa; the
      exact distribution when the model is small; beta_eff of QPU runs).

    ``only``: the names wanted (default all that apply); a name asked for
    that the prior cannot give raises PlotError saying why.
    """
    wanted = set(PICTURES if only is None else only)
    unknown = sorted(wanted - set(PICTURES))
    if unknown:
        raise PlotError("unknown prior pictures %s: choose from %s"
                        % (", ".join(unknown), ", ".join(PICTURES)))
    pics = pictures or RunPictures(run_dir)
    prior = pics.prior
    boltzmann = prior.to_bqm() is not None
    explicit = only is not None
    if explicit and not boltzmann and wanted & {"prior_occupancy", "prior_energies"}:
        raise PlotError("%s: not available for the %s prior (Boltzmann priors "
                        "grbm and rbm only)" % (
                            " and ".join(sorted(wanted - {"prior_landscape"})),
                            prior.name))
    figures = {}
    samples = [read_sample_folder(f) for f in sample_dirs]
    basin_xy = basin_text = labels = None
    if basins and prior.name != "gaussian" and \
            wanted & {"prior_landscape", "prior_occupancy"}:
        table, basin_z = pics.basins(MAX_BASINS, BASIN_READS)
        if table:
            basin_xy = pics.project(basin_z)[:, :2]
            basin_text = ["%d: %.3g" % (i, b["energy"]) for i, b in enumerate(table)]
            if prior.name == "grbm":
                labels = pics.basin_labels(table, basin_z)
    if "prior_landscape" in wanted:
        if pics.pca()[1].shape[0] >= 2:
            X, Y, F = pics.landscape(include=basin_xy)
            figures["prior_landscape"] = landscape_figure(
                X, Y, F, pics.pca()[0][:, :2], basin_xy, basin_text,
                pics.pc_labels(),
                title="%s prior: free energy over the PC1-PC2 plane%s" % (
                    prior.name, "" if basin_xy is None else
                    "\n(%s projected; number: energy)"
                    % counted(len(basin_xy), "basin")))
        elif explicit:
            raise PlotError("prior landscape: the latents of %s have a single "
                            "principal component" % pics.run_dir)
    if not boltzmann or not wanted & {"prior_occupancy", "prior_energies"}:
        return save_if(figures, out_dir)
    if not samples and draw:
        samples = draw_prior_samples(prior, draw, log=log)
    if "prior_occupancy" in wanted:
        probabilities, unit_name = pics.unit_probabilities()
        if probabilities is not None:
            taken = set()
            states = {_unique_name(s["name"], taken): s["states"]
                      for s in samples if s["states"] is not None}
            figures["prior_occupancy"] = occupancy_figure(
                probabilities, states, labels, unit_name,
                title="%s prior: %s occupancy" % (prior.name, unit_name))
        elif explicit:
            raise PlotError("prior occupancy: the %s run %s kept no binary "
                            "codes of its particles" % (prior.name, pics.run_dir))
    if "prior_energies" in wanted:
        energies, beta_eff, taken = {}, {}, set()
        for s in samples:
            name = _unique_name(s["name"], taken)
            energies[name] = s["energies"]
            if s["info"].get("beta_eff") is not None:
                beta_eff[name] = float(s["info"]["beta_eff"])
        if energies:
            figures["prior_energies"] = energy_histogram_figure(
                energies, beta_eff, exact_energies(prior),
                title="%s prior: energies of samples per sampler" % prior.name)
        elif explicit:
            raise PlotError("prior energies: no samples (give sample-prior "
                            "folders or a number of samples to draw)")
    return save_if(figures, out_dir)
