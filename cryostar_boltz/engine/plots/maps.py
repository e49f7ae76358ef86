"""Pictures of density maps: a projection along z of each map, one panel
per map. Name: ``ensemble_maps`` (the ensemble group)."""
from pathlib import Path

import numpy as np

from .figure import PlotError, new_figure

#: Most maps drawn in one picture.
MAX_MAPS = 12
#: Name of the maps picture.
PICTURE = "ensemble_maps"


def read_maps(paths, limit=MAX_MAPS):
    """The first ``limit`` maps of ``paths`` (MRC files) as float32 arrays
    ``[z, y, x]`` (``engine.mapfile.read_map``: axis order interpreted);
    FileNotFoundError naming a missing file, PlotError naming a file that
    is not a usable map."""
    from ..mapfile import MapError, read_map
    maps = []
    for path in list(paths)[:limit]:
        if not Path(path).is_file():
            raise FileNotFoundError("map file %s not found" % path)
        try:
            maps.append(read_map(path, require_voxel=False).data)
        except MapError as err:
            raise PlotError(str(err)) from None
    return maps


def maps_figure(maps, names=None, title="Maps", total=None):
    """Projections along z (sum over the first axis) of density maps, each
    (D, D, D), at most :data:`MAX_MAPS` panels, titled by ``names``.
    ``total``: how many maps there are when only the first few are given
    (said in the title). PlotError without maps."""
    maps = [np.asarray(v, dtype=np.float32) for v in maps]
    if not maps:
        raise PlotError("maps picture: no maps")
    total = max(total or 0, len(maps))
    count = min(len(maps), MAX_MAPS)
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
        title, "" if count == total else " (first %d of %d)" % (count, total)))
    return fig
