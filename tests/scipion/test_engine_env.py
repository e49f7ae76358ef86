"""The engine in an environment of its own, as Scipion's binary install
makes it, and a Scipion project that reaches it only through its command
line.

``Plugin.defineBinaries`` declares the commands ``scipion3 installb
cryostar-boltz`` runs in the package folder; here they run the same way
(torch taken as already installed, the other packages pinned to the
versions of this environment so that pip reuses what it has). The new
environment holds no Scipion. A protocol and a viewer then run with the
engine there, while a stand-in ``torch`` that refuses to import sits on
Scipion's path: any torch import in Scipion's processes would fail them.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import distributions, version
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pwem")

from pwem.protocols import ProtImportParticles, ProtImportPdb  # noqa: E402

from cryostar_boltz import constants as cts, convert  # noqa: E402
from cryostar_boltz.engine import layout  # noqa: E402
from cryostar_boltz.protocols import CryoStarBoltzProtTrain  # noqa: E402

#: Distributions the engine environment must not take from this one.
SCIPION_SIDE = {"scipion-pyworkflow", "scipion-em", "scipion-em-cryostar-boltz"}
BOX, APIX = 32, 4.0
#: Free disk (bytes) the engine environment's install needs where the test
#: session keeps its files: torch alone unpacks to about 0.8 GB, and pip's
#: temporary copies peak near 1.4 GB.
INSTALL_BYTES = 2 * 1024 ** 3


class InstallEnvironment:
    """The part of Scipion's install ``Environment`` that plugins call."""

    def __init__(self):
        self.packages = []

    def addPackage(self, name, version=None, tar=None, commands=(),
                   neededProgs=(), default=False, **kwargs):
        self.packages.append(dict(name=name, version=version, tar=tar,
                                  commands=list(commands), default=default))


@pytest.fixture(scope="module")
def engine_home(tmp_path_factory):
    """The engine environment made by the plugin's binary install."""
    from cryostar_boltz import Plugin
    install = InstallEnvironment()
    Plugin.defineBinaries(install)
    assert len(install.packages) == 1
    package = install.packages[0]
    assert package["name"] == "cryostar-boltz" and package["default"]
    assert package["tar"] == "void.tgz" and package["commands"]
    free = shutil.disk_usage(tmp_path_factory.getbasetemp()).free
    if free < INSTALL_BYTES:
        pytest.skip("the engine environment's install needs %.1f GB of free disk "
                    "in %s, %.1f GB free" % (INSTALL_BYTES / 1024 ** 3,
                                              tmp_path_factory.getbasetemp(), free / 1024 ** 3))
    home = tmp_path_factory.mktemp("em") / ("%s-%s" % (package["name"],
                                                       package["version"]))
    home.mkdir()
    constraints = home.parent / "constraints.txt"
    constraints.write_text("".join(
        "%s==%s\n" % (d.metadata["Name"], d.version) for d in distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower() not in SCIPION_SIDE))
    env = dict(os.environ, CRYOSTAR_BOLTZ_TORCH="torch==%s" % version("torch"),
               CRYOSTAR_BOLTZ_TORCH_INDEX="pypi", PIP_CONSTRAINT=str(constraints),
               PIP_NO_CACHE_DIR="1")
    for command, target in package["commands"]:
        done = subprocess.run(command, shell=True, cwd=home, env=env,
                              capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        assert (home / target).exists()
    return home


@pytest.fixture
def blocked_torch(tmp_path, monkeypatch):
    """Scipion's processes started from here find a ``torch`` that refuses
    to import; the plugin points at the engine environment."""
    blocker = tmp_path / "no_torch" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        "raise ImportError(\"torch imported in Scipion's process\")\n")
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(blocker.parent)] + ([path] if path else [])))
    return blocker.parent


