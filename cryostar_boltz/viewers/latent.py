"""The latent-space viewer: the particles' latents on the PCA plane (or
UMAP) coloured by cluster, prior free energy, a latent dimension or density,
with the prior's contours; and the training curves."""
import pyworkflow.protocol.params as params
from pwem.objects import SetOfParticlesFlex

from ..constants import CRYOSTAR_BOLTZ
from ..protocols import CryoStarBoltzProtAnalyze, CryoStarBoltzProtTrain
from .base import CryoStarBoltzViewer
from .folders import is_analysis_folder

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
    _targets = [CryoStarBoltzProtTrain, CryoStarBoltzProtAnalyze, SetOfParticlesFlex]

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
        folders = self._folders(is_analysis_folder)
        return folders[0] if folders else None

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

    def _showTraining(self, param=None):
        return self._guard(lambda: self._pictureViews(self._plot(
            "--run", self._runFolder(), "--what", "training")))
