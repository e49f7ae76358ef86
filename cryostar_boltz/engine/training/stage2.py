"""Stage 2: train the density decoder on the particles of a stage-1 run.

The stage-1 latents (posterior means) are held fixed; the decoder
(``density.DensityDecoder``) learns each particle's central slice: its
prediction times the particle's CTF is compared with the particle's
spectrum (centred by a phase ramp, divided by one dataset scale: the
standard deviation of the particles' Fourier coefficients) by the mean
squared error inside the circle of radius D/2. With ``exclude_junk`` the
epochs leave out the particles whose stage-1 junk score is above it (their
consensus poses fit no better than random ones).

The run lives in ``RUN/density/`` (``layout.RunLayout(RUN).density_run``):
its config, metrics table, checkpoints and, at the end, the model file
``TrainedDensity`` reads. The loop, checkpoints, resume and data-parallel
training are :class:`~.loop.EpochTrainer`'s; there is nothing random in a
step, so a resumed run ends exactly where an uninterrupted one does.
"""
import hashlib
from dataclasses import asdict

import numpy as np
import torch

from .. import imaging
from ..density import DensityDecoder, SliceGrid, centre_spectra, centred_rfft2
from ..layout import JUNK_SCORE, LATENTS, MODEL, RunLayout
from ..particle_scores import junk_exclusion
from ..outputs import created_folder, no_checkpoint
from .config import DensityConfig, TrainConfig, input_path
from .data import TrainingData
from .loop import EpochTrainer, NonFiniteLoss, adamw, load_torch, save_torch

#: Particles whose spectra set the data scale.
SCALE_SAMPLE = 1000


def latents_digest(z):
    """A fingerprint (SHA-1 hex) of the stage-1 latents (N, d) a density
    run was trained on, as float32."""
    return hashlib.sha1(np.ascontiguousarray(z, dtype=np.float32).tobytes()).hexdigest()


def _stage1(run_dir):
    """(config, model file contents, z) of a finished stage-1 run."""
    layout = RunLayout(run_dir)
    cfg = TrainConfig.load(run_dir)
    if not layout.model.is_file() or not layout.latents.is_file():
        raise FileNotFoundError(
            "%s: stage 1 has not finished (no %s or %s): finish it with "
            "'cryostar-boltz train --resume --out %s'" % (run_dir, MODEL, LATENTS, run_dir))
    state = load_torch(layout.model, "cpu", "stage-1 model file")
    z = np.load(layout.latents)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise ValueError("%s: %s must be a finite (N, latent_dim) array, got "
                         "shape %s" % (run_dir, LATENTS, z.shape))
    return cfg, state, z.astype(np.float32)


