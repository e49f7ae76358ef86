"""What every cryostar-boltz protocol shares: the compute and run-input
form blocks, running the engine's command line as a job, the training run
behind a set of particles with latents, and creating the output sets.

Protocols only translate: they write the engine's inputs, run
``cryostar-boltz <command>`` through ``runJob`` (so it runs in this
interpreter or the configured engine environment, and on a queue), and
turn the files it writes into Scipion sets, taking file names from
``cryostar_boltz.engine.layout`` and from the records the engine writes.
Outputs are registered once, at the end of a step, from files that exist;
a failing job leaves earlier outputs as they were. Nothing here imports
torch: the GUI starts without it and the engine may live elsewhere.
"""
import os

import pyworkflow.protocol.params as params
from pwem.protocols import EMProtocol, ProtFlexBase

from .. import constants as cts
from ..engine import layout
from .form import GPU_HELP
from ..program import quote_args


def flex_attr(obj, name, default=None):
    """A value of the flexibility information of ``obj`` (None-safe)."""
    info = obj.getFlexInfo() if hasattr(obj, "getFlexInfo") else None
    value = getattr(info, name, None) if info is not None else None
    if value is None:
        return default
    value = value.get() if hasattr(value, "get") else value
    return default if value is None else value


class CryoStarBoltzProtBase(EMProtocol, ProtFlexBase):
    """Base of the cryostar-boltz protocols (not shown in the menus)."""
    _label = None
    #: Whether the engine runs on a GPU unless the user says otherwise.
    _useGpuDefault = False
    #: EnumParam name -> the engine names it lists (``constants.py`` tuples);
    #: :meth:`_choice` reads the selected name.
    _engineChoices = {}

    # ------------------------------------------------------------ form
    def _defineComputeParams(self, form, threads=1):
        """GPU choice and ids (hidden, shown in the run header) and the
        parallel section with threads only (the engine is not MPI)."""
        form.addHidden(params.USE_GPU, params.BooleanParam,
                       default=self._useGpuDefault, label="Use GPU?",
                       help="Run the engine on GPU(s); otherwise on the CPU "
                            "with the number of threads below.")
        form.addHidden(params.GPU_LIST, params.StringParam, default="0",
                       label="Choose GPU IDs", help=GPU_HELP)
        form.addParallelSection(threads=threads, mpi=0)

    def _defineRunInput(self, form):
        """The particles with latents of a training run (what the
        sampling, generation and analysis protocols start from)."""
        form.addParam("inputParticles", params.PointerParam,
                      pointerClass="SetOfParticlesFlex", important=True,
                      label="Particles with latents",
                      help="The particles output by a cryoSTAR-Boltz "
                           "training run: their flexibility information names "
                           "the run folder (trained model, prior and latents) "
                           "that this protocol reads.")

    def _choice(self, name):
        """The engine name selected in the EnumParam ``name``."""
        return self._engineChoices[name][getattr(self, name).get()]

    # ------------------------------------------------------------ engine
    def _engineDeviceArgs(self):
        """``--device`` (and ``--threads``) for the engine command."""
        if self.usesGpu():
            return ["--device", "cuda"]
        return ["--device", "cpu", "--threads", max(1, self.numberOfThreads.get() or 1)]

    def _engineDevice(self):
        """``--device`` alone, for commands without a thread option."""
        return ["--device", "cuda" if self.usesGpu() else "cpu"]

    def _gpuCount(self):
        return max(1, len(self.getGpuList())) if self.usesGpu() else 1

    def _gpuErrors(self, batch_size=None):
        """GPU ids given when the engine runs on GPUs, and a global batch
        that splits evenly over them."""
        if not self.usesGpu():
            return []
        if not self.getGpuList():
            return ["Give at least one GPU id, or run on the CPU."]
        if batch_size is not None and batch_size % self._gpuCount():
            return ["The batch size (%d) must be divisible by the number of "
                    "GPUs (%d)." % (batch_size, self._gpuCount())]
        return []

    def _engineProgram(self, command, processes=1):
        """The shell command running ``cryostar-boltz <command>``: with a
        GPU, ``CUDA_VISIBLE_DEVICES`` is set to the ids the executor
        assigns (``%(GPU)s``); several processes start under torchrun."""
        from .. import Plugin
        program = Plugin.getProgram(command, processes)
        if self.usesGpu():
            program = "export CUDA_VISIBLE_DEVICES=%(GPU)s && " + program
        return program

    def _runEngine(self, command, args, processes=1):
        """Run an engine command as this protocol's job (its output goes to
        the run log; a non-zero exit fails the step)."""
        from .. import Plugin
        arguments = quote_args(args)
        if self.usesGpu():
            # the executor %-formats the arguments to insert the GPU ids
            arguments = arguments.replace("%", "%%")
        self.runJob(self._engineProgram(command, processes), arguments,
                    env=Plugin.getEnviron(), numberOfMpi=1)

    # ------------------------------------------------------------ run access
    def _getInputFlex(self):
        return self.inputParticles.get()

    def _getRunDir(self):
        """The training run folder named by the input particles (project
        relative), or None."""
        particles = self._getInputFlex()
        return None if particles is None else flex_attr(particles, cts.FLEX_RUN_DIR)

    def _runHasDensity(self):
        run = self._getRunDir()
        return bool(run) and layout.RunLayout(run).has_density()

    def _runPriorName(self):
        particles = self._getInputFlex()
        return None if particles is None else flex_attr(particles, cts.FLEX_PRIOR)

    def _samplerApplies(self):
        """Whether the form's sampler samples the run's prior: any for a
        Boltzmann prior, a continuous one for a continuous latent (else
        the engine uses the prior's own default: direct, or mala)."""
        prior, sampler = self._runPriorName(), self._choice("sampler")
        return prior in cts.BOLTZMANN_PRIORS or (
            sampler in cts.CONTINUOUS_SAMPLERS and prior not in cts.BINARY_CODE_PRIORS)

    def _samplerUsed(self):
        """The sampler the engine runs for the form's choice and the run's prior."""
        if self._samplerApplies():
            return self._choice("sampler")
        return cts.PRIOR_SAMPLERS.get(self._runPriorName(), self._choice("sampler"))

    def _runHasOneBasin(self):
        """Whether the run's prior has a single basin (the gaussian)."""
        return self._runPriorName() == "gaussian"

    def _validateRunInput(self):
        """Errors unless the input particles come from a finished training
        run whose folder is still there."""
        particles = self._getInputFlex()
        if particles is None:
            return ["Select the particles with latents of a cryoSTAR-Boltz "
                    "training run."]
        program = flex_attr(particles, "_progName")
        if program != cts.CRYOSTAR_BOLTZ:
            return ["The particles' latents come from %s, not from a "
                    "cryoSTAR-Boltz training run." % (program or "no known program")]
        run = self._getRunDir()
        if not run or not os.path.isdir(run):
            return ["The training run folder %s of these particles does not "
                    "exist any more." % run]
        if not layout.RunLayout(run).model.is_file():
            return ["The training run %s has not finished (no %s): continue "
                    "the training first." % (run, layout.MODEL)]
        return []

    # ------------------------------------------------------------ outputs
    def _registerOutputs(self, outputs, *sources):
        """Define ``outputs`` (name -> set; names from ``_possibleOutputs``
        or the protocol's dynamic subsets) and relate each to ``sources``."""
        self._defineOutputs(**outputs)
        for output in outputs.values():
            for source in sources:
                self._defineSourceRelation(source, output)

    def _copyFlexInfo(self, out_set, **attrs):
        """Start ``out_set``'s flexibility information from the input
        particles' (run folder, model, prior...) and add ``attrs``."""
        info = out_set.getFlexInfo()
        info.copyInfo(self._getInputFlex().getFlexInfo())
        info.setProgName(cts.CRYOSTAR_BOLTZ)
        for name, value in attrs.items():
            if value is not None:
                info.setAttr(name, value)

    def _createStructureSets(self, folder, record, z, suffix, models,
                             values=None, **attrs):
        """Full-atom and coarse ``SetOfAtomStructFlex`` from the two
        multi-model files an engine record names (``record["pdb"]`` and
        ``record["coarse_pdb"]`` in ``folder``): one structure per model,
        split into ``extra/MODELS/{full,coarse}``, at latents ``z``."""
        from .. import convert
        sets = []
        for atoms, key, tag in (("full", "pdb", ""), ("coarse", "coarse_pdb", "Coarse")):
            files = convert.split_models(os.path.join(folder, record[key]),
                                         self._getExtraPath(models, atoms))
            structures = self._createSetOfAtomStructFlex(
                suffix=suffix + tag, progName=cts.CRYOSTAR_BOLTZ)
            self._copyFlexInfo(structures, **dict(attrs, **{cts.FLEX_ATOMS: atoms}))
            convert.fill_structures_flex(structures, files, z, cts.CRYOSTAR_BOLTZ,
                                         values)
            sets.append(structures)
        return sets

    def _createVolumeSet(self, maps, z, suffix, values=None, **attrs):
        """A ``SetOfVolumesFlex`` of the engine's maps at latents ``z``."""
        from .. import convert
        volumes = self._createSetOfVolumesFlex(suffix=suffix,
                                               progName=cts.CRYOSTAR_BOLTZ)
        self._copyFlexInfo(volumes, **attrs)
        convert.fill_volumes_flex(volumes, maps, z, cts.CRYOSTAR_BOLTZ, values)
        return volumes

    # ------------------------------------------------------------ info
    def _citations(self):
        return ["Li2024cryostar"]

    def _priorCitations(self, prior):
        """References of a latent prior: Boltzmann priors are trained with
        persistent contrastive divergence; the binary RBM latent is a
        discrete VAE."""
        if prior == "grbm":
            return ["Tieleman2008pcd"]
        if prior == "rbm":
            return ["Rolfe2017dvae", "Vahdat2018dvaepp", "Tieleman2008pcd"]
        return []
