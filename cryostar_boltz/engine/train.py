"""Stage 1: train the structure-guided VAE on particles with known poses.

A run is a folder (``RUN``): ``config.json`` (every option), ``metrics.csv``
(one row per step), ``checkpoints/last.pt`` (everything needed to resume:
weights, optimiser, prior, step), ``checkpoints/epoch_NNNN.pt`` (weights),
and at the end ``z.npy`` / ``z_logvar.npy`` (posterior means and log
variances, dataset order), ``model.pt`` (what ``generate`` needs) and
``analysis/`` (PCA paths and k-means centres decoded to PDB).

Determinism: the particle order of epoch ``e`` and the reparameterisation
noise of step ``s`` are drawn from generators seeded by ``(seed, e)`` and
``(seed, s)``, so nothing random lives outside the checkpoint and a run
killed and resumed ends exactly where an uninterrupted run does. The batch
size is global: with ``torchrun`` each process takes an equal slice of every
batch and gradients are summed, so results do not depend on the number of
processes.
"""
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import imaging
from .config import TrainConfig
from .particles import cache_downsampled, load_particles
from .distributed import init_distributed
from .losses import (StructuralRestraints, beta_schedule, correlation_loss,
                     gaussian_kl)
from .models import StructureVAE
from .placement import place_reference
from .priors import build_prior
from .progress import MetricsTable, Progress
from .pseudoatoms import default_sigma, render_points
from .io import atomic_write, save_array
from .runs import write_analysis
from .structure import load_structure

CHECKPOINTS = "checkpoints"
LAST = "last.pt"
MODEL = "model.pt"
METRICS = "metrics.csv"
METRIC_COLUMNS = ("step", "epoch", "loss", "image", "continuity", "elastic",
                  "elastic_kept", "clash", "kl", "beta", "lr",
                  "particles_per_s", "skipped")
#: Stacks smaller than this are read into memory once; larger ones stay mapped.
IN_MEMORY_BYTES = 4 * 1024 ** 3


class NonFiniteLoss(RuntimeError):
    """Raised after too many consecutive batches with a non-finite loss."""


def save_atomic(obj, path):
    """torch.save through a temporary file: a kill never leaves a truncated
    checkpoint under the final name."""
    atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


class TrainingData:
    """Particles ready for training: images (downsampled once into a cached
    stack, in memory when they fit), poses and CTF as tensors on the device.
    Shared by both training stages."""

    def __init__(self, particles_path, datadir, box, cache_dir, ctx, log=print):
        particles = load_particles(particles_path, datadir=datadir)
        apix0 = np.unique(np.round(particles.apix, 5))
        if len(apix0) != 1:
            raise ValueError("%s: particles have several pixel sizes %s; "
                             "train on one optics setting at a time"
                             % (particles_path, apix0.tolist()))
        self.particles, self.device = particles, ctx.device
        self.box0, self.apix0 = int(particles.box), float(apix0[0])
        self.D = int(box or self.box0)
        if self.D > self.box0 or self.D % 2:
            raise ValueError("--box %d: must be even and at most the "
                             "particles' box (%d)" % (self.D, self.box0))
        self.apix = self.apix0 * self.box0 / self.D
        if self.D != self.box0:
            cache = Path(cache_dir) / ("particles_%d.mrcs" % self.D)
            cache.parent.mkdir(parents=True, exist_ok=True)
            if ctx.is_main:
                log("downsampling %d particles %d -> %d px (%s)"
                    % (particles.n, self.box0, self.D, cache))
                cache_downsampled(particles, self.D, cache)
            ctx.barrier()
            stack = cache_downsampled(particles, self.D, cache)
        else:
            stack = particles.images
        nbytes = particles.n * self.D * self.D * 4
        self.images = (stack[np.arange(particles.n)] if nbytes <= IN_MEMORY_BYTES
                       else stack)
        dev = self.device
        self.rotations = torch.as_tensor(particles.rotations, dtype=torch.float32, device=dev)
        self.shifts = torch.as_tensor(particles.shifts, dtype=torch.float32, device=dev)
        self.ctf = torch.as_tensor(particles.ctf, dtype=torch.float32, device=dev)

    @property
    def n(self):
        return self.particles.n

    def load_images(self, idx):
        """Images of particles ``idx`` as a (B, D, D) tensor on the device
        (read in file order, returned in the order asked)."""
        idx = np.asarray(idx)
        order = np.argsort(idx)
        images = np.empty((len(idx), self.D, self.D), dtype=np.float32)
        images[order] = self.images[idx[order]]
        return torch.from_numpy(images).to(self.device, non_blocking=True)


