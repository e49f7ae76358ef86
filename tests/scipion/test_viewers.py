"""The viewers on real protocol runs in a headless Scipion project.

Simulated adenylate-kinase particles (two states, 32 px) are imported and
trained for one epoch with a grbm prior; the prior is sampled, an ensemble
generated along PC1 and the latents clustered. Every viewer button runs the
engine's plot command and must show non-blank PNGs written under the
protocol's ``extra/plots`` (no display is needed: the windows are only
built when a view is shown); using the viewers loads neither torch nor the
engine's pictures into Scipion's process.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pwem = pytest.importorskip("pwem")

from pwem.protocols import ProtImportParticles, ProtImportPdb  # noqa: E402

from cryostar_boltz import constants as cts, convert  # noqa: E402
from cryostar_boltz.protocols import (CryoStarBoltzProtAnalyze,  # noqa: E402
                                      CryoStarBoltzProtGenerate,
                                      CryoStarBoltzProtSamplePrior,
                                      CryoStarBoltzProtTrain)
from cryostar_boltz.viewers import (CryoStarBoltzEnsembleViewer,  # noqa: E402
                                    CryoStarBoltzLatentViewer,
                                    CryoStarBoltzPriorViewer,
                                    CryoStarBoltzTrajectoryViewer)
from cryostar_boltz.viewers.views import MessageView, PictureView  # noqa: E402

BOX, APIX = 32, 4.0
CPU = {"useGpu": False, "numberOfThreads": 1}
TRAIN = dict(CPU, numberOfEpochs=1, batchSize=32, latentDim=4, boxSize=BOX,
             lowPass=12.0, prior=cts.PRIORS.index("grbm"), priorSize=3)


def assert_picture(path, min_colours=20, min_std=8.0):
    from PIL import Image
    assert os.path.isfile(path), path
    image = np.asarray(Image.open(path).convert("RGB"))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > min_colours, path
    assert image.std() > min_std, path


def launch(project, protocol_class, **params):
    protocol = project.newProtocol(protocol_class, **params)
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        log = "".join(open(p).read() for p in protocol.getLogPaths()
                      if os.path.exists(p))
        pytest.fail("%s ended %s:\n%s" % (protocol_class.__name__,
                                          protocol.getStatus(), log[-4000:]))
    return protocol


@pytest.fixture(scope="module")
def protocols(project, tmp_path_factory, adk_dir):
    """Import, train, sample the prior, generate along PC1, analyze."""
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("viewers_sim")
    result = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                              out, n_particles=200, box=BOX, apix=APIX, snr=1.0,
                              seed=5)
    truth = dict(np.load(result.truth))
    sqlite = out / "particles.sqlite"
    convert.particles_star_to_sqlite(result.star, sqlite)
    particles = launch(project, ProtImportParticles,
                       importFrom=ProtImportParticles.IMPORT_FROM_SCIPION,
                       sqliteFile=str(sqlite), samplingRate=APIX,
                       voltage=float(truth["ctf"][0, 3]),
                       sphericalAberration=float(truth["ctf"][0, 4]),
                       amplitudeContrast=float(truth["ctf"][0, 5]))
    reference = launch(project, ProtImportPdb,
                       inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                       pdbFile=str(out / "reference.pdb"), skipChimera=True)
    train = launch(project, CryoStarBoltzProtTrain,
                   inputParticles=particles.outputParticles,
                   inputReference=reference.outputPdb, **TRAIN)
    sample = launch(project, CryoStarBoltzProtSamplePrior,
                    inputParticles=train.Particles, numberOfSamples=40,
                    sampler=cts.SAMPLERS.index("gibbs"), doBasins=True,
                    maxBasins=4, basinReads=50, **CPU)
    generate = launch(project, CryoStarBoltzProtGenerate,
                      inputParticles=train.Particles,
                      source=cts.GENERATE_SOURCES.index("pca"), component=1,
                      numberOfPoints=6, **CPU)
    analyze = launch(project, CryoStarBoltzProtAnalyze,
                     inputParticles=train.Particles, numberOfClusters=3, **CPU)
    return {"train": train, "sample": sample, "generate": generate,
            "analyze": analyze}


def viewer_for(viewer_class, project, protocol, **values):
    viewer = viewer_class(project=project, protocol=protocol)
    viewer.setProtocol(protocol)
    for name, value in values.items():
        getattr(viewer, name).set(value)
    return viewer


def press(viewer, button):
    """What clicking a button shows: its views (windows not opened)."""
    views = viewer._getVisualizeDict()[button](button)
    errors = [v.text for v in views if isinstance(v, MessageView) and v.error]
    assert not errors, errors
    return views


def pictures(views):
    return [v.png for v in views if isinstance(v, PictureView)]


def test_viewers_are_offered_for_their_protocols(project, protocols):
    from pyworkflow.viewer import DESKTOP_TKINTER
    domain = pwem.Domain
    offered = {name: {v.__name__ for v in domain.findViewers(p, DESKTOP_TKINTER)}
               for name, p in protocols.items()}
    assert {"CryoStarBoltzLatentViewer", "CryoStarBoltzPriorViewer"} <= offered["train"]
    assert "CryoStarBoltzLatentViewer" in offered["analyze"]
    assert {"CryoStarBoltzPriorViewer", "CryoStarBoltzEnsembleViewer"} <= offered["sample"]
    assert {"CryoStarBoltzTrajectoryViewer", "CryoStarBoltzEnsembleViewer"} <= offered["generate"]
    particles = {v.__name__ for v in domain.findViewers(protocols["train"].Particles,
                                                        DESKTOP_TKINTER)}
    assert "CryoStarBoltzLatentViewer" in particles


@pytest.mark.parametrize("colour", range(4))
def test_latent_viewer_of_the_analysis(project, protocols, colour):
    protocol = protocols["analyze"]
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocol,
                        colorBy=colour, latentDim=2)
    paths = pictures(press(viewer, "displayLatent"))
    assert len(paths) == 1
    assert os.path.samefile(paths[0].parent, protocol._getExtraPath("plots"))
    assert_picture(paths[0])


def test_latent_viewer_of_training_with_hexbin_and_curves(project, protocols):
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocols["train"],
                        plotKind=1, colorBy=1)
    assert_picture(pictures(press(viewer, "displayLatent"))[0])
    paths = pictures(press(viewer, "displayTraining"))
    assert [p.name for p in paths] == ["training.png"]
    assert_picture(paths[0])


def test_latent_viewer_of_the_output_particles(project, protocols):
    particles = protocols["train"].Particles
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, particles)
    paths = pictures(press(viewer, "displayLatent"))
    assert_picture(paths[0])
    # written beside the training protocol that made the particles
    assert os.path.samefile(paths[0].parent,
                            protocols["train"]._getExtraPath("plots"))


def test_latent_viewer_of_training_colours_by_the_users_analysis(project, protocols):
    """The project's analyze run (3 clusters) colours the training run's
    plot, not the run's own 10-cluster k-means."""
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocols["train"])
    press(viewer, "displayLatent")
    points = np.load(os.path.join(protocols["train"]._getExtraPath("plots"),
                                  "latent_pca_cluster_points.npz"))
    assert sorted(np.unique(points["values"]).tolist()) == [0, 1, 2]
    assert str(points["axis_labels"][0]).startswith("PC1 (")


