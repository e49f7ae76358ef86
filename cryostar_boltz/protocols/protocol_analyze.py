"""Cluster the particles' latents of a training run into flexibility
classes, with one plain particle subset per cluster for re-refinement."""
import os

import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfAtomStructFlex, SetOfClassesFlex, SetOfVolumesFlex

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json
from .form import Outputs, add_choice, add_junk_params, choice_is, junk_threshold_errors
from .protocol_base import CryoStarBoltzProtBase, flex_attr

#: Prefix of the per-cluster particle subsets (ParticlesCluster000, ...):
#: outputs named at run time, one per non-empty cluster.
SUBSET_PREFIX = "ParticlesCluster"

OUTPUTS = Outputs(Classes=SetOfClassesFlex,
                  ClusterStructures=SetOfAtomStructFlex,
                  ClusterStructuresCoarse=SetOfAtomStructFlex,
                  ClusterVolumes=SetOfVolumesFlex)


class CryoStarBoltzProtAnalyze(CryoStarBoltzProtBase):
    """Clusters the latents of the particles of a training run (k-means, a
    Gaussian mixture, or the basins of the learned prior). Outputs the
    clusters as flexibility classes, the structure (and, after stage 2,
    the map) at each cluster centre, and one plain set of particles per
    cluster (*ParticlesCluster000*, ...) that any refinement protocol
    takes as input.
    """
    _label = "analyze"
    _devStatus = BETA
    _possibleOutputs = OUTPUTS
    _engineChoices = {"method": cts.CLUSTER_METHODS}

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        add_choice(form, "method", cts.CLUSTER_METHODS, "kmeans", label="Clustering",
                   help="*kmeans*: k-means on the latents;\n*gmm*: a "
                        "full-covariance Gaussian mixture;\n*basins*: each "
                        "particle joins the basin of the learned prior "
                        "most probable for its latent (multi-basin priors "
                        "only; empty basins are dropped).")
        form.addParam("numberOfClusters", params.IntParam, default=10,
                      validators=[params.Positive], label="Clusters",
                      help="Number of clusters (kmeans, gmm), or the most "
                           "basins to consider (basins).")
        form.addParam("seed", params.IntParam, default=0,
                      expertLevel=params.LEVEL_ADVANCED, label="Random seed",
                      help="Seed of the clustering.")
        form.addParam("basinReads", params.IntParam, default=1000,
                      validators=[params.Positive],
                      condition=choice_is("method", cts.CLUSTER_METHODS, "basins"),
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Basin search reads",
                      help="Prior samples descended to find the prior's basins "
                           "and their populations (annealing runs for rbm; the "
                           "ebm descends its weighted chains instead).")
        form.addParam("doUmap", params.BooleanParam, default=False,
                      label="UMAP embedding?",
                      help="Also a 2-D UMAP embedding of the latents, for the "
                           "latent-space viewer and for selecting particles "
                           "on it (needs the umap-learn package).")
        add_junk_params(form, "Leave out of the clustering (and of the classes "
                              "and subsets) the particles whose junk score is "
                              "above the threshold: those whose consensus pose "
                              "fits the decoded structure no better than random "
                              "orientations (false picks, wrong poses). The "
                              "score is the training output's per-particle "
                              "attribute; runs trained before it existed have "
                              "none.")
        form.addParam("doMaps", params.BooleanParam, default=True,
                      label="Cluster maps?",
                      help="Also write the map at each cluster centre when "
                           "the run has a density decoder (stage 2).")
        self._defineComputeParams(form)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.analyzeStep, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def _outDir(self, *paths):
        return self._getExtraPath(layout.PROTOCOL_ANALYSIS, *paths)

    def _methodName(self):
        return self._choice("method")

    def analyzeStep(self):
        args = ["--run", self._getRunDir(), "--out", self._outDir(),
                "--method", self._methodName(), "--k", self.numberOfClusters.get(),
                "--seed", self.seed.get(), "--basin-reads", self.basinReads.get()]
        if not self.doMaps:
            args.append("--no-maps")
        if self.doUmap:
            args.append("--umap")
        if self.excludeJunk:
            args += ["--exclude-junk", self.junkThreshold.get()]
        self._runEngine("analyze", args + self._engineDevice())

    def createOutputStep(self):
        from .. import convert
        particles = self._getInputFlex()
        summary = read_json(self._outDir(layout.SUMMARY))
        ids = convert.load_particle_ids(flex_attr(particles, cts.FLEX_PARTICLE_IDS))
        labels = np.load(self._outDir(layout.LABELS))
        centres = np.load(self._outDir(summary["z"]))
        maps = [self._outDir(name) for name in summary.get("maps", [])]
        outputs = {}

        # each class copies the particles' flexibility information
        classes = self._createSetOfClassesFlex(self.inputParticles)
        convert.fill_classes_flex(classes, labels, ids, centres,
                                  cts.CRYOSTAR_BOLTZ, maps or None)
        outputs[OUTPUTS.Classes] = classes

        index = {cts.ITEM_INDEX: np.arange(len(centres), dtype=np.int64)}
        source = {cts.FLEX_SOURCE: self._methodName()}
        full, coarse = self._createStructureSets(
            self._outDir(), summary, centres, "Clusters", "cluster_models", index,
            **source)
        outputs[OUTPUTS.ClusterStructures] = full
        outputs[OUTPUTS.ClusterStructuresCoarse] = coarse
        if maps:
            outputs[OUTPUTS.ClusterVolumes] = self._createVolumeSet(
                maps, centres, "Clusters", index, **source)
        outputs.update(self._clusterSubsets(particles, ids, labels))
        self._registerOutputs(outputs, self.inputParticles)

    def _clusterSubsets(self, particles, ids, labels):
        """One plain SetOfParticles per non-empty cluster, named by its
        label (ParticlesCluster000...)."""
        from .. import convert
        width = max(3, len(str(max(int(labels.max()), 0))))
        subsets = {}
        for k in np.unique(labels[labels >= 0]).tolist():  # -1: junk
            subset = self._createSetOfParticles(suffix="Cluster%0*d" % (width, k))
            subset.copyInfo(particles)
            subset.setHasCTF(particles.hasCTF())
            subset.setAlignment(particles.getAlignment())
            subsets[k] = subset
        counts = convert.fill_particle_subsets(subsets, particles, ids, labels)
        return {"%s%0*d" % (SUBSET_PREFIX, width, k): subset
                for k, subset in subsets.items() if counts[k]}

    # ------------------------------------------------------------ info
    def _validate(self):
        errors = self._validateRunInput()
        if errors:
            return errors
        particles = self._getInputFlex()
        ids_file = flex_attr(particles, cts.FLEX_PARTICLE_IDS)
        if not ids_file or not os.path.isfile(ids_file):
            errors.append("The training run's particle id list %s is missing."
                          % ids_file)
        if self.numberOfClusters.get() > particles.getSize():
            errors.append("More clusters (%d) than particles (%d)."
                          % (self.numberOfClusters.get(), particles.getSize()))
        run = self._getRunDir()
        errors += junk_threshold_errors(self)
        if self.excludeJunk and run and not os.path.isfile(layout.RunLayout(run).junk_score):
            errors.append("The training run has no per-particle junk scores "
                          "(it was trained before they were written): "
                          "analyze without excluding junk.")
        if self._methodName() == "basins" and self._runHasOneBasin():
            errors.append("Basin clustering needs a multi-basin prior (gmm, "
                          "grbm or rbm); this run has the gaussian prior: "
                          "choose kmeans or gmm.")
        return errors

    def _warnings(self):
        if self.doMaps and not self._runHasDensity():
            return ["The run has no density decoder (stage 2): no cluster "
                    "maps will be written."]
        return []

    def _summary(self):
        summary_file = read_json(self._outDir(layout.SUMMARY))
        if not summary_file or not self.hasAttribute(OUTPUTS.Classes):
            return ["Clustering has not run yet."]
        lines = ["%d clusters (%s) of %d particles; sizes %s."
                 % (summary_file["k"], self._methodName(),
                    summary_file["n_particles"],
                    ", ".join(str(s) for s in summary_file["sizes"]))]
        if summary_file.get("exclusion"):
            lines.append(summary_file["exclusion"] + ".")
        subsets = [name for name, _ in self.iterOutputAttributes()
                   if name.startswith(SUBSET_PREFIX)]
        lines.append("Particle subsets: %s." % ", ".join(subsets))
        if self.hasAttribute(OUTPUTS.ClusterVolumes):
            lines.append("Maps at the cluster centres.")
        return lines

    def _methods(self):
        summary_file = read_json(self._outDir(layout.SUMMARY))
        if not summary_file:
            return []
        return ["The latents of %d particles were clustered into %d clusters "
                "with %s; each cluster centre was decoded to an atomic model "
                "[Li2024cryostar]." % (summary_file["n_particles"],
                                       summary_file["k"], self._methodName())]

    def _citations(self):
        return ["Li2024cryostar"] + self._priorCitations(self._runPriorName())
