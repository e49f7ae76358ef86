"""Pictures of a run and ChimeraX scripts: what ``cryostar-boltz plot``
writes and the Scipion viewers show.

Modules, one subject each (figures are plain ``matplotlib.figure.Figure``
objects, drawn without pyplot):

* :mod:`.figure`: making and saving figures, shared drawing helpers;
* :mod:`.pictures`: what pictures read from a run folder
  (:class:`RunPictures`) and from ``sample-prior`` folders;
* :mod:`.latent`, :mod:`.training`, :mod:`.prior`, :mod:`.structures`,
  :mod:`.maps`: the pictures of each group, in two layers:
  ``*_figure(arrays...)`` draws from arrays, ``*_plots(run_dir, out_dir,
  ...)`` reads the folders and returns ``{name: Figure}``;
* :mod:`.motion`: RMSF and displacement of ensembles;
* :mod:`.chimerax`: ``.cxc`` scripts and displacement models.

:func:`plot_run` writes the pictures of a run and records them in
``OUT/summary.json`` (:data:`cryostar_boltz.engine.layout.SUMMARY`).
Nothing here imports pyworkflow or pwem.
"""
from pathlib import Path

from ..io import save_json, save_npz
from ..layout import SUMMARY
from .figure import PlotError, new_figure, save_all, save_figure
from .latent import (COLOR_BY, EMBEDDINGS, KINDS, latent_figure, latent_plots,
                     points_name)
from .maps import maps_figure
from .motion import displacement, rmsf
from .pictures import RunPictures
from .prior import (energy_histogram_figure, landscape_figure,
                    occupancy_figure, prior_plots)
from .structures import (ensemble_figure, ensemble_plots, ensemble_scripts,
                         read_trajectory, trajectory_figure, trajectory_plots)
from .training import training_figure, training_plots

#: Picture groups of :func:`plot_run` (``--what``); every picture's name
#: starts with its group's name.
GROUPS = ("latent", "training", "prior", "trajectory", "ensemble")
#: Groups drawn from the files given alone, without a run folder.
RUNLESS_GROUPS = ("trajectory", "ensemble")

__all__ = ["GROUPS", "COLOR_BY", "EMBEDDINGS", "KINDS", "PlotError",
           "RunPictures", "plot_run", "group_of", "new_figure", "save_figure",
           "save_all", "latent_figure", "latent_plots", "training_figure",
           "training_plots", "landscape_figure", "occupancy_figure",
           "energy_histogram_figure", "prior_plots", "trajectory_figure",
           "trajectory_plots", "ensemble_figure", "ensemble_plots",
           "ensemble_scripts", "read_trajectory", "maps_figure", "rmsf",
           "displacement"]


def group_of(name):
    """The group of a picture name (``prior_occupancy`` -> ``prior``);
    PlotError for a name of no group."""
    group = name.split("_")[0]
    if group not in GROUPS:
        raise PlotError("unknown picture %r: picture names start with a "
                        "group (%s)" % (name, ", ".join(GROUPS)))
    return group


