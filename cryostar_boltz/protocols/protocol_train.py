"""Train the structure-guided VAE (stage 1) and, optionally, its density
decoder (stage 2) on particles with poses and CTF and a reference model."""
import csv
import json
import os
import shlex
import shutil
from pathlib import Path

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.constants import ALIGN_PROJ
from pwem.objects import AtomStruct, SetOfParticlesFlex

from .. import constants as cts
from .protocol_base import (CONFIG_FILE, DENSITY_MODEL, LATENTS_FILE,
                            MODEL_FILE, RUN_FOLDER, CryoStarBoltzProtBase,
                            THREADS_HELP, read_json)

#: Engine files a continued run does not take over: the density decoder was
#: trained on the previous latents, which further training changes.
NOT_CONTINUED = ("density",)
#: Map formats whose header the engine reads to place the reference.
MAP_EXTENSIONS = (".mrc", ".map", ".mrcs")


#: Output names.
OUT_PARTICLES = "Particles"
OUT_REFERENCE = "Reference"

#: Output name -> class, what Scipion expects before the run.
TRAIN_OUTPUTS = {
    OUT_PARTICLES: SetOfParticlesFlex,
    OUT_REFERENCE: AtomStruct,
}


def is_immutable(path):
    """Run files the engine writes once and never changes: the downsampled
    particle cache and the per-epoch weights."""
    parts = Path(path).parts
    return "cache" in parts or (len(parts) > 1 and parts[-2] == "checkpoints"
                                and parts[-1].startswith("epoch_"))


def link_tree(source, target, skip=()):
    """Copy a run folder: hard links for the large files the engine never
    rewrites (copies where links fail), real copies for the rest, so
    training the copy further leaves the source run as it was."""
    def copy(src, dst):
        if is_immutable(os.path.relpath(src, source)):
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)
    shutil.copytree(source, target, copy_function=copy, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if n in skip
                                                  and os.path.samefile(folder, source)])


def last_metrics_row(path):
    """The last row of a run's metrics.csv as a dict (None if empty)."""
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as fh:
        rows = csv.DictReader(fh)
        last = None
        for last in rows:
            pass
    return last