class Stage2Trainer(EpochTrainer):
    """Everything a stage-2 run holds; ``fit()`` trains, ``finish()`` writes
    the model file."""
    run_kind = "density run"
    command = "train-density"
    out_option = None  # the folder is RUN/density

    def __init__(self, cfg, resume=False, log=print, overwrite=False):
        stage1_cfg, self.stage1, z = _stage1(cfg.run)
        self.z_digest = latents_digest(z)
        self._start(cfg, RunLayout(cfg.run).density, log)
        # every input is read and checked before RUN/density is written
        # (the images need the downsampled particles, which go to the
        # stage-1 run's cache); the log waits until then, so a refusal
        # prints nothing else
        with self.log:
            self._claim_run_dir(resume, overwrite)
            if resume:
                self._read_checkpoint()
                self._check_latents()
            self._load_data(stage1_cfg, z)
            self._build_decoder()
            if resume:
                self._check_checkpoint()
            self.data.open_images()
            self._build_model()
            self._prepare_run_dir(resume)
        if resume:
            self._load_checkpoint()

    def run_inputs(self):
        return {"run": str(self.cfg.run), "latents": self.z_digest}

    # ------------------------------------------------------------ setup
    def _load_data(self, stage1_cfg, z):
        box = self.cfg.box or int(self.stage1["box"])
        self.data = TrainingData(input_path(stage1_cfg, "particles"),
                                 input_path(stage1_cfg, "datadir"), box,
                                 self.cfg.run, self.ctx, self.log, defer_images=True)
        if len(z) != self.data.n:
            raise ValueError("%s: %s holds %d latents but the run's particles "
                             "(%s) are %d" % (self.cfg.run, LATENTS, len(z),
                                              stage1_cfg.particles, self.data.n))
        self.D, self.apix = self.data.D, self.data.apix
        self.train_indices = self._kept_particles()
        self.z = torch.from_numpy(z).to(self.device)
        self.grid = SliceGrid(self.D, self.device)

    def _kept_particles(self):
        """With ``exclude_junk``, the sorted indices of the particles whose
        stage-1 junk score (RUN/junk_score.npy) is at most it, logged with
        how many are left out; else None (every particle). ValueError when
        the run has no scores or none is kept."""
        threshold = self.cfg.exclude_junk
        if threshold is None:
            return None
        _, junk = junk_exclusion(self.cfg.run, self.data.n, threshold)
        if junk.all():
            raise ValueError("--exclude-junk %g: every one of the %d particles of %s has a "
                             "junk score above it" % (threshold, self.data.n, self.cfg.run))
        self.log("leaving out %d of %d particles whose stage-1 junk score is above %g "
                 "(wrong poses: %s)" % (int(junk.sum()), self.data.n, threshold, JUNK_SCORE))
        return np.flatnonzero(~junk)

    def _build_decoder(self):
        cfg = self.cfg
        self.decoder = DensityDecoder(self.D, self.z.shape[1], hidden=cfg.hidden,
                                      layers=cfg.layers, pe_dim=cfg.pe_dim,
                                      feat_sigma=cfg.feat_sigma,
                                      seed=cfg.seed).to(self.device)

    def _build_model(self):
        """The data scale (refused for empty or non-finite images) and the
        optimiser of the decoder."""
        cfg = self.cfg
        self.scale = self._data_scale()
        self.parameters = [p for p in self.decoder.parameters() if p.requires_grad]
        self.optimizer = adamw(self.parameters, self.device, lr=cfg.lr,
                               weight_decay=cfg.weight_decay)
        self.log("density decoder: %d points per slice, width %d, %d blocks, "
                 "%d parameters; data scale %.4g"
                 % (len(self.grid), cfg.hidden, cfg.layers,
                    sum(p.numel() for p in self.parameters), self.scale))

    def _data_scale(self):
        """Standard deviation of the particles' Fourier coefficients (full
        grid, so also of their Hartley coefficients), from a fixed sample."""
        n = self.data.n
        idx = np.unique(np.linspace(0, n - 1, min(n, SCALE_SAMPLE)).astype(int))
        images = self.data.load_images(idx).double()
        power = torch.fft.fft2(images).abs().square().mean()
        scale = float(power.sqrt())
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError("%s: the particle images are empty or not finite"
                             % self.cfg.run)
        return scale

    # ------------------------------------------------------------ one step
    def observed(self, idx):
        """Normalised, centred spectra (b, P, 2) of particles ``idx`` on the grid."""
        t = torch.as_tensor(idx, device=self.device)
        spectra = centre_spectra(centred_rfft2(self.data.load_images(idx)),
                                 self.data.shifts[t], self.apix)
        return torch.view_as_real(self.grid.gather(spectra)) / self.scale

    def slice_loss(self, idx):
        """Per-particle mean squared error (b,) over the disk."""
        t = torch.as_tensor(idx, device=self.device)
        coords = self.grid.rotated(self.data.rotations[t])
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.cfg.amp and self.device.type == "cuda"):
            pred = self.decoder(coords, self.z[t])
        ctf = self.grid.gather(imaging.compute_ctf(self.data.ctf[t], self.D, self.apix))
        diff = pred.float() * ctf.unsqueeze(-1) - self.observed(idx)
        weights = self.grid.weights
        return (diff.square().sum(-1) * weights).sum(-1) / weights.sum()

    def train_step(self, batch_idx_global, step):
        ctx = self.ctx
        G = self.global_batch
        idx = batch_idx_global[self._local_slice()]
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.slice_loss(idx).sum() / G
        terms = loss.detach().double().reshape(1)
        bad = self.guarded_update(loss)
        ctx.all_reduce_(terms)
        return {"loss": float(terms[0]), "lr": self.optimizer.param_groups[0]["lr"],
                "skipped": int(bad)}, bad

    # ------------------------------------------------------------ checkpoints
    def model_state(self):
        return {"config": asdict(self.cfg), "decoder_config": self.decoder.config,
                "decoder": self.decoder.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scale": self.scale,
                "z_digest": self.z_digest}

    def epoch_state(self):
        return {"decoder_config": self.decoder.config,
                "decoder": self.decoder.state_dict(), "scale": self.scale}

    def _check_latents(self, state=None):
        """ValueError when the checkpoint to resume from was trained on
        other stage-1 latents than the run's ``z.npy``."""
        state = self._resume_state if state is None else state
        if state is not None and state.get("z_digest") != self.z_digest:
            raise ValueError(
                "%s: the stage-1 latents (%s) changed since this density "
                "run started: remove %s and train the density decoder again"
                % (self.cfg.run, LATENTS, self.run_dir))

    def load_networks(self, state):
        self.load_matching([(self.decoder, state["decoder"])], "decoder does")

    def load_model_state(self, state):
        self._check_latents(state)
        self.load_networks(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scale = float(state["scale"])

    # ------------------------------------------------------------ outputs
    def finish(self):
        """The density run's model file (main process only)."""
        if self.ctx.is_main:
            save_torch(self.layout.model, {
                "decoder_config": self.decoder.config,
                "decoder": self.decoder.state_dict(),
                "scale": self.scale, "box": self.D, "apix": self.apix,
                "reference_centre": np.asarray(
                    self.stage1["reference_centre"], dtype=np.float64),
                "z_digest": self.z_digest, "step": self.step}, "model file")
            self.log("density decoder written to %s" % self.layout.model)
        self.ctx.barrier()


def run_density_training(cfg, resume=False, log=print, overwrite=False):
    """Train (or resume) the density decoder of ``cfg.run`` (a
    ``DensityConfig``); returns the density run folder ``RUN/density``.
    ``RUN/density`` must be new, empty, this run's own (``resume``) or
    replaced (``overwrite``), as for stage 1."""
    with created_folder(RunLayout(cfg.run).density, no_checkpoint,
                        refusals=(NonFiniteLoss,)):
        trainer = Stage2Trainer(cfg, resume=resume, log=log, overwrite=overwrite)
        try:
            trainer.fit()
            trainer.finish()
        except BaseException as err:
            trainer.log_stop(err)
            raise
        finally:
            trainer.close()
    return trainer.run_dir


def resume_density_config(run_dir, overrides):
    """The saved config of ``RUN/density``, with the options a resume may
    change (``config.RESUME_OPTIONS``) taken from ``overrides``; ``run``
    becomes ``run_dir`` (the folder may have moved)."""
    cfg = DensityConfig.for_resume(RunLayout(run_dir).density, overrides)
    cfg.run = str(run_dir)
    return cfg

