"""What the cryostar-boltz viewers share: finding the engine folders behind
a protocol or an output set, showing figures in a Tk window (and saving
them as PNG), and opening ChimeraX when the chimera plugin is installed.

The pictures themselves are drawn by :mod:`cryostar_boltz.plots`; a viewer
only chooses which, writes them under the protocol's ``extra/plots`` and
shows them.
"""
import os
from pathlib import Path

from pwem.viewers import EmProtocolViewer
from pyworkflow.viewer import DESKTOP_TKINTER, View

from ..engine import plots

#: Files of a training run folder (see cryostar_boltz.engine.train).
RUN_MARKERS = ("config.json", "model.pt", "z.npy")
#: Folder, under a protocol's extra path, where viewers write their PNGs.
PLOTS_FOLDER = "plots"


# ------------------------------------------------------------ engine folders

def is_run_folder(path):
    path = Path(path)
    return all((path / name).exists() for name in RUN_MARKERS)


def _candidate_paths(obj):
    """Paths an object may name: the run folder its protocol reads, the
    free attributes of a flexibility set's info, its extra folder and the
    folders in it."""
    for getter in ("_getRunDir", "getRunFolder", "getRunDir"):
        if hasattr(obj, getter):
            try:
                value = getattr(obj, getter)()
            except Exception:  # a protocol not run yet: nothing to find
                value = None
            if value:
                yield Path(str(value))
    info = getattr(obj, "getFlexInfo", None)
    if info is not None:
        try:
            flex = info()
        except Exception:
            flex = None
        if flex is not None:
            for _, attr in flex.getAttributes():
                value = attr.get() if hasattr(attr, "get") else None
                if isinstance(value, str) and value:
                    yield Path(value)
                    yield Path(value).parent
    if hasattr(obj, "_getExtraPath"):
        extra = Path(obj._getExtraPath())
        yield extra
        if extra.is_dir():
            for child in sorted(extra.iterdir()):
                if child.is_dir():
                    yield child


def find_folders(obj, accept, project=None, depth=2):
    """Folders of the engine behind ``obj`` (a protocol or an output)
    for which ``accept(path)`` holds: its own, then those of the protocol
    that made it (found in ``project``) and of its inputs (followed
    ``depth`` levels up the workflow)."""
    found, seen = [], set()
    pending = [(obj, 0)]
    base = Path(project.getPath()) if hasattr(project, "getPath") else None
    while pending:
        current, level = pending.pop(0)
        for path in _candidate_paths(current):
            if base is not None and not path.is_absolute():
                path = base / path  # Scipion paths are project-relative
            key = os.path.realpath(str(path))
            if key not in seen and path.is_dir() and accept(path):
                seen.add(key)
                found.append(path)
        if level >= depth:
            continue
        owner = _owner_protocol(current, project)
        if owner is not None and owner is not current:
            pending.append((owner, level + 1))
        if hasattr(current, "iterInputAttributes"):
            for _, pointer in current.iterInputAttributes():
                value = pointer.get() if hasattr(pointer, "get") else None
                if value is not None:
                    pending.append((value, level + 1))
                    producer = getattr(pointer, "getObjValue", lambda: None)()
                    if producer is not None and producer is not value:
                        pending.append((producer, level + 1))
    return found


def _owner_protocol(obj, project):
    """The protocol that produced an output set (its parent in the
    project), or None."""
    if project is None or hasattr(obj, "_getExtraPath"):
        return None
    parent = getattr(obj, "getObjParentId", lambda: None)()
    if not parent:
        return None
    try:
        return project.getProtocol(int(parent))
    except Exception:  # not a protocol id: an item of a set, a free object
        return None


def find_run_folder(obj, project=None):
    """The training run folder behind ``obj``; a clear error without one."""
    runs = find_folders(obj, is_run_folder, project)
    if not runs:
        raise plots.PlotError("no finished cryostar-boltz training run found "
                              "behind %s" % _describe(obj))
    return runs[0]


def _describe(obj):
    name = getattr(obj, "getRunName", None) or getattr(obj, "getObjLabel", None)
    try:
        return "%s (%s)" % (name(), obj.getClassName())
    except Exception:
        return type(obj).__name__


