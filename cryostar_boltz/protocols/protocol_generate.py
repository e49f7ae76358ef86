"""Decode ensembles of latents of a training run to atomic models (coarse
and full atom) and, after stage 2, to density maps."""
import glob
import os

import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfAtomStructFlex, SetOfVolumesFlex

from .. import constants as cts
from .protocol_base import CryoStarBoltzProtBase, flex_attr

SOURCE_LABELS = {
    "pca": "points along principal component %(component)d",
    "kmeans": "%(k)d k-means cluster centres",
    "basins": "the prior's basins (at most %(k)d)",
    "samples": "%(n)d samples of the prior",
    "file": "the latents of %(file)s",
}


#: Output names (several outputs share a class, so not an Enum).
OUT_STRUCTURES = "Structures"
OUT_STRUCTURES_COARSE = "StructuresCoarse"
OUT_VOLUMES = "Volumes"

#: Output name -> class, what Scipion expects before the run.
GENERATE_OUTPUTS = {
    OUT_STRUCTURES: SetOfAtomStructFlex,
    OUT_STRUCTURES_COARSE: SetOfAtomStructFlex,
    OUT_VOLUMES: SetOfVolumesFlex,
}


class CryoStarBoltzProtGenerate(CryoStarBoltzProtBase):
    """Generates an ensemble from a training run: one atomic model (full
    atom and coarse grained, in the reference's frame) per latent point,
    and one density map per point when the run has a stage-2 density
    decoder. The points follow a principal component of the particles'
    latents, sit at k-means cluster centres, at the prior's basins, are
    drawn from the prior, or are read from a .npy file.
    """
    _label = "generate ensemble"
    _devStatus = BETA
    _possibleOutputs = GENERATE_OUTPUTS

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        form.addParam("source", params.EnumParam,
                      choices=["PCA path", "k-means centres", "prior basins",
                               "prior samples", "latent file"],
                      default=0, display=params.EnumParam.DISPLAY_COMBO,
                      label="Latent points",
                      help="Where the points come from:\n*PCA path*: evenly "
                           "spaced along one principal component of the "
                           "particles' latents (5th to 95th percentile);\n"
                           "*k-means centres*: cluster centres, each snapped "
                           "to its nearest particle;\n*prior basins*: the "
                           "prior's distinct low-energy states;\n*prior "
                           "samples*: random draws from the prior;\n*latent "
                           "file*: a .npy array, one latent per row.")
        form.addParam("component", params.IntParam, default=1,
                      validators=[params.Positive], condition="source == 0",
                      label="Principal component",
                      help="Which component to follow (1 = the largest "
                           "variance).")
        form.addParam("numberOfPoints", params.IntParam, default=10,
                      validators=[params.Positive], condition="source in (0, 3)",
                      label="Points", help="Points along the path, or prior "
                      "samples.")
        form.addParam("numberOfClusters", params.IntParam, default=10,
                      validators=[params.Positive], condition="source in (1, 2)",
                      label="Clusters / most basins",
                      help="k of k-means, or the most basins to keep.")
        form.addParam("sampler", params.EnumParam, choices=list(cts.SAMPLERS),
                      default=0, condition="source == 3",
                      display=params.EnumParam.DISPLAY_COMBO, label="Sampler",
                      help="dimod sampler of Boltzmann priors (grbm, rbm); "
                           "gaussian and gmm priors are sampled directly.")
        form.addParam("latentFile", params.FileParam, condition="source == 4",
                      label="Latent file (.npy)",
                      help="A NumPy array of shape (points, latent dimension) "
                           "(or the run's decoder inputs).")
        form.addParam("seed", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Random seed",
                      help="Seed of k-means, basin search or sampling.")
        form.addParam("doMaps", params.BooleanParam, default=True,
                      label="Generate maps?",
                      help="Also write one density map per point when the "
                           "run has a density decoder (stage 2); without one "
                           "only structures are written.")
        self._defineComputeParams(form)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.generateStep, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def _sourceName(self):
        return cts.GENERATE_SOURCES[self.source.get()]

    def _outDir(self, *paths):
        return self._getExtraPath("ensemble", *paths)

    def _stem(self):
        source = self._sourceName()
        if source == "pca":
            return "pc%d" % self.component.get()
        return "structures" if source == "file" else source

    def _wantsMaps(self):
        return bool(self.doMaps.get()) and self._runHasDensity()

    def generateStep(self):
        source = self._sourceName()
        args = ["--run", self._getRunDir(), "--out", self._outDir(),
                "--name", self._stem(), "--seed", self.seed.get(),
                "--device", "cuda" if self.usesGpu() else "cpu"]
        if source == "file":
            args += ["--z", self.latentFile.get()]
        else:
            args += ["--from", source, "--component", self.component.get(),
                     "--n", self.numberOfPoints.get(),
                     "--k", self.numberOfClusters.get()]
            if source == "samples":
                args += ["--sampler", cts.SAMPLERS[self.sampler.get()]]
        if self._wantsMaps():
            args.append("--maps")
        self._runEngine("generate", args)

    def createOutputStep(self):
        stem = self._stem()
        z = np.load(self._outDir(stem + "_z.npy"))
        attrs = {cts.FLEX_SOURCE: self._sourceName()}
        if self._sourceName() == "samples":
            attrs[cts.FLEX_SAMPLER] = cts.SAMPLERS[self.sampler.get()]
        full, coarse = self._createStructureSets(
            self._outDir(stem + ".pdb"), self._outDir(stem + "_coarse.pdb"),
            z, "", "models", **attrs)
        outputs = {OUT_STRUCTURES: full,
                   OUT_STRUCTURES_COARSE: coarse}
        maps = sorted(glob.glob(self._outDir(stem + "_[0-9]*.mrc")))
        if self._wantsMaps() and maps:
            outputs[OUT_VOLUMES] = self._createVolumeSet(
                maps, z, "", **attrs)
        self._defineOutputs(**outputs)
        for output in outputs.values():
            self._defineSourceRelation(self.inputParticles, output)

    # ------------------------------------------------------------ info
    def _validate(self):
        errors = self._validateRunInput()
        if errors:
            return errors
        source = self._sourceName()
        particles = self._getInputFlex()
        if source == "file":
            path = self.latentFile.get()
            if not path or not os.path.isfile(path):
                errors.append("Give an existing .npy file of latents.")
        if source == "basins" and self._runPriorName() == "gaussian":
            errors.append("The gaussian prior has a single basin (z = 0): "
                          "choose another source, or train with a "
                          "multi-basin prior (gmm, grbm or rbm).")
        if source == "pca":
            dim = flex_attr(particles, cts.FLEX_LATENT_DIM)
            if dim and self.component.get() > dim:
                errors.append("The latent space has %d dimensions: choose a "
                              "principal component from 1 to %d." % (dim, dim))
        if source == "kmeans" and self.numberOfClusters.get() > particles.getSize():
            errors.append("More clusters (%d) than particles (%d)."
                          % (self.numberOfClusters.get(), particles.getSize()))
        return errors

    def _warnings(self):
        if self.doMaps and not self._runHasDensity():
            return ["The run has no density decoder (stage 2): only "
                    "structures will be generated."]
        return []

    def _describeSource(self):
        return SOURCE_LABELS[self._sourceName()] % {
            "component": self.component.get(), "k": self.numberOfClusters.get(),
            "n": self.numberOfPoints.get(), "file": self.latentFile.get()}

    def _summary(self):
        if not self.hasAttribute(OUT_STRUCTURES):
            return ["Generation has not run yet (%s)." % self._describeSource()]
        structures = getattr(self, OUT_STRUCTURES)
        summary = ["%d structures (full atom and coarse) at %s."
                   % (structures.getSize(), self._describeSource())]
        if self.hasAttribute(OUT_VOLUMES):
            summary.append("%d density maps."
                           % getattr(self, OUT_VOLUMES).getSize())
        return summary

    def _methods(self):
        if not self.hasAttribute(OUT_STRUCTURES):
            return []
        structures = getattr(self, OUT_STRUCTURES)
        text = ("Atomic models were decoded at %d latent points (%s) with the "
                "trained cryoSTAR decoder [Li2024cryostar]"
                % (structures.getSize(), self._describeSource()))
        if self.hasAttribute(OUT_VOLUMES):
            text += ", and density maps with its density decoder"
        return [text + "."]

    def _citations(self):
        return ["Li2024cryostar"] + self._priorCitations(self._runPriorName())