def test_polygon_drawn_in_the_viewer_becomes_a_particle_subset(project, protocols):
    from cryostar_boltz.viewers.lasso import LassoView, count_inside, read_points
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocols["train"])
    views = press(viewer, "displaySelect")
    assert len(views) == 1 and isinstance(views[0], LassoView)
    points = read_points(views[0].points_file)
    xy = points["xy"]
    assert xy.shape == (200, 2) and points["categorical"]
    # a triangle around the left part of the plane, as a user would draw it
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    mid = (x0 + x1) / 2
    polygon = [[x0 - 1, y0 - 1], [mid, y0 - 1], [mid, y1 + 1], [x0 - 1, y1 + 1]]
    expected = count_inside(xy, polygon)
    assert 0 < expected < 200
    select = viewer._saveSelection(polygon, wait=True)
    assert select.isFinished(), select.getStatus()
    assert select.Particles.getSize() == expected
    assert select.inputAnalysis.get().getObjId() == protocols["analyze"].getObjId()
    # the parameters hold the polygon: the same protocol again from them
    again = project.newProtocol(type(select), polygon=select.polygon.get(),
                                space=select.space.get())
    again.inputParticles.set(protocols["train"])
    again.inputParticles.setExtended("Particles")
    project.launchProtocol(again, wait=True)
    assert {p.getObjId() for p in again.Particles.iterItems()} == \
        {p.getObjId() for p in select.Particles.iterItems()}


def test_lasso_on_umap_without_an_embedding_says_what_to_run(project, protocols):
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocols["train"],
                        embedding=1)
    views = viewer._getVisualizeDict()["displaySelect"]("displaySelect")
    assert isinstance(views[0], MessageView) and views[0].error
    assert "analyze run made with its UMAP option" in views[0].text


def test_prior_viewer_of_the_sampling(project, protocols):
    viewer = viewer_for(CryoStarBoltzPriorViewer, project, protocols["sample"])
    for button, name in (("displayLandscape", "prior_landscape.png"),
                         ("displayOccupancy", "prior_occupancy.png"),
                         ("displayEnergies", "prior_energies.png")):
        paths = pictures(press(viewer, button))
        assert [p.name for p in paths] == [name]
        assert_picture(paths[0])


def test_trajectory_viewer_of_the_generated_path(project, protocols):
    viewer = viewer_for(CryoStarBoltzTrajectoryViewer, project, protocols["generate"])
    assert viewer._choices() == ["ensemble/pc1.pdb"]
    assert_picture(pictures(press(viewer, "displayMotion"))[0])
    views = press(viewer, "displayMovie")  # no ChimeraX here: the traces
    assert_picture(pictures(views)[0])
    plots_dir = protocols["generate"]._getExtraPath("plots")
    assert os.path.isfile(os.path.join(plots_dir, "ensemble_pc1_displacement.pdb"))
    assert os.path.isfile(os.path.join(plots_dir, "ensemble_pc1.cxc"))


