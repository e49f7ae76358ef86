"""Train the structure-guided VAE (stage 1) and, optionally, its density
decoder (stage 2) on particles with poses and CTF and a reference model."""
import json
import os
import shlex
import shutil

from pyworkflow.constants import BETA
from pwem.objects import AtomStruct, SetOfParticlesFlex

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json
from . import train_checks, train_form
from .form import THREADS_HELP, Outputs
from .jobs import (agreement_summary, convergence_summary, counted_field,
                   last_metrics_row, pca_scores)
from .protocol_base import CryoStarBoltzProtBase
from .run_copy import copy_run
from .train_form import DENSITY_FIELDS, STAGE1_FIELDS, STAGE1_OPTIONAL, flag

OUTPUTS = Outputs(Particles=SetOfParticlesFlex, Reference=AtomStruct)


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
    _possibleOutputs = OUTPUTS
    _useGpuDefault = True
    _engineChoices = dict(train_form.NETWORK_CHOICES, prior=cts.PRIORS, motion=cts.MOTIONS,
                          structureFormat=cts.STRUCTURE_FORMATS, settings=cts.PRESETS)

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        train_form.define_input(form)
        train_form.define_stage1(form)
        train_form.define_focus(form)
        train_form.define_losses(form)
        train_form.define_stage2(form)
        self._defineComputeParams(form)
        form.getParam("numberOfThreads").help.set(THREADS_HELP)

    # ------------------------------------------------------------ files
    def _runLayout(self):
        """The engine's run folder of this protocol."""
        return layout.RunLayout(self._getExtraPath(layout.PROTOCOL_RUN))

    def _starFile(self):
        return self._getExtraPath(layout.PROTOCOL_PARTICLES)

    def _idsFile(self):
        return self._getExtraPath(layout.PROTOCOL_PARTICLE_IDS)

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
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
        ids = convert.write_particles_star(self._starFile(), self._getInputParticles())
        convert.save_particle_ids(self._idsFile(), ids)

    def continueStep(self):
        """Take over the previous run folder and its particle ids."""
        previous = self.continueRun.get()
        if os.path.isdir(self._runLayout().root):  # a resumed step: keep what trained here
            return
        shutil.copy2(previous._idsFile(), self._idsFile())
        copy_run(previous._runLayout().root, self._runLayout().root)

    def trainStep(self):
        # a rerun step continues what an earlier attempt started here
        resume = self.doContinue.get() or self._runLayout().config.exists()
        args = self._resumeArgs() if resume else self._trainArgs()
        self._runEngine("train", args, processes=self._gpuCount())

    def createOutputStep(self):
        """Particles with latents and the reference the run used."""
        from .. import convert
        run = self._runLayout()
        ids = convert.load_particle_ids(self._idsFile())
        z = convert.read_latents(str(run.latents), len(ids))
        particles = self._getInputParticles()
        config = read_json(run.config)
        out = self._createSetOfParticlesFlex(progName=cts.CRYOSTAR_BOLTZ)
        out.copyInfo(particles)
        out.setHasCTF(particles.hasCTF())
        out.setAlignmentProj()
        info = out.getFlexInfo()
        info.setProgName(cts.CRYOSTAR_BOLTZ)
        reference = self._referenceCopy()
        for name, value in ((cts.FLEX_RUN_DIR, str(run.root)),
                            (cts.FLEX_MODEL, str(run.model)),
                            (cts.FLEX_CONFIG, str(run.config)),
                            (cts.FLEX_PARTICLE_IDS, self._idsFile()),
                            (cts.FLEX_PRIOR, config["prior"]),
                            (cts.FLEX_PRIOR_OPTIONS,
                             json.dumps(config.get("prior_options", {}), sort_keys=True)),
                            (cts.FLEX_LATENT_DIM, int(z.shape[1])),
                            (cts.FLEX_REFERENCE, reference)):
            info.setAttr(name, value)
        convert.fill_particles_flex(out, particles, ids, z, cts.CRYOSTAR_BOLTZ,
                                    pca_scores(run.pca, len(ids)),
                                    convert.particle_score_values(run.root, len(ids)))
        structure = AtomStruct(filename=reference)
        self._registerOutputs({OUTPUTS.Particles: out, OUTPUTS.Reference: structure})
        reference_input = self._getInputReference(pointer=True)
        self._defineSourceRelation(self._getInputParticles(pointer=True), out)
        self._defineSourceRelation(reference_input, structure)
        self._defineSourceRelation(reference_input, out)

    def trainDensityStep(self):
        run = self._runLayout()
        args = ["--run", str(run.root), "--epochs", self.densityEpochs.get()]
        if layout.RunLayout(run.density).config.exists():
            args.append("--resume")
        else:
            for param, field in DENSITY_FIELDS.items():
                args += [flag(field), getattr(self, param).get()]
            if self.densityBox.get():
                args += ["--box", self.densityBox.get()]
            args += ["--exclude-junk"] if self.densityExcludeJunk else []
        self._runEngine("train-density", args + self._engineDeviceArgs(),
                        processes=self._gpuCount())

    # ------------------------------------------------------------ arguments
    def _priorOptions(self):
        """The ``--prior-option`` values of the chosen prior."""
        prior = self._choice("prior")
        if prior == "gmm":
            return {"components": self.priorSize.get()}
        if prior == "ebm":
            return {"energy_width": self.energyWidth.get(),
                    "num_chains": self.langevinChains.get(),
                    "langevin_steps": self.langevinSteps.get()}
        options = {}
        if prior == "grbm":
            options["hidden_units"] = self.priorSize.get()
        elif prior == "rbm":
            options.update(visible_units=self.rbmVisible.get(),
                           hidden_units=self.priorSize.get())
        if prior in cts.BOLTZMANN_PRIORS:
            options.update(num_chains=self.gibbsChains.get(),
                           gibbs_steps=self.gibbsSteps.get())
        return options

    def _trainArgs(self):
        args = ["--particles", self._starFile(),
                "--reference", self._getReferenceFile(),
                "--out", str(self._runLayout().root),
                "--prior", self._choice("prior"),
                "--format", self._choice("structureFormat")] + train_form.network_args(self)
        for key, value in self._priorOptions().items():
            args += ["--prior-option", "%s=%s" % (key, value)]
        if self._getMapFile():
            args += ["--map", self._getMapFile()]
        for param, field in STAGE1_FIELDS.items():
            args += [flag(field), getattr(self, param).get()]
        for param, field in STAGE1_OPTIONAL.items():
            if getattr(self, param).get() is not None:
                args += [flag(field), getattr(self, param).get()]
        if self.boxSize.get():  # 0: the particles' box
            args += ["--box", self.boxSize.get()]
        if self.halfSets:
            args.append("--half-sets")
        args += train_form.focus_args(self) + train_form.settings_args(self)
        return args + self._engineDeviceArgs() + shlex.split(self.extraParams.get() or "")

    def _resumeArgs(self):
        epochs = self.numberOfEpochs.get()  # empty: the run's own
        return (["--resume", "--out", str(self._runLayout().root)]
                + (["--epochs", epochs] if epochs else []) + self._engineDeviceArgs())

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
        copy = self._runLayout().reference_copy()
        return str(copy) if copy is not None else self._getReferenceFile()

    # ------------------------------------------------------------ info
    def _validate(self):
        if self.doContinue:
            return self._validateContinue()
        particles = self._getInputParticles()
        if particles is None or self._getInputReference() is None:
            return []  # pyworkflow reports the empty inputs
        errors = train_checks.particle_errors(particles) + self._validateOptions(particles)
        map_path = self._getMapFile()
        if not errors and map_path:
            errors = train_checks.map_errors(
                map_path, self._sourceRun().inputMap.get().getSamplingRate())
        if not errors:
            errors = train_checks.reference_errors(
                self._getReferenceFile(), particles.getDim()[0],
                particles.getSamplingRate(), map_path)
        return errors

    def _validateOptions(self, particles):
        particle_box = particles.getDim()[0] if particles.getDim() else 0
        errors = train_checks.option_errors(
            self.boxSize.get() or 0, particle_box, self.densityBox.get() if self.doDensity
            else 0, self.maskRadius.get(), self.elasticKeep.get())
        errors += train_form.network_errors(self, self.boxSize.get() or particle_box)
        return errors + self._gpuErrors(train_form.planned_batch(self))

    def _validateContinue(self):
        previous = self.continueRun.get()
        if previous is None:
            return ["Select the training run to continue."]
        if previous.getObjId() == self.getObjId():
            return ["A run cannot continue itself."]
        if not previous._runLayout().config.is_file():
            return ["The previous run %s has no training run folder to "
                    "continue (it did not start training)." % previous.getRunName()]
        done = (read_json(previous._runLayout().config) or {}).get("epochs")
        if previous.isFinished() and done and (self.numberOfEpochs.get() or 0) <= done:
            return ["The previous run trained %d epochs: ask for more "
                    "epochs (the total, not the extra ones)." % done]
        return []

    def _warnings(self):
        if not self.usesGpu() and not self.doContinue:
            particles = self._getInputParticles()
            if particles is not None and particles.getSize() > 20000:
                return ["Training %d particles on the CPU will be slow; a GPU "
                        "is recommended." % particles.getSize()]
        return []

    def _summary(self):
        summary = []
        config = read_json(self._runLayout().config)
        if config:
            options = config.get("prior_options") or {}
            details = ", ".join("%s %s" % kv for kv in sorted(options.items()))
            box = ("box %d px" % config["box"]) if config.get("box") else "the particles' box"
            summary.append("Prior: *%s*%s, latent dimension %d, %s."
                           % (config["prior"], " (%s)" % details if details else "",
                              config["latent_dim"], box))
            summary += train_form.focus_summary(config) + train_form.settings_summary(config)
        last = last_metrics_row(self._runLayout().metrics)
        if last:
            summary.append("Trained %s (%s); last loss %s (image %s, KL %s)."
                           % ((counted_field(last.get("epoch"), "epoch"),
                               counted_field(last.get("step"), "step"))
                              + tuple(last.get(k) for k in ("loss", "image", "kl"))))
            convergence = convergence_summary(self._runLayout().metrics)
            if convergence:
                summary.append("Convergence, %s." % convergence)
        agreement = agreement_summary(self._runLayout().agreement)
        if agreement:
            summary.append("Half-sets: %s." % agreement)
        if self.hasAttribute(OUTPUTS.Particles):
            summary.append("Output: %d particles with latents."
                           % getattr(self, OUTPUTS.Particles).getSize())
        elif not summary:
            summary.append("Training has not started yet.")
        if self.doDensity:
            summary.append("Density decoder (stage 2): %s." % (
                "trained" if self._runLayout().has_density() else "not trained yet"))
        return summary

    def _methods(self):
        config = read_json(self._runLayout().config)
        if not config or not self.hasAttribute(OUTPUTS.Particles):
            return []
        text = ("Conformational heterogeneity was analysed with cryoSTAR "
                "[Li2024cryostar] as implemented in cryostar-boltz: a "
                "structure-guided variational auto-encoder learned a "
                "%d-dimensional latent code for each of %d particles and a "
                "deformation of the reference atomic model for every latent, "
                "with a %s latent prior, for %d epochs (batch %d, low-pass "
                "%.1f A)." % (config["latent_dim"],
                              getattr(self, OUTPUTS.Particles).getSize(),
                              config["prior"], config["epochs"],
                              config["batch_size"], config["low_pass"]))
        if self.doDensity and self._runLayout().has_density():
            text += (" A density decoder was then trained on the fixed "
                     "latents for %d epochs." % self.densityEpochs.get())
        return [text]

    def _citations(self):
        config = read_json(self._runLayout().config)
        prior = config["prior"] if config else (
            None if self.doContinue.get() else self._choice("prior"))
        return ["Li2024cryostar"] + self._priorCitations(prior)
