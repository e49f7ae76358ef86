"""A real (small) run shared by the picture tests: two adenylate-kinase
states, 200 particles of 32 px, one epoch with a 4-unit grbm prior; a
sample-prior folder (and a copy posing as a QPU run) and a k-means analysis
beside it."""
import json
import shutil

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

BOX, APIX = 32, 3.2


def _assert_picture(path, min_colours=20, min_std=8.0):
    """The PNG exists and shows something: many colours, varied pixels."""
    from PIL import Image
    assert path.is_file(), path
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 200 and image.shape[1] > 200
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    assert colours > min_colours, "%s: only %d colours" % (path, colours)
    assert image.std() > min_std, "%s: nearly uniform" % path


@pytest.fixture(scope="session")
def assert_picture():
    return _assert_picture


@pytest.fixture(scope="session")
def run(tmp_path_factory, adk_dir):
    import torch
    from cryostar_boltz.engine.cli import main as cli
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.simulate import simulate_dataset
    from cryostar_boltz.engine.training.stage1 import run_training
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("session-plots")
    data = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            root / "sim", 200, BOX, APIX, snr=1.0, seed=3)
    cfg = TrainConfig(particles=str(data.star), reference=str(data.reference),
                      epochs=1, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                      seed=1, kl_warmup=20, device="cpu", prior="grbm",
                      prior_options={"hidden_units": 4})
    run_dir = run_training(cfg, root / "run", log=lambda *a: None)
    assert cli(["sample-prior", "--run", str(run_dir), "--n", "150",
                "--sampler", "gibbs", "--structures", "4",
                "--out", str(root / "gibbs")]) == 0
    # a QPU run as sample-prior writes it: the same files, with beta_eff
    shutil.copytree(root / "gibbs", root / "qpu")
    info = json.loads((root / "qpu" / "info.json").read_text())
    info.update(sampler="qpu", beta_eff=0.42)
    (root / "qpu" / "info.json").write_text(json.dumps(info))
    assert cli(["analyze", "--run", str(run_dir), "--k", "3",
                "--out", str(root / "analysis")]) == 0
    return run_dir


@pytest.fixture(scope="session")
def pictures(run):
    from cryostar_boltz.engine.plots import RunPictures
    return RunPictures(run, run.parent / "analysis")


@pytest.fixture(scope="session")
def map_files(tmp_path_factory):
    """Three 16^3 maps of a Gaussian blob moving along x."""
    import mrcfile
    root = tmp_path_factory.mktemp("session-maps")
    grid = np.indices((16, 16, 16)).astype(np.float32) - 7.5
    paths = []
    for k in range(3):
        blob = np.exp(-((grid[0] - k) ** 2 + grid[1] ** 2 + grid[2] ** 2) / 8.0)
        path = root / ("map_%d.mrc" % k)
        with mrcfile.new(path) as mrc:
            mrc.set_data(blob.astype(np.float32))
        paths.append(path)
    return paths