def test_trajectory_viewer_of_training_offers_the_pc_paths(project, protocols):
    viewer = viewer_for(CryoStarBoltzTrajectoryViewer, project, protocols["train"])
    assert "analysis/pc1.pdb" in viewer._choices()
    assert_picture(pictures(press(viewer, "displayMotion"))[0])


def test_ensemble_viewer_of_samples_and_clusters(project, protocols):
    viewer = viewer_for(CryoStarBoltzEnsembleViewer, project, protocols["sample"])
    assert set(viewer._choices()) == {"samples/samples.pdb", "samples/basins.pdb"}
    viewer.modelFile.set(viewer._choices().index("samples/samples.pdb"))
    assert_picture(pictures(press(viewer, "displayTraces"))[0])
    viewer = viewer_for(CryoStarBoltzEnsembleViewer, project, protocols["analyze"])
    assert viewer._choices() == ["analysis/clusters.pdb"]
    views = press(viewer, "displayChimera")
    assert_picture(pictures(views)[0])
    notes = [v.text for v in views if isinstance(v, MessageView)]
    assert notes and "ChimeraX was not found" in notes[0]
    maps = press(viewer, "displayMaps")
    assert isinstance(maps[0], MessageView) and "no maps" in maps[0].text


def test_a_failing_plot_command_becomes_an_error_message(project, protocols):
    viewer = viewer_for(CryoStarBoltzLatentViewer, project, protocols["train"],
                        colorBy=2, latentDim=9)
    views = viewer._getVisualizeDict()["displayLatent"]("displayLatent")
    assert len(views) == 1 and isinstance(views[0], MessageView)
    assert views[0].error
    assert "latent dimension 9: the run has dimensions 1..4" in views[0].text
    assert "\n" not in views[0].text


def test_the_viewers_summary_names_the_pictures(project, protocols):
    import json
    viewer = viewer_for(CryoStarBoltzPriorViewer, project, protocols["train"],
                        drawSamples=60)
    paths = pictures(press(viewer, "displayEnergies"))
    summary = json.loads(open(os.path.join(
        protocols["train"]._getExtraPath("plots"), "summary.json")).read())
    assert summary["pictures"] == {"prior_energies": "prior_energies.png"}
    assert [p.name for p in paths] == ["prior_energies.png"]


#: Run in a fresh interpreter: load the project, press buttons of every
#: viewer, report the modules loaded.
_USE_VIEWERS = textwrap.dedent("""
    import sys
    from pyworkflow.project import Manager
    from cryostar_boltz.viewers import (CryoStarBoltzEnsembleViewer,
                                        CryoStarBoltzLatentViewer,
                                        CryoStarBoltzPriorViewer,
                                        CryoStarBoltzTrajectoryViewer)
    workspace, name, train, generate = sys.argv[1:5]
    project = Manager(workspace=workspace).loadProject(name)
    shown = []
    for cls, protocol, button in (
            (CryoStarBoltzLatentViewer, train, "displayTraining"),
            (CryoStarBoltzPriorViewer, train, "displayLandscape"),
            (CryoStarBoltzTrajectoryViewer, generate, "displayMotion"),
            (CryoStarBoltzEnsembleViewer, generate, "displayTraces")):
        protocol = project.getProtocol(int(protocol))
        viewer = cls(project=project, protocol=protocol)
        viewer.setProtocol(protocol)
        for view in viewer._getVisualizeDict()[button](button):
            shown.append(type(view).__name__)
    print("SHOWN=" + ",".join(shown))
    print("LOADED=" + ",".join(sorted(
        m for m in sys.modules if m.split(".")[0] == "torch"
        or m.startswith("cryostar_boltz.engine"))))
""")


def test_using_the_viewers_loads_no_torch_and_no_engine_pictures(project, protocols):
    result = subprocess.run(
        [sys.executable, "-c", _USE_VIEWERS,
         os.path.dirname(os.path.dirname(project.path)),  # WORKSPACE/projects/NAME
         project.getShortName(), str(protocols["train"].getObjId()),
         str(protocols["generate"].getObjId())],
        cwd=project.path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines()
                 if line.startswith(("SHOWN=", "LOADED=")))
    assert lines["SHOWN"].split(",") == ["PictureView"] * 4
    loaded = set(lines["LOADED"].split(",")) - {""}
    assert loaded <= {"cryostar_boltz.engine", "cryostar_boltz.engine.layout",
                      "cryostar_boltz.engine.io", "cryostar_boltz.engine.training",
                      "cryostar_boltz.engine.training.config",
                      "cryostar_boltz.engine.training.derived",
                      "cryostar_boltz.engine.options"}, loaded
