"""Stage 2 (training/stage2.py): the density decoder trained on a stage-1
run, its maps against the truth and in the reference frame, resume (after
SIGKILL or SIGTERM)."""
import os
import shutil
import signal
import subprocess

import mrcfile
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import density, imaging
from cryostar_boltz.engine.layout import RunLayout
from cryostar_boltz.engine.pseudoatoms import atom_sigma
from cryostar_boltz.engine.simulate import (ensemble_from_structures,
                                            simulate_dataset)
from cryostar_boltz.engine.training.config import DensityConfig, TrainConfig
from cryostar_boltz.engine.training.progress import read_metrics

BOX, APIX = 32, 3.2
SMALL = dict(hidden=32, layers=1, threads=1, device="cpu", batch_size=16, lr=3e-3)


# ------------------------------------------------------------ training

def _state_maps(dataset_truth, paths, D, apix):
    """Rendered heavy-atom maps of each simulated state, in the box frame."""
    ens = ensemble_from_structures(paths)
    truth = np.load(dataset_truth)
    amps = torch.as_tensor(ens.atomic_numbers, dtype=torch.float64)
    return [imaging.render_volume(torch.as_tensor(c - truth["centre"]), amps, D,
                                  apix, atom_sigma(apix)).numpy()
            for c in ens.atom_coords]


@pytest.fixture(scope="module")
def states(adk_dir):
    return [adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory, states):
    """A two-state dataset and a short stage-1 run on it."""
    from cryostar_boltz.engine.training.stage1 import run_training
    out = tmp_path_factory.mktemp("density")
    data = simulate_dataset(states, out / "sim", 256, BOX, APIX, snr=1.0, seed=3)
    # the published stage-1 settings: 3 short epochs whose latents separate
    # the two states (the maps' test is of stage 2)
    cfg = TrainConfig(particles=str(data.star), reference=str(data.reference),
                      epochs=3, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                      seed=1, kl_warmup=20, device="cpu", preset="cryostar")
    run = run_training(cfg, out / "run", log=lambda *a: None)
    return data, run


@pytest.fixture(scope="module")
def trained(stage1):
    from cryostar_boltz.engine.training.stage2 import run_density_training
    _, run = stage1
    cfg = DensityConfig(run=str(run), epochs=12, **dict(SMALL, hidden=64, layers=2))
    run_density_training(cfg, log=lambda *a: None)
    return run


def test_maps_of_the_two_states_match_their_own_truth(stage1, trained, states):
    data, run = stage1
    truth = np.load(data.truth)
    z = np.load(run / "z.npy")
    model = density.TrainedDensity(run)
    assert (model.box, model.apix) == (BOX, APIX)
    maps = _state_maps(data.truth, states, BOX, APIX)
    metrics = read_metrics(run / "density" / "metrics.csv")
    assert metrics["loss"][-1] < 0.8 * metrics["loss"][0]
    for s in (0, 1):
        generated = model.volume(z[truth["state"] == s].mean(0))
        assert generated.shape == (BOX,) * 3 and generated.dtype == np.float32
        own, other = (np.corrcoef(generated.ravel(), maps[t].ravel())[0, 1]
                      for t in (s, 1 - s))
        assert own > 0.8 and own > other + 0.05, (s, own, other)
        # on the absolute scale of the rendered map (per cubic Angstrom)
        assert 0.7 < generated.sum() / maps[s].sum() < 1.3


