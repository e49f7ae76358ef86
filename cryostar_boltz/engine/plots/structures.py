"""Pictures of structures: trajectories (RMSD along the models, per-residue
RMSF and displacement) and ensembles (CA traces coloured by RMSF), with the
ChimeraX scripts and displacement models of each ensemble, and the maps
picture. Names: ``trajectory_<name>``, ``ensemble_<name>`` and
``ensemble_maps``.

Multi-model files are those the engine writes (``STEM.pdb`` full atom and
``STEM_coarse.pdb``, :mod:`cryostar_boltz.engine.layout`); by default the
run's principal-component paths (``analysis/pcN.pdb``) and, for ensembles,
its k-means centres. Without a run folder the files given are drawn alone
(models numbered, no reference).
"""
from pathlib import Path

import numpy as np

from ..layout import (CENTRES, KMEANS, PC_PATH, glob_pattern, is_coarse,
                      structure_files, structure_patterns)
from ..structure.files import input_format
from ..structure.files import CIF_SUFFIXES, PDB_SUFFIXES
from . import chimerax
from .figure import PlotError, new_figure, save_if
from .maps import MAX_MAPS, PICTURE as MAPS_PICTURE, maps_figure, read_maps
from .motion import displacement, rmsf

#: Suffixes of structure files, stripped to name their pictures.
STRUCTURE_SUFFIXES = PDB_SUFFIXES + CIF_SUFFIXES
#: The run's principal-component paths and k-means centres in ``analysis/``.
#: (one glob pattern per structure format).
PC_PATHS = structure_patterns(glob_pattern(PC_PATH))
KMEANS_CENTRES = structure_patterns("%s/%s" % (glob_pattern(KMEANS), Path(CENTRES).stem))


def trajectory_figure(coords, reference=None, residues=None, frame_values=None,
                      frame_label="model", title="Trajectory"):
    """RMSD of each model (M, N, 3) to the reference (N, 3) and to the
    first model (superposed), and per-residue RMSF and first-to-last
    displacement. ``residues`` numbers the x axis; ``frame_values`` (M,)
    places the models (e.g. their PC coordinate)."""
    from ..structure import ca_rmsd
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
                    title="Ensemble", break_distance=4.6, segment_index=None):
    """CA traces of every model (M, N, 3) in two orthogonal views (the
    reference's principal axes), each bond coloured by the per-residue
    ``values`` (default: RMSF); the first model is drawn thick. Traces
    break between segments (``segment_index`` (N,), the reference's
    chains split at its breaks, :mod:`..structure.links`), or, without
    it, where the first model's CA step exceeds ``break_distance``."""
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
    if segment_index is not None and len(segment_index) == coords.shape[1]:
        breaks = np.flatnonzero(np.diff(np.asarray(segment_index)) != 0)
    else:
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




def file_stem(path):
    """A structure file's name without its suffix (``pc1.pdb`` -> ``pc1``)."""
    name = Path(path).name
    for suffix in STRUCTURE_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return Path(path).stem


def ensemble_name(path, pictures=None):
    """The name of an ensemble's picture and scripts: the file stem for the
    run's own analysis files, else ``<folder>_<stem>``."""
    path = Path(path)
    if pictures is not None and path.parent == pictures.layout.analysis:
        return file_stem(path)
    return "%s_%s" % (path.parent.name, file_stem(path))


def read_trajectory(path, reference=None):
    """(pseudo-atom coordinates (M, N, 3) in Angstrom, residue numbers (N,))
    of a multi-model PDB/mmCIF written by the engine; the numbers come from
    ``reference`` (a CoarseModel) when it has as many residues, else from
    the file (its coarse copy when there is one: much faster to parse)."""
    from ..structure import load_structure, read_models
    path = Path(path)
    coords = read_models(path)
    if reference is not None and reference.n == coords.shape[1]:
        return coords, reference.res_ids
    coarse = structure_files(path.with_name(file_stem(path)), input_format(path))[1]
    model = load_structure(coarse if coarse.is_file() else path)
    return coords, model.res_ids


def resolve_model_files(pictures, files=None, centres=False):
    """The multi-model files to draw: ``files`` (FileNotFoundError naming
    the missing ones), else the run's PC paths (and k-means centres with
    ``centres``); PlotError with neither a run nor files."""
    if files:
        files = [Path(f) for f in files]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError("model files not found: %s" % ", ".join(missing))
        return files
    if pictures is None:
        raise PlotError("structure pictures need a run folder or model files")
    analysis = pictures.layout.analysis
    found = sorted(f for pattern in PC_PATHS for f in analysis.glob(pattern)
                   if not is_coarse(f))
    if centres:
        found += sorted(f for pattern in KMEANS_CENTRES
                        for f in analysis.glob(pattern) if not is_coarse(f))
    return found


def _pictures(run_dir, pictures):
    if pictures is not None:
        return pictures
    if run_dir is None:
        return None
    from .pictures import RunPictures
    return RunPictures(run_dir)


