"""The trajectory and ensemble viewers: multi-model files written by the
protocols (paths along principal components, basins, cluster centres, prior
samples) as RMSD/RMSF pictures, CA traces, map projections, or in ChimeraX
(scripts and displacement models written by the engine's plot command)."""
from pathlib import Path

import pyworkflow.protocol.params as params

from ..engine import layout
from ..engine.layout import ANALYSIS
from ..protocols import (CryoStarBoltzProtAnalyze, CryoStarBoltzProtGenerate,
                         CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain)
from .base import CryoStarBoltzViewer
from .folders import is_run_folder, map_files, output_folders, structure_files
from .views import MessageView, chimerax_available, chimerax_views

#: The run's own PC paths and k-means centres, in its analysis folder.
RUN_ENSEMBLES = (layout.structure_patterns(layout.glob_pattern(layout.PC_PATH))
                 + layout.structure_patterns("%s/%s" % (
                     layout.glob_pattern(layout.KMEANS), Path(layout.CENTRES).stem)))


def short_name(path):
    """``folder/file`` of a structure file, for the form's choices."""
    path = Path(path)
    return "%s/%s" % (path.parent.name, path.name)


class _StructureViewer(CryoStarBoltzViewer):
    """Shared by the trajectory and ensemble viewers: the multi-model
    files behind the protocol, one chosen in the form."""

    def _modelFiles(self):
        """The protocol's multi-model files; for a training protocol its
        run's PC paths and k-means centres."""
        if getattr(self, "_files", None) is None:
            files = []
            for folder in output_folders(self._target()):
                files += structure_files(folder)
            if not files:
                for run in self._folders(is_run_folder)[:1]:
                    for pattern in RUN_ENSEMBLES:
                        files += structure_files(run / ANALYSIS, (pattern,))
            self._files = files
        return self._files

    def _choices(self):
        files = self._modelFiles()
        if not files:
            return ["(no structures found)"]
        return [short_name(f) for f in files]

    def _chosenFile(self):
        files = self._modelFiles()
        if not files:
            raise FileNotFoundError("no multi-model structure files found for "
                                    "this protocol")
        return files[min(self.modelFile.get(), len(files) - 1)]

    def _addFileChoice(self, form):
        form.addParam("modelFile", params.EnumParam, choices=self._choices(),
                      default=0, label="Structures",
                      help="Multi-model file written by the protocol (a path "
                           "along a principal component, basins, cluster "
                           "centres, prior samples...).")

    def _ensembleArgs(self, path, maps=()):
        """The plot command's arguments for the ensemble of ``path`` (and
        ``maps``): the run when there is one (its reference)."""
        args = ["--what", "ensemble", "--models", path]
        for m in maps:
            args += ["--maps", m]
        run = self._runFolderOrNone()
        return (["--run", run] if run is not None else []) + args

    def _chimeraOrTraces(self, path):
        """ChimeraX with the models as a series coloured by RMSF; without
        it, the CA traces picture and a note saying where the script is."""
        result = self._plot(*self._ensembleArgs(path))
        entry = result.script_for(path)
        if entry is None:
            raise ValueError("cryostar-boltz plot wrote no ChimeraX script for %s"
                             % path)
        if chimerax_available():
            return chimerax_views(entry["script"])
        note = MessageView(self, "ChimeraX was not found (install the "
                                 "scipion-em-chimera plugin). The models with "
                                 "their RMSF as B-factors are in %s; the "
                                 "ChimeraX script in %s."
                           % (entry["models"], entry["script"]))
        return self._pictureViews(result) + [note]


class CryoStarBoltzTrajectoryViewer(_StructureViewer):
    """Structures along a principal path or between basins: RMSD to the
    reference and per-residue RMSF, and a multi-model PDB (RMSF as
    B-factors) to play as a movie."""
    _label = "cryostar-boltz trajectory"
    _targets = [CryoStarBoltzProtGenerate, CryoStarBoltzProtTrain,
                CryoStarBoltzProtSamplePrior]

    def _defineParams(self, form):
        form.addSection(label="Trajectory")
        self._addFileChoice(form)
        form.addParam("displayMotion", params.LabelParam,
                      label="RMSD and per-residue motion",
                      help="CA RMSD of each model to the reference and to the "
                           "first model; RMSF about the mean model and the "
                           "first-to-last displacement per residue.")
        form.addParam("displayMovie", params.LabelParam,
                      label="Movie (ChimeraX, else CA traces)",
                      help="Writes the models with their RMSF in the B-factor "
                           "column and opens them in ChimeraX as a series; "
                           "without ChimeraX shows the CA traces.")

    def _getVisualizeDict(self):
        return {"displayMotion": self._showMotion,
                "displayMovie": self._showMovie}

    def _showMotion(self, param=None):
        return self._guard(lambda: self._pictureViews(self._plot(
            "--run", self._runFolder(), "--what", "trajectory",
            "--models", self._chosenFile())))

    def _showMovie(self, param=None):
        return self._guard(lambda: self._chimeraOrTraces(self._chosenFile()))


class CryoStarBoltzEnsembleViewer(_StructureViewer):
    """Atomic ensembles and maps: in ChimeraX when the chimera plugin is
    installed (models as a series, coloured by displacement; maps at a
    contour level), else CA traces coloured by displacement and map
    projections."""
    _label = "cryostar-boltz ensemble"
    _targets = [CryoStarBoltzProtGenerate, CryoStarBoltzProtAnalyze,
                CryoStarBoltzProtSamplePrior]

    def _defineParams(self, form):
        form.addSection(label="Ensemble")
        self._addFileChoice(form)
        form.addParam("displayChimera", params.LabelParam,
                      label="Open in ChimeraX",
                      help="The models as one series coloured by RMSF "
                           "(B-factor column), with the maps when there are "
                           "any; without ChimeraX the built-in pictures.")
        form.addParam("displayTraces", params.LabelParam,
                      label="CA traces coloured by displacement")
        form.addParam("displayMaps", params.LabelParam,
                      label="Maps (projections)")

    def _getVisualizeDict(self):
        return {"displayChimera": self._showChimera,
                "displayTraces": self._showTraces,
                "displayMaps": self._showMaps}

    def _mapFiles(self):
        return map_files(self._target())

    def _showChimera(self, param=None):
        def make():
            path = self._chosenFile()
            maps = self._mapFiles()
            if maps and chimerax_available():
                result = self._plot(*self._ensembleArgs(path, maps))
                entry = result.script_for(path, maps=True)
                if entry is None:
                    raise ValueError("cryostar-boltz plot wrote no ChimeraX "
                                     "script for %s with maps" % path)
                return chimerax_views(entry["script"])
            return self._chimeraOrTraces(path)
        return self._guard(make)

    def _showTraces(self, param=None):
        return self._guard(lambda: self._pictureViews(self._plot(
            *self._ensembleArgs(self._chosenFile()))))

    def _showMaps(self, param=None):
        def make():
            maps = self._mapFiles()
            if not maps:
                return [MessageView(self, "this protocol wrote no maps (maps "
                                          "need a density decoder: stage 2)")]
            args = ["--what", "ensemble", "--pictures", "ensemble_maps"]
            for m in maps:
                args += ["--maps", m]
            return self._pictureViews(self._plot(*args))
        return self._guard(make)
