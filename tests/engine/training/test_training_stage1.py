"""Stage-1 training (training/stage1.py and the loop it runs on): outputs, determinism, resume after SIGKILL or SIGTERM, DDP, guards."""
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.training.config import TrainConfig
from cryostar_boltz.engine.training.progress import read_metrics
from cryostar_boltz.engine.simulate import simulate_dataset
from cryostar_boltz.engine.structure import read_models

BOX, APIX = 32, 3.2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, adk_dir):
    out = tmp_path_factory.mktemp("sim")
    return simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            out, 192, BOX, APIX, snr=1.0, seed=3)


def config(dataset, **kw):
    values = dict(particles=str(dataset.star), reference=str(dataset.reference),
                  epochs=2, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                  seed=1, kl_warmup=20, device="cpu")
    values.update(kw)
    return TrainConfig(**values)


def train_args(dataset, out, *extra):
    return ["train", "--particles", str(dataset.star), "--reference",
            str(dataset.reference), "--out", str(out), "--epochs", "3",
            "--batch-size", "32", "--lr", "1e-3", "--low-pass", "8",
            "--threads", "1", "--kl-warmup", "20", "--seed", "1",
            "--device", "cpu", *extra]


def test_training_writes_the_run_folder(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import run_training
    run = run_training(config(dataset), tmp_path / "run", log=lambda *a: None)
    z = np.load(run / "z.npy")
    assert z.shape == (192, 8) and np.isfinite(z).all()
    assert np.load(run / "z_logvar.npy").shape == (192, 8)
    assert (run / "model.pt").exists() and (run / "config.json").exists()
    assert TrainConfig.load(run).epochs == 2
    metrics = read_metrics(run / "metrics.csv")
    assert metrics["step"] == list(range(1, 13))
    for key in ("image", "continuity", "elastic", "clash", "kl"):
        assert np.isfinite(metrics[key]).all()
    # the image loss is minus the correlation of the projected model and the
    # particles: high from the first step only if poses, shifts and CTF agree
    assert max(metrics["image"]) < -0.5
    assert (run / "checkpoints" / "epoch_0002.pt").exists()
    for c in (1, 2, 3):
        models = read_models(run / "analysis" / ("pc%d.pdb" % c))
        coarse = read_models(run / "analysis" / ("pc%d_coarse.pdb" % c))
        assert models.shape == coarse.shape == (10, 214, 3)
    centres = read_models(run / "analysis" / "kmeans10" / "centers.pdb")
    assert centres.shape == (10, 214, 3)


def test_convergence_is_measured_on_each_epochs_last_row(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import run_training
    logs = []
    run = run_training(config(dataset, epochs=3), tmp_path / "run", log=logs.append)
    metrics = read_metrics(run / "metrics.csv")
    corr, rmsd = np.array(metrics["latent_corr"]), np.array(metrics["pc1_rmsd"])
    ends = np.array(metrics["step"]) % 6 == 0  # 6 steps per epoch
    # empty on the other rows and at epoch 1 (nothing to compare with)
    assert np.isnan(corr[~ends]).all() and np.isnan(rmsd[~ends]).all()
    assert np.isnan(corr[5]) and np.isnan(rmsd[5])
    assert ((corr[[11, 17]] > 0) & (corr[[11, 17]] <= 1)).all()
    # a few Angstrom at most: the decoder starts at the reference
    assert ((rmsd[[11, 17]] > 0) & (rmsd[[11, 17]] < 5)).all()
    assert any(line.startswith("epoch 3: latent correlation with the previous "
                               "epoch %.3f; PC1 path moved %.2f A"
                               % (corr[17], rmsd[17])) for line in logs)


def test_generate_writes_models_in_the_reference_frame(dataset, tmp_path):
    from cryostar_boltz.engine.cli import main
    from cryostar_boltz.engine.structure import load_structure
    from cryostar_boltz.engine.training.stage1 import run_training
    run = run_training(config(dataset, epochs=1), tmp_path / "run",
                       log=lambda *a: None)
    z = np.zeros((3, 8), dtype=np.float32)
    np.save(tmp_path / "z.npy", z)
    assert main(["generate", "--run", str(run), "--z", str(tmp_path / "z.npy"),
                 "--out", str(tmp_path / "gen")]) == 0
    coarse = read_models(tmp_path / "gen" / "structures_coarse.pdb")
    full = read_models(tmp_path / "gen" / "structures.pdb")
    ref = load_structure(dataset.reference)
    assert coarse.shape == (3, ref.n, 3)
    np.testing.assert_allclose(full, coarse, atol=1e-3)
    # after one short epoch the decoder is still close to the reference
    assert np.sqrt(((coarse[0] - ref.coords) ** 2).sum(-1).mean()) < 2.0


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory, engine_command):
    """A run of 36 steps (3 epochs of 12) checkpointed every 4 steps."""
    full = tmp_path_factory.mktemp("uninterrupted") / "full"
    cmd, env = engine_command(*train_args(dataset, full, "--checkpoint-every",
                                          "4", "--batch-size", "16"))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return full


def assert_same_run(full, killed):
    """The resumed run's latents, model and metrics are the uninterrupted one's."""
    np.testing.assert_array_equal(np.load(full / "z.npy"), np.load(killed / "z.npy"))
    a = torch.load(full / "model.pt", weights_only=False)["model"]
    b = torch.load(killed / "model.pt", weights_only=False)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert read_metrics(full / "metrics.csv")["loss"] == \
        read_metrics(killed / "metrics.csv")["loss"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM],
                         ids=["SIGKILL", "SIGTERM"])
