"""Sample the trained latent prior of a run and decode the samples to
structures; list the prior's basins."""
import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfAtomStructFlex

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json
from .form import Outputs, add_choice
from .protocol_base import CryoStarBoltzProtBase

OUTPUTS = Outputs(Samples=SetOfAtomStructFlex, SamplesCoarse=SetOfAtomStructFlex,
                  Basins=SetOfAtomStructFlex, BasinsCoarse=SetOfAtomStructFlex)


class CryoStarBoltzProtSamplePrior(CryoStarBoltzProtBase):
    """Draws latents from the prior a training run learned and decodes them
    to atomic models. Boltzmann priors (grbm, rbm) are sampled through a
    dimod sampler: block Gibbs, simulated annealing, exact enumeration
    (small models) or a D-Wave quantum annealer; every prior with a
    continuous latent (gaussian, gmm, grbm, ebm) also through a Langevin
    sampler of its free energy; gaussian and gmm priors are otherwise
    sampled directly, the ebm prior by Metropolis-adjusted Langevin. Basin
    mode lists the prior's distinct low-energy states, each decoded to a
    structure.
    """
    _label = "sample prior"
    _devStatus = BETA
    _possibleOutputs = OUTPUTS
    _engineChoices = {"sampler": cts.SAMPLERS}

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        form.addParam("numberOfSamples", params.IntParam, default=100,
                      label="Samples",
                      help="Latents to draw from the prior, each decoded to "
                           "a structure. 0 with basin mode lists the basins "
                           "only.")
        add_choice(form, "sampler", cts.SAMPLERS, cts.DEFAULT_SAMPLER, label="Sampler",
                   help="dimod sampler of the Boltzmann priors (grbm, rbm):\n"
                        "*gibbs*: block Gibbs sampling (fast, exact in the "
                        "limit of many sweeps);\n*sa*: simulated annealing "
                        "(dwave-samplers) at the prior's temperature;\n"
                        "*sa-optimise*: simulated annealing down to a low "
                        "temperature: the lowest-energy states, not samples "
                        "of the prior;\n*exact*: enumeration of every binary "
                        "state (small models only);\n*qpu*: a D-Wave quantum "
                        "annealer (needs dwave-system and a configured "
                        "API token; the effective temperature is "
                        "estimated and reported);\n*langevin*: unadjusted "
                        "Langevin dynamics of the free energy F(z), short "
                        "run from N(0, I) (any prior with a continuous "
                        "latent: gaussian, gmm, grbm, ebm);\n*mala*: "
                        "Metropolis-adjusted Langevin, exact in the limit "
                        "(the ebm prior's default).\nWith a dimod sampler "
                        "chosen, the gaussian and gmm priors are sampled "
                        "directly and the ebm prior with mala.")
        form.addParam("maxStructures", params.IntParam, default=100,
                      validators=[params.Positive],
                      label="Structures to decode",
                      help="Decode at most this many samples (the first "
                           "ones) to atomic models; the latents and energies "
                           "of every sample are kept in the protocol's extra "
                           "folder (z.npy, energies.npy).")
        form.addParam("numSweeps", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Sweeps",
                      help="Sweeps per sample of the samplers that sweep "
                           "(gibbs, sa, sa-optimise; Langevin steps of langevin "
                           "and mala; the others ignore it); 0 takes the "
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
                            "prior (gmm, grbm, rbm or ebm).")
        group.addParam("maxBasins", params.IntParam, default=10,
                       validators=[params.Positive], condition="doBasins",
                       label="Most basins", help="Keep at most this many "
                       "basins, lowest energy first.")
        group.addParam("basinReads", params.IntParam, default=1000,
                       validators=[params.Positive], condition="doBasins",
                       expertLevel=params.LEVEL_ADVANCED,
                       label="Basin search reads",
                       help="Prior samples descended to find the basins and "
                            "their populations (annealing runs for rbm; the "
                            "ebm descends its weighted chains instead).")
        self._defineComputeParams(form)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.sampleStep, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def _outDir(self, *paths):
        return self._getExtraPath(layout.PROTOCOL_SAMPLES, *paths)

    def sampleStep(self):
        args = ["--run", self._getRunDir(), "--n", self.numberOfSamples.get(),
                "--seed", self.seed.get(), "--out", self._outDir(),
                "--structures", min(self.maxStructures.get(), self.numberOfSamples.get())]
        if self._samplerApplies():
            args += ["--sampler", self._samplerName()]
            if self.beta.get() != 1.0:  # 1 is the default; a sampler without beta refuses it
                args += ["--beta", self.beta.get()]
            if self.numSweeps.get():
                args += ["--num-sweeps", self.numSweeps.get()]
        if self.doBasins:
            args += ["--basins", "--max-basins", self.maxBasins.get(),
                     "--basin-reads", self.basinReads.get()]
        self._runEngine("sample-prior", args + self._engineDevice())

    def createOutputStep(self):
        outputs = {}
        if self.numberOfSamples.get() > 0:
            outputs.update(self._sampleSets())
        if self.doBasins:
            outputs.update(self._basinSets())
        self._registerOutputs(outputs, self.inputParticles)

    def _sampleSets(self):
        """Samples and their coarse copies: the decoded samples are the
        first ones, as many as ``info.json`` records."""
        info = read_json(self._outDir(layout.SAMPLES_INFO))
        structures = info["structures"]
        count = structures["count"]
        z = np.load(self._outDir(layout.LATENTS))[:count]
        values = {cts.ITEM_ENERGY: np.load(self._outDir(layout.ENERGIES))[:count],
                  cts.ITEM_FREE_ENERGY: np.load(self._outDir(layout.FREE_ENERGY))[:count]}
        full, coarse = self._createStructureSets(
            self._outDir(), structures, z, "Samples", "samples_models", values,
            **{cts.FLEX_SOURCE: "samples", cts.FLEX_SAMPLER: info.get("sampler")})
        return {OUTPUTS.Samples: full, OUTPUTS.SamplesCoarse: coarse}

    def _basinSets(self):
        """Basins and their coarse copies, in the order of ``basins.json``."""
        record = read_json(self._outDir(layout.BASINS_INFO))
        table = record["basins"]
        stem = layout.structure_stem(self._outDir(record["pdb"]))
        z = np.load(layout.points_file(stem))
        values = {cts.ITEM_ENERGY: np.array([b["energy"] for b in table]),
                  cts.ITEM_FREE_ENERGY: np.array([b["free_energy"] for b in table]),
                  cts.ITEM_INDEX: np.array([b["basin"] for b in table], dtype=np.int64)}
        full, coarse = self._createStructureSets(
            self._outDir(), record, z, "Basins", "basin_models", values,
            **{cts.FLEX_SOURCE: "basins"})
        return {OUTPUTS.Basins: full, OUTPUTS.BasinsCoarse: coarse}

    def _samplerName(self):
        return self._choice("sampler")

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
        if (self._runPriorName() in cts.BINARY_CODE_PRIORS
                and self._samplerName() in cts.CONTINUOUS_SAMPLERS):
            errors.append("The %s prior's code is binary: continuous samplers "
                          "(%s) do not apply; choose a dimod sampler."
                          % (self._runPriorName(), ", ".join(cts.CONTINUOUS_SAMPLERS)))
        if self.doBasins and self._runHasOneBasin():
            errors.append("The gaussian prior has a single basin (z = 0): "
                          "basins need a multi-basin prior (gmm, grbm, "
                          "rbm or ebm); train with one of those.")
        return errors

    def _warnings(self):
        warnings = []
        prior = self._runPriorName()
        if (prior and not self._samplerApplies()
                and self._samplerName() != cts.DEFAULT_SAMPLER):
            warnings.append("The %s prior has no binary model: the chosen "
                            "dimod sampler is not used (%s instead)."
                            % (prior, self._samplerUsed()))
        if self._samplerName() == "qpu":
            warnings.append("The qpu sampler sends the prior to a D-Wave "
                            "quantum annealer: it needs dwave-system, a "
                            "configured API token and network access, and "
                            "uses QPU time.")
        return warnings

    def _summary(self):
        summary = []
        info = read_json(self._outDir(layout.SAMPLES_INFO))
        if info:
            timing = info.get("timing") or {}
            summary.append("%d samples of the %s prior with the *%s* sampler "
                           "in %.2f s." % (info["n"], info["prior"], info["sampler"],
                                          timing.get("total_seconds", 0.0)))
            energy = info.get("energy") or "energy"
            summary.append("%s: mean %.4g, std %.4g."
                           % (energy[:1].upper() + energy[1:], info["energy_mean"],
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
        basins = read_json(self._outDir(layout.BASINS_INFO))
        if basins:
            energies = ", ".join("%.4g" % b["energy"] for b in basins["basins"][:10])
            count = len(basins["basins"])
            summary.append("%d basin%s, energies %s."
                           % (count, "" if count == 1 else "s", energies))
        if not summary:
            summary.append("Sampling has not run yet.")
        return summary

    def _methods(self):
        info = read_json(self._outDir(layout.SAMPLES_INFO))
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
