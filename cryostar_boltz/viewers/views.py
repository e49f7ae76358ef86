"""What a viewer shows: a PNG in a Tk window, a message, or a ChimeraX
script opened by the chimera plugin when it finds ChimeraX."""
import os
from pathlib import Path

from pyworkflow.viewer import View


class PictureView(View):
    """A PNG in its own Tk window (Tk 8.6 reads PNG), scrollable when larger
    than the screen, its path written below it."""

    def __init__(self, png, title="", parent=None):
        self.png, self.title, self.parent = Path(png), title, parent
        self.window = self.image = None

    def show(self):
        import tkinter as tk
        root = self.parent or tk._default_root
        if root is None:  # outside Scipion's GUI: a hidden root window
            root = tk.Tk()
            root.withdraw()
        self.window = tk.Toplevel(root)
        self.window.title(self.title or self.png.name)
        self.image = tk.PhotoImage(master=self.window, file=str(self.png))
        width, height = self.image.width(), self.image.height()
        shown_w = min(width, int(0.9 * self.window.winfo_screenwidth()))
        shown_h = min(height, int(0.85 * self.window.winfo_screenheight()))
        canvas = tk.Canvas(self.window, width=shown_w, height=shown_h,
                           highlightthickness=0, background="white",
                           scrollregion=(0, 0, width, height))
        canvas.create_image(0, 0, image=self.image, anchor=tk.NW)
        canvas.grid(row=0, column=0, sticky="nsew")
        if shown_h < height:
            bar = tk.Scrollbar(self.window, orient=tk.VERTICAL, command=canvas.yview)
            canvas.configure(yscrollcommand=bar.set)
            bar.grid(row=0, column=1, sticky="ns")
        if shown_w < width:
            bar = tk.Scrollbar(self.window, orient=tk.HORIZONTAL, command=canvas.xview)
            canvas.configure(xscrollcommand=bar.set)
            bar.grid(row=1, column=0, sticky="ew")
        tk.Label(self.window, text=str(self.png), anchor=tk.W).grid(
            row=2, column=0, columnspan=2, sticky="ew")
        self.window.rowconfigure(0, weight=1)
        self.window.columnconfigure(0, weight=1)
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