class CryoStarBoltzProtTrain(CryoStarBoltzProtBase):
    """Learns a latent code per particle and a deformation of the reference
    atomic model for every latent (cryoSTAR, stage 1), with a Gaussian,
    Gaussian-mixture or Boltzmann-machine prior over the latent space;
    optionally a density map for every latent (stage 2).

    The particles need 3D poses and CTF from a consensus refinement; the
    reference model must sit in the particle box: centred, or docked into
    the consensus map given here.
    """
    _label = "train"
    _devStatus = BETA
    _possibleOutputs = TRAIN_OUTPUTS
    _useGpuDefault = True

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        self._defineInputParams(form)
        self._defineStage1Params(form)
        self._defineLossParams(form)
        self._defineStage2Params(form)
        self._defineComputeParams(form)
        form.getParam("numberOfThreads").help.set(THREADS_HELP)

    def _defineInputParams(self, form):
        form.addSection(label="Input")
        form.addParam("doContinue", params.BooleanParam, default=False,
                      label="Continue a previous run?",
                      help="Train a previous cryoSTAR-Boltz run further: its "
                           "run folder is copied here and training resumes "
                           "from its last checkpoint up to the number of "
                           "epochs given below (more than it has done). "
                           "Its inputs and model settings are kept.")
        form.addParam("continueRun", params.PointerParam,
                      pointerClass="CryoStarBoltzProtTrain",
                      condition="doContinue", allowsNull=True, important=True,
                      label="Previous run",
                      help="The training protocol to continue.")
        form.addParam("inputParticles", params.PointerParam,
                      pointerClass="SetOfParticles", condition="not doContinue",
                      important=True, label="Particles",
                      help="Particles with 3D poses (projection alignment) "
                           "and CTF, e.g. from a consensus 3D refinement.")
        form.addParam("inputReference", params.PointerParam,
                      pointerClass="AtomStruct", condition="not doContinue",
                      important=True, label="Reference atomic model",
                      help="Atomic model (PDB/mmCIF) of one state, in the "
                           "frame of the particle box: docked into the "
                           "consensus map (give the map below) or centred on "
                           "the box. Protein and nucleic-acid residues become "
                           "one pseudo-atom each.")
        form.addParam("inputMap", params.PointerParam, pointerClass="Volume",
                      condition="not doContinue", allowsNull=True,
                      label="Consensus map (optional)",
                      help="The map the reference model was docked into "
                           "(MRC). Its header origin, voxel size and box "
                           "place the model in the particle box. Leave empty "
                           "when the model is already centred on the box.")

    def _defineStage1Params(self, form):
        form.addSection(label="Training")
        form.addParam("numberOfEpochs", params.IntParam, default=20,
                      validators=[params.Positive], label="Epochs",
                      help="Passes over the particles. When continuing a "
                           "run, the total number of epochs (more than the "
                           "previous run did).")
        form.addParam("batchSize", params.IntParam, default=64,
                      validators=[params.Positive], condition="not doContinue",
                      label="Batch size",
                      help="Particles per optimisation step (the global batch, "
                           "split over GPUs).")
        form.addParam("latentDim", params.IntParam, default=8,
                      validators=[params.Positive], condition="not doContinue",
                      label="Latent dimension",
                      help="Size of each particle's continuous latent code. "
                           "8 is the published default; 1-2 make very "
                           "simple motions easy to browse.")
        form.addParam("boxSize", params.IntParam, default=0,
                      condition="not doContinue", label="Training box (px)",
                      help="Downsample the particles to this box (Fourier "
                           "cropping, even number) before training; 0 keeps "
                           "the particles' box. 64-128 px is usually enough "
                           "for the coarse-grained model.")
        form.addParam("lowPass", params.FloatParam, default=10.0,
                      validators=[params.Positive], condition="not doContinue",
                      label="Low-pass filter (A)",
                      help="Resolution limit of the image comparison, in "
                           "Angstrom. The coarse model cannot explain finer "
                           "detail; 10 A is the published default.")
        group = form.addGroup("Latent prior", condition="not doContinue")
        group.addParam("prior", params.EnumParam, choices=list(cts.PRIORS),
                       default=0, display=params.EnumParam.DISPLAY_COMBO,
                       label="Prior",
                       help="Distribution over the latent space:\n"
                            "*gaussian*: standard normal (the published "
                            "method);\n*gmm*: mixture of Gaussians;\n*grbm*: "
                            "Gaussian-Bernoulli restricted Boltzmann machine "
                            "(a mixture of 2^H Gaussians whose binary hidden "
                            "layer is a model D-Wave samplers can sample);\n"
                            "*rbm*: a binary RBM latent next to the "
                            "continuous one (discrete VAE).\nMulti-basin "
                            "priors (gmm, grbm, rbm) let the latent space "
                            "cluster where the data do.")
        group.addParam("priorSize", params.IntParam, default=8,
                       validators=[params.Positive],
                       condition="prior != 0",
                       label="Components / hidden units",
                       help="gmm: number of Gaussian components; grbm and "
                            "rbm: number of hidden binary units (the prior "
                            "can have up to 2^N modes).")
        group.addParam("rbmVisible", params.IntParam, default=8,
                       validators=[params.Positive], condition="prior == 3",
                       label="Binary latent units",
                       help="rbm: number of visible binary units, the binary "
                            "code each particle gets next to its continuous "
                            "latent.")
        group.addParam("gibbsChains", params.IntParam, default=256,
                       validators=[params.Positive],
                       condition="prior in (2, 3)",
                       expertLevel=params.LEVEL_ADVANCED,
                       label="Persistent Gibbs chains",
                       help="grbm and rbm are trained by persistent "
                            "contrastive divergence: the negative phase is "
                            "sampled by this many persistent block-Gibbs "
                            "chains (the training sampler).")
        group.addParam("gibbsSteps", params.IntParam, default=1,
                       validators=[params.Positive],
                       condition="prior in (2, 3)",
                       expertLevel=params.LEVEL_ADVANCED,
                       label="Gibbs sweeps per step",
                       help="Block-Gibbs sweeps of the persistent chains at "
                            "each optimisation step.")

    def _defineLossParams(self, form):
        group = form.addGroup("Losses and optimiser", condition="not doContinue",
                              expertLevel=params.LEVEL_ADVANCED)
        for name, flag, default, label, text in (
                ("continuityWeight", "continuity", 1.0, "Continuity weight",
                 "Weight of the chain-continuity restraint (bonded "
                 "neighbours keep their distance)."),
                ("elasticWeight", "elastic", 1.0, "Elastic network weight",
                 "Weight of the elastic-network restraint between nearby "
                 "residues."),
                ("clashWeight", "clash", 1.0, "Clash weight",
                 "Weight of the penalty on residues closer than 4 A."),
                ("elasticCutoff", "cutoff", 12.0, "Elastic network cutoff (A)",
                 "Residue pairs of a chain closer than this are joined by "
                 "an elastic-network edge."),
                ("elasticKeep", "keep", 0.99, "Elastic edges kept (quantile)",
                 "Per chain, keep the edges below this quantile of distance "
                 "variance; lower (e.g. 0.8) frees large domain motions."),
                ("elasticTolerance", "tolerance", 0.0, "Elastic tolerance (A)",
                 "An elastic edge may stretch or shrink this much for free "
                 "(a flat-bottomed well); 0 is the published harmonic loss."),
                ("freeBits", "bits", 3.0, "KL free bits",
                 "Nats of KL below which the Gaussian prior's KL term is "
                 "not penalised (avoids posterior collapse)."),
                ("klBeta", "beta", 0.5, "KL weight",
                 "Final weight of the KL term."),
                ("learningRate", "lr", 1e-4, "Learning rate",
                 "AdamW learning rate."),
                ("maskRadius", "mask", 0.9375, "Mask radius",
                 "Radius of the circular loss mask, as a fraction of half "
                 "the box.")):
            group.addParam(name, params.FloatParam, default=default,
                           label=label, help=text)
        group.addParam("sigma", params.FloatParam, default=None,
                       allowsNull=True, label="Gaussian width (A)",
                       help="Standard deviation of the Gaussians rendered in "
                            "the projections. Empty: 2 A, a residue's, or an "
                            "atom's (1 A widened by the pixel) when every heavy "
                            "atom is rendered.")
        group.addParam("pseudoAtoms", params.EnumParam,
                       choices=["CA (published)", "residue centroid",
                                "heavy atoms"],
                       default=0, display=params.EnumParam.DISPLAY_HLIST,
                       label="Render residues at",
                       help="Where each residue's Gaussian is projected: at "
                            "its CA (C1' for nucleotides), as the published "
                            "method does, or at its heavy-atom centroid, "
                            "which follows the backbone and matches images "
                            "of real atoms better, or every heavy atom of the "
                            "reference carried by its residue (closest to a "
                            "real map; about 8 times the projection work).")
        group.addParam("elasticWeightFinal", params.FloatParam, default=None,
                       allowsNull=True, label="Final elastic weight",
                       help="If set, the elastic-network weight decays (cosine) "
                            "from its weight above to this value over the "
                            "run: strong restraints early carry the model "
                            "through the noise, weaker ones late let the "
                            "images set the local geometry.")
        group.addParam("klWarmup", params.IntParam, default=10000,
                       label="KL warm-up (steps)",
                       help="Optimisation steps over which the KL weight rises "
                            "from 0 to its final value.")
        group.addParam("seed", params.IntParam, default=0, label="Random seed",
                       help="Seed of the particle order, the noise and the "
                            "initial weights: the same seed and inputs give "
                            "the same run.")
        form.addParam("extraParams", params.StringParam, default="",
                      condition="not doContinue",
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Extra engine options",
                      help="Further options for 'cryostar-boltz train' (see "
                           "its --help), e.g. *--amp* for mixed precision.")

    def _defineStage2Params(self, form):
        form.addSection(label="Density (stage 2)")
        form.addParam("doDensity", params.BooleanParam, default=False,
                      label="Train the density decoder?",
                      help="After stage 1, learn a density map for every "
                           "latent (the stage-1 latents stay fixed). Needed "
                           "to generate maps; structures need only stage 1.")
        form.addParam("densityEpochs", params.IntParam, default=20,
                      validators=[params.Positive], condition="doDensity",
                      label="Epochs", help="Passes over the particles.")
        form.addParam("densityBox", params.IntParam, default=0,
                      condition="doDensity", label="Box (px)",
                      help="Downsample the particles to this box for stage "
                           "2; 0 uses the stage-1 box. The maps have this "
                           "box.")
        form.addParam("densityHidden", params.IntParam, default=1024,
                      validators=[params.Positive], condition="doDensity",
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Decoder width",
                      help="Width of the density decoder (1024 as in "
                           "cryoDRGN; smaller is faster on a CPU).")
        form.addParam("densityLayers", params.IntParam, default=3,
                      validators=[params.Positive], condition="doDensity",
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Residual blocks", help="Depth of the decoder.")
        form.addParam("densityBatch", params.IntParam, default=8,
                      validators=[params.Positive], condition="doDensity",
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Batch size", help="Particles per step.")

    # ------------------------------------------------------------ steps
    def _createFilenameTemplates(self):
        self._updateFilenamesDict({
            "star": self._getExtraPath("particles.star"),
            "ids": self._getExtraPath("particle_ids.npy"),
            "run": self._getExtraPath(RUN_FOLDER),
            "model": self._getExtraPath(RUN_FOLDER, MODEL_FILE),
            "config": self._getExtraPath(RUN_FOLDER, CONFIG_FILE),
            "z": self._getExtraPath(RUN_FOLDER, LATENTS_FILE),
            "last": self._getExtraPath(RUN_FOLDER, "checkpoints", "last.pt"),
            "pca": self._getExtraPath(RUN_FOLDER, "analysis", "pca.npz"),
            "density_last": self._getExtraPath(RUN_FOLDER, "density",
                                               "checkpoints", "last.pt"),
        })

    def _insertAllSteps(self):
        self._createFilenameTemplates()
        if self.doContinue:
            self._insertFunctionStep(self.continueStep, needsGPU=False)
        else:
            self._insertFunctionStep(self.convertInputStep, needsGPU=False)
        self._insertFunctionStep(self.trainStep, needsGPU=True)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)
        if self.doDensity:
            self._insertFunctionStep(self.trainDensityStep, needsGPU=True)

    def convertInputStep(self):
        """The particles as a RELION star (stacks referenced where they are)
        and their ids in star order."""
        from .. import convert
        ids = convert.write_particles_star(self._getFileName("star"),
                                           self._getInputParticles())
        convert.save_particle_ids(self._getFileName("ids"), ids)

    def continueStep(self):
        """Take over the previous run folder and its particle ids."""
        previous = self.continueRun.get()
        target = self._getFileName("run")
        if os.path.isdir(target):  # a resumed step: keep what trained here
            return
        shutil.copy2(previous._getExtraPath("particle_ids.npy"),
                     self._getFileName("ids"))
        partial = target + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        link_tree(previous._getExtraPath(RUN_FOLDER), partial, skip=NOT_CONTINUED)
        os.rename(partial, target)  # the run folder appears complete or not at all

    def trainStep(self):
        resume = self.doContinue.get() or os.path.exists(self._getFileName("last"))
        args = self._resumeArgs() if resume else self._trainArgs()
        self._runEngine("train", args, processes=self._gpuCount())

    def createOutputStep(self):
        """Particles with latents and the reference the run used."""
        from .. import convert
        ids = convert.load_particle_ids(self._getFileName("ids"))
        z = convert.read_latents(self._getFileName("z"), len(ids))
        z_red = self._pcaScores(len(ids))
        particles = self._getInputParticles()
        model = read_json(self._getFileName("config"))
        out = self._createSetOfParticlesFlex(progName=cts.CRYOSTAR_BOLTZ)
        out.copyInfo(particles)
        out.setHasCTF(particles.hasCTF())
        out.setAlignmentProj()
        info = out.getFlexInfo()
        info.setProgName(cts.CRYOSTAR_BOLTZ)
        for name, value in ((cts.FLEX_RUN_DIR, self._getFileName("run")),
                            (cts.FLEX_MODEL, self._getFileName("model")),
                            (cts.FLEX_CONFIG, self._getFileName("config")),
                            (cts.FLEX_PARTICLE_IDS, self._getFileName("ids")),
                            (cts.FLEX_PRIOR, model["prior"]),
                            (cts.FLEX_PRIOR_OPTIONS,
                             json.dumps(model.get("prior_options", {}), sort_keys=True)),
                            (cts.FLEX_LATENT_DIM, int(z.shape[1]))):
            info.setAttr(name, value)
        reference = self._referenceCopy()
        info.setAttr(cts.FLEX_REFERENCE, reference)
        convert.fill_particles_flex(out, particles, ids, z, cts.CRYOSTAR_BOLTZ, z_red)
        structure = AtomStruct(filename=reference)
        self._defineOutputs(**{OUT_PARTICLES: out,
                               OUT_REFERENCE: structure})
        self._defineSourceRelation(self._getInputParticles(pointer=True), out)
        self._defineSourceRelation(self._getInputReference(pointer=True), structure)
        self._defineSourceRelation(self._getInputReference(pointer=True), out)

    def trainDensityStep(self):
        run = self._getFileName("run")
        if os.path.exists(self._getFileName("density_last")):
            args = ["--run", run, "--resume", "--epochs", self.densityEpochs.get()]
        else:
            args = ["--run", run, "--epochs", self.densityEpochs.get(),
                    "--hidden", self.densityHidden.get(),
                    "--layers", self.densityLayers.get(),
                    "--batch-size", self.densityBatch.get()]
            if self.densityBox.get():
                args += ["--box", self.densityBox.get()]
        args += self._engineDeviceArgs()
        self._runEngine("train-density", args, processes=self._gpuCount())

    # ------------------------------------------------------------ arguments
    def _priorName(self):
        return cts.PRIORS[self.prior.get()]

    def _priorOptions(self):
        prior = self._priorName()
        if prior == "gmm":
            return {"components": self.priorSize.get()}
        options = {}
        if prior == "grbm":
            options["hidden_units"] = self.priorSize.get()
        elif prior == "rbm":
            options.update(visible_units=self.rbmVisible.get(),
                           hidden_units=self.priorSize.get())
        if prior in ("grbm", "rbm"):
            options.update(num_chains=self.gibbsChains.get(),
                           gibbs_steps=self.gibbsSteps.get())
        return options

    def _trainArgs(self):
        args = ["--particles", self._getFileName("star"),
                "--reference", self._getReferenceFile(),
                "--out", self._getFileName("run"),
                "--epochs", self.numberOfEpochs.get(),
                "--batch-size", self.batchSize.get(),
                "--latent-dim", self.latentDim.get(),
                "--low-pass", self.lowPass.get(),
                "--prior", self._priorName()]
        for key, value in self._priorOptions().items():
            args += ["--prior-option", "%s=%s" % (key, value)]
        if self.boxSize.get():
            args += ["--box", self.boxSize.get()]
        if self._getMapFile():
            args += ["--map", self._getMapFile()]
        args += ["--continuity-weight", self.continuityWeight.get(),
                 "--elastic-weight", self.elasticWeight.get(),
                 "--clash-weight", self.clashWeight.get(),
                 "--elastic-cutoff", self.elasticCutoff.get(),
                 "--elastic-keep", self.elasticKeep.get(),
                 "--elastic-tolerance", self.elasticTolerance.get(),
                 "--free-bits", self.freeBits.get(),
                 "--kl-beta", self.klBeta.get(),
                 "--kl-warmup", self.klWarmup.get(),
                 "--lr", self.learningRate.get(),
                 "--pseudo-atoms", cts.PSEUDO_ATOMS[self.pseudoAtoms.get()],
                 "--mask-radius", self.maskRadius.get(),
                 "--seed", self.seed.get()]
        if self.elasticWeightFinal.get() is not None:
            args += ["--elastic-weight-final", self.elasticWeightFinal.get()]
        if self.sigma.get() is not None:
            args += ["--sigma", self.sigma.get()]
        return args + self._engineDeviceArgs() + self._extraArgs()

    def _resumeArgs(self):
        return (["--resume", "--out", self._getFileName("run"),
                 "--epochs", self.numberOfEpochs.get()]
                + self._engineDeviceArgs())

    def _extraArgs(self):
        return shlex.split(self.extraParams.get() or "")

    # ------------------------------------------------------------ inputs
    def _sourceRun(self):
        """This protocol, or the first run of a chain of continued runs
        (which holds the inputs)."""
        run = self
        while run.doContinue.get() and run.continueRun.get() is not None:
            run = run.continueRun.get()
        return run

    def _getInputParticles(self, pointer=False):
        particles = self._sourceRun().inputParticles
        return particles if pointer else particles.get()

    def _getInputReference(self, pointer=False):
        reference = self._sourceRun().inputReference
        return reference if pointer else reference.get()

    def _getReferenceFile(self):
        reference = self._getInputReference()
        return None if reference is None else reference.getFileName()

    def _getMapFile(self):
        volume = self._sourceRun().inputMap.get()
        if volume is None:
            return None
        from ..convert import scipion_file_path
        return scipion_file_path(volume.getFileName())

    def _referenceCopy(self):
        """The run's copy of the reference (what its structures derive from)."""
        run = self._getFileName("run")
        names = [n for n in sorted(os.listdir(run)) if n.startswith("reference.")]
        return os.path.join(run, names[0]) if names else self._getReferenceFile()

    def _pcaScores(self, n):
        path = self._getFileName("pca")
        if not os.path.isfile(path):
            return None
        import numpy as np
        with np.load(path) as pca:
            scores = pca["scores"]
        return scores if len(scores) == n else None

    # ------------------------------------------------------------ info
    def _validate(self):
        if self.doContinue:
            return self._validateContinue()
        errors = []
        particles = self._getInputParticles()
        reference = self._getInputReference()
        if particles is None or reference is None:
            return errors  # pyworkflow reports the empty inputs
        errors += self._validateParticles(particles)
        errors += self._validateOptions(particles)
        if not errors:
            errors += self._validateReference(particles)
        return errors

    def _validateParticles(self, particles):
        errors = []
        if particles.getAlignment() != ALIGN_PROJ:
            errors.append("The particles have no 3D alignment (projection "
                          "poses); run a 3D refinement first.")
        if not particles.hasCTF():
            errors.append("The particles have no CTF; estimate the CTF "
                          "(and refine the particles) first.")
        apix = particles.getSamplingRate()
        if not apix or apix <= 0:
            errors.append("The particles have no sampling rate (pixel size).")
        dim = particles.getDim()
        if not dim or not dim[0] or dim[0] != dim[1]:
            errors.append("The particles must be square images (they are %s)."
                          % (dim,))
        return errors

    def _validateOptions(self, particles):
        errors = []
        box = self.boxSize.get() or 0
        particle_box = particles.getDim()[0] if particles.getDim() else 0
        if box and (box % 2 or box > particle_box or box < 0):
            errors.append("The training box must be an even number of pixels "
                          "up to the particles' box (%d px); it is %d."
                          % (particle_box, box))
        if self.doDensity and self.densityBox.get() and self.densityBox.get() % 2:
            errors.append("The stage-2 box must be an even number of pixels.")
        if not 0 < self.maskRadius.get() <= 1:
            errors.append("The mask radius is a fraction of half the box: "
                          "between 0 and 1.")
        if not 0 < self.elasticKeep.get() <= 1:
            errors.append("The kept elastic edges are a quantile: between 0 "
                          "and 1.")
        if self.usesGpu() and not self.getGpuList():
            errors.append("Give at least one GPU id, or run on the CPU.")
        if self.usesGpu() and self.batchSize.get() % self._gpuCount():
            errors.append("The batch size (%d) must be divisible by the "
                          "number of GPUs (%d)." % (self.batchSize.get(),
                                                    self._gpuCount()))
        return errors

    def _validateReference(self, particles):
        """The engine's own check: the model, placed by the map when given,
        is centred on the particle box and fits inside it."""
        from ..engine.placement import place_reference
        from ..engine.structure import load_structure
        path = self._getReferenceFile()
        if not path or not os.path.isfile(path):
            return ["The reference model file %s does not exist." % path]
        errors = []
        apix = particles.getSamplingRate()
        box = particles.getDim()[0]
        map_path = self._getMapFile()
        if map_path:
            errors += self._validateMap(map_path, apix)
            if errors:
                return errors
        try:
            model = load_structure(path)
            place_reference(model, box, apix, map_path, source=os.path.basename(path))
        except (ValueError, OSError) as err:
            errors.append("Reference model: %s" % err)
        return errors

    def _validateMap(self, map_path, apix):
        from ..convert import map_sampling_rate
        if os.path.splitext(map_path)[1].lower() not in MAP_EXTENSIONS:
            return ["The consensus map must be an MRC file to place the "
                    "model (%s is not); convert it or leave the map empty "
                    "with a box-centred model." % map_path]
        try:
            voxel = map_sampling_rate(map_path)
        except ValueError as err:
            return [str(err)]
        volume = self._sourceRun().inputMap.get()
        scipion_apix = volume.getSamplingRate()
        if scipion_apix and abs(voxel - scipion_apix) > 0.01 * scipion_apix:
            return ["The consensus map's header gives %.4f A/voxel but "
                    "Scipion records %.4f A/px: fix the header (the engine "
                    "reads it to place the model)." % (voxel, scipion_apix)]
        return []

    def _validateContinue(self):
        previous = self.continueRun.get()
        if previous is None:
            return ["Select the training run to continue."]
        if previous.getObjId() == self.getObjId():
            return ["A run cannot continue itself."]
        run = previous._getExtraPath(RUN_FOLDER)
        if not os.path.isfile(os.path.join(run, CONFIG_FILE)):
            return ["The previous run %s has no training run folder to "
                    "continue (it did not start training)." % previous.getRunName()]
        done = previous.numberOfEpochs.get()
        if previous.isFinished() and self.numberOfEpochs.get() <= done:
            return ["The previous run trained %d epochs: ask for more "
                    "epochs (the total, not the extra ones)." % done]
        return []

    def _warnings(self):
        warnings = []
        if not self.usesGpu() and not self.doContinue:
            particles = self._getInputParticles()
            if particles is not None and particles.getSize() > 20000:
                warnings.append("Training %d particles on the CPU will be "
                                "slow; a GPU is recommended."
                                % particles.getSize())
        return warnings

    def _summary(self):
        summary = []
        config = read_json(self._getExtraPath(RUN_FOLDER, CONFIG_FILE))
        if config:
            options = config.get("prior_options") or {}
            details = ", ".join("%s %s" % kv for kv in sorted(options.items()))
            box = ("box %d px" % config["box"]) if config.get("box") \
                else "the particles' box"
            summary.append("Prior: *%s*%s, latent dimension %d, %s."
                           % (config["prior"], " (%s)" % details if details else "",
                              config["latent_dim"], box))
        last = last_metrics_row(self._getExtraPath(RUN_FOLDER, "metrics.csv"))
        if last:
            summary.append("Trained %s epochs (%s steps); last loss %s "
                           "(image %s, KL %s)." % (last.get("epoch"), last.get("step"),
                                                   last.get("loss"), last.get("image"),
                                                   last.get("kl")))
        if self.hasAttribute(OUT_PARTICLES):
            particles = getattr(self, OUT_PARTICLES)
            summary.append("Output: %d particles with latents."
                           % particles.getSize())
        elif not summary:
            summary.append("Training has not started yet.")
        if self.doDensity:
            done = os.path.isfile(self._getExtraPath(RUN_FOLDER, DENSITY_MODEL))
            summary.append("Density decoder (stage 2): %s."
                           % ("trained" if done else "not trained yet"))
        return summary

    def _methods(self):
        config = read_json(self._getExtraPath(RUN_FOLDER, CONFIG_FILE))
        if not config or not self.hasAttribute(OUT_PARTICLES):
            return []
        particles = getattr(self, OUT_PARTICLES)
        text = ("Conformational heterogeneity was analysed with cryoSTAR "
                "[Li2024cryostar] as implemented in cryostar-boltz: a "
                "structure-guided variational auto-encoder learned a "
                "%d-dimensional latent code for each of %d particles and a "
                "deformation of the reference atomic model for every latent, "
                "with a %s latent prior, for %d epochs (batch %d, low-pass "
                "%.1f A)." % (config["latent_dim"], particles.getSize(),
                              config["prior"], config["epochs"],
                              config["batch_size"], config["low_pass"]))
        if self.doDensity and os.path.isfile(self._getExtraPath(RUN_FOLDER, DENSITY_MODEL)):
            text += (" A density decoder was then trained on the fixed "
                     "latents for %d epochs." % self.densityEpochs.get())
        return [text]

    def _citations(self):
        config = read_json(self._getExtraPath(RUN_FOLDER, CONFIG_FILE))
        prior = config["prior"] if config else (
            None if self.doContinue.get() else self._priorName())
        return ["Li2024cryostar"] + self._priorCitations(prior)
