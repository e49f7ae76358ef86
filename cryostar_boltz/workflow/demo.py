"""Run the whole Scipion workflow on the bundled demo data.

Simulates adenylate-kinase particles from the closed (1AKE) and open (4AKE)
structures shipped with the engine, creates a Scipion project, imports the
particles and the reference, and runs train (stage 1 with a
Gaussian-Bernoulli RBM prior, then stage 2) -> sample prior -> generate
(first principal motion, with maps) -> analyze (clusters and particle
subsets), exactly as the scripting example of README.rst does, then prints
what was made and where. A few minutes on 2 CPU cores. Needs the Scipion
side of the package (scipion-pyworkflow, scipion-em); where no Scipion
configuration is set, a headless one is made inside --out.

This is the ``demo`` command of ``cryostar-boltz``, contributed by the
Scipion side through the ``cryostar_boltz.commands`` entry point: an engine
environment without Scipion does not offer it.

Examples:

    cryostar-boltz demo
    cryostar-boltz demo --out /data/demo --epochs 30
"""
import os
import time
from pathlib import Path

from . import headless

#: Modules the command needs; without them the command line does not offer it.
REQUIRES = ("pyworkflow", "pwem")


def _log_default(message):
    print(message, flush=True)


def run_demo(out="cryostar_boltz_demo", n_particles=1500, epochs=15,
             threads=2, log=_log_default):
    """Run the demo into ``out``; returns a dict of what was made."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    configured = headless.configure(out / "scipion")
    if configured:
        log("Scipion configuration: headless, under %s" % (out / "scipion"))
    start = time.perf_counter()

    from .. import program
    from ..engine.resources import adk_dir
    data = out / "data"
    if not (data / "particles.star").exists():
        log("simulating %d adenylate-kinase particles (closed 60%%, open 40%%)"
            % n_particles)
        program.run("simulate", [
            "--structures", adk_dir() / "adk_closed.pdb", adk_dir() / "adk_open.pdb",
            "--weights", 0.6, 0.4, "-n", n_particles, "--box", 48, "--apix", 2.5,
            "--snr", 0.1, "--seed", 0, "--threads", threads, "--out", data])
    from .. import constants, convert
    sqlite = data / "particles.sqlite"
    if not sqlite.exists():
        convert.particles_star_to_sqlite(data / "particles.star", sqlite)

    from pwem.protocols import ProtImportParticles, ProtImportPdb
    from pyworkflow.project import Manager

    from ..protocols import (CryoStarBoltzProtAnalyze, CryoStarBoltzProtGenerate,
                            CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain)

    manager = Manager()
    name = _free_project_name(manager, "cryostar_boltz_demo")
    project = manager.createProject(name)
    previous = os.getcwd()
    os.chdir(project.path)
    try:
        def run(protocol_class, inputs=(), **params):
            protocol = project.newProtocol(protocol_class, **params)
            for attr, source, output in inputs:
                getattr(protocol, attr).set(source)
                getattr(protocol, attr).setExtended(output)
            log("running %s" % protocol.getClassLabel())
            project.launchProtocol(protocol, wait=True)
            if not protocol.isFinished():
                raise RuntimeError("%s failed: see its log %s"
                                   % (protocol.getRunName(),
                                      protocol.getLogPaths()[0]))
            return protocol

        particles = run(ProtImportParticles,
                        importFrom=ProtImportParticles.IMPORT_FROM_SCIPION,
                        sqliteFile=str(sqlite), samplingRate=2.5,
                        voltage=300.0, sphericalAberration=2.7,
                        amplitudeContrast=0.1)
        reference = run(ProtImportPdb,
                        inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                        pdbFile=str(data / "reference.pdb"))
        train = run(CryoStarBoltzProtTrain,
                    [("inputParticles", particles, "outputParticles"),
                     ("inputReference", reference, "outputPdb")],
                    numberOfEpochs=epochs, batchSize=64, latentDim=4,
                    lowPass=6.0, learningRate=1e-3, elasticKeep=0.8,
                    elasticWeight=0.1, klWarmup=300,
                    prior=constants.PRIORS.index("grbm"),
                    priorSize=4, doDensity=True, densityEpochs=4,
                    densityHidden=128, densityLayers=2, densityBatch=32,
                    useGpu=False, numberOfThreads=threads)
        latents = [("inputParticles", train, "Particles")]
        samples = run(CryoStarBoltzProtSamplePrior, latents,
                      numberOfSamples=200, maxStructures=20,
                      sampler=constants.SAMPLERS.index("gibbs"),
                      doBasins=True, useGpu=False)
        motion = run(CryoStarBoltzProtGenerate, latents,
                     source=constants.GENERATE_SOURCES.index("pca"),
                     component=1, numberOfPoints=10, doMaps=True,
                     useGpu=False)
        clusters = run(CryoStarBoltzProtAnalyze, latents, numberOfClusters=2,
                       useGpu=False)
    finally:
        os.chdir(previous)

    # the protocols ran in their own processes: read back what they stored
    project = manager.loadProject(name)
    finished = [project.getProtocol(p.getObjId())
                for p in (train, samples, motion, clusters)]
    made = {"project": project.path, "data": str(data),
            "protocols": [(p.getRunName(), p.getWorkingDir(), p.summary())
                          for p in finished],
            "seconds": time.perf_counter() - start}
    log("")
    log("Scipion project %s: %s" % (name, project.path))
    for run_name, folder, summary in made["protocols"]:
        log("- %s (%s)" % (run_name, os.path.join(project.path, folder)))
        for line in summary:
            log("    %s" % line.replace("*", ""))
    log("done in %.0f s; open the project in Scipion to browse it%s"
        % (made["seconds"], "" if not configured else
           " (with SCIPION_USER_DATA=%s)" % os.environ["SCIPION_USER_DATA"]))
    return made


def _free_project_name(manager, base):
    names = {info.getName() for info in manager.listProjects()}
    if base not in names:
        return base
    k = 2
    while "%s_%d" % (base, k) in names:
        k += 1
    return "%s_%d" % (base, k)


# ------------------------------------------------------------ command line

def add_args(parser):
    parser.add_argument("-o", "--out", default="cryostar_boltz_demo",
                        help="output folder (default %(default)s)")
    parser.add_argument("-n", "--n-particles", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--debug", action="store_true")


def main(args):
    run_demo(args.out, args.n_particles, args.epochs, args.threads)