def test_a_killed_or_stopped_run_resumes_to_the_uninterrupted_run(
        dataset, uninterrupted, tmp_path, engine_command, kill_at_row, sig):
    killed = tmp_path / "killed"
    cmd, env = engine_command(*train_args(dataset, killed, "--checkpoint-every",
                                          "4", "--batch-size", "16"))
    code, err = kill_at_row(cmd, env, killed / "metrics.csv", 18,  # mid second epoch
                            sig=sig)
    assert not (killed / "z.npy").exists()
    if sig == signal.SIGTERM:
        # what Scipion's stop and a cluster's time limit send: one line, 143,
        # and no half-written file
        assert code == 143
        assert err.strip().splitlines()[-1] == (
            "cryostar-boltz train: stopped (SIGTERM): continue from the last "
            "checkpoint with --resume")
        assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp")]
    else:
        assert code == -signal.SIGKILL
    cmd, env = engine_command("train", "--resume", "--out", str(killed))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout + done.stderr
    assert_same_run(uninterrupted, killed)
    # run.log holds both sessions, the stop between them (a SIGKILL leaves
    # no word), each line timed
    log = (killed / "run.log").read_text()
    lines = log.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", line) for line in lines)
    assert lines[0].endswith("train: started %s" % killed)
    resumed = [i for i, line in enumerate(lines) if line.endswith("train: resumed %s" % killed)]
    assert len(resumed) == 1
    stops = [line for line in lines if "stopped at step" in line]
    if sig == signal.SIGTERM:
        assert len(stops) == 1 and "interrupted; --resume continues" in stops[0]
        assert lines.index(stops[0]) < resumed[0]
    else:
        assert stops == []
    assert any("CPU threads: " in line for line in lines[:resumed[0]])  # held, then kept
    assert any("latents and per-particle scores" in line for line in lines[resumed[0]:])
    assert any("  trained to step 36 (epoch 3): loss " in line for line in lines[resumed[0]:])
    if sig == signal.SIGTERM:
        # a finished run resumed: says so, trains nothing, writes the same
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "nothing left to train: 3 epochs done" in done.stdout
        assert_same_run(uninterrupted, killed)
        # a resume never shortens a run: fewer epochs are refused, the
        # saved options untouched
        saved = (killed / "config.json").read_text()
        cmd, env = engine_command("train", "--resume", "--out", str(killed), "--epochs", "2")
        short = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert short.returncode == 1 and short.stderr.strip().splitlines() == [
            "cryostar-boltz train: error: --resume trains %s further: --epochs 2 is fewer than "
            "its 3 (leave --epochs out, or give more)" % killed]
        assert (killed / "config.json").read_text() == saved
    # the convergence of epoch 2 compares with epoch 1's z and path, which
    # the checkpoint of step 16 carried over the kill
    for key in ("latent_corr", "pc1_rmsd"):
        a, b = (np.array(read_metrics(run / "metrics.csv")[key])
                for run in (uninterrupted, killed))
        assert np.isfinite(a).sum() == 2, key
        np.testing.assert_array_equal(a, b)


def test_two_processes_agree_with_one(dataset, tmp_path, engine_command):
    # the published restraints: the recommended, weaker elastic network lets
    # the summation order of two processes drift the 12 steps apart by ~0.02
    one = tmp_path / "one"
    cmd, env = engine_command(*train_args(dataset, one, "--preset", "cryostar"))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    two = tmp_path / "two"
    args = train_args(dataset, two, "--preset", "cryostar")
    # --standalone: torchrun picks a free rendezvous port (a fixed one
    # collides with any other run on the machine)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "cryostar_boltz.engine.cli", *args]
    _, env = engine_command()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    z1, z2 = np.load(one / "z.npy"), np.load(two / "z.npy")
    np.testing.assert_allclose(z2, z1, rtol=1e-3, atol=1e-3)
    m1, m2 = read_metrics(one / "metrics.csv"), read_metrics(two / "metrics.csv")
    np.testing.assert_allclose(m2["loss"], m1["loss"], rtol=1e-4, atol=1e-5)


