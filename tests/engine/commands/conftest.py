"""A tiny simulated dataset and a tiny trained run, shared by the command
tests of this folder (one training for all of them)."""
import pytest

N, BOX, APIX = 64, 32, 3.2


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("session-tiny_sim")
    return simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            out, N, BOX, APIX, snr=1.0, seed=3)


def _train_options(dataset, **extra):
    """Command-line options of a one-epoch training on ``dataset``, with
    the published settings (``--preset cryostar``: CA rendering, constant
    restraints) the tests of this folder were written on."""
    options = {"--particles": dataset.star, "--reference": dataset.reference,
               "--epochs": 1, "--batch-size": 32, "--lr": 1e-3, "--low-pass": 8,
               "--threads": 1, "--device": "cpu", "--kl-warmup": 10,
               "--prior-fit-steps": 5, "--preset": "cryostar"}
    options.update(extra)
    argv = []
    for flag, value in options.items():
        argv += [flag, str(value)]
    return argv


def star_with_random_poses(dataset, folder, count, seed=5):
    """A copy of ``dataset``'s star file in ``folder`` (its stack copied
    beside it) whose last ``count`` particles got uniformly random
    rotations (junk); returns the star's path and the number of particles."""
    import shutil

    import numpy as np
    from scipy.spatial.transform import Rotation

    from cryostar_boltz.engine.particles import read_star, write_star
    blocks = read_star(dataset.star)
    table = blocks["particles"]
    n = len(table["rlnAngleRot"])
    euler = Rotation.random(count, random_state=seed).as_euler("ZYZ", degrees=True)
    for column, values in zip(("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"), euler.T):
        table[column] = np.asarray(table[column], float).copy()
        table[column][n - count:] = values
    star = folder / "particles.star"
    write_star(star, blocks)
    shutil.copy(dataset.stack, folder / dataset.stack.name)
    return star, n


@pytest.fixture(scope="session")
def train_options():
    """``train_options(dataset, **{"--flag": value})``: the argv of a
    one-epoch training on ``dataset``."""
    return _train_options


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory):
    """A finished run whose grbm prior has 30 hidden units (more than the
    exact sampler enumerates)."""
    import torch

    from cryostar_boltz.engine.cli import main
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("session-tiny_runs") / "grbm30"
    argv = ["train", "--out", str(run), "--prior", "grbm",
            "--prior-option", "hidden_units=30", "--prior-option", "num_chains=16",
            *_train_options(tiny_dataset)]
    assert main(argv) == 0
    return run
