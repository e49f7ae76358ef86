"""What every cryostar-boltz protocol shares: running the engine's command
line as a job, the GPU and thread settings, and the training run behind a
set of particles with latents.

Protocols only translate: they write the engine's inputs, run
``cryostar-boltz <command>`` through ``runJob`` (so it runs in this
interpreter or the configured engine environment, and on a queue), and
turn the files it writes into Scipion sets. Outputs are registered once,
at the end of a step, from files that exist; a failing job leaves earlier
outputs as they were. The engine is imported inside methods only, so the
GUI starts without loading torch.
"""
import json
import os
import shlex
from pathlib import Path

import pyworkflow.protocol.params as params
from pwem.protocols import EMProtocol, ProtFlexBase

from .. import constants as cts

#: Name of the engine's run folder inside a training protocol's extra folder.
RUN_FOLDER = "run"
#: Name of the run's trained model, configuration and latents (see
#: ``cryostar_boltz.engine.train``).
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
LATENTS_FILE = "z.npy"
#: Where a stage-2 density decoder is saved inside the run folder.
DENSITY_MODEL = os.path.join("density", "model.pt")

GPU_HELP = ("GPU ids to use, e.g. *0* or *0 1* (several GPUs train one model "
            "in data-parallel processes; the results do not depend on their "
            "number). The ids are those of the machine that runs the job "
            "(or those the queue assigns).")
THREADS_HELP = ("CPU threads the engine uses (torch intra-op threads) when "
                "it runs on the CPU.")


def quote_args(args):
    """One shell-safe string of command-line arguments (None dropped)."""
    return " ".join(shlex.quote(str(a)) for a in args if a is not None)


def read_json(path):
    """The JSON document at ``path``, or None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    with path.open() as fh:
        return json.load(fh)


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

    # ------------------------------------------------------------ engine
    def _engineDeviceArgs(self):
        """``--device`` (and ``--threads``) for the engine command."""
        if self.usesGpu():
            return ["--device", "cuda"]
        return ["--device", "cpu", "--threads", max(1, self.numberOfThreads.get() or 1)]

    def _gpuCount(self):
        return max(1, len(self.getGpuList())) if self.usesGpu() else 1

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
        return bool(run) and os.path.isfile(os.path.join(run, DENSITY_MODEL))

    def _runPriorName(self):
        particles = self._getInputFlex()
        return None if particles is None else flex_attr(particles, cts.FLEX_PRIOR)

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
        if not os.path.isfile(os.path.join(run, MODEL_FILE)):
            return ["The training run %s has not finished (no %s): continue "
                    "the training first." % (run, MODEL_FILE)]
        return []

    def _copyFlexInfo(self, out_set, **attrs):
        """Start ``out_set``'s flexibility information from the input
        particles' (run folder, model, prior...) and add ``attrs``."""
        info = out_set.getFlexInfo()
        info.copyInfo(self._getInputFlex().getFlexInfo())
        info.setProgName(cts.CRYOSTAR_BOLTZ)
        for name, value in attrs.items():
            if value is not None:
                info.setAttr(name, value)

    def _createStructureSets(self, full_pdb, coarse_pdb, z, suffix, folder,
                             values=None, **attrs):
        """Full-atom and coarse ``SetOfAtomStructFlex`` from two multi-model
        PDB files of the engine (one structure per model, latent ``z``)."""
        from .. import convert
        sets = []
        for atoms, pdb, tag in (("full", full_pdb, ""), ("coarse", coarse_pdb, "Coarse")):
            files = convert.split_models(pdb, self._getExtraPath(folder, atoms))
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