def test_refuses_a_reference_outside_the_box(dataset, tmp_path):
    from cryostar_boltz.engine.structure import load_structure, write_models
    from cryostar_boltz.engine.training.stage1 import run_training
    ref = load_structure(dataset.reference)
    # as if left in the frame of a map it was docked into
    write_models(tmp_path / "far.pdb", ref, ref.coords + 60.0, full_atom=True)
    cfg = config(dataset, reference=str(tmp_path / "far.pdb"))
    with pytest.raises(ValueError, match="box centre"):
        run_training(cfg, tmp_path / "run", log=lambda *a: None)
    # a model that is centred but larger than the box
    write_models(tmp_path / "big.pdb", ref, ref.coords * 3.0, full_atom=True)
    cfg = config(dataset, reference=str(tmp_path / "big.pdb"))
    with pytest.raises(ValueError, match="does not fit the box"):
        run_training(cfg, tmp_path / "run2", log=lambda *a: None)


def test_refuses_to_overwrite_a_run(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import run_training
    run_training(config(dataset, epochs=1), tmp_path / "run", log=lambda *a: None)
    with pytest.raises(ValueError, match="--resume"):
        run_training(config(dataset, epochs=1), tmp_path / "run", log=lambda *a: None)


def test_non_finite_batches_are_skipped_then_refused(dataset, tmp_path, monkeypatch):
    from cryostar_boltz.engine.training.loop import NonFiniteLoss
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    trainer = Stage1Trainer(config(dataset, epochs=1, max_bad_steps=2),
                            tmp_path / "run", log=lambda *a: None)
    before = {k: v.clone() for k, v in trainer.vae.state_dict().items()}
    real = trainer.forward_losses

    def poisoned(idx, step, noise):
        image, r, kl, logs = real(idx, step, noise)
        return image * float("nan"), r, kl, logs

    monkeypatch.setattr(trainer, "forward_losses", poisoned)
    with pytest.raises(NonFiniteLoss, match="consecutive"):
        trainer.fit()
    for key, value in trainer.vae.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert rows["skipped"] == [1.0, 1.0, 1.0]


def test_cosine_schedule_decays_to_a_tenth(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    trainer = Stage1Trainer(config(dataset, epochs=2, lr_schedule="cosine"),
                            tmp_path / "run", log=lambda *a: None)
    total = 2 * trainer.steps_per_epoch
    rates = []
    for step in (0, total // 2, total):
        trainer.set_learning_rate(step)
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(1e-3)
    assert rates[1] == pytest.approx(0.55e-3)
    assert rates[2] == pytest.approx(1e-4)


@pytest.mark.parametrize("prior, options, want", [
    ("gmm", {}, 10.0), ("grbm", {}, 10.0), ("ebm", {}, 10.0), ("gmm", {"prior_lr": 3e-3}, 3.0)])
def test_the_prior_learns_at_its_own_rate(dataset, tmp_path, prior, options, want):
    """The prior's parameters learn at ``Prior.lr_factor`` x lr (10 x for
    every prior), unless --prior-lr sets it; no weight decay."""
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    trainer = Stage1Trainer(config(dataset, epochs=1, prior=prior, **options),
                            tmp_path / "run", log=lambda *a: None)
    networks, priors = trainer.optimizer.param_groups
    assert priors["lr"] == pytest.approx(want * networks["lr"])
    assert priors["weight_decay"] == 0.0


@pytest.mark.parametrize("mode", ["centroid", "atoms"])
def test_other_renderings_train_and_reload(dataset, tmp_path, mode):
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer, run_training
    with pytest.raises(ValueError, match="pseudo_atoms"):
        Stage1Trainer(config(dataset, pseudo_atoms="cb"), tmp_path / "bad",
                      log=lambda *a: None)
    run = run_training(config(dataset, epochs=1, pseudo_atoms=mode, sigma=1.5),
                       tmp_path / "run", log=lambda *a: None)
    assert TrainConfig.load(run).pseudo_atoms == mode
    assert max(read_metrics(run / "metrics.csv")["image"]) < -0.5
    trained = TrainedRun(run)
    decoded = trained.decode(np.load(run / "z.npy")[:4])
    assert decoded.shape == (4, 214, 3) and np.isfinite(decoded).all()


def test_elastic_weight_decays_when_asked(dataset, tmp_path):
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    trainer = Stage1Trainer(config(dataset, epochs=2, elastic_weight=0.1,
                                   elastic_weight_final=0.01),
                            tmp_path / "run", log=lambda *a: None)
    total = 2 * trainer.steps_per_epoch
    weights = [trainer.elastic_weight(step) for step in (0, total // 2, total)]
    assert weights == pytest.approx([0.1, 0.055, 0.01])
    # the published method's weight is constant (an auto run decays it)
    constant = Stage1Trainer(config(dataset, elastic_weight=0.3, preset="cryostar"),
                             tmp_path / "run2", log=lambda *a: None)
    assert constant.elastic_weight(5) == 0.3


def test_width_follows_the_rendering_unless_given(dataset, tmp_path):
    from cryostar_boltz.engine.pseudoatoms import atom_sigma
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    widths = {}
    for name, kw in (("ca", dict(pseudo_atoms="ca")), ("atoms", dict(pseudo_atoms="atoms")),
                     ("given", dict(pseudo_atoms="atoms", sigma=1.7)),
                     ("downsampled", dict(pseudo_atoms="atoms", box=16))):
        trainer = Stage1Trainer(config(dataset, **kw), tmp_path / name, log=lambda *a: None)
        widths[name] = trainer.vae.sigma
    # an atom's 1 A widened by the 3.2 A pixel: sqrt(1 + 3.2^2 / 12) = 1.36
    # a smaller training box does not widen the atoms: the particles' pixels do
    assert widths == {"ca": 2.0, "atoms": pytest.approx(atom_sigma(APIX)), "given": 1.7,
                      "downsampled": pytest.approx(atom_sigma(APIX))}
    assert atom_sigma(APIX) == pytest.approx(1.3614, abs=1e-4)



@pytest.mark.parametrize("z, coords, words", [
    ([[0.1, float("nan")]], 1.0, "1 non-finite latents"),
    ([[7e9, 0.0]], 1.0, "latents up to 7e+09, beyond 1000"),
    ([[0.5, 0.5]], 1e14, "decoded coordinates up to 1e+14 A, beyond 1024 A"),
    ([[0.5, 0.5]], float("inf"), "decoded coordinates non-finite"),
])
def test_absurd_latents_or_structures_mean_divergence(z, coords, words):
    """Stage 1 checks the latents and what they decode to before writing
    any output: a diverged run never looks finished."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from cryostar_boltz.engine.training.loop import NonFiniteLoss
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer

    class Decoder(torch.nn.Module):
        def decode(self, inputs):
            return torch.full((len(inputs), 5, 3), coords)

    trainer = SimpleNamespace(step=16, vae=Decoder(), device="cpu", box0=32, apix0=3.2)
    with pytest.raises(NonFiniteLoss, match="training diverged at step 16") as err:
        Stage1Trainer.check_latents(trainer, np.asarray(z, dtype=np.float32), None)
    assert words in str(err.value) and "lower --lr" in str(err.value)
    # a sane run passes the same check
    trainer.vae = SimpleNamespace(training=False, eval=lambda: None,
                                  train=lambda mode: None,
                                  decode=lambda t: torch.full((len(t), 5, 3), 30.0))
    Stage1Trainer.check_latents(trainer, np.full((3, 2), 2.0, np.float32), None)


def test_ebm_prior_trains_resumes_and_samples(dataset, tmp_path):
    """A run with the latent EBM prior logs a finite KL and log Z, resumes
    to the same latents and prior as an uninterrupted run (its persistent
    chains are in the checkpoints), and its prior samples."""
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.training.stage1 import resume_config, run_training
    torch.set_num_threads(1)
    # the published constant weights: a schedule over the run (an auto
    # run's elastic decay) changes when a finished run is trained further
    options = dict(prior="ebm", prior_fit_steps=10, latent_dim=4, preset="cryostar",
                   prior_options={"energy_width": 16, "num_chains": 32})
    straight = run_training(config(dataset, **options), tmp_path / "straight",
                            log=lambda *a: None)
    resumed = run_training(config(dataset, epochs=1, **options), tmp_path / "resumed",
                           log=lambda *a: None)
    run_training(resume_config(resumed, {"epochs": 2}), resumed, resume=True,
                 log=lambda *a: None)
    np.testing.assert_array_equal(np.load(straight / "z.npy"), np.load(resumed / "z.npy"))
    a, b = (torch.load(run / "model.pt", weights_only=False)["prior"]
            for run in (straight, resumed))
    for key in a:
        assert torch.equal(a[key].nan_to_num(), b[key].nan_to_num()), key
    metrics = read_metrics(straight / "metrics.csv")
    # the kl column is the KL itself (its log Z estimated), not a surrogate
    for key in ("kl", "log_z"):
        assert np.isfinite(metrics[key]).all() and len(metrics[key]) == 12, key
    prior = TrainedRun(straight).prior
    z, info = prior.sample(20, seed=0, num_sweeps=50)
    assert info["sampler"] == "mala" and z.shape == (20, 4) and torch.isfinite(z).all()
