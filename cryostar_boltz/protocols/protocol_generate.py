"""Decode ensembles of latents of a training run to atomic models (coarse
and full atom) and, after stage 2, to density maps."""
import os

import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfAtomStructFlex, SetOfVolumesFlex

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json
from .form import Outputs, add_choice, choice_is
from .protocol_base import CryoStarBoltzProtBase, flex_attr

SOURCE_LABELS = {
    "pca": "points along principal component %(component)d",
    "kmeans": "%(k)d k-means cluster centres",
    "basins": "the prior's basins (at most %(k)d)",
    "samples": "%(n)d samples of the prior",
    "file": "the latents of %(file)s",
}

OUTPUTS = Outputs(Structures=SetOfAtomStructFlex,
                  StructuresCoarse=SetOfAtomStructFlex,
                  Volumes=SetOfVolumesFlex)


def _source_is(*names):
    return choice_is("source", cts.GENERATE_SOURCES, *names)


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
    _possibleOutputs = OUTPUTS
    _engineChoices = {"source": cts.GENERATE_SOURCES, "sampler": cts.SAMPLERS}

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        add_choice(form, "source", cts.GENERATE_SOURCES, "pca", label="Latent points",
                   help="Where the points come from:\n*pca*: evenly spaced "
                        "along one principal component of the particles' "
                        "latents (5th to 95th percentile);\n*kmeans*: "
                        "k-means cluster centres, each snapped to its nearest "
                        "particle;\n*basins*: the prior's distinct low-energy "
                        "states;\n*samples*: random draws from the prior;\n"
                        "*file*: a .npy array, one latent per row.")
        form.addParam("component", params.IntParam, default=1,
                      validators=[params.Positive], condition=_source_is("pca"),
                      label="Principal component",
                      help="Which component to follow (1 = the largest "
                           "variance).")
        form.addParam("numberOfPoints", params.IntParam, default=10,
                      validators=[params.Positive],
                      condition=_source_is("pca", "samples"),
                      label="Points", help="Points along the path, or prior "
                      "samples.")
        form.addParam("numberOfClusters", params.IntParam, default=10,
                      validators=[params.Positive],
                      condition=_source_is("kmeans", "basins"),
                      label="Clusters / most basins",
                      help="k of k-means, or the most basins to keep.")
        add_choice(form, "sampler", cts.SAMPLERS, cts.DEFAULT_SAMPLER,
                   condition=_source_is("samples"), label="Sampler",
                   help="dimod sampler of Boltzmann priors (grbm, rbm), or "
                        "a continuous sampler (langevin, mala) of any prior "
                        "with a continuous latent; otherwise gaussian and "
                        "gmm priors are sampled directly, ebm with mala.")
        form.addParam("latentFile", params.FileParam, condition=_source_is("file"),
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
        return self._choice("source")

    def _outDir(self, *paths):
        return self._getExtraPath(layout.PROTOCOL_ENSEMBLE, *paths)

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
                "--name", self._stem()] + self._engineDevice()
        if source == "file":
            args += ["--z", self.latentFile.get()]
        else:  # only the options of the source: the engine refuses the others
            given = {"component": self.component.get(), "n": self.numberOfPoints.get(),
                     "k": self.numberOfClusters.get(), "seed": self.seed.get(),
                     "sampler": self._choice("sampler") if self._samplerApplies() else None}
            args += ["--from", source]
            for name in cts.GENERATE_SOURCE_OPTIONS[source]:
                if given[name] is not None:  # a sampler that does not apply: the prior's own
                    args += ["--" + name, given[name]]
        if self._wantsMaps():
            args.append("--maps")
        self._runEngine("generate", args)

    def createOutputStep(self):
        record = read_json(self._outDir(layout.SUMMARY))
        z = np.load(self._outDir(record["z"]))
        attrs = {cts.FLEX_SOURCE: record["source"]}
        if record["source"] == "samples":
            attrs[cts.FLEX_SAMPLER] = self._samplerUsed()
        full, coarse = self._createStructureSets(self._outDir(), record, z, "",
                                                 "models", **attrs)
        outputs = {OUTPUTS.Structures: full, OUTPUTS.StructuresCoarse: coarse}
        if record["maps"]:
            outputs[OUTPUTS.Volumes] = self._createVolumeSet(
                [self._outDir(name) for name in record["maps"]], z, "", **attrs)
        self._registerOutputs(outputs, self.inputParticles)

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
        if source == "basins" and self._runHasOneBasin():
            errors.append("The gaussian prior has a single basin (z = 0): "
                          "choose another source, or train with a "
                          "multi-basin prior (gmm, grbm, rbm or ebm).")
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
        if not self.hasAttribute(OUTPUTS.Structures):
            return ["Generation has not run yet (%s)." % self._describeSource()]
        structures = getattr(self, OUTPUTS.Structures)
        summary = ["%d structures (full atom and coarse) at %s."
                   % (structures.getSize(), self._describeSource())]
        if self.hasAttribute(OUTPUTS.Volumes):
            summary.append("%d density maps."
                           % getattr(self, OUTPUTS.Volumes).getSize())
        return summary

    def _methods(self):
        if not self.hasAttribute(OUTPUTS.Structures):
            return []
        structures = getattr(self, OUTPUTS.Structures)
        text = ("Atomic models were decoded at %d latent points (%s) with the "
                "trained cryoSTAR decoder [Li2024cryostar]"
                % (structures.getSize(), self._describeSource()))
        if self.hasAttribute(OUTPUTS.Volumes):
            text += ", and density maps with its density decoder"
        return [text + "."]

    def _citations(self):
        return ["Li2024cryostar"] + self._priorCitations(self._runPriorName())