class EpochTrainer:
    """The loop both training stages share: epochs of global batches in a
    seeded order, the per-step metrics table, progress, the non-finite
    guard, and checkpoints that resume bit-for-bit.

    A stage calls ``_start`` and ``_prepare_run_dir``, sets ``data`` (a
    ``TrainingData``), ``D`` and ``apix``, and implements
    ``train_step(batch, step) -> (values, bad)``, ``model_state()`` (what a
    resume needs besides the loop position), ``load_model_state(state)``
    and ``epoch_state()`` (the weights kept at the end of each epoch).
    ``cfg`` needs ``epochs``, ``batch_size``, ``seed``, ``checkpoint_every``
    and ``max_bad_steps``.
    """
    metric_columns = METRIC_COLUMNS
    #: Metrics shown on the progress line.
    progress_terms = ("loss", "image", "continuity", "elastic", "clash", "kl")
    #: What the run folder holds, for messages.
    run_kind = "training run"
    resume_hint = "pass --resume to continue it, or choose another output folder"

    def _start(self, cfg, run_dir, log):
        """Process context, logging, threads and the initial seed."""
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.ctx = init_distributed(cfg.device)
        self.log = log if self.ctx.is_main else (lambda *a, **k: None)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.device = self.ctx.device
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.bad_steps = 0

    def _prepare_run_dir(self, resume):
        (self.run_dir / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        if self.ctx.is_main:
            if not resume and (self.run_dir / CHECKPOINTS / LAST).exists():
                raise ValueError("%s already holds a %s: %s"
                                 % (self.run_dir, self.run_kind, self.resume_hint))
            self.cfg.save(self.run_dir)
        self.ctx.barrier()

    # ------------------------------------------------------------ batches
    @property
    def global_batch(self):
        return min(self.cfg.batch_size, self.data.n)

    @property
    def steps_per_epoch(self):
        return max(1, self.data.n // self.global_batch)

    def epoch_order(self, epoch):
        rng = np.random.default_rng([self.cfg.seed, epoch])
        return rng.permutation(self.data.n)

    def step_seed(self, step):
        return int(self.cfg.seed) * 1_000_003 + int(step)

    def _local_slice(self):
        G = self.global_batch
        if G % self.ctx.world:
            raise ValueError("batch size %d is not divisible by the %d "
                             "processes" % (G, self.ctx.world))
        b = G // self.ctx.world
        return slice(self.ctx.rank * b, (self.ctx.rank + 1) * b)

    # ------------------------------------------------------------ loop
    def fit(self):
        cfg = self.cfg
        metrics = None
        if self.ctx.is_main:
            metrics = MetricsTable(self.run_dir / METRICS, self.metric_columns)
            metrics.open(keep_until_step=self.step)
        total = cfg.epochs * self.steps_per_epoch
        progress = Progress(total, "train", enabled=self.ctx.is_main,
                            start_at=self.step)
        G = self.global_batch
        self.log("training: %d particles, %d px at %.3f A/px, %d epochs of %d "
                 "steps, batch %d, %d process(es) on %s"
                 % (self.data.n, self.D, self.apix, cfg.epochs,
                    self.steps_per_epoch, G, self.ctx.world, self.device))
        tick, rate, values = time.perf_counter(), 0.0, {}
        try:
            while self.epoch < cfg.epochs:
                order = self.epoch_order(self.epoch)
                while self.batch_in_epoch < self.steps_per_epoch:
                    k = self.batch_in_epoch
                    batch = order[k * G:(k + 1) * G]
                    values, bad = self.train_step(batch, self.step)
                    now = time.perf_counter()
                    rate = G / max(now - tick, 1e-9)
                    tick = now
                    values.update(step=self.step + 1, epoch=self.epoch + 1,
                                  particles_per_s=rate)
                    if metrics:
                        metrics.write(values)
                    self._guard(bad, values)
                    self.step += 1
                    self.batch_in_epoch += 1
                    progress.update(self.step, self._short(values), (rate, "particles"))
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                self.epoch += 1
                self.batch_in_epoch = 0
                self.save_checkpoint(epoch_copy=True)
                progress.update(self.step, self._short(values), (rate, "particles"),
                                force=True)
        finally:
            progress.close()
            if metrics:
                metrics.close()

    def _short(self, values):
        return {k: values[k] for k in self.progress_terms if k in values and
                isinstance(values[k], float) and math.isfinite(values[k])}

    def guarded_update(self, loss):
        """Backward, sum gradients over ranks and step, unless the loss or a
        gradient is non-finite on any rank; returns True when skipped."""
        ctx = self.ctx
        if ctx.broadcast_flag(not bool(torch.isfinite(loss))):
            return True
        loss.backward()
        ctx.all_reduce_gradients(self.parameters)
        if ctx.broadcast_flag(not all(bool(torch.isfinite(p.grad).all())
                                      for p in self.parameters
                                      if p.grad is not None)):
            return True
        self.optimizer.step()
        return False

    def _guard(self, bad, values):
        if not bad:
            self.bad_steps = 0
            return
        self.bad_steps += 1
        self.log("step %d: non-finite loss or gradient (%s): batch skipped"
                 % (self.step + 1, self._short(values)))
        if self.bad_steps > self.cfg.max_bad_steps:
            raise NonFiniteLoss(
                "%d consecutive batches gave non-finite losses: lower the "
                "learning rate (--lr), check the particles for NaN pixels, "
                "or resume from the last checkpoint" % self.bad_steps)

    # ------------------------------------------------------------ checkpoints
    def state(self):
        state = self.model_state()
        state.update(step=self.step, epoch=self.epoch,
                     batch_in_epoch=self.batch_in_epoch, bad_steps=self.bad_steps)
        return state

    def save_checkpoint(self, epoch_copy=False):
        if not self.ctx.is_main:
            return
        folder = self.run_dir / CHECKPOINTS
        save_atomic(self.state(), folder / LAST)
        if epoch_copy:
            weights = self.epoch_state()
            weights.update(step=self.step, epoch=self.epoch)
            save_atomic(weights, folder / ("epoch_%04d.pt" % self.epoch))

    def _load_checkpoint(self):
        path = self.run_dir / CHECKPOINTS / LAST
        if not path.exists():
            self.log("no checkpoint in %s: starting from the beginning"
                     % self.run_dir)
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.load_model_state(state)
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self.bad_steps = state.get("bad_steps", 0)
        self.log("resumed from %s at epoch %d, step %d"
                 % (path, self.epoch + (self.batch_in_epoch > 0), self.step))

    def close(self):
        self.ctx.close()


class Stage1Trainer(EpochTrainer):
    """Everything a stage-1 run holds; ``fit()`` trains, ``finish()`` writes
    the latents, the model and the analysis."""

    def __init__(self, cfg, run_dir, resume=False, log=print):
        self._start(cfg, run_dir, log)
        self._prepare_run_dir(resume)
        self._load_data()
        self._build_model()
        if resume:
            self._load_checkpoint()

    # ------------------------------------------------------------ setup
    def _load_data(self):
        cfg = self.cfg
        self.data = TrainingData(cfg.particles, cfg.datadir, cfg.box,
                                 self.run_dir / "cache", self.ctx, self.log)
        data = self.data
        self.particles, self.images = data.particles, data.images
        self.box0, self.apix0, self.D, self.apix = data.box0, data.apix0, data.D, data.apix
        self.rotations, self.shifts, self.ctf = data.rotations, data.shifts, data.ctf
        self.mask = imaging.circular_mask(self.D, cfg.mask_radius, device=self.device)
        self.lowpass = imaging.lowpass_mask(self.D, self.apix, cfg.low_pass,
                                            device=self.device)
        self.n_masked = float(self.mask.sum())
        self.load_images = data.load_images

    def _build_model(self):
        cfg = self.cfg
        reference = load_structure(cfg.reference)
        self.reference_centre = np.zeros(3)
        placed = place_reference(reference, self.box0, self.apix0, cfg.map,
                                 source=cfg.reference)
        self.reference_centre = reference.coords.mean(0) - placed.coords.mean(0)
        self.reference = placed
        self.prior = build_prior(cfg.prior, cfg.latent_dim,
                                 **cfg.prior_options).to(self.device)
        extra = getattr(self.prior, "extra_encoder_dim", 0)
        # an atom's width includes the particles' own pixels, not the
        # training box's: downsampling by Fourier cropping adds no blur
        sigma = (cfg.sigma if cfg.sigma is not None
                 else default_sigma(cfg.pseudo_atoms, self.apix0))
        self.vae = StructureVAE(self.D, placed.coords, placed.amplitudes,
                                latent_dim=cfg.latent_dim,
                                encoder_hidden=cfg.encoder_hidden,
                                decoder_hidden=cfg.decoder_hidden,
                                extra_dim=extra, sigma=sigma,
                                decoder_input_dim=getattr(
                                    self.prior, "decoder_input_dim",
                                    cfg.latent_dim),
                                render_points=render_points(placed, cfg.pseudo_atoms)
                                ).to(self.device)
        sample = self.images[np.linspace(0, self.particles.n - 1,
                                         min(self.particles.n, 2000)).astype(int)]
        self.vae.encoder.fit_input_scale(sample)
        self.restraints = StructuralRestraints(
            placed.coords, placed.chain_index, placed.bonds,
            elastic_cutoff=cfg.elastic_cutoff,
            clash_range=(cfg.clash_distance, cfg.clash_max_distance),
            quantile=cfg.elastic_keep,
            elastic_tolerance=cfg.elastic_tolerance).to(self.device)
        network = [p for p in self.vae.parameters() if p.requires_grad]
        prior = [p for p in self.prior.parameters() if p.requires_grad]
        self.parameters = network + prior
        # the prior learns only through the small KL term: its own, larger
        # learning rate and no weight decay let it follow the encoder
        groups = [{"params": network}]
        if prior:
            groups.append({"params": prior, "weight_decay": 0.0,
                           "lr": cfg.prior_lr or 10 * cfg.lr})
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)
        counts = self.restraints.counts()
        self.log("reference %s: %d residues, %d chains; restraints %s"
                 % (cfg.reference, placed.n, len(np.unique(placed.chain_index)),
                    counts))
        self.log("rendering: %d Gaussians (%s) of width %.2f A"
                 % (len(self.vae.render_amplitudes), cfg.pseudo_atoms, sigma))

    # ------------------------------------------------------------ batches
    def step_noise(self, step, shape):
        gen = torch.Generator().manual_seed(self.step_seed(step))
        return torch.randn(shape, generator=gen).to(self.device)

    # ------------------------------------------------------------ one step
    def set_learning_rate(self, step):
        """Learning rates of ``step``: constant, or a cosine decay to 10 % of
        their base value over the run (a function of the step only, so a
        resumed run follows the same schedule)."""
        factor = 1.0
        if self.cfg.lr_schedule == "cosine":
            factor = self.cosine(step, 1.0, 0.1)
        for group in self.optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
            group["lr"] = group["base_lr"] * factor

    def elastic_weight(self, step):
        """Elastic-network weight at ``step``: constant, or with
        ``elastic_weight_final`` a cosine decay from ``elastic_weight`` to it
        over the run. Strong restraints carry the decoder from the reference
        through the noise; weaker ones at the end let the images set the
        local geometry the reference's distances would hold back."""
        cfg = self.cfg
        if cfg.elastic_weight_final is None:
            return cfg.elastic_weight
        return self.cosine(step, cfg.elastic_weight, cfg.elastic_weight_final)

    def cosine(self, step, start, end):
        """A cosine from ``start`` at step 0 to ``end`` at the run's last
        step: a function of the step only, so a resumed run follows it."""
        total = max(1, self.cfg.epochs * self.steps_per_epoch)
        progress = min(step / total, 1.0)
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def autocast(self):
        """bfloat16 for the encoder and decoder networks with ``--amp``
        (CPUs with AVX512-BF16 and GPUs run them about twice as fast); the
        projection, CTF and losses always run in float32."""
        import contextlib
        if not self.cfg.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def forward_losses(self, idx, step, noise):
        """Loss terms of the particles ``idx`` (this rank's share)."""
        ctx = self.ctx
        images = self.load_images(idx)
        t = torch.as_tensor(idx, device=self.device)
        with self.autocast():
            mu, logvar, extra = self.vae.encode(images)
        mu, logvar = mu.float(), logvar.float()
        extra = None if extra is None else extra.float()
        z = mu + torch.exp(0.5 * logvar) * noise
        decoder_input = (self.prior.decoder_input(z, extra, training=True)
                         if hasattr(self.prior, "decoder_input") else z)
        with self.autocast():
            displacement = self.vae.decoder(decoder_input)
        coords = self.vae.ref_coords + displacement.float()
        proj = imaging.project_gaussians(self.vae.render_coords(coords),
                                         self.vae.render_amplitudes,
                                         self.rotations[t], self.D, self.apix,
                                         sigma=self.vae.sigma,
                                         shifts=self.shifts[t])
        ctf = imaging.compute_ctf(self.ctf[t], self.D, self.apix)
        pred = imaging.apply_ctf(proj, ctf * self.lowpass)
        observed = imaging.apply_fourier_mask(images, self.lowpass)
        image = correlation_loss(pred, observed, self.mask)
        reduce_fn = (lambda s: ctx.all_reduce_(s)) if ctx.active else None
        restraints = self.restraints(coords, reduce_fn=reduce_fn)
        kl, kl_logs = self.kl_terms(mu, logvar, extra)
        return image, restraints, kl, kl_logs

    def kl_terms(self, mu, logvar, extra):
        """Per-particle KL (B,): free bits over the global batch for the
        Gaussian prior, the prior's own estimate otherwise."""
        if self.cfg.prior == "gaussian":
            reduce_fn = self.ctx.all_reduce_ if self.ctx.active else None
            return gaussian_kl(mu, logvar, self.cfg.free_bits,
                               reduce_fn=reduce_fn), {}
        kl, logs = self.prior.kl(mu, logvar, extra)
        return kl, logs

    def train_step(self, batch_idx_global, step):
        cfg, ctx = self.cfg, self.ctx
        G = self.global_batch
        local = self._local_slice()
        noise = self.step_noise(step, (G, cfg.latent_dim))[local]
        idx = batch_idx_global[local]
        b = len(idx)
        beta = beta_schedule(step, cfg.kl_warmup, cfg.kl_beta)
        self.set_learning_rate(step)
        # priors draw their own Monte-Carlo samples: seed them per step and
        # rank so a resumed run repeats them exactly
        torch.manual_seed(self.step_seed(step) * 64 + ctx.rank + 1)
        self.optimizer.zero_grad(set_to_none=True)
        image, r, kl, kl_logs = self.forward_losses(idx, step, noise)
        share = b / G
        loss = (image.sum() / G
                + beta * kl.sum() / (G * self.n_masked)
                + share * (cfg.continuity_weight * r["continuity"]
                           + self.elastic_weight(step) * r["elastic"]
                           + cfg.clash_weight * r["clash"]))
        terms = torch.stack([loss.detach(), image.detach().sum() / G,
                             share * r["continuity"].detach(),
                             share * r["elastic"].detach(),
                             share * r["elastic_kept"].detach(),
                             share * r["clash"].detach(),
                             kl.detach().sum() / G]).double()
        bad = self.guarded_update(loss)
        ctx.all_reduce_(terms)
        values = dict(zip(("loss", "image", "continuity", "elastic",
                           "elastic_kept", "clash", "kl"), terms.tolist()))
        values.update(beta=beta, lr=self.optimizer.param_groups[0]["lr"],
                      skipped=int(bad))
        values.update(kl_logs)
        return values, bad

    # ------------------------------------------------------------ checkpoints
    def model_state(self):
        return {"config": asdict(self.cfg), "model_config": self.vae.config,
                "model": self.vae.state_dict(), "prior": self.prior.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def epoch_state(self):
        return {"model_config": self.vae.config, "model": self.vae.state_dict(),
                "prior": self.prior.state_dict()}

    def load_model_state(self, state):
        self.vae.load_state_dict(state["model"])
        self.prior.load_state_dict(state["prior"])
        self.optimizer.load_state_dict(state["optimizer"])

    # ------------------------------------------------------------ outputs
    @torch.no_grad()
    def infer_latents(self, batch=1024):
        """Posterior means, log variances and (for a binary latent) the most
        probable binary code of every particle, in dataset order."""
        self.vae.eval()
        n = self.particles.n
        mus, logvars, codes = [], [], []
        for start in range(0, n, batch):
            idx = np.arange(start, min(n, start + batch))
            mu, logvar, extra = self.vae.encode(self.load_images(idx))
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
            if extra is not None:
                codes.append((extra > 0).to(torch.int8).cpu())
        self.vae.train()
        code = torch.cat(codes).numpy() if codes else None
        return torch.cat(mus).numpy(), torch.cat(logvars).numpy(), code

    def fit_prior(self, z, logvar):
        """Fit the prior to the frozen posteriors of all particles (its KL's
        own gradient, i.e. maximum likelihood on posterior samples), so the
        saved prior matches the latents it will be sampled against."""
        steps = self.cfg.prior_fit_steps
        if (not steps or not any(True for _ in self.prior.parameters())
                or getattr(self.prior, "extra_encoder_dim", 0)):
            return
        from .priors import fit_to_posteriors
        loss = fit_to_posteriors(self.prior, z, logvar, steps,
                                 lr=self.cfg.prior_lr or 10 * self.cfg.lr,
                                 seed=self.cfg.seed)
        self.log("prior fitted to the posteriors in %d steps (KL %.3f)"
                 % (steps, loss))

    def finish(self):
        """Latents, the model file and the analysis (main process only)."""
        if self.ctx.is_main:
            z, logvar, code = self.infer_latents()
            self.fit_prior(z, logvar)
            save_array(self.run_dir / "z.npy", z)
            save_array(self.run_dir / "z_logvar.npy", logvar)
            if code is not None:
                save_array(self.run_dir / "z_code.npy", code)
            reference_copy = self.run_dir / ("reference" + _suffix(self.cfg.reference))
            if not reference_copy.exists():
                shutil.copyfile(self.cfg.reference, reference_copy)
            save_atomic({"model_config": self.vae.config,
                         "model": self.vae.state_dict(),
                         "prior_name": self.cfg.prior,
                         "prior_options": dict(self.cfg.prior_options),
                         "latent_dim": self.cfg.latent_dim,
                         "prior": self.prior.state_dict(),
                         "reference": reference_copy.name,
                         "reference_centre": self.reference_centre,
                         "box": self.D, "apix": self.apix,
                         "box0": self.box0, "apix0": self.apix0,
                         "step": self.step},
                        self.run_dir / MODEL)
            write_analysis(self.run_dir, z, log=self.log)
        self.ctx.barrier()


def _suffix(path):
    name = str(path).lower()
    for ext in (".pdb.gz", ".cif.gz", ".ent.gz"):
        if name.endswith(ext):
            return ext
    return Path(path).suffix or ".pdb"


def run_training(cfg, run_dir, resume=False, log=print):
    """Train (or resume) a stage-1 run and write its outputs; returns RUN."""
    trainer = Stage1Trainer(cfg, run_dir, resume=resume, log=log)
    try:
        trainer.fit()
        trainer.finish()
    finally:
        trainer.close()
    return Path(run_dir)


def resume_config(run_dir, overrides):
    """The saved config of a run, with the options a resume may change."""
    cfg = TrainConfig.load(run_dir)
    allowed = {"epochs", "device", "threads", "checkpoint_every"}
    for key, value in overrides.items():
        if key not in allowed:
            raise ValueError("--resume continues %s with its saved options; "
                             "%s cannot change (allowed: %s)"
                             % (run_dir, key, ", ".join(sorted(allowed))))
        setattr(cfg, key, value)
    return cfg
