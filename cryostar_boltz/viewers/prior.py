"""The prior viewer: the learned prior's free-energy landscape with its
basins and, for Boltzmann priors, the unit occupancy and the energies of
samples per sampler."""
import pyworkflow.protocol.params as params

from ..protocols import CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain
from .base import CryoStarBoltzViewer
from .folders import is_sample_folder

#: Button -> the plot command's picture.
PICTURES = {"displayLandscape": "prior_landscape",
            "displayOccupancy": "prior_occupancy",
            "displayEnergies": "prior_energies"}


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
        return {button: self._show(name) for button, name in PICTURES.items()}

    def _priorArgs(self, name):
        """The plot command's arguments for the picture ``name``: the
        protocol's sample-prior folders, else fresh samples; basins for
        the landscape only."""
        args = ["--run", self._runFolder(), "--pictures", name,
                "--draw", self.drawSamples.get()]
        for folder in self._folders(is_sample_folder):
            args += ["--samples", folder]
        if name != "prior_landscape":
            args.append("--no-basins")
        return args

    def _show(self, name):
        def handler(param=None):
            return self._guard(lambda: self._pictureViews(
                self._plot(*self._priorArgs(name)), [name]))
        return handler
