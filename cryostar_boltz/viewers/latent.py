"""The latent-space viewer: the particles' latents on the PCA plane (or
UMAP) coloured by cluster, prior free energy, a latent dimension or density,
with the prior's contours; particles picked by drawing a polygon on that
plot (saved as a select protocol); and the training curves."""
import os
from pathlib import Path

import pyworkflow.protocol.params as params
from pwem.objects import SetOfParticlesFlex

from ..constants import CRYOSTAR_BOLTZ
from ..engine.layout import PROTOCOL_ANALYSIS, UMAP
from ..protocols import (CryoStarBoltzProtAnalyze, CryoStarBoltzProtSelect,
                         CryoStarBoltzProtTrain)
from .base import CryoStarBoltzViewer
from .folders import is_analysis_folder, owner_protocol
from .lasso import LassoView, new_select_protocol
from .views import MessageView

#: The form's colourings and the plot command's names for them
#: (``--color-by``).
COLOR_CHOICES = ["cluster", "prior free energy", "latent dimension", "density"]
COLOR_KEYS = ["cluster", "free_energy", "dim", "density"]
EMBEDDINGS = ["pca", "umap"]
KINDS = ["scatter", "hexbin"]


def is_ours(flex_set):
    """Whether a flexibility set was made by cryostar-boltz."""
    try:
        return flex_set.getFlexInfo().getProgName() == CRYOSTAR_BOLTZ
    except AttributeError:
        return False


class CryoStarBoltzLatentViewer(CryoStarBoltzViewer):
    """Latent space of a training or analysis run: PCA (or UMAP) of the
    particles' latents coloured by cluster, prior free energy or a latent
    dimension, with the prior's free-energy contours; training curves."""
    _label = "cryostar-boltz latent space"
    _targets = [CryoStarBoltzProtTrain, CryoStarBoltzProtAnalyze,
                CryoStarBoltzProtSelect, SetOfParticlesFlex]

    @classmethod
    def can_handle_this_instance(cls, instance):
        if isinstance(instance, SetOfParticlesFlex):
            return is_ours(instance)
        return True

    def _defineParams(self, form):
        form.addSection(label="Latent space")
        form.addParam("embedding", params.EnumParam, choices=["PCA", "UMAP"],
                      default=0, display=params.EnumParam.DISPLAY_HLIST,
                      label="Embedding",
                      help="PCA: the plane of the first two principal "
                           "components of the latents. UMAP: a non-linear "
                           "2-D map (needs the umap-learn package).")
        form.addParam("plotKind", params.EnumParam, choices=KINDS,
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
        form.addParam("displaySelect", params.LabelParam,
                      label="Select particles on the plot",
                      help="The same plot in a window where you click the "
                           "corners of a polygon around the particles to "
                           "keep; *Save as a particle subset* runs a "
                           "'select particles' protocol with that polygon, "
                           "whose output set any refinement protocol takes.")
        form.addSection(label="Training")
        form.addParam("displayTraining", params.LabelParam,
                      label="Show the training curves",
                      help="Every loss term (image, continuity, elastic "
                           "network, clash, KL) by step, the KL weight and "
                           "learning rate.")

    def _getVisualizeDict(self):
        return {"displayLatent": self._showLatent,
                "displaySelect": self._showSelect,
                "displayTraining": self._showTraining}

    def _analysisProtocol(self):
        """The analyze protocol shown (or read by the protocol shown), else
        the newest finished one in the project of the same training run:
        the clusters the user made colour the plot."""
        target = self._target()
        for candidate in (target, getattr(getattr(target, "inputAnalysis", None),
                                          "get", lambda: None)()):
            if isinstance(candidate, CryoStarBoltzProtAnalyze):
                return candidate
        run = self._runFolderOrNone()
        if run is None:
            return None
        base = self._projectPath()
        for protocol in sorted(self.getProject().getRuns(),
                               key=lambda p: p.getObjId(), reverse=True):
            if isinstance(protocol, CryoStarBoltzProtAnalyze) and \
                    protocol.isFinished() and protocol._getRunDir() and \
                    os.path.realpath(base / protocol._getRunDir()) == \
                    os.path.realpath(run):
                return protocol
        return None

    def _analysisDir(self):
        folders = self._folders(is_analysis_folder)
        if folders:
            return folders[0]
        analysis = self._analysisProtocol()
        if analysis is None:
            return None
        folder = self._projectPath() / analysis._getExtraPath(PROTOCOL_ANALYSIS)
        return folder if is_analysis_folder(folder) else None

    def _particlesPointer(self):
        """(protocol, output name) of the particles with latents shown."""
        target = self._target()
        if isinstance(target, CryoStarBoltzProtTrain):
            return target, "Particles"
        if hasattr(target, "inputParticles"):
            return target.inputParticles.getObjValue(), target.inputParticles.getExtended()
        owner = owner_protocol(target, self.getProject())
        for name, output in owner.iterOutputAttributes():
            if output.getObjId() == target.getObjId():
                return owner, name
        raise ValueError("the particles shown were made by no protocol of "
                         "this project")

    def _latentArgs(self):
        """The plot command's arguments for the form's choices."""
        args = ["--run", self._runFolder(), "--what", "latent",
                "--color-by", COLOR_KEYS[self.colorBy.get()],
                "--dim", self.latentDim.get(),
                "--embedding", EMBEDDINGS[self.embedding.get()],
                "--kind", KINDS[self.plotKind.get()]]
        analysis = self._analysisDir()
        if analysis is not None:
            args += ["--analysis", analysis]
        if not self.showContours.get():
            args.append("--no-contours")
        return args

    def _showLatent(self, param=None):
        return self._guard(lambda: self._pictureViews(self._plot(*self._latentArgs())))

    def _showSelect(self, param=None):
        return self._guard(self._lassoViews)

    def _lassoViews(self):
        """A lasso window on the latent plot chosen in the form."""
        embedding = self.embedding.get()
        analysis = self._analysisDir()
        if EMBEDDINGS[embedding] == "umap" and (
                analysis is None or not (Path(analysis) / UMAP).is_file()):
            return [MessageView(self, "Selecting on UMAP needs an analyze run "
                                "made with its UMAP option; select on PCA, or "
                                "run analyze with UMAP first.", error=True)]
        result = self._plot(*self._latentArgs())
        if not result.points:
            return [MessageView(self, "The plot command drew no latent "
                                "picture: %s" % result.skipped, error=True)]
        parent = getattr(getattr(self, "formWindow", None), "root", None)
        name, points = next(iter(result.points.items()))
        return [LassoView(points, self._saveSelection,
                          "%s: select particles (%s)" % (self.getName(), name),
                          parent)]

    def _saveSelection(self, vertices, wait=False):
        """Launch a select protocol with the polygon ``vertices`` drawn on
        the form's embedding; returns a line for the lasso window (the
        protocol itself when ``wait``)."""
        protocol = new_select_protocol(self.getProject(), self._particlesPointer(),
                                       vertices, self.embedding.get(),
                                       self._analysisProtocol())
        self.getProject().launchProtocol(protocol, wait=wait)
        if wait:
            return protocol
        return "launched '%s' (see the project window)" % protocol.getRunName()

    def _showTraining(self, param=None):
        return self._guard(lambda: self._pictureViews(self._plot(
            "--run", self._runFolder(), "--what", "training")))