def plot_run(run_dir, out_dir, what=GROUPS, analysis_dir=None, sample_dirs=(),
             model_files=None, map_files=None, embedding="pca", kind="scatter",
             dim=1, log=print, pictures=None, color_by=COLOR_BY, contours=True,
             draw=300, basins=True):
    """Write the PNGs of the groups ``what`` (:data:`GROUPS`) for the run
    ``run_dir`` to ``out_dir``, and ``out_dir/summary.json``.

    ``pictures``: picture names (e.g. ``prior_occupancy``); only those are
    drawn, and ``what`` is narrowed to their groups. The options go to the
    group functions: ``analysis_dir``, ``color_by``, ``dim``,
    ``embedding``, ``kind``, ``contours`` to :func:`latent_plots`;
    ``sample_dirs``, ``draw``, ``basins`` to :func:`prior_plots`;
    ``model_files`` and ``map_files`` to :func:`trajectory_plots` and
    :func:`ensemble_plots` (which also write the ChimeraX scripts of
    :func:`ensemble_scripts` into ``out_dir``). ``run_dir`` may be None
    for those two groups when files are given.

    A group that cannot be drawn (no clusters, UMAP not installed...) is
    reported through ``log`` and skipped; unknown group or picture names
    raise PlotError. Returns the summary: ``{"pictures": {name: path},
    "scripts": {name: {"script", "models", "structures", "maps"}}`` (see
    :func:`ensemble_scripts`), ``"skipped": {group or picture: reason}``,
    ``"points": {latent picture: NAME_points.npz}`` (the 2-D points each
    latent picture draws, for the viewers' lasso)};
    in ``summary.json`` the files written are names inside ``out_dir``
    and the files shown absolute paths.
    """
    unknown = sorted(set(what) - set(GROUPS))
    if unknown:
        raise PlotError("unknown picture groups %s: choose from %s"
                        % (", ".join(unknown), ", ".join(GROUPS)))
    color_by = [color_by] if isinstance(color_by, str) else list(color_by)
    unknown = sorted(set(color_by) - set(COLOR_BY))
    if unknown:
        raise PlotError("unknown colourings %s: choose from %s"
                        % (", ".join(unknown), ", ".join(COLOR_BY)))
    wanted = None if pictures is None else list(dict.fromkeys(pictures))
    only = {}
    if wanted is not None:
        for name in wanted:
            only.setdefault(group_of(name), set()).add(name)
        what = [g for g in what if g in only]
    # every input is checked before the output folder is made
    if analysis_dir is not None and not Path(analysis_dir).is_dir():
        raise PlotError("analysis folder %s not found" % analysis_dir)
    for folder in sample_dirs or ():
        if not Path(folder).is_dir():
            raise PlotError("sample-prior folder %s not found" % folder)
    for path in list(model_files or ()) + list(map_files or ()):
        if not Path(path).is_file():
            raise PlotError("file %s not found" % path)
    pics = RunPictures(run_dir, analysis_dir) if run_dir is not None else None
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PlotError("--out %s is a file, not a folder" % out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, scripts, skipped, points = {}, {}, {}, {}

    def ensemble():
        figures = ensemble_plots(None, None, model_files, map_files,
                                 pictures=pics, only=only.get("ensemble"))
        scripts.update(ensemble_scripts(None, out_dir, model_files, map_files,
                                        pics, only.get("ensemble")))
        return figures

    makers = {
        "latent": lambda: latent_plots(None, None, color_by, dim, embedding,
                                       kind, contours, pictures=pics),
        "training": lambda: training_plots(None, None, pictures=pics),
        "prior": lambda: prior_plots(None, None, sample_dirs, draw, basins,
                                     pictures=pics, log=log,
                                     only=only.get("prior")),
        "trajectory": lambda: trajectory_plots(None, None, model_files,
                                               pictures=pics),
        "ensemble": ensemble,
    }
    for group in [g for g in GROUPS if g in what]:
        if pics is None and (group not in RUNLESS_GROUPS or not
                             (model_files or map_files)):
            skipped[group] = "needs a run folder (--run)"
            log("plot: %s pictures skipped: %s" % (group, skipped[group]))
            continue
        try:
            figures = makers[group]()
        except (PlotError, ValueError) as err:  # e.g. UMAP without umap-learn
            skipped[group] = str(err)
            log("plot: %s pictures skipped: %s" % (group, err))
            continue
        if group in only:
            figures = {k: v for k, v in figures.items() if k in only[group]}
        written.update(save_all(figures, out_dir))
        for name, fig in figures.items():
            if getattr(fig, "points", None) is not None:
                points[name] = save_npz(out_dir / points_name(name), **fig.points)
            fig.clear()
    for name in wanted or ():
        if name not in written and group_of(name) not in skipped:
            skipped[name] = "not drawn: no such picture for these inputs"
            log("plot: %s %s" % (name, skipped[name]))
    summary = {"pictures": written, "scripts": scripts, "skipped": skipped,
               "points": points}
    if written or scripts:  # nothing drawn: no record (the caller reports why)
        save_json(out_dir / SUMMARY, _relative(summary, out_dir))
    return summary


def _relative(summary, out_dir):
    """The summary as JSON: what was written as names inside ``out_dir``,
    the files shown as absolute paths."""
    def name(path):
        return None if path is None else str(Path(path).relative_to(out_dir))

    def absolute(path):
        return None if path is None else str(Path(path).resolve())

    return {"pictures": {k: name(p) for k, p in summary["pictures"].items()},
            "scripts": {k: {"script": name(v["script"]), "models": name(v["models"]),
                            "structures": absolute(v["structures"]),
                            "maps": [absolute(m) for m in v["maps"]]}
                        for k, v in summary["scripts"].items()},
            "skipped": dict(summary["skipped"]),
            "points": {k: name(p) for k, p in summary["points"].items()}}
