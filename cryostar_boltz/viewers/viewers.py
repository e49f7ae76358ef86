"""The cryostar-boltz viewers: latent space, prior, trajectories, ensembles.

Each button draws pictures with :mod:`cryostar_boltz.plots`, writes them
as PNG files under the protocol's ``extra/plots`` and shows them; ChimeraX
opens ensembles when the chimera plugin is installed.
"""
from pathlib import Path

import pyworkflow.protocol.params as params
from pwem.objects import SetOfParticlesFlex

from ..engine import chimerax, plots
from ..constants import CRYOSTAR_BOLTZ
from ..protocols import (CryoStarBoltzProtAnalyze, CryoStarBoltzProtGenerate,
                         CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain)
from .base import (CryoStarBoltzViewer, MessageView, chimerax_available,
                   chimerax_views, is_run_folder)

#: Folders, in a protocol's extra path, where the engine writes ensembles.
OUTPUT_FOLDERS = ("ensemble", "samples", "analysis")
COLOR_CHOICES = ["cluster", "prior free energy", "latent dimension", "density"]
COLOR_KEYS = ["cluster", "free_energy", "dim", "density"]
#: Names of engine outputs that are not ensembles to show.
_SKIP = ("_coarse.", "_displacement.", "reference.")


def _is_ours(flex_set):
    try:
        return flex_set.getFlexInfo().getProgName() == CRYOSTAR_BOLTZ
    except AttributeError:
        return False


def _is_analysis_folder(path):
    return (path / "labels.npy").is_file() and not is_run_folder(path)


def _is_sample_folder(path):
    return (path / "energies.npy").is_file() and (path / "info.json").is_file()


def structure_files(folder, patterns=("*.pdb", "*.cif")):
    """Multi-model structure files the engine wrote in ``folder`` (full
    atom; coarse copies and viewer outputs left out)."""
    found = []
    for pattern in patterns:
        found += [p for p in Path(folder).glob(pattern) if p.is_file()
                  and not any(tag in p.name for tag in _SKIP)]
    return sorted(set(found))


def output_folders(protocol):
    """The engine's output folders of a protocol (see OUTPUT_FOLDERS)."""
    if not hasattr(protocol, "_getExtraPath"):
        return []
    return [Path(protocol._getExtraPath(name)) for name in OUTPUT_FOLDERS
            if Path(protocol._getExtraPath(name)).is_dir()]


