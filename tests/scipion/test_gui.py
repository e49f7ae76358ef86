"""The Scipion GUI on a virtual display: the training protocol's form and
the latent-space viewer (its form and the window of the PNG the engine's
plot command wrote) open, and screenshots of them are far from an empty
screen.

Needs Xvfb and ImageMagick's ``import`` (Debian packages ``xvfb`` and
``imagemagick``; ``xdotool`` is used to check the windows' titles when
present); skipped with the reason when they are missing.
"""
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

pwem = pytest.importorskip("pwem")

BOX, APIX = 32, 3.2
MISSING = [tool for tool, package in (("Xvfb", "xvfb"), ("import", "imagemagick"))
           if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason="needs %s on PATH (apt-get install xvfb imagemagick; "
    "xdotool too, to check window titles)"
    % " and ".join(MISSING))


@pytest.fixture(scope="module")
def display():
    """A private X server; DISPLAY points at it for the module."""
    pytest.importorskip("tkinter")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                               "1400x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = ":" + number
    yield os.environ["DISPLAY"]
    if previous is None:
        del os.environ["DISPLAY"]
    else:
        os.environ["DISPLAY"] = previous
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def trained(project, tmp_path_factory, adk_dir):
    """A training protocol whose run folder holds a real one-epoch run
    (trained by the engine directly: the GUI only reads the folder)."""
    import torch
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.simulate import simulate_dataset
    from cryostar_boltz.engine.training.stage1 import run_training
    from cryostar_boltz.protocols import CryoStarBoltzProtTrain
    torch.set_num_threads(1)
    data = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            tmp_path_factory.mktemp("gui_sim"), 160, BOX, APIX,
                            snr=1.0, seed=3)
    protocol = project.newProtocol(CryoStarBoltzProtTrain)
    project.saveProtocol(protocol)
    cfg = TrainConfig(particles=str(data.star), reference=str(data.reference),
                      epochs=1, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                      seed=1, kl_warmup=20, device="cpu", prior="grbm",
                      prior_options={"hidden_units": 4})
    run_training(cfg, protocol._getExtraPath("run"), log=lambda *a: None)
    return protocol


@pytest.fixture
def windows(monkeypatch):
    """Scipion windows open without entering Tk's main loop; they are
    collected here and closed after the test."""
    import pyworkflow.gui.project  # noqa: F401  (the GUI's import order)
    from pyworkflow.gui.gui import Window
    pwem.Domain.getViewers()  # as the project window does: names the plugin
    opened = []

    def show(self, center=True, modal=False):
        self.root.deiconify()
        self.root.update()
        opened.append(self)

    monkeypatch.setattr(Window, "show", show)
    yield opened
    for window in reversed(opened):
        try:
            window.root.destroy()
        except Exception:  # already gone with its parent
            pass


