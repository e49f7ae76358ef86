"""ChimeraX command scripts (``.cxc``) for ensembles and maps.

A multi-model PDB or mmCIF file opens as one structure with several coordinate sets
(``open FILE coordsets true``), so ChimeraX plays it as a movie
(``coordset #1``, with a slider). Per-residue displacement travels in the
B-factor column (:func:`write_displacement_models`) and colours the
structure (``color bfactor palette ... range lo,hi``). Maps of a series
open together (``vseries true``) at one contour level.

Scripts name files by absolute path, quoted, so they run from any folder.
Nothing here needs ChimeraX or Scipion; the viewers decide how to open the
scripts.
"""
from pathlib import Path

import numpy as np

from ..io import write_text
from ..layout import DISPLACEMENT_TAG, SCRIPT_SUFFIX
from .motion import rmsf

#: Low -> high displacement (ChimeraX colour names, colon-separated).
DEFAULT_PALETTE = "blue:white:red"
#: ``NAME`` + ``DISPLACEMENT_TAG`` + the ensemble's suffix (.pdb or .cif):
#: the displacement models of an ensemble; ``NAME`` + ``SCRIPT_SUFFIX``: its
#: ChimeraX script (names from ``engine.layout``).


def _quote(path):
    text = str(Path(path).resolve())
    if '"' in text:
        raise ValueError("%s: a path with a double quote cannot be used in a "
                         "ChimeraX script" % text)
    return '"%s"' % text


def default_map_level(path, sigmas=3.0):
    """A contour level for a map: mean + ``sigmas`` standard deviations
    (``engine.mapfile.read_map``; MapError naming a file that is not a
    usable map)."""
    from ..mapfile import read_map
    data = read_map(path, require_voxel=False).data.astype(np.float64)
    if data.size == 0:
        raise ValueError("%s: empty map" % path)
    return float(data.mean() + sigmas * data.std())


def cxc_script(structures=(), maps=(), map_level=None, color_range=None,
               palette=DEFAULT_PALETTE, play=True, title=None):
    """Text of a ChimeraX script.

    ``structures``: multi-model files, each opened as a trajectory and
    coloured by B-factor over ``color_range`` (lo, hi) (default: each
    file's own range). ``maps``: opened as one volume series at
    ``map_level`` (default: mean + 3 sd of the first map).
    """
    structures, maps = list(structures), list(maps)
    if not structures and not maps:
        raise ValueError("a ChimeraX script needs structures or maps")
    lines = ["# ChimeraX script written by cryostar-boltz" +
             (": %s" % title if title else ""),
             "windowsize 900 700", "set bgColor white", "graphics silhouettes true"]
    model = 0
    for path in structures:
        model += 1
        lines += ["open %s coordsets true" % _quote(path),
                  "cartoon #%d" % model, "hide #%d atoms" % model,
                  "color bfactor #%d palette %s %s key true" % (
                      model, palette, "range %.3g,%.3g" % tuple(color_range)
                      if color_range is not None else "range full")]
        if play:
            lines.append("coordset slider #%d" % model)
    if maps:
        model += 1
        level = map_level if map_level is not None else default_map_level(maps[0])
        opened = " ".join(_quote(p) for p in maps)
        lines.append("open %s%s" % (opened, " vseries true" if len(maps) > 1 else ""))
        lines.append("volume #%d level %.6g style surface transparency 0.5"
                     % (model, level))
    lines += ["view", "lighting soft"]
    return "\n".join(lines) + "\n"


def write_cxc(path, structures=(), maps=(), **options):
    """Write :func:`cxc_script` to ``path``; returns the path."""
    return write_text(path, cxc_script(structures, maps, **options))


def write_displacement_models(model_file, out_path, values=None, model=None):
    """Copy a multi-model file with per-residue ``values`` (default: RMSF
    about the mean model, Angstrom) in the B-factor column; returns
    (path, values). ``model``: the CoarseModel the file was written from
    (the run's reference; default: read from the file itself)."""
    from ..structure import load_structure, read_models, write_models
    coords = read_models(model_file)
    if model is None or model.n != coords.shape[1]:
        model = load_structure(model_file)
    values = rmsf(coords) if values is None else np.asarray(values, np.float64)
    if values.shape != (model.n,):
        raise ValueError("%s: %d residues but %d displacement values"
                         % (model_file, model.n, len(values)))
    write_models(out_path, model, coords, full_atom=True, bfactors=values)
    return Path(out_path), values


def write_ensemble_session(model_file, out_dir, name=None, model=None):
    """``NAME_displacement.EXT`` (RMSF in the B-factor column; EXT the
    ensemble's own format, .pdb or .cif) and ``NAME.cxc`` (the models as a
    trajectory, coloured by it) in ``out_dir``; returns (models, cxc).
    ``model``: as for :func:`write_displacement_models`."""
    from ..layout import STRUCTURE_SUFFIXES
    from ..structure.files import input_format
    suffix = STRUCTURE_SUFFIXES[input_format(model_file)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or Path(model_file).name.split(".")[0]
    pdb, values = write_displacement_models(
        model_file, out_dir / (name + DISPLACEMENT_TAG + suffix), model=model)
    cxc = write_cxc(out_dir / (name + SCRIPT_SUFFIX), [pdb],
                    color_range=(0.0, max(float(values.max()), 0.1)),
                    title="%s, coloured by RMSF (Angstrom)" % Path(model_file).name)
    return pdb, cxc
