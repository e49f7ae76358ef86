"""Run the whole Scipion workflow on the bundled demo data.

Simulates adenylate-kinase particles from the closed (1AKE) and open (4AKE)
structures shipped with the engine, creates a Scipion project, imports the
particles and the reference, and runs train (stage 1 with a
Gaussian-Bernoulli RBM prior, then stage 2) -> sample prior -> generate
(first principal motion, with maps) -> analyze (clusters and particle
subsets), exactly as the scripting example of README.rst does, writes the
pictures of every step (OUT/pictures/STEP/*.png), then prints what was
made, where, and the command that opens the project in Scipion's window.
A few minutes on 2 CPU cores. Needs the Scipion side of the package
(scipion-pyworkflow, scipion-em); where no Scipion configuration is set, a
headless one is made inside --out.

Running it again with the same --out continues the same project: finished
protocols are kept, one that was interrupted (the demo killed, the machine
restarted) continues where it stopped (training from its last checkpoint).

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

from .. import constants
from . import headless
from .project import open_command

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
    if (data / "particles.star").exists():
        kept = kept_particles(data, n_particles)
        if kept:
            log(kept)
    else:
        log("simulating %d adenylate-kinase particles (closed 60%%, open 40%%)"
            % n_particles)
        program.run("simulate", [
            "--structures", adk_dir() / "adk_closed.pdb", adk_dir() / "adk_open.pdb",
            "--weights", 0.6, 0.4, "-n", n_particles, "--box", 48, "--apix", 2.5,
            "--snr", 0.1, "--seed", 0, "--threads", threads, "--out", data])
    from .. import convert
    sqlite = data / "particles.sqlite"
    if not sqlite.exists():
        convert.particles_star_to_sqlite(data / "particles.star", sqlite)

    from pwem.protocols import ProtImportParticles, ProtImportPdb
    from pyworkflow.project import Manager

    from ..protocols import (CryoStarBoltzProtAnalyze, CryoStarBoltzProtGenerate,
                            CryoStarBoltzProtSamplePrior, CryoStarBoltzProtTrain)

    manager = Manager()
    name, project = _demo_project(manager, "cryostar_boltz_demo", sqlite)
    if project is None:
        project = manager.createProject(name)
    else:
        log("continuing the Scipion project %s" % name)
    previous = os.getcwd()
    os.chdir(project.path)
    try:
        def run(protocol_class, inputs=(), **params):
            return _run_step(project, protocol_class, inputs, params, log)

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
    log("drawing the pictures of every step")
    pictures = write_pictures(Path(project.path), *finished, out / "pictures",
                              log=log)
    made = {"project": project.path, "data": str(data),
            "protocols": [(p.getRunName(), p.getWorkingDir(), p.summary())
                          for p in finished],
            "pictures": pictures,
            "open": open_command(name, headless.configured_root()),
            "seconds": time.perf_counter() - start}
    log("")
    log("Scipion project %s: %s" % (name, project.path))
    for run_name, folder, summary in made["protocols"]:
        log("- %s (%s)" % (run_name, os.path.join(project.path, folder)))
        for line in summary:
            log("    %s" % line.replace("*", ""))
    log("pictures of every step (PNG):")
    for step, files in pictures.items():
        folder = Path(files[0]).parent if files else out / "pictures" / step
        log("- %s: %s (%s)" % (step, folder, ", ".join(Path(f).name for f in files)))
    log("done in %.0f s; open the project in Scipion's window with:"
        % made["seconds"])
    log("    %s" % made["open"])
    return made


def _demo_project(manager, base, sqlite):
    """(name, project): the demo project of this --out (its particles
    imported from ``sqlite``) to continue, else (a free name, None)."""
    from pwem.protocols import ProtImportParticles
    names = {info.getName() for info in manager.listProjects()}
    candidates = [base] + sorted(n for n in names if n.startswith(base + "_"))
    for name in candidates:
        if name not in names:
            continue
        project = manager.loadProject(name)
        for protocol in project.getRuns():
            if isinstance(protocol, ProtImportParticles) and \
                    protocol.sqliteFile.get() == str(sqlite):
                return name, project
    return _free_project_name(names, base), None


def _run_step(project, protocol_class, inputs, params, log):
    """The project's protocol of ``protocol_class``: kept when it finished;
    continued where it stopped when it was interrupted (its process gone:
    Scipion's *Continue*, which skips the steps done and resumes training
    from its last checkpoint); else a new one with ``params`` and
    ``inputs`` (attribute, protocol, output) launched. Waits for it;
    RuntimeError naming its log when it fails."""
    from pyworkflow.protocol.constants import MODE_RESUME
    existing = [p for p in project.getRuns(checkPids=True)
                if type(p) is protocol_class]
    protocol = existing[-1] if existing else None
    if protocol is not None and protocol.isFinished():
        log("kept %s (finished)" % protocol.getRunName())
        changed = kept_options(protocol, params)
        if changed:
            log(changed)
        return protocol
    if protocol is None:
        protocol = project.newProtocol(protocol_class, **params)
        for attr, source, output in inputs:
            getattr(protocol, attr).set(source)
            getattr(protocol, attr).setExtended(output)
        log("running %s" % protocol.getClassLabel())
    else:
        if protocol.isActive() and _process_alive(protocol.getPid()):
            raise RuntimeError("%s is still running (process %d): wait for it, "
                               "or stop it in Scipion, then run the demo again"
                               % (protocol.getRunName(), protocol.getPid()))
        log("continuing %s where it stopped" % protocol.getRunName())
        protocol.runMode.set(MODE_RESUME)
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        raise RuntimeError("%s failed: see its log %s"
                           % (protocol.getRunName(), protocol.getLogPaths()[0]))
    return protocol


def _process_alive(pid):
    """Whether process ``pid`` still runs (a killed process that nobody has
    reaped yet, a zombie, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the command name in /proc/PID/stat
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def write_pictures(project_path, train, samples, motion, clusters, out,
                   log=_log_default):
    """The pictures of each step through ``cryostar-boltz plot``, in
    ``out/STEP/``: the training curves and latent space coloured by the
    analysis' clusters (train), the prior's landscape and sample energies
    (sample_prior), the motion's RMSD/RMSF and traces (generate), the
    clusters (analyze). Returns {step: [PNG paths]}; a step whose pictures
    cannot be drawn is reported through ``log`` and left empty."""
    from .. import program
    from ..engine.io import read_json
    from ..engine.layout import (PROTOCOL_ANALYSIS, PROTOCOL_ENSEMBLE,
                                 PROTOCOL_SAMPLES, SUMMARY, is_coarse,
                                 structure_patterns)
    from ..protocols.protocol_base import flex_attr
    run = project_path / flex_attr(train.Particles, constants.FLEX_RUN_DIR)
    analysis = project_path / clusters._getExtraPath(PROTOCOL_ANALYSIS)
    ensemble = project_path / motion._getExtraPath(PROTOCOL_ENSEMBLE)
    models = [p for pattern in structure_patterns("*")
              for p in sorted(ensemble.glob(pattern)) if not is_coarse(p)]
    maps = sorted(ensemble.glob("*.mrc"))
    jobs = {
        "train": ["--what", "latent,training", "--analysis", analysis],
        "sample_prior": ["--what", "prior", "--samples",
                         project_path / samples._getExtraPath(PROTOCOL_SAMPLES)],
        "generate": ["--what", "trajectory,ensemble"]
        + [a for m in models for a in ("--models", m)]
        + [a for m in maps[::max(1, len(maps) // 3)] for a in ("--maps", m)],
        "analyze": ["--what", "latent", "--color-by", "cluster", "--analysis",
                    analysis],
    }
    written = {}
    for step, args in jobs.items():
        folder = out / step
        try:
            program.run("plot", ["--run", run, "--out", folder] + args)
        except program.EngineCommandError as err:
            log("pictures of %s skipped: %s" % (step, err))
        summary = read_json(folder / SUMMARY) or {}
        written[step] = [str(folder / png) for png in
                         summary.get("pictures", {}).values()]
    return written


def _free_project_name(names, base):
    if base not in names:
        return base
    k = 2
    while "%s_%d" % (base, k) in names:
        k += 1
    return "%s_%d" % (base, k)


#: The demo's options that set a protocol's parameter: a finished protocol
#: kept by a continued demo is said to keep its own value.
DEMO_OPTIONS = {"numberOfEpochs": "--epochs"}


def kept_options(protocol, params):
    """The line that says a finished ``protocol`` kept by a continued demo
    keeps its own value of a demo option that ``params`` asks to change
    (:data:`DEMO_OPTIONS`); None when none differs."""
    changed = []
    for name, option in DEMO_OPTIONS.items():
        if name in params and hasattr(protocol, name):
            had = getattr(protocol, name).get()
            if had != params[name]:
                changed.append("%s %s (it has %s)" % (option, params[name], had))
    if not changed:
        return None
    return ("%s keeps what it was run with: %s applies to a new --out"
            % (protocol.getRunName(), ", ".join(changed)))


def kept_particles(data, n_particles):
    """The line that says a continued demo keeps the particles simulated in
    ``data`` (its ``simulate`` record) when ``n_particles`` asks for another
    number; None when the numbers agree or no record says."""
    from ..engine.outputs import read_record
    try:
        simulated = int((read_record(data) or {})["request"]["n_particles"])
    except (ValueError, KeyError, TypeError):
        return None
    if simulated == int(n_particles):
        return None
    return ("keeping the %d particles already simulated in %s: -n %d applies to a "
            "new --out" % (simulated, data, n_particles))


# ------------------------------------------------------------ command line

def add_args(parser):
    parser.add_argument("-o", "--out", default="cryostar_boltz_demo",
                        help="output folder (default %(default)s)")
    parser.add_argument("-n", "--n-particles", type=int, default=1500,
                        help="particles to simulate (default %(default)s); a "
                        "continued --out keeps those it has")
    parser.add_argument("--epochs", type=int, default=15,
                        help="training epochs (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads of each step (default %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args):
    run_demo(args.out, args.n_particles, args.epochs, args.threads)