def _frame_axis(path, coords, pics):
    """PC coordinate of the models of a PC path (its pcN.npy sits beside
    it), else the model number."""
    stem = file_stem(path)
    latents = Path(path).with_name(stem + ".npy")
    if pics is not None and stem.startswith("pc") and stem[2:].isdigit() \
            and latents.is_file():
        z = np.load(latents)
        if len(z) == len(coords):
            c = int(stem[2:]) - 1
            if c < pics.pca()[1].shape[0]:
                return pics.project(z)[:, c], "PC%d coordinate" % (c + 1)
    return np.arange(1, len(coords) + 1), "model"


def trajectory_plots(run_dir, out_dir=None, model_files=None, pictures=None):
    """``{"trajectory_<stem>": Figure}`` for each multi-model file
    (default: the run's PC paths): RMSD to the run's reference and
    along the models, per-residue RMSF and displacement (also
    ``out_dir/name.png`` when ``out_dir`` is given)."""
    pics = _pictures(run_dir, pictures)
    reference = pics.reference_or_none() if pics is not None else None
    figures = {}
    for path in resolve_model_files(pics, model_files):
        coords, res_ids = read_trajectory(path, reference)
        frame_values, frame_label = _frame_axis(path, coords, pics)
        ref = reference.coords if reference is not None and \
            reference.n == coords.shape[1] else None
        figures["trajectory_%s" % file_stem(path)] = trajectory_figure(
            coords, ref, res_ids, frame_values, frame_label,
            title="%s (%d models)" % (Path(path).name, len(coords)))
    return save_if(figures, out_dir)


def ensemble_plots(run_dir, out_dir=None, model_files=None, map_files=None,
                   pictures=None, script_dir=None, only=None):
    """``{"ensemble_<name>": Figure}``: CA traces of each multi-model file
    coloured by RMSF (default files: the run's PC paths and k-means
    centres; names from :func:`ensemble_name`), and ``ensemble_maps``
    (projections) when ``map_files`` are given. ``only``: the picture
    names wanted. ``script_dir`` also gets the ChimeraX scripts of
    :func:`ensemble_scripts`. Also ``out_dir/name.png`` when ``out_dir``
    is given."""
    from ..structure import read_models
    pics = _pictures(run_dir, pictures)
    reference = pics.reference_or_none() if pics is not None else None
    figures = {}
    if model_files or only is None or set(only) - {MAPS_PICTURE}:
        for path in resolve_model_files(pics, model_files, centres=True):
            name = "ensemble_%s" % ensemble_name(path, pics)
            if only is not None and name not in only:
                continue
            coords = read_models(path)
            segments = (reference.segment_index if reference is not None
                        and reference.n == coords.shape[1] else None)
            figures[name] = ensemble_figure(
                coords, rmsf(coords), "RMSF about the mean model (Angstrom)",
                title=Path(path).name, segment_index=segments)
    if map_files and (only is None or MAPS_PICTURE in only):
        figures[MAPS_PICTURE] = maps_figure(
            read_maps(map_files), [Path(f).name for f in map_files[:MAX_MAPS]],
            total=len(map_files))
    if script_dir is not None:
        ensemble_scripts(None, script_dir, model_files, map_files, pics, only)
    return save_if(figures, out_dir)


def ensemble_scripts(run_dir, script_dir, model_files=None, map_files=None,
                     pictures=None, only=None):
    """ChimeraX scripts in ``script_dir``, as ``{name: {"script": .cxc,
    "models": displacement PDB or None, "structures": the multi-model file
    shown or None, "maps": [map files shown]}}``:

    * per multi-model file (as :func:`ensemble_plots` chooses them),
      ``<name>.cxc`` and ``<name>_displacement.pdb`` (or ``.cif``; RMSF in the B-factor
      column), see :func:`~.chimerax.write_ensemble_session`;
    * with ``map_files``, ``maps.cxc`` (the maps as one series) and, for
      each file given in ``model_files``, ``<name>_maps.cxc`` (its
      displacement models with the maps).

    ``only``: picture names wanted (``ensemble_<name>``); the files of
    other pictures get no script.
    """
    pics = _pictures(run_dir, pictures)
    reference = pics.reference_or_none() if pics is not None else None
    scripts = {}
    files = resolve_model_files(pics, model_files, centres=True) \
        if model_files or pics is not None else []
    for path in files:
        name = ensemble_name(path, pics)
        if only is not None and "ensemble_" + name not in only:
            continue
        pdb, cxc = chimerax.write_ensemble_session(path, script_dir, name, reference)
        scripts[name] = {"script": cxc, "models": pdb, "structures": Path(path),
                         "maps": []}
        if map_files and model_files:
            both = Path(script_dir) / (name + "_maps" + chimerax.SCRIPT_SUFFIX)
            scripts[name + "_maps"] = {
                "script": chimerax.write_cxc(
                    both, [pdb], map_files,
                    title="%s with %d maps" % (Path(path).name, len(map_files))),
                "models": pdb, "structures": Path(path),
                "maps": [Path(m) for m in map_files]}
    if map_files:
        scripts["maps"] = {
            "script": chimerax.write_cxc(
                Path(script_dir) / ("maps" + chimerax.SCRIPT_SUFFIX), maps=map_files),
            "models": None, "structures": None, "maps": [Path(m) for m in map_files]}
    return scripts