# ------------------------------------------------------------ showing figures

class FigureView(View):
    """A matplotlib figure in its own Tk window (with the usual toolbar);
    the PNG it was saved as is kept for reports and scripts."""

    def __init__(self, figure, png=None, title="", parent=None):
        self.figure, self.png, self.title, self.parent = figure, png, title, parent
        self.window = None

    def show(self):
        import tkinter as tk
        from matplotlib.backends.backend_tkagg import (FigureCanvasTkAgg,
                                                       NavigationToolbar2Tk)
        root = self.parent or tk._default_root
        if root is None:  # outside Scipion's GUI: a hidden root window
            root = tk.Tk()
            root.withdraw()
        self.window = tk.Toplevel(root)
        self.window.title(self.title or (self.png.name if self.png else "figure"))
        canvas = FigureCanvasTkAgg(self.figure, master=self.window)
        toolbar = NavigationToolbar2Tk(canvas, self.window, pack_toolbar=False)
        toolbar.update()
        toolbar.pack(side=tk.BOTTOM, fill=tk.X)
        canvas.draw()
        canvas.get_tk_widget().pack(side=tk.TOP, fill=tk.BOTH, expand=True)
        return self.window


class MessageView(View):
    """A message in the viewer's form (or printed without one)."""

    def __init__(self, viewer, text, title="cryostar-boltz", error=False):
        self.viewer, self.text, self.title, self.error = viewer, text, title, error

    def show(self):
        show = getattr(self.viewer, "showError" if self.error else "showInfo", None)
        if show is not None and getattr(self.viewer, "formWindow", None) is not None:
            show(self.text, self.title)
        else:
            print("%s: %s" % (self.title, self.text))


def chimerax_available():
    """Whether the Scipion chimera plugin is installed and finds ChimeraX
    (checked at run time: the plugin may be installed after this one)."""
    try:
        from chimera import Plugin as ChimeraPlugin
    except ImportError:
        return False
    try:
        program = ChimeraPlugin.getProgram()
    except Exception:
        return False
    executable = str(program).split()[0] if program else ""
    return bool(executable) and (os.path.exists(executable)
                                 or bool(_which(executable)))


def _which(name):
    from shutil import which
    return which(name)


def chimerax_views(cxc):
    """Views that open a ``.cxc`` script in ChimeraX."""
    from pwem.viewers import ChimeraView
    return [ChimeraView(str(cxc))]


class CryoStarBoltzViewer(EmProtocolViewer):
    """Base of the cryostar-boltz viewers: PNGs under the protocol's
    ``extra/plots``, figures in Tk windows, errors as messages."""
    _environments = [DESKTOP_TKINTER]

    def _target(self):
        return self.protocol

    def _plotsDir(self):
        """``extra/plots`` of the protocol shown, or of the protocol that
        made the set shown; the project's Tmp otherwise."""
        target = self._target()
        if not hasattr(target, "_getExtraPath"):
            target = _owner_protocol(target, self.getProject()) or target
        if hasattr(target, "_getExtraPath"):
            return Path(target._getExtraPath(PLOTS_FOLDER))
        return Path(self.getProject().getTmpPath()) / "cryostar_boltz_plots"

    def _runFolder(self):
        return find_run_folder(self._target(), self.getProject())

    def _folders(self, accept):
        return find_folders(self._target(), accept, self.getProject())

    def _pictures(self, analysis_dir=None):
        return plots.RunPictures(self._runFolder(), analysis_dir)

    def _figureViews(self, figures):
        """Save ``{name: Figure}`` as PNGs and return a window for each."""
        paths = plots.save_all(figures, self._plotsDir())
        parent = getattr(self, "formWindow", None)
        parent = getattr(parent, "root", None)
        return [FigureView(fig, paths[name], "%s: %s" % (self.getName(), name),
                           parent) for name, fig in figures.items()]

    def _guard(self, make):
        """Run a picture maker; a missing input becomes a message, not a
        traceback in the GUI."""
        try:
            return make()
        except (ValueError, FileNotFoundError) as err:
            return [MessageView(self, str(err), error=True)]
