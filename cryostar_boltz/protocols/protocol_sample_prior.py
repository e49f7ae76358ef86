"""Sample the trained latent prior of a run and decode the samples to
structures; list the prior's basins."""

import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfAtomStructFlex

from .. import constants as cts
from .protocol_base import CryoStarBoltzProtBase, read_json

BOLTZMANN_PRIORS = ("grbm", "rbm")


#: Output names (several outputs share a class, so not an Enum).
OUT_SAMPLES = "Samples"
OUT_SAMPLES_COARSE = "SamplesCoarse"
OUT_BASINS = "Basins"
OUT_BASINS_COARSE = "BasinsCoarse"

#: Output name -> class, what Scipion expects before the run.
SAMPLE_PRIOR_OUTPUTS = {
    OUT_SAMPLES: SetOfAtomStructFlex,
    OUT_SAMPLES_COARSE: SetOfAtomStructFlex,
    OUT_BASINS: SetOfAtomStructFlex,
    OUT_BASINS_COARSE: SetOfAtomStructFlex,
}


class CryoStarBoltzProtSamplePrior(CryoStarBoltzProtBase):
    """Draws latents from the prior a training run learned and decodes them
    to atomic models. Boltzmann priors (grbm, rbm) are sampled through a
    dimod sampler: block Gibbs, simulated annealing, exact enumeration
    (small models) or a D-Wave quantum annealer; gaussian and gmm priors
    are sampled directly. Basin mode lists the prior's distinct
    low-energy states, each decoded to a structure.
    """
    _label = "sample prior"
    _devStatus = BETA
    _possibleOutputs = SAMPLE_PRIOR_OUTPUTS

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        form.addParam("numberOfSamples", params.IntParam, default=100,
                      label="Samples",
                      help="Latents to draw from the prior, each decoded to "
                           "a structure. 0 with basin mode lists the basins "
                           "only.")
        form.addParam("sampler", params.EnumParam, choices=list(cts.SAMPLERS),
                      default=0, display=params.EnumParam.DISPLAY_COMBO,
                      label="Sampler",
                      help="dimod sampler of the Boltzmann priors (grbm, rbm):\n"
                           "*gibbs*: block Gibbs sampling (fast, exact in the "
                           "limit of many sweeps);\n*sa*: simulated annealing "
                           "(dwave-samplers) at the prior's temperature;\n"
                           "*exact*: enumeration of every binary state "
                           "(small models only);\n*qpu*: a D-Wave quantum "
                           "annealer (needs dwave-system and a configured "
                           "API token; the effective temperature is "
                           "estimated and reported).\nThe gaussian and gmm "
                           "priors are sampled directly and ignore it.")
        form.addParam("maxStructures", params.IntParam, default=100,
                      validators=[params.Positive],
                      label="Structures to decode",
                      help="Decode at most this many samples (the first "
                           "ones) to atomic models; the latents and energies "
                           "of every sample are kept in the protocol's extra "
                           "folder (z.npy, energies.npy).")
        form.addParam("numSweeps", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Sweeps",
                      help="Sweeps per sample for gibbs and sa; 0 takes the "
                           "sampler's default.")
        form.addParam("beta", params.FloatParam, default=1.0,
                      validators=[params.Positive],
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Inverse temperature",
                      help="Sample exp(-beta E): 1 samples the prior itself; "
                           "larger values concentrate on its basins.")
        form.addParam("seed", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Random seed",
                      help="Seed of the sampler.")
        group = form.addGroup("Basins")
        group.addParam("doBasins", params.BooleanParam, default=False,
                       label="List the prior's basins?",
                       help="Also find the prior's distinct low-energy states "
                            "(annealing to low temperature, then steepest "
                            "descent) and decode each; needs a multi-basin "
                            "prior (gmm, grbm or rbm).")
        group.addParam("maxBasins", params.IntParam, default=10,
                       validators=[params.Positive], condition="doBasins",
                       label="Most basins", help="Keep at most this many "
                       "basins, lowest energy first.")
        group.addParam("basinReads", params.IntParam, default=200,
                       validators=[params.Positive], condition="doBasins",
                       expertLevel=params.LEVEL_ADVANCED,
                       label="Annealing runs",
                       help="Annealing runs used to find the basins; more "
                            "find rarer basins.")
        self._defineComputeParams(form)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.sampleStep, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def _outDir(self, *paths):
        return self._getExtraPath("samples", *paths)

    def sampleStep(self):
        args = ["--run", self._getRunDir(), "--n", self.numberOfSamples.get(),
                "--seed", self.seed.get(), "--out", self._outDir(),
                "--structures", min(self.maxStructures.get(), self.numberOfSamples.get()),
                "--device", "cuda" if self.usesGpu() else "cpu"]
        if self._runPriorName() in BOLTZMANN_PRIORS:
            args += ["--sampler", self._samplerName(), "--beta", self.beta.get()]
            if self.numSweeps.get() and self._samplerName() in ("gibbs", "sa"):
                args += ["--num-sweeps", self.numSweeps.get()]
        if self.doBasins:
            args += ["--basins", "--max-basins", self.maxBasins.get(),
                     "--basin-reads", self.basinReads.get()]
        self._runEngine("sample-prior", args)

    def createOutputStep(self):
        outputs = {}
        if self.numberOfSamples.get() > 0:
            outputs.update(self._sampleSets())
        if self.doBasins:
            outputs.update(self._basinSets())
        self._defineOutputs(**outputs)
        for output in outputs.values():
            self._defineSourceRelation(self.inputParticles, output)

    def _sampleSets(self):
        info = read_json(self._outDir("info.json")) or {}
        z = np.load(self._outDir("z.npy"))
        count = (info.get("structures") or {}).get("count", len(z))
        values = {cts.ITEM_ENERGY: np.load(self._outDir("energies.npy"))[:count],
                  cts.ITEM_FREE_ENERGY: np.load(self._outDir("free_energy.npy"))[:count]}
        full, coarse = self._createStructureSets(
            self._outDir("samples.pdb"), self._outDir("samples_coarse.pdb"),
            z[:count], "Samples", "samples_models", values,
            **{cts.FLEX_SOURCE: "samples", cts.FLEX_SAMPLER: info.get("sampler")})
        return {OUT_SAMPLES: full,
                OUT_SAMPLES_COARSE: coarse}

    def _basinSets(self):
        table = read_json(self._outDir("basins.json"))["basins"]
        z = np.load(self._outDir("basins_z.npy"))
        values = {cts.ITEM_ENERGY: np.array([b["energy"] for b in table]),
                  cts.ITEM_FREE_ENERGY: np.array([b["free_energy"] for b in table]),
                  cts.ITEM_INDEX: np.array([b["basin"] for b in table], dtype=np.int64)}
        full, coarse = self._createStructureSets(
            self._outDir("basins.pdb"), self._outDir("basins_coarse.pdb"),
            z, "Basins", "basin_models", values, **{cts.FLEX_SOURCE: "basins"})
        return {OUT_BASINS: full,
                OUT_BASINS_COARSE: coarse}

    def _samplerName(self):
        return cts.SAMPLERS[self.sampler.get()]

    # ------------------------------------------------------------ info
    def _validate(self):
        errors = self._validateRunInput()
        if errors:
            return errors
        n = self.numberOfSamples.get()
        if n is None or n < 0:
            errors.append("The number of samples cannot be negative.")
        elif n == 0 and not self.doBasins:
            errors.append("Ask for samples, or for the basins (or both).")
        if self.doBasins and self._runPriorName() == "gaussian":
            errors.append("The gaussian prior has a single basin (z = 0): "
                          "basins need a multi-basin prior (gmm, grbm or "
                          "rbm); train with one of those.")
        return errors

    def _warnings(self):
        warnings = []
        prior = self._runPriorName()
        if prior and prior not in BOLTZMANN_PRIORS and self.sampler.get() != 0:
            warnings.append("The %s prior is sampled directly: the chosen "
                            "sampler is not used." % prior)
        if self._samplerName() == "qpu":
            warnings.append("The qpu sampler sends the prior to a D-Wave "
                            "quantum annealer: it needs dwave-system, a "
                            "configured API token and network access, and "
                            "uses QPU time.")
        return warnings

    def _summary(self):
        summary = []
        info = read_json(self._outDir("info.json"))
        if info:
            timing = info.get("timing") or {}
            summary.append("%d samples of the %s prior with the *%s* sampler "
                           "in %.2f s." % (info["n"], info["prior"], info["sampler"],
                                          timing.get("total_seconds", 0.0)))
            summary.append("Energy (%s): mean %.4g, std %.4g."
                           % (info.get("energy"), info["energy_mean"],
                              info["energy_std"]))
            facts = []
            if info.get("beta") is not None:
                facts.append("beta %s" % info["beta"])
            if info.get("beta_eff") is not None:
                facts.append("effective beta (QPU) %.4g" % info["beta_eff"])
            if info.get("log_z") is not None:
                facts.append("log Z %.4g" % info["log_z"])
            if facts:
                summary.append(", ".join(facts) + ".")
        basins = read_json(self._outDir("basins.json"))
        if basins:
            energies = ", ".join("%.4g" % b["energy"] for b in basins["basins"][:10])
            summary.append("%d basins, energies %s." % (len(basins["basins"]), energies))
        if not summary:
            summary.append("Sampling has not run yet.")
        return summary

    def _methods(self):
        info = read_json(self._outDir("info.json"))
        if not info:
            return []
        text = ("%d latents were sampled from the learned %s prior with "
                "the %s sampler and decoded to atomic models."
                % (info["n"], info["prior"], info["sampler"]))
        if info.get("beta_eff") is not None:
            text += (" The effective inverse temperature of the quantum "
                     "annealer was estimated as %.4g [Benedetti2016temperature]."
                     % info["beta_eff"])
        return [text]

    def _citations(self):
        cites = ["Li2024cryostar"] + self._priorCitations(self._runPriorName())
        if self._samplerName() == "qpu":
            cites.append("Benedetti2016temperature")
        return cites
