"""The base of the cryostar-boltz viewers: each button runs the engine's
``cryostar-boltz plot`` as a job (:mod:`.plot_job`) writing under the
protocol's ``extra/plots`` (:data:`cryostar_boltz.engine.layout.PLOTS`) and
shows the PNGs it recorded; errors become messages. Nothing of the engine
but its file names runs in Scipion's process.
"""
from pathlib import Path

from pwem.viewers import EmProtocolViewer
from pyworkflow.viewer import DESKTOP_TKINTER

from ..engine.layout import PLOTS
from .folders import find_folders, find_run_folder, owner_protocol
from .plot_job import run_plot
from .views import MessageView, PictureView

#: Folder in the project's Tmp for objects without a protocol of their own.
TMP_PLOTS = "cryostar_boltz_plots"


class CryoStarBoltzViewer(EmProtocolViewer):
    """Base of the cryostar-boltz viewers: PNGs under the protocol's
    ``extra/plots``, shown in Tk windows, errors as messages."""
    _environments = [DESKTOP_TKINTER]

    def _target(self):
        return self.protocol

    def _projectPath(self):
        return Path(self.getProject().getPath())

    def _plotsDir(self):
        """``extra/plots`` of the protocol shown, or of the protocol that
        made the set shown; the project's Tmp otherwise (absolute)."""
        target = self._target()
        if not hasattr(target, "_getExtraPath"):
            target = owner_protocol(target, self.getProject()) or target
        if hasattr(target, "_getExtraPath"):
            path = Path(target._getExtraPath(PLOTS))
        else:
            path = Path(self.getProject().getTmpPath()) / TMP_PLOTS
        return path if path.is_absolute() else self._projectPath() / path

    def _runFolder(self):
        return find_run_folder(self._target(), self.getProject())

    def _runFolderOrNone(self):
        try:
            return self._runFolder()
        except FileNotFoundError:
            return None

    def _folders(self, accept):
        return find_folders(self._target(), accept, self.getProject())

    def _plot(self, *args):
        """Run ``cryostar-boltz plot ARGS`` into :meth:`_plotsDir`; its
        :class:`~.plot_job.PlotResult`."""
        return run_plot(args, self._plotsDir(), cwd=str(self._projectPath()))

    def _pictureViews(self, result, names=None):
        """A window for each picture of ``result`` (those of ``names``)."""
        parent = getattr(getattr(self, "formWindow", None), "root", None)
        return [PictureView(png, "%s: %s" % (self.getName(), name), parent)
                for name, png in result.pictures.items()
                if names is None or name in names]

    def _guard(self, make):
        """Run a button's action; a missing input or a failing command
        becomes an error message, not a traceback in the GUI."""
        try:
            return make()
        except (ValueError, FileNotFoundError) as err:
            return [MessageView(self, str(err), error=True)]