class CryoStarBoltzLatentViewer(CryoStarBoltzViewer):
    """Latent space of a training or analysis run: PCA (or UMAP) of the
    particles' latents coloured by cluster, prior free energy or a latent
    dimension, with the prior's free-energy contours; training curves."""
    _label = "cryostar-boltz latent space"
    _targets = [CryoStarBoltzProtTrain, CryoStarBoltzProtAnalyze, SetOfParticlesFlex]

    @classmethod
    def can_handle_this_instance(cls, instance):
        if isinstance(instance, SetOfParticlesFlex):
            return _is_ours(instance)
        return True

    def _defineParams(self, form):
        form.addSection(label="Latent space")
        form.addParam("embedding", params.EnumParam, choices=["PCA", "UMAP"],
                      default=0, display=params.EnumParam.DISPLAY_HLIST,
                      label="Embedding",
                      help="PCA: the plane of the first two principal "
                           "components of the latents. UMAP: a non-linear "
                           "2-D map (needs the umap-learn package).")
        form.addParam("plotKind", params.EnumParam, choices=["scatter", "hexbin"],
                      default=0, display=params.EnumParam.DISPLAY_HLIST,
                      label="Plot",
                      help="Scatter: one dot per particle (a random 50,000 "
                           "beyond that). Hexbin: every particle, binned; "
                           "better for large sets.")
        form.addParam("colorBy", params.EnumParam, choices=COLOR_CHOICES,
                      default=0, label="Colour by",
                      help="cluster: the analysis' clusters (or the training "
                           "run's k-means); prior free energy: F(z) of each "
                           "particle under the learned prior (low: a "
                           "probable state); latent dimension: the value "
                           "of one latent coordinate; density: how crowded "
                           "the plane is.")
        form.addParam("latentDim", params.IntParam, default=1,
                      condition="colorBy == 2", label="Latent dimension",
                      help="Which latent coordinate colours the particles "
                           "(1-based).")
        form.addParam("showContours", params.BooleanParam, default=True,
                      condition="embedding == 0", label="Prior contours",
                      help="Draw the prior's free energy over the PC plane "
                           "(a slice through the mean latent).")
        form.addParam("displayLatent", params.LabelParam,
                      label="Show the latent space")
        form.addSection(label="Training")
        form.addParam("displayTraining", params.LabelParam,
                      label="Show the training curves",
                      help="Every loss term (image, continuity, elastic "
                           "network, clash, KL) by step, the KL weight and "
                           "learning rate.")

    def _getVisualizeDict(self):
        return {"displayLatent": self._showLatent,
                "displayTraining": self._showTraining}

    def _analysisDir(self):
        folders = self._folders(_is_analysis_folder)
        return folders[0] if folders else None

    def _showLatent(self, param=None):
        def make():
            pictures = self._pictures(self._analysisDir())
            figures = plots.latent_plots(
                None, None, COLOR_KEYS[self.colorBy.get()], self.latentDim.get(),
                ["pca", "umap"][self.embedding.get()],
                ["scatter", "hexbin"][self.plotKind.get()],
                contours=self.showContours.get(), pictures=pictures)
            if not figures:
                return [MessageView(self, "no clusters found for this run: "
                                    "colour by another quantity or run the "
                                    "analysis protocol", error=True)]
            return self._figureViews(figures)
        return self._guard(make)

    def _showTraining(self, param=None):
        return self._guard(lambda: self._figureViews(
            plots.training_plots(None, pictures=self._pictures())))


