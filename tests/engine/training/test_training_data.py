"""Tests of cryostar_boltz.engine.training.data: the loss targets cached
per run give the losses computed per step."""
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.simulate import simulate_dataset
from cryostar_boltz.engine.training import data as training_data
from cryostar_boltz.engine.training.config import TrainConfig
from cryostar_boltz.engine.training.progress import read_metrics

BOX, APIX = 32, 3.2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, adk_dir):
    out = tmp_path_factory.mktemp("sim_targets")
    return simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            out, 96, BOX, APIX, snr=1.0, seed=5)


def config(dataset, **kw):
    values = dict(particles=str(dataset.star), reference=str(dataset.reference),
                  epochs=1, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                  seed=2, kl_warmup=20, device="cpu", pseudo_atoms="atoms")
    values.update(kw)
    return TrainConfig(**values)


def test_cached_targets_equal_those_computed_per_batch(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    trainer = Stage1Trainer(config(dataset), tmp_path / "run", log=lambda *a: None)
    try:
        cached = trainer.targets
        assert cached.cached == ("filters", "images")
        fresh = training_data.LossTargets(trainer.data, trainer.lowpass, budget=0)
        assert fresh.cached == ()
        idx = np.array([5, 0, 77, 31])
        t = torch.as_tensor(idx)
        images = trainer.load_images(idx)
        want = imaging.compute_ctf(trainer.ctf[t], trainer.D, trainer.apix) * trainer.lowpass
        assert torch.allclose(cached.filters(t), want, atol=1e-6)
        assert torch.equal(fresh.filters(t), want)
        assert torch.allclose(cached.observed(t, images),
                              imaging.apply_fourier_mask(images, trainer.lowpass), atol=1e-5)
        # a budget for the filters only keeps them and computes the images
        only = training_data.LossTargets(trainer.data, trainer.lowpass,
                                         budget=96 * BOX * (BOX // 2 + 1) * 4)
        assert only.cached == ("filters",)
    finally:
        trainer.close()


def test_a_run_with_cached_targets_gives_the_same_losses(dataset, tmp_path, monkeypatch):
    from cryostar_boltz.engine.training.stage1 import run_training
    run_training(config(dataset), tmp_path / "cached", log=lambda *a: None)
    monkeypatch.setattr(training_data, "TARGET_CACHE_BYTES", 0)
    run_training(config(dataset), tmp_path / "per_step", log=lambda *a: None)
    cached = read_metrics(tmp_path / "cached" / "metrics.csv")
    per_step = read_metrics(tmp_path / "per_step" / "metrics.csv")
    for key in ("loss", "image", "elastic", "kl"):
        assert np.allclose(cached[key], per_step[key], rtol=1e-4, atol=1e-6), key
    assert np.allclose(np.load(tmp_path / "cached" / "z.npy"),
                       np.load(tmp_path / "per_step" / "z.npy"), atol=1e-3)