def test_binary_install_makes_an_engine_environment(engine_home):
    python = engine_home / "bin" / "python"
    code = ("import importlib.util as u\n"
            "print([m for m in ('pyworkflow', 'pwem', 'torch', 'dimod')"
            " if u.find_spec(m)])\n")
    done = subprocess.run([str(python), "-c", code], capture_output=True,
                          text=True, env=_without_pythonpath())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['torch', 'dimod']"
    done = subprocess.run([str(python), "-m", "cryostar_boltz.engine.cli", "--help"],
                          capture_output=True, text=True, env=_without_pythonpath())
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "demo" not in done.stdout


def test_plugin_runs_the_engine_there(engine_home, monkeypatch):
    from cryostar_boltz import Plugin
    monkeypatch.setenv(cts.ENGINE_HOME, str(engine_home))
    Plugin._defineVariables()
    try:
        assert Plugin.getEnginePython() == str(engine_home / "bin" / "python")
        assert Plugin.getProgram("plot").startswith(str(engine_home / "bin" / "python"))
    finally:
        monkeypatch.delenv(cts.ENGINE_HOME)
        Plugin._defineVariables()


def _without_pythonpath():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("engine_env_sim")
    result = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                              out, n_particles=64, box=BOX, apix=APIX, snr=1.0, seed=2)
    return result, dict(np.load(result.truth)), out


def _launch(project, protocol):
    project.launchProtocol(protocol, wait=True)
    log = "".join(open(p).read() for p in protocol.getLogPaths() if os.path.exists(p))
    assert protocol.isFinished(), log[-4000:]
    return log


def test_protocol_and_viewer_with_the_engine_apart(engine_home, blocked_torch,
                                                  simulated, project,
                                                  monkeypatch, tmp_path):
    from cryostar_boltz import Plugin
    monkeypatch.setenv(cts.ENGINE_HOME, str(engine_home))
    Plugin._defineVariables()
    result, truth, out = simulated
    sqlite = tmp_path / "particles.sqlite"
    convert.particles_star_to_sqlite(result.star, sqlite)
    particles = project.newProtocol(
        ProtImportParticles, importFrom=ProtImportParticles.IMPORT_FROM_SCIPION,
        sqliteFile=str(sqlite), samplingRate=APIX,
        voltage=float(truth["ctf"][0, 3]),
        sphericalAberration=float(truth["ctf"][0, 4]),
        amplitudeContrast=float(truth["ctf"][0, 5]))
    _launch(project, particles)
    reference = project.newProtocol(ProtImportPdb,
                                    inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                                    pdbFile=str(out / "reference.pdb"),
                                    skipChimera=True)
    _launch(project, reference)
    train = project.newProtocol(CryoStarBoltzProtTrain, useGpu=False,
                                numberOfThreads=1, numberOfEpochs=1, batchSize=32,
                                latentDim=2, lowPass=12.0)
    train.inputParticles.set(particles)
    train.inputParticles.setExtended("outputParticles")
    train.inputReference.set(reference)
    train.inputReference.setExtended("outputPdb")
    assert train.validate() == []
    log = _launch(project, train)
    assert str(engine_home / "bin" / "python") in log
    assert train.Particles.getSize() == 64

    # the latent-space viewer, in a Scipion process of its own
    code = textwrap.dedent("""
        import sys
        from pyworkflow.project import Manager
        from cryostar_boltz.viewers import CryoStarBoltzLatentViewer
        workspace, name, train = sys.argv[1:4]
        project = Manager(workspace=workspace).loadProject(name)
        protocol = project.getProtocol(int(train))
        viewer = CryoStarBoltzLatentViewer(project=project, protocol=protocol)
        viewer.setProtocol(protocol)
        views = viewer._getVisualizeDict()["displayLatent"]("displayLatent")
        print("SHOWN=" + ",".join(type(view).__name__ for view in views))
        print("TORCH=%s" % ("torch" in sys.modules))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code,
         os.path.dirname(os.path.dirname(project.path)),  # WORKSPACE/projects/NAME
         project.getShortName(), str(train.getObjId())],
        cwd=project.path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "TORCH=False" in done.stdout
    assert "SHOWN=PictureView" in done.stdout, done.stdout
    plots = Path(project.path, train._getExtraPath(layout.PLOTS))
    assert list(plots.rglob("*.png"))
