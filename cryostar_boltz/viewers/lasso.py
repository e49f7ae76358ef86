"""Picking particles by hand on the latent plot, as cryoDRGN's ``filter``
tool and the Flexibility Hub's annotate-space tool do.

:class:`LassoView` shows the points a latent picture draws (the
``NAME_points.npz`` that ``cryostar-boltz plot`` writes beside the PNG:
the PCA plane or the UMAP embedding, coloured as the user chose) in a Tk
window with a matplotlib ``PolygonSelector``; *Save* hands the polygon's
vertices to a callback, which the latent viewer turns into a
``CryoStarBoltzProtSelect`` run (:func:`new_select_protocol`) whose
parameters hold the polygon, so a project script can redo it. numpy and
matplotlib only: no engine code runs in Scipion's process.
"""
import json

import numpy as np
from pyworkflow.viewer import View


def read_points(path):
    """The points of a latent picture: {``xy`` (n, 2), ``values`` (n,),
    ``categorical``, ``axis_labels`` (2,), ``color_label``}."""
    with np.load(path) as data:
        return {"xy": data["xy"], "values": data["values"],
                "categorical": bool(data["categorical"]),
                "axis_labels": [str(a) for a in data["axis_labels"]],
                "color_label": str(data["color_label"])}


def count_inside(xy, vertices):
    """How many points ``xy`` lie inside the polygon ``vertices`` (the
    engine's ``select`` decides; this is the window's live count)."""
    from matplotlib.path import Path
    if vertices is None or len(vertices) < 3:
        return 0
    return int(Path(np.asarray(vertices, dtype=np.float64)).contains_points(xy).sum())


class LassoView(View):
    """A Tk window: the latent scatter with a polygon selector, the count of
    particles inside, and *Save as a particle subset* calling
    ``on_save(vertices)`` (a list of [x, y])."""

    def __init__(self, points_file, on_save, title="Select particles",
                 parent=None):
        self.points_file, self.on_save = points_file, on_save
        self.title, self.parent = title, parent
        self.window = self.selector = self.figure = None
        self.vertices = None

    def _draw(self, ax, points):
        from matplotlib import colormaps
        from matplotlib.colors import ListedColormap
        xy, values = points["xy"], points["values"]
        if np.all(np.isnan(values)):
            ax.scatter(xy[:, 0], xy[:, 1], s=6, c="0.3", linewidths=0)
            return None
        if points["categorical"]:
            k = int(np.nanmax(values)) + 1
            base = colormaps["tab10" if k <= 10 else "tab20"]
            cmap = ListedColormap([base(i % base.N) for i in range(k)])
            cmap.set_under("0.6")  # label -1: left out of the clusters (junk)
            art = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=values, cmap=cmap,
                             vmin=-0.5, vmax=k - 0.5, linewidths=0)
        else:
            art = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=values, cmap="viridis",
                             linewidths=0)
        return art

    def show(self):
        import tkinter as tk
        from matplotlib.backends.backend_tkagg import (FigureCanvasTkAgg,
                                                       NavigationToolbar2Tk)
        from matplotlib.figure import Figure
        from matplotlib.widgets import PolygonSelector
        points = read_points(self.points_file)
        root = self.parent or tk._default_root
        if root is None:  # outside Scipion's GUI: a hidden root window
            root = tk.Tk()
            root.withdraw()
        self.window = tk.Toplevel(root)
        self.window.title(self.title)
        self.figure = Figure(figsize=(7, 6), dpi=100, layout="constrained")
        ax = self.figure.add_subplot()
        art = self._draw(ax, points)
        if art is not None:
            self.figure.colorbar(art, ax=ax).set_label(points["color_label"])
        ax.set_xlabel(points["axis_labels"][0])
        ax.set_ylabel(points["axis_labels"][1])
        ax.set_title("Click the polygon's corners; close it on the first one")
        canvas = FigureCanvasTkAgg(self.figure, master=self.window)
        canvas.get_tk_widget().pack(side=tk.TOP, fill=tk.BOTH, expand=True)
        NavigationToolbar2Tk(canvas, self.window).update()
        self.status = tk.StringVar(value="no polygon yet")
        bar = tk.Frame(self.window)
        bar.pack(side=tk.BOTTOM, fill=tk.X)
        tk.Label(bar, textvariable=self.status, anchor=tk.W).pack(side=tk.LEFT,
                                                                  padx=6)
        tk.Button(bar, text="Save as a particle subset", command=self.save).pack(
            side=tk.RIGHT, padx=4, pady=4)
        tk.Button(bar, text="Clear", command=self.clear).pack(side=tk.RIGHT, pady=4)
        self._xy = points["xy"]
        self.selector = PolygonSelector(ax, self._changed, useblit=False)
        canvas.draw()
        return self.window

    def _changed(self, vertices):
        self.vertices = [[float(x), float(y)] for x, y in vertices]
        self.status.set("%d of %d particles inside" % (
            count_inside(self._xy, self.vertices), len(self._xy)))

    def set_polygon(self, vertices):
        """Draw the polygon ``vertices`` as if clicked (scripts, tests)."""
        self.selector.verts = [tuple(v) for v in vertices]
        self._changed(vertices)
        self.figure.canvas.draw_idle()

    def clear(self):
        self.selector.clear()
        self.vertices = None
        self.status.set("no polygon yet")

    def save(self):
        """Hand the polygon to ``on_save``; its answer goes to the status
        line."""
        if not self.vertices or len(self.vertices) < 3:
            self.status.set("draw a polygon first (3 corners or more)")
            return
        self.status.set(self.on_save(self.vertices) or "saved")


def new_select_protocol(project, particles_pointer, vertices, space,
                        analysis=None):
    """A new ``CryoStarBoltzProtSelect`` (not launched) of the particles
    a pointer names (protocol + output name), with the polygon ``vertices``
    drawn in ``space`` (0: PCA, 1: UMAP) and the analysis protocol whose
    UMAP or clusters it uses."""
    from ..protocols import CryoStarBoltzProtSelect
    protocol = project.newProtocol(CryoStarBoltzProtSelect, space=space,
                                   polygon=json.dumps(vertices))
    protocol.inputParticles.set(particles_pointer[0])
    if particles_pointer[1]:
        protocol.inputParticles.setExtended(particles_pointer[1])
    if analysis is not None:
        protocol.inputAnalysis.set(analysis)
    protocol.setObjLabel("select particles (%d-vertex polygon)" % len(vertices))
    return protocol
