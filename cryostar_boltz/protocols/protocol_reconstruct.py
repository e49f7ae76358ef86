"""Half-maps, map and gold-standard FSC of particle subsets of a training
run, reconstructed from the original particles (plain or corrected for
each particle's motion)."""
import os

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import Transform, Volume

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json
from .form import add_choice, choice_is
from .protocol_base import CryoStarBoltzProtBase, flex_attr


def _subset_is(*names):
    return choice_is("subset", cts.RECONSTRUCT_SUBSETS, *names)


def _numbers(text):
    """``0,2, 5`` -> [0, 2, 5] (ValueError for anything else)."""
    return [int(part) for part in str(text or "").replace(" ", "").split(",") if part]


class CryoStarBoltzProtReconstruct(CryoStarBoltzProtBase):
    """Reconstructs particle subsets of a training run from the original
    particles (full box and pixel size) with their poses and CTF: two
    half-maps (the half-sets of the refinement when the particles carry
    them, otherwise a seeded split), the map of both and their FSC. One
    volume with its half-maps per subset: all particles, the rows of a
    file, each cluster of an analysis, each bin along a principal path or
    each prior basin. Optionally every particle is first moved back into
    the reference conformation through its decoded motion (deformable
    backprojection, as in DynaMight), so all particles add to one map.
    """
    _label = "reconstruct subsets"
    _devStatus = BETA
    _possibleOutputs = {"outputVolume": Volume}
    _engineChoices = {"subset": cts.RECONSTRUCT_SUBSETS}

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        add_choice(form, "subset", cts.RECONSTRUCT_SUBSETS, "all", label="Subsets",
                   help="*all*: one map of every particle;\n*indices*: the "
                        "particles whose rows (0-based, the run's order) a "
                        ".npy file lists;\n*clusters*: one map per cluster "
                        "of an analysis (or of the run's own k-means);\n"
                        "*pc bins*: one map per bin along a principal "
                        "component;\n*basins*: one map per prior basin.")
        form.addParam("indicesFile", params.FileParam, condition=_subset_is("indices"),
                      label="Particle rows (.npy)",
                      help="A NumPy array of particle rows (0-based, in the "
                           "order of the training run), e.g. the indices.npy "
                           "of a selection.")
        form.addParam("inputAnalysis", params.PointerParam, allowsNull=True,
                      pointerClass="CryoStarBoltzProtAnalyze",
                      condition=_subset_is("clusters"), label="Analysis (optional)",
                      help="Its clusters; without one, the run's own k-means.")
        form.addParam("clusters", params.StringParam, default="0",
                      condition=_subset_is("clusters"), label="Clusters",
                      help="Cluster numbers, e.g. 0,2,3: one map each.")
        form.addParam("component", params.IntParam, default=1,
                      validators=[params.Positive], condition=_subset_is("pc bins"),
                      label="Principal component",
                      help="Which component to bin along (1 = the largest "
                           "variance).")
        form.addParam("numberOfBins", params.IntParam, default=5,
                      validators=[params.Positive], condition=_subset_is("pc bins"),
                      label="Bins", help="Bins along the component, one map "
                      "each (the particles nearest each point of 'generate' "
                      "with as many points).")
        form.addParam("basins", params.StringParam, default="0",
                      condition=_subset_is("basins"), label="Basins",
                      help="Prior basin numbers (lowest free energy first), "
                           "e.g. 0,1: one map each.")
        form.addParam("doDeform", params.BooleanParam, default=False,
                      label="Correct the motion?",
                      help="Move every particle back into the reference "
                           "conformation through its decoded displacement "
                           "before backprojecting it (deformable "
                           "backprojection): one sharper map of the reference.")
        form.addParam("seed", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Random seed",
                      help="Seed of the half-set split when the particles "
                           "carry none.")
        self._defineComputeParams(form)

    # ------------------------------------------------------------ subsets
    def _subsets(self):
        """[(name, engine options)] of the subsets to reconstruct."""
        subset = self._choice("subset")
        if subset == "all":
            return [("all", [])]
        if subset == "indices":
            return [("indices", ["--indices", self.indicesFile.get()])]
        if subset == "clusters":
            analysis = self.inputAnalysis.get()
            extra = [] if analysis is None else [
                "--analysis", analysis._getExtraPath(layout.PROTOCOL_ANALYSIS)]
            return [("cluster%03d" % c, ["--clusters", str(c)] + extra)
                    for c in _numbers(self.clusters.get())]
        if subset == "pc bins":
            k, n = self.component.get(), self.numberOfBins.get()
            return [("pc%d_bin%02d" % (k, i), ["--pc", k, "--bin", "%d/%d" % (i, n)])
                    for i in range(n)]
        return [("basin%02d" % b, ["--basin", b]) for b in _numbers(self.basins.get())]

    def _outDir(self, name, *paths):
        return self._getExtraPath(layout.PROTOCOL_RECONSTRUCTION % name, *paths)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        for name, options in self._subsets():
            self._insertFunctionStep(self.reconstructStep, name, options, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def reconstructStep(self, name, options):
        args = ["--run", self._getRunDir(), "--out", self._outDir(name),
                "--seed", self.seed.get()] + list(options) + self._engineDevice()
        if self.doDeform:
            args += ["--deform-to", "reference"]
        self._runEngine("reconstruct", args)

    def createOutputStep(self):
        outputs = {}
        for name, _ in self._subsets():
            summary = read_json(self._outDir(name, layout.SUMMARY))
            files = summary["files"]
            volume = Volume()
            volume.setFileName(self._outDir(name, files["map"]))
            volume.setSamplingRate(summary["apix"])
            origin = Transform()
            origin.setShifts(*summary["origin"])
            volume.setOrigin(origin)
            volume.setHalfMaps([self._outDir(name, files["half1"]),
                                self._outDir(name, files["half2"])])
            outputs["outputVolume_%s" % name] = volume
        self._registerOutputs(outputs, self.inputParticles)

    # ------------------------------------------------------------ info
    def _validate(self):
        errors = self._validateRunInput()
        subset = self._choice("subset")
        if subset == "indices" and not os.path.isfile(self.indicesFile.get() or ""):
            errors.append("Give an existing .npy file of particle rows.")
        for label, text, wanted in (("Clusters", self.clusters.get(), "clusters"),
                                    ("Basins", self.basins.get(), "basins")):
            if subset == wanted:
                try:
                    if not _numbers(text) or min(_numbers(text)) < 0:
                        raise ValueError
                except ValueError:
                    errors.append("%s: give numbers separated by commas, e.g. 0,2."
                                  % label)
        if subset == "basins" and self._runHasOneBasin():
            errors.append("The gaussian prior has a single basin: choose "
                          "another subset.")
        dim = flex_attr(self._getInputFlex(), cts.FLEX_LATENT_DIM) \
            if self._getInputFlex() is not None else None
        if subset == "pc bins" and dim and self.component.get() > dim:
            errors.append("The latent space has %d dimensions: choose a "
                          "principal component from 1 to %d." % (dim, dim))
        return errors

    def _summary(self):
        lines = []
        for name, _ in self._subsets():
            summary = read_json(self._outDir(name, layout.SUMMARY))
            if summary:
                lines.append("%s: %d particles, %.1f A at FSC 0.143 (%.1f A at 0.5)%s."
                             % (name, summary["n_selected"], summary["resolution_0.143"],
                                summary["resolution_0.5"],
                                ", motion-corrected" if "deform_to" in summary else ""))
        return lines or ["Reconstruction has not run yet."]

    def _methods(self):
        if not self._summary() or "not run" in self._summary()[0]:
            return []
        return ["Particle subsets of a cryoSTAR-Boltz run [Li2024cryostar] were "
                "reconstructed from the original particles into gold-standard "
                "half-maps; resolutions are where the half-map FSC falls below "
                "0.143."]