class CryoStarBoltzPriorViewer(CryoStarBoltzViewer):
    """The learned prior: its free-energy landscape over the PC plane with
    the basins marked; for Boltzmann priors the hidden-unit occupancy and
    the energies of samples per sampler (beta_eff of QPU runs)."""
    _label = "cryostar-boltz prior"
    _targets = [CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain]

    def _defineParams(self, form):
        form.addSection(label="Prior")
        form.addParam("displayLandscape", params.LabelParam,
                      label="Free-energy landscape and basins",
                      help="F(z) over the plane of the first two principal "
                           "components (through the mean latent), the "
                           "particles, and the prior's basins (number: "
                           "energy).")
        form.addParam("displayOccupancy", params.LabelParam,
                      label="Hidden-unit occupancy",
                      help="Boltzmann priors: the probability of each "
                           "hidden unit being on, per particle and on "
                           "average, against the prior's samples.")
        form.addParam("displayEnergies", params.LabelParam,
                      label="Sample energies per sampler",
                      help="Histograms of the energies of the samples of "
                           "each sampler against the exact Boltzmann "
                           "distribution (small models); beta_eff of QPU "
                           "runs. Without sample-prior outputs, fresh gibbs "
                           "and sa samples are drawn.")
        form.addParam("drawSamples", params.IntParam, default=300,
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Samples to draw",
                      help="Samples per sampler drawn when the protocol has "
                           "no sample-prior outputs.")

    def _getVisualizeDict(self):
        return {"displayLandscape": self._show("prior_landscape"),
                "displayOccupancy": self._show("prior_occupancy"),
                "displayEnergies": self._show("prior_energies")}

    def _show(self, name):
        def handler(param=None):
            def make():
                figures = plots.prior_plots(
                    None, None, self._folders(_is_sample_folder),
                    draw=self.drawSamples.get(), basins=name == "prior_landscape",
                    pictures=self._pictures())
                if name not in figures:
                    return [MessageView(self, "%s: not available for this "
                                        "prior (Boltzmann priors grbm and rbm "
                                        "only)" % name.replace("_", " "))]
                return self._figureViews({name: figures[name]})
            return self._guard(make)
        return handler


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
                    files = structure_files(run / "analysis", ("pc*.pdb",))
                    files += structure_files(run / "analysis", ("kmeans*/centers.pdb",))
            self._files = files
        return self._files

    def _choices(self):
        files = self._modelFiles()
        if not files:
            return ["(no structures found)"]
        return [_short_name(f) for f in files]

    def _chosenFile(self):
        files = self._modelFiles()
        if not files:
            raise plots.PlotError("no multi-model structure files found for "
                                  "this protocol")
        return files[min(self.modelFile.get(), len(files) - 1)]

    def _addFileChoice(self, form):
        form.addParam("modelFile", params.EnumParam, choices=self._choices(),
                      default=0, label="Structures",
                      help="Multi-model file written by the protocol (a path "
                           "along a principal component, basins, cluster "
                           "centres, prior samples...).")

    def _chimeraOrTraces(self, path):
        """ChimeraX with the models as a series coloured by RMSF; without
        it, the CA traces picture and a note saying where the script is."""
        pdb, cxc = chimerax.write_ensemble_session(path, self._plotsDir(),
                                                   _file_stem(path))
        if chimerax_available():
            return chimerax_views(cxc)
        figures = plots.ensemble_plots(None, None, [path],
                                       pictures=self._picturesOrNone())
        note = MessageView(self, "ChimeraX was not found (install the "
                                 "scipion-em-chimera plugin). The models with "
                                 "their RMSF as B-factors are in %s; the "
                                 "ChimeraX script in %s." % (pdb, cxc))
        return self._figureViews(figures) + [note]

    def _picturesOrNone(self):
        try:
            return self._pictures()
        except (ValueError, FileNotFoundError):
            return _NoRun()


class _NoRun:
    """Stand-in for RunPictures when a file is shown without its run."""
    run_dir = Path(".")

    def pca(self):
        raise plots.PlotError("no run")


def _short_name(path):
    path = Path(path)
    return "%s/%s" % (path.parent.name, path.name)


def _file_stem(path):
    path = Path(path)
    return "%s_%s" % (path.parent.name, path.name.split(".")[0])


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
        return self._guard(lambda: self._figureViews(plots.trajectory_plots(
            None, None, [self._chosenFile()], pictures=self._pictures())))

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
        maps = []
        for folder in output_folders(self._target()):
            maps += sorted(folder.glob("*.mrc"))
        return maps

    def _showChimera(self, param=None):
        def make():
            path = self._chosenFile()
            maps = self._mapFiles()
            if maps and chimerax_available():
                pdb, _ = chimerax.write_displacement_models(
                    path, self._plotsDir() / (_file_stem(path) + "_displacement.pdb"))
                cxc = chimerax.write_cxc(self._plotsDir() / (_file_stem(path) + "_maps.cxc"),
                                         [pdb], maps)
                return chimerax_views(cxc)
            return self._chimeraOrTraces(path)
        return self._guard(make)

    def _showTraces(self, param=None):
        return self._guard(lambda: self._figureViews(plots.ensemble_plots(
            None, None, [self._chosenFile()], pictures=self._picturesOrNone())))

    def _showMaps(self, param=None):
        def make():
            maps = self._mapFiles()
            if not maps:
                return [MessageView(self, "this protocol wrote no maps (maps "
                                          "need a density decoder: stage 2)")]
            import mrcfile
            arrays = []
            for path in maps[:12]:
                with mrcfile.open(path, permissive=True) as mrc:
                    arrays.append(mrc.data.copy())
            return self._figureViews({"ensemble_maps": plots.maps_figure(
                arrays, [p.name for p in maps[:12]])})
        return self._guard(make)