def test_write_maps_is_atomic_and_resumable(trained, tmp_path, monkeypatch):
    model = density.TrainedDensity(trained)
    z = np.zeros((3, model.latent_dim), dtype=np.float32)
    calls = []
    real = model.volume

    def interrupted(row):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(row)

    monkeypatch.setattr(model, "volume", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.write_maps(z, tmp_path / "maps", "state")
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["state_000.mrc"]
    # a kill between writing and renaming leaves no file under the final name
    from cryostar_boltz.engine import io
    real_replace = os.replace
    monkeypatch.setattr(io.os, "replace",
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        density.write_map(tmp_path / "one.mrc", np.zeros((4, 4, 4)), 1.0)
    assert not any(tmp_path.glob("*one.mrc*"))
    monkeypatch.setattr(io.os, "replace", real_replace)
    monkeypatch.setattr(model, "volume", real)
    first = (tmp_path / "maps" / "state_000.mrc").stat().st_mtime_ns
    paths = model.write_maps(z, tmp_path / "maps", "state", skip_existing=True)
    assert [p.name for p in paths] == ["state_000.mrc", "state_001.mrc", "state_002.mrc"]
    assert (tmp_path / "maps" / "state_000.mrc").stat().st_mtime_ns == first
    with mrcfile.open(paths[2]) as mrc:
        assert mrc.data.shape == (BOX,) * 3 and mrc.data.dtype == np.float32


def test_maps_overlay_the_generated_structures(stage1, tmp_path):
    """With a reference docked in a consensus map, the maps' origin puts the
    box centre where the generated structures are (reference frame)."""
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.structure import load_structure, write_models
    from cryostar_boltz.engine.training.stage1 import run_training
    from cryostar_boltz.engine.training.stage2 import run_density_training
    data, _ = stage1
    offset = np.array([50.0, 40.0, -30.0])
    ref = load_structure(data.reference)
    write_models(tmp_path / "docked.pdb", ref, ref.coords + offset, full_atom=True)
    density.write_map(tmp_path / "consensus.mrc", np.zeros((BOX,) * 3), APIX,
                      origin=offset - (BOX // 2) * APIX)
    cfg = TrainConfig(particles=str(data.star), reference=str(tmp_path / "docked.pdb"),
                      map=str(tmp_path / "consensus.mrc"), epochs=1, batch_size=64,
                      threads=1, device="cpu", low_pass=8.0)
    run = run_training(cfg, tmp_path / "run", log=lambda *a: None)
    run_density_training(DensityConfig(run=str(run), epochs=1, **SMALL),
                         log=lambda *a: None)
    model = density.TrainedDensity(run)
    np.testing.assert_allclose(model.origin, offset - (BOX // 2) * APIX, atol=1e-3)

    structures = TrainedRun(run)
    coords = structures.decode(np.zeros((1, 8)))[0]          # reference frame
    box_frame = torch.as_tensor(coords - model.reference_centre)
    amps = torch.as_tensor(structures.vae.amplitudes.double())
    rendered = imaging.render_volume(box_frame, amps, BOX, APIX).numpy()
    path = density.write_map(tmp_path / "decoded.mrc", rendered, APIX, model.origin)
    with mrcfile.open(path) as mrc:
        grid = mrc.data.astype(np.float64)
        voxel = float(mrc.voxel_size.x)
        origin = np.array([float(mrc.header.origin[a]) for a in "xyz"])
    zi, yi, xi = np.indices(grid.shape)
    com = np.array([(grid * i).sum() for i in (xi, yi, zi)]) / grid.sum()
    centre = (amps.numpy()[:, None] * coords).sum(0) / amps.numpy().sum()
    np.testing.assert_allclose(origin + com * voxel, centre, atol=0.05)
    assert voxel == pytest.approx(APIX)
    # the engine's own map reader puts the box centre at the same place
    from cryostar_boltz.engine.placement import map_box_centre
    np.testing.assert_allclose(map_box_centre(path)[0], model.reference_centre,
                               atol=1e-3)


def test_resume_refuses_changed_latents(stage1, trained, tmp_path):
    from cryostar_boltz.engine.training.stage2 import Stage2Trainer, resume_density_config
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    np.save(copy / "z.npy", np.load(copy / "z.npy") + 1.0)
    cfg = resume_density_config(copy, {"epochs": 13})
    assert cfg.run == str(copy) and cfg.hidden == 64
    with pytest.raises(ValueError, match="changed"):
        Stage2Trainer(cfg, resume=True, log=lambda *a: None)
    with pytest.raises(ValueError, match="cannot change"):
        resume_density_config(copy, {"hidden": 8})


def test_exclude_junk_trains_on_the_kept_particles_only(stage1, tmp_path):
    """--exclude-junk Z: the epochs go through the particles whose stage-1
    junk score is at most Z, the log says how many are left out, the
    config keeps Z; a run without scores, or with none kept, is refused
    before RUN/density exists."""
    from cryostar_boltz.engine.training.stage2 import Stage2Trainer, run_density_training
    run = stage1[1]
    copy = stage1_copy(run, tmp_path / "run")
    n = len(np.load(copy / "z.npy"))
    cfg = DensityConfig(run=str(copy), epochs=1, exclude_junk=2.0, **SMALL)
    with pytest.raises(ValueError, match="--exclude-junk: .*no per-particle scores"):
        run_density_training(cfg, log=lambda *a: None)
    assert not (copy / "density").exists()
    junk = np.zeros(n, dtype=np.float32)
    junk[::8] = 5.0                               # 32 of 256 flagged
    np.save(copy / "junk_score.npy", junk)
    for name in ("particle_loss.npy", "pose_contrast.npy"):
        np.save(copy / name, np.zeros(n, dtype=np.float32))
    lines = []
    trainer = Stage2Trainer(cfg, log=lines.append)
    try:
        kept = np.flatnonzero(junk <= 2.0)
        assert trainer.train_count == len(kept) == n - n // 8
        order = trainer.epoch_order(0)
        assert sorted(order.tolist()) == kept.tolist()
        assert not np.array_equal(order, kept)    # shuffled
        assert trainer.steps_per_epoch == len(kept) // 16
        assert any("leaving out %d of %d particles whose stage-1 junk score is above 2"
                   % (n // 8, n) in line for line in lines)
    finally:
        trainer.close()
    shutil.rmtree(copy / "density")
    out = run_density_training(cfg, log=lambda *a: None)
    assert DensityConfig.load(out).exclude_junk == 2.0
    np.save(copy / "junk_score.npy", np.full(n, 5.0, dtype=np.float32))
    shutil.rmtree(copy / "density")
    with pytest.raises(ValueError, match="every one of the %d particles" % n):
        run_density_training(cfg, log=lambda *a: None)
    assert not (copy / "density").exists()
    # and without the option, every particle, in the order of before
    plain = DensityConfig(run=str(copy), epochs=1, **SMALL)
    trainer = Stage2Trainer(plain, log=lambda *a: None)
    try:
        assert trainer.train_count == n
        np.testing.assert_array_equal(trainer.epoch_order(3),
                                      np.random.default_rng([plain.seed, 3]).permutation(n))
    finally:
        trainer.close()


# ------------------------------------------------------------ command line

DENSITY_ARGS = ("--epochs", "3", "--hidden", "64", "--layers", "2", "--batch-size",
                "16", "--lr", "3e-3", "--threads", "1", "--device", "cpu",
                "--checkpoint-every", "5")


def stage1_copy(run, folder):
    """A copy of the stage-1 run's files that stage 2 reads."""
    folder.mkdir()
    for item in ("config.json", "model.pt", "z.npy"):
        shutil.copy(run / item, folder / item)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(stage1, tmp_path_factory, engine_command):
    """A density run of 3 epochs checkpointed every 5 steps."""
    full = stage1_copy(stage1[1], tmp_path_factory.mktemp("density_full") / "full")
    cmd, env = engine_command("train-density", "--run", full, *DENSITY_ARGS)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return full


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM],
                         ids=["SIGKILL", "SIGTERM"])
def test_a_killed_or_stopped_run_resumes_to_the_uninterrupted_run(
        stage1, uninterrupted, tmp_path, engine_command, kill_at_row, sig):
    from cryostar_boltz.engine.training.stage2 import run_density_training
    killed = stage1_copy(stage1[1], tmp_path / "killed")
    cmd, env = engine_command("train-density", "--run", killed, *DENSITY_ARGS)
    code, err = kill_at_row(cmd, env, killed / "density" / "metrics.csv", 22,  # epoch 2
                            sig=sig)
    assert not (killed / "density" / "model.pt").exists()
    if sig == signal.SIGTERM:
        assert code == 143
        assert err.strip().splitlines()[-1] == (
            "cryostar-boltz train-density: stopped (SIGTERM): continue from the last "
            "checkpoint with --resume")
        assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp")]
    else:
        assert code == -signal.SIGKILL
    with pytest.raises(ValueError, match="--resume"):
        run_density_training(DensityConfig(run=str(killed)), log=lambda *a: None)
    cmd, env = engine_command("train-density", "--run", killed, "--resume")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout + done.stderr
    a = torch.load(uninterrupted / "density" / "model.pt", weights_only=False)
    b = torch.load(killed / "density" / "model.pt", weights_only=False)
    for key in a["decoder"]:
        assert torch.equal(a["decoder"][key], b["decoder"][key]), key
    assert read_metrics(uninterrupted / "density" / "metrics.csv")["loss"] == \
        read_metrics(killed / "density" / "metrics.csv")["loss"]
    # density/run.log: the first session, its stop (SIGTERM only), the resume
    log = [line[21:] for line in (killed / "density" / "run.log").read_text().splitlines()]
    heads = [line for line in log if line.startswith("cryostar-boltz ")]
    assert [h.split(": ")[1].split()[0] for h in heads] == ["started", "resumed"]
    assert sum("stopped at step" in line for line in log) == (sig == signal.SIGTERM)


def test_command_refuses_an_unfinished_stage1_run(tmp_path, capsys):
    from cryostar_boltz.engine.cli import main
    TrainConfig(particles="p.star", reference="r.pdb").save(tmp_path)
    assert main(["train-density", "--run", str(tmp_path)]) == 1
    assert "stage 1 has not finished" in capsys.readouterr().err
    assert not (tmp_path / "density").exists()
    assert not RunLayout(tmp_path).has_density()