def settle(root, seconds=1.0):
    """Let Tk draw (and the X server catch up) before a screenshot."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.05)


def screenshot(path):
    subprocess.run(["import", "-window", "root", str(path)], check=True,
                   timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def assert_non_trivial(image, empty):
    """Many colours, varied pixels, and most of the screen changed."""
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    assert colours > 40, "only %d colours on screen" % colours
    assert image.std() > 20
    changed = np.any(image != empty, axis=-1).mean()
    assert changed > 0.1, "only %.1f%% of the screen changed" % (100 * changed)


def window_titles():
    if shutil.which("xdotool") is None:
        return None
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "."],
                           capture_output=True, text=True, timeout=30).stdout.split()
    titles = []
    for window in found:
        name = subprocess.run(["xdotool", "getwindowname", window],
                              capture_output=True, text=True, timeout=30).stdout
        titles.append(name.strip())
    return titles


def test_training_form_opens(display, project, windows, tmp_path):
    from pyworkflow.gui.form import FormWindow
    from cryostar_boltz.protocols import CryoStarBoltzProtTrain
    empty = screenshot(tmp_path / "empty.png")
    protocol = project.newProtocol(CryoStarBoltzProtTrain)
    form = FormWindow("Protocol Run: CryoStarBoltzProtTrain", protocol,
                      lambda *a, **k: None)
    form.show()
    settle(form.root)
    assert_non_trivial(screenshot(tmp_path / "form.png"), empty)
    titles = window_titles()
    if titles is not None:
        assert "Protocol Run: CryoStarBoltzProtTrain" in titles


def test_latent_viewer_window_opens(display, project, trained, windows, tmp_path):
    from cryostar_boltz.viewers import CryoStarBoltzLatentViewer
    from cryostar_boltz.viewers.views import PictureView
    empty = screenshot(tmp_path / "empty.png")
    viewer = CryoStarBoltzLatentViewer(project=project, protocol=trained)
    viewer.visualize(trained)  # the viewer's form
    settle(viewer.formWindow.root)
    assert_non_trivial(screenshot(tmp_path / "viewer_form.png"), empty)
    views = viewer._getVisualizeDict()["displayLatent"]("displayLatent")
    figures = [v for v in views if isinstance(v, PictureView)]
    assert len(figures) == 1
    for window in windows:
        window.root.withdraw()  # the picture alone on screen
    figures[0].show()
    figures[0].window.geometry("900x750+0+0")
    settle(figures[0].window, 1.5)
    shot = screenshot(tmp_path / "latent_window.png")
    assert_non_trivial(shot, empty)
    # the window shows the saved picture's colours (the viridis points)
    from PIL import Image
    png = np.asarray(Image.open(figures[0].png).convert("RGB"))
    saved = {tuple(c) for c in png.reshape(-1, 3)[::7]}
    on_screen = {tuple(c) for c in shot[:750, :900].reshape(-1, 3)[::3]}
    assert len(saved & on_screen) > 20
    titles = window_titles()
    if titles is not None:
        assert any("latent" in t for t in titles)


def test_the_demos_open_command_shows_the_project(display, tmp_path, adk_dir):
    """The command the demo prints opens the project in Scipion's project
    window: the window appears on the display and the project's protocols
    are loaded in that process."""
    import threading
    from pwem.protocols import ProtImportPdb
    from pyworkflow.project import Manager
    from cryostar_boltz.workflow import headless
    from cryostar_boltz.workflow.project import open_command
    name = "cryostar_boltz_open_" + tmp_path.name[-12:].replace("-", "_")
    project = Manager().createProject(name)
    cwd = os.getcwd()
    os.chdir(project.path)
    try:
        imported = project.newProtocol(ProtImportPdb, skipChimera=True,
                                       inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                                       pdbFile=str(adk_dir / "adk_closed.pdb"))
        project.launchProtocol(imported, wait=True)
        assert imported.isFinished()
    finally:
        os.chdir(cwd)
    command = open_command(name, headless.configured_root())
    empty = screenshot(tmp_path / "empty.png")
    window = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(window.stdout), daemon=True)
    reader.start()
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end and window.poll() is None and \
                not any(line.startswith("project %s" % name) for line in lines):
            time.sleep(0.5)
        loaded = [line for line in lines if line.startswith("project %s" % name)]
        assert loaded, "".join(lines)[-3000:]
        assert "1 protocols: %s" % imported.getRunName() in loaded[0]
        titles = []
        while time.monotonic() < end and window.poll() is None:
            titles = window_titles() or []
            if any(name in t for t in titles) or shutil.which("xdotool") is None:
                break
            time.sleep(1.0)
        assert window.poll() is None, "".join(lines)[-3000:]
        if shutil.which("xdotool"):
            assert any(name in t for t in titles), titles
        time.sleep(2.0)
        assert_non_trivial(screenshot(tmp_path / "project_window.png"), empty)
    finally:
        if window.poll() is None:
            os.killpg(window.pid, 15)
        window.wait(30)


def test_lasso_window_draws_the_plot_and_saves_the_polygon(display, windows, tmp_path):
    """The latent viewer's lasso window on a display: the coloured scatter
    shows, a polygon counts the particles inside, and saving hands its
    vertices on."""
    import tkinter as tk
    from cryostar_boltz.engine.io import save_npz
    from cryostar_boltz.engine.plots.latent import latent_figure
    from cryostar_boltz.viewers.lasso import LassoView
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(-2, 0.4, (60, 2)), rng.normal(2, 0.4, (40, 2))])
    labels = np.repeat([0, 1], [60, 40])
    figure = latent_figure(xy, labels, categorical=True, color_label="cluster",
                           axis_labels=("PC1 (99.5% of the variance)", "PC2 (0.3% ...)"))
    save_npz(tmp_path / "latent_pca_cluster_points.npz", **figure.points)
    empty = screenshot(tmp_path / "empty.png")
    saved = []
    root = tk.Tk()
    root.withdraw()
    try:
        view = LassoView(tmp_path / "latent_pca_cluster_points.npz",
                         lambda v: saved.append(v) or "launched", parent=root)
        window = view.show()
        window.geometry("800x700+0+0")
        settle(window, 1.5)
        assert_non_trivial(screenshot(tmp_path / "lasso.png"), empty)
        view.save()
        assert not saved and "draw a polygon first" in view.status.get()
        square = [[0.5, -5.0], [5.0, -5.0], [5.0, 5.0], [0.5, 5.0]]
        view.set_polygon(square)
        settle(window, 0.5)
        assert view.status.get() == "40 of 100 particles inside"
        view.save()
        assert saved == [square] and view.status.get() == "launched"
        titles = window_titles()
        if titles is not None:
            assert "Select particles" in titles
    finally:
        root.destroy()
