"""Stage 1: train the structure-guided VAE on particles with known poses.

A run is a folder (``RUN``, names in :mod:`cryostar_boltz.engine.layout`):
the config (every option), the metrics table (one row per step), the
checkpoints (everything needed to resume: weights, optimiser, prior, step;
and the weights of every epoch), and at the end the posterior means and
log variances (dataset order), the binary codes (``rbm`` prior), the model
file (what ``generate`` needs; written last) and the analysis (PCA paths
and k-means centres decoded to structure files in the run's format). The
loop, checkpoints and resume are :class:`~.loop.EpochTrainer`'s.
"""
import contextlib
import hashlib
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from .. import imaging
from ..domains import describe_domains, domains_record, resolve_domains
from ..geometry import matrix_to_euler
from ..io import atomic_path, read_json, save_array, save_json, save_npz
from ..analysis import nearest_particles
from ..layout import (CONVERGENCE_COLUMNS, LATENT_CORR, PC1_RMSD, SEARCHED_POSES,
                      model_suffix)
from ..losses import StructuralRestraints, beta_schedule, correlation_loss, gaussian_kl
from ..models import StructureVAE
from ..outputs import created_folder, no_checkpoint
from ..particle_scores import RANDOM_POSES, describe_scores, save_particle_scores
from ..particles.fingerprint import check_fingerprint, save_fingerprint
from ..placement import place_reference
from ..priors import build_prior, fit_to_posteriors
from ..pseudoatoms import default_sigma, render_points
from ..runs import write_analysis
from ..structure import load_structure, output_format
from ..structure.selection import describe_residues, select_residues
from .config import TrainConfig, input_path
from .convergence import ConvergenceTracker, reading
from .data import LossTargets, TrainingData
from .derived import DataFacts, band_pixels, counted, describe, resolve, restate_length
from .encoder_input import EncoderInput
from .pose_screen import PoseScreen
from .pose_search import (CONFIRM_ANGLE, CONTROL_PARTICLES, MIN_RECOVERY, PoseSearch,
                          rotation_angles)
from .loop import EpochTrainer, NonFiniteLoss, adamw, diverged, save_torch
from .scoring import PoseScorer

#: Largest |z| a converged run's latents reach (posterior means of a
#: standard-normal-like prior sit within a few units).
MAX_LATENT = 1e3
#: Decoded coordinates further than this many box lengths (Angstrom) from
#: the box centre mean the decoder diverged.
MAX_BOXES = 10


class Stage1Trainer(EpochTrainer):
    """Everything a stage-1 run holds; ``fit()`` trains, ``finish()`` writes
    the latents, the model and the analysis."""
    metric_columns = ("step", "epoch", "loss", "image", "continuity", "elastic",
                      "elastic_kept", "clash", "kl", "log_z", "beta", "lr",
                      "particles_per_s", "skipped", "outliers") + CONVERGENCE_COLUMNS
    progress_terms = ("loss", "image", "continuity", "elastic", "clash", "kl")
    #: The pose contrast's projections (built at the first scoring pass).
    pose_scorer = None

    def __init__(self, cfg, run_dir, resume=False, log=print, overwrite=False):
        self._start(cfg, run_dir, log)
        # every input is read and checked before anything is written; the
        # log waits until then, so a refusal prints nothing else
        with self.log:
            self._check_inputs(resume, overwrite)
            self._prepare_run_dir(resume)
        if self.ctx.is_main:
            save_fingerprint(self.layout.particle_fingerprint, self.particles)
            if self.focus is not None and not self.layout.mask_fingerprint.exists():
                save_json(self.layout.mask_fingerprint, {"mask": cfg.mask,
                                                         "sha256": self.mask_sha256})
            if self.domains_record is not None and not self.layout.domains.exists():
                save_json(self.layout.domains, self.domains_record)
        self._copy_reference()
        self.images = self.data.open_images()
        self.targets = LossTargets(self.data, self.lowpass)
        self._build_model()
        self.convergence = ConvergenceTracker(self.particles.n, cfg.seed)
        if resume:
            self._load_checkpoint()

    def _check_inputs(self, resume, overwrite):
        """Read and check every input, writing nothing: the folder, the
        checkpoint to resume from, the particles, the reference and prior,
        the derived options, the masks, and the networks (built, and on
        resume given the checkpoint's weights)."""
        cfg = self.cfg
        self._claim_run_dir(resume, overwrite)
        if resume:
            self._read_checkpoint()
        self._load_data()
        if resume and self.layout.particle_fingerprint.is_file():
            check_fingerprint(self.particles, self.layout.particle_fingerprint,
                              None, self.run_dir, input_path(cfg, "particles"))
        self._load_reference(resume)
        try:
            self.prior.check_particles(self.particles.n)
        except ValueError as err:
            raise ValueError("%s: %s" % (cfg.particles, err)) from None
        self._derive_options()
        self._load_masks()
        if resume and self.focus is not None and self.layout.mask_fingerprint.is_file():
            saved = read_json(self.layout.mask_fingerprint).get("sha256")
            if saved != self.mask_sha256:
                raise ValueError("--mask %s: not the mask %s was trained with (its voxels "
                                 "differ); --resume keeps a run's mask: train a new run "
                                 "to change it" % (cfg.mask, self.run_dir))
        self._build_networks()
        if resume:
            self._check_checkpoint()

    def run_inputs(self):
        cfg = self.cfg
        inputs = {"particles": cfg.particles, "reference": cfg.reference,
                  "map": cfg.map, "datadir": cfg.datadir}
        if cfg.mask:
            inputs["mask"] = cfg.mask
        return inputs

    # ------------------------------------------------------------ setup
    def _load_data(self):
        """The particles (metadata; images deferred) and the focus mask's
        volume, checked against them."""
        cfg = self.cfg
        self.data = TrainingData(input_path(cfg, "particles"), input_path(cfg, "datadir"),
                                 cfg.box, self.run_dir, self.ctx, self.log, defer_images=True)
        data = self.data
        self.particles = data.particles
        self.box0, self.apix0, self.D, self.apix = data.box0, data.apix0, data.D, data.apix
        self.rotations, self.shifts, self.ctf = data.rotations, data.shifts, data.ctf
        self.load_images = data.load_images
        self.focus_volume = None
        if cfg.mask:
            from ..focus_mask import read_focus_mask
            self.focus_volume = read_focus_mask(input_path(cfg, "mask"), self.box0,
                                                self.apix0, input_path(cfg, "map"))

    def _derive_options(self):
        """Options left unset (auto) chosen from the particles and the
        reference (``derived.resolve``; a resumed run keeps its saved
        values), each logged with its reason."""
        placed = self.reference
        resolve(self.cfg, DataFacts(
            particles=self.particles.n, box=self.D, apix=self.apix, residues=placed.n,
            heavy_atoms=int((placed.atoms.atomic_numbers > 1).sum()),
            chains=len(np.unique(placed.chain_index))))
        restate_length(self.cfg, self.particles.n)  # a resume with another --epochs
        for line in describe(self.cfg):
            self.log(line)

    def _load_masks(self):
        """The loss mask, the low-pass and the focus mask, once the low-pass
        is known; widths the data cannot carry are refused (``check_widths``)."""
        cfg = self.cfg
        check_widths(cfg, self.D, self.apix, self.box0, self.apix0,
                     self.log if self.ctx.is_main else (lambda _: None))
        self.mask = imaging.circular_mask(self.D, cfg.mask_radius, device=self.device)
        self.lowpass = imaging.lowpass_mask(self.D, self.apix, cfg.low_pass,
                                            device=self.device)
        self.n_masked = float(self.mask.sum())
        self.focus = None
        if self.focus_volume is not None:
            from ..focus_mask import FocusMask, check_overlap
            volume, voxel = self.focus_volume
            self.mask_sha256 = hashlib.sha256(
                np.ascontiguousarray(volume, dtype=np.float32).tobytes()
                + np.float64(voxel).tobytes()).hexdigest()
            where = "--mask %s" % cfg.mask
            check_overlap(volume, voxel, self.reference.atoms.coords, where)
            self.focus = FocusMask(volume, voxel, self.D, self.apix, cfg.low_pass,
                                   self.mask, self.device)
            self.focus.keep(self.particles.n)
            start = time.perf_counter()
            radius = cfg.mask_radius * self.D / 2.0 * self.apix
            left_out, n = self.focus.select_particles(self.rotations, self.shifts,
                                                      where, radius, low_pass_source(cfg))
            if cfg.half_sets and left_out:
                self._check_halves_see_the_mask(where)
            self.log("focus mask %s: the image loss counts its projection (projected "
                     "on %d voxels of %.2f A; %d particles in %.1f s)"
                     % (cfg.mask, self.focus.count, self.focus.step, n,
                        time.perf_counter() - start))
            if left_out:
                self.log("focus mask %s: %d of %d particles see less than one "
                         "resolution element of it inside the loss circle (radius "
                         "%.4g A): left out of the image loss (their KL term and the "
                         "restraints stay)" % (cfg.mask, left_out, n, radius))

    def _check_halves_see_the_mask(self, where):
        """With ``--half-sets``, refuse (before the run on all particles
        trains) a focus mask whose loss area leaves out every particle of
        one half-set: that half's run would be refused after it."""
        from ..halfmaps import half_sets
        halves, source = half_sets(self.particles, self.cfg.seed)
        left_out = self.focus.left_out.cpu().numpy()
        for half in (1, 2):
            if left_out[halves == half].all():
                raise ValueError(
                    "--half-sets: %s: every one of the %d particles of half-set %d (%s) "
                    "sees less than one resolution element of it inside the loss "
                    "circle, so that half would have no image loss; make the mask on "
                    "the consensus map of these particles, or widen --mask-radius"
                    % (where, int((halves == half).sum()), half, source))

    def _load_reference(self, resume):
        """The reference (the run's own copy on resume), placed in the box,
        and the prior (its options checked)."""
        cfg = self.cfg
        copy = self.layout.reference_copy() if resume else None
        source = copy if copy is not None else input_path(cfg, "reference")
        reference = load_structure(source)
        # the structure files' format, decided before anything is written:
        # StructureError when 'pdb' cannot hold the reference's model
        cfg.format = output_format(reference, cfg.format, source)
        placed = place_reference(reference, self.box0, self.apix0, input_path(cfg, "map"),
                                 source=str(source))
        self.reference_centre = reference.coords.mean(0) - placed.coords.mean(0)
        self.reference = placed
        self._focus_residues(placed)
        self.prior = build_prior(cfg.prior, cfg.latent_dim,
                                 **cfg.prior_options).to(self.device)

    def _focus_residues(self, placed):
        """``moving`` ((N,) bool or None: all) from ``--move`` and the rigid
        domains' ``domain_labels`` ((N,) int, -1 held; None for free
        motion) from ``--domains`` or found (``domains.resolve_domains``),
        logged and recorded in the config (``domains``, ``num_domains``);
        ValueError naming the option for residues the reference lacks."""
        cfg = self.cfg
        self.moving = self.domain_labels = self.domains_record = None
        if cfg.move:
            self.moving = select_residues(placed, cfg.move, "--move")
            self.log("--move %s: %s may move, %d stay at the reference"
                     % (cfg.move, describe_residues(placed, self.moving),
                        int((~self.moving).sum())))
        if cfg.motion != "domains":
            return
        found = cfg.domains is None
        moving = self.moving if self.moving is not None else np.ones(placed.n, bool)
        self.domain_labels = resolve_domains(placed, moving, cfg.domains, cfg.num_domains,
                                             cfg.elastic_cutoff, cfg.seed)
        self.domains_record = domains_record(placed, self.domain_labels, found)
        cfg.domains, cfg.num_domains = (self.domains_record["domains"],
                                        self.domains_record["count"])
        self.log("rigid domains (%s):" % self.domains_record["source"])
        for line in describe_domains(placed, self.domain_labels):
            self.log("  " + line)

    def _copy_reference(self):
        """The run's copy of its reference (kept as it is on resume)."""
        self.reference_copy = self.layout.reference_copy()
        if self.reference_copy is None:
            self.reference_copy = self.layout.reference_copy(
                model_suffix(self.cfg.reference))
            if self.ctx.is_main:
                with atomic_path(self.reference_copy, "copy of the reference") as tmp:
                    shutil.copyfile(input_path(self.cfg, "reference"), tmp)
        self.ctx.barrier()

    def _build_networks(self):
        """The VAE and the restraints, before anything is written: an
        ``--encoder-hidden`` too large for the memory is refused here."""
        cfg = self.cfg
        placed = self.reference
        # an atom's width includes the particles' own pixels, not the
        # training box's: downsampling by Fourier cropping adds no blur
        self.sigma = (cfg.sigma if cfg.sigma is not None
                      else default_sigma(cfg.pseudo_atoms, self.apix0))
        encoder_box = cfg.encoder_box or self.D
        try:
            self.vae = StructureVAE(self.D, placed.coords, placed.amplitudes,
                                    latent_dim=cfg.latent_dim,
                                    encoder_hidden=cfg.encoder_hidden,
                                    decoder_hidden=cfg.decoder_hidden,
                                    extra_dim=self.prior.extra_encoder_dim,
                                    sigma=self.sigma,
                                    decoder_input_dim=self.prior.decoder_input_dim,
                                    render_points=render_points(placed, cfg.pseudo_atoms),
                                    moving=self.moving, domain_labels=self.domain_labels,
                                    encoder_box=encoder_box).to(self.device)
        except (RuntimeError, MemoryError) as err:
            if not isinstance(err, MemoryError) and "alloc" not in str(err).lower():
                raise
            widths = (encoder_box * encoder_box,) + tuple(cfg.encoder_hidden)
            weights = sum(a * b for a, b in zip(widths, widths[1:]))
            raise ValueError("--encoder-hidden %s: the encoder's %.3g weights on %d x %d "
                             "pixels do not fit in memory"
                             % (",".join(map(str, cfg.encoder_hidden)), weights,
                                encoder_box, encoder_box)) from None
        self.restraints = StructuralRestraints(
            placed.coords, placed.chain_index, placed.bonds,
            elastic_cutoff=cfg.elastic_cutoff,
            clash_range=(cfg.clash_distance, cfg.clash_max_distance),
            quantile=cfg.elastic_keep,
            elastic_tolerance=cfg.elastic_tolerance).to(self.device)

    def _build_model(self):
        """The encoder's input scale (from the images), its input, the pose
        screen and the optimiser, once the run folder is made."""
        cfg = self.cfg
        placed = self.reference
        sample = self.images[np.linspace(0, self.particles.n - 1,
                                         min(self.particles.n, 2000)).astype(int)]
        self.vae.encoder.fit_input_scale(
            imaging.fourier_crop(torch.as_tensor(sample, dtype=torch.float32),
                                 self.vae.encoder.D))
        self.encoder_input = EncoderInput(cfg.encoder_input, self.rotations, self.shifts,
                                          self.apix, self.vae.encoder, data=self.data)
        self.screen = PoseScreen(self.particles.n, cfg.epochs, cfg.outlier_z, cfg.seed)
        network = [p for p in self.vae.parameters() if p.requires_grad]
        prior = [p for p in self.prior.parameters() if p.requires_grad]
        self.parameters = network + prior
        # the prior learns only through the small KL term: its own learning
        # rate (``Prior.lr_factor`` x lr unless given) and no weight decay
        groups = [{"params": network}]
        if prior:
            prior_lr = cfg.prior_lr or self.prior.lr_factor * cfg.lr
            groups.append({"params": prior, "weight_decay": 0.0, "lr": prior_lr})
            self.log("prior: %s, its parameters learn at %g (%s)" % (
                cfg.prior, prior_lr, "--prior-lr" if cfg.prior_lr else
                "auto: %g x lr; --prior-lr sets it" % self.prior.lr_factor))
        self.optimizer = adamw(groups, self.device, lr=cfg.lr,
                               weight_decay=cfg.weight_decay)
        counts = self.restraints.counts()
        self.log("reference %s: %s, %s; restraints %s"
                 % (cfg.reference, counted(placed.n, "residue"),
                    counted(len(np.unique(placed.chain_index)), "chain"), counts))
        self.log("rendering: %d Gaussians (%s) of width %.2f A"
                 % (len(self.vae.render_amplitudes), cfg.pseudo_atoms, self.sigma))

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
        if not self.cfg.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def forward_losses(self, idx, step, noise):
        """Loss terms of the particles ``idx`` (this rank's share)."""
        ctx = self.ctx
        images = self.load_images(idx)
        with self.autocast():
            mu, logvar, extra = self.vae.encode(self.encoder_input(idx, images))
        mu, logvar = mu.float(), logvar.float()
        extra = None if extra is None else extra.float()
        z = mu + torch.exp(0.5 * logvar) * noise
        decoder_input = self.prior.decoder_input(z, extra, training=True)
        image, coords = self.image_loss(idx, images, decoder_input)
        if self.screen.scoring(self.epoch):
            # the same structures at random orientations: the pose contrast
            with torch.no_grad():
                rotations = self.screen.rotations(len(idx), step, self.device)
                random = self.projection_losses(idx, images, coords.detach(),
                                                rotations, own=False)
            own = image.detach()
            if self.focus is None:
                self.screen.record(idx, own, random)
            else:  # the particles left out of the image loss are not judged
                judged = self.focus.kept(idx) > 0
                self.screen.record(np.asarray(idx)[judged.cpu().numpy()], own[judged],
                                   random[judged])
        reduce_fn = (lambda s: ctx.all_reduce_(s)) if ctx.active else None
        restraints = self.restraints(coords, reduce_fn=reduce_fn)
        kl, kl_logs = self.kl_terms(mu, logvar, extra)
        return image, restraints, kl, kl_logs

    def image_loss(self, idx, images, decoder_input, poses=None):
        """Image loss (B,) of the particles ``idx`` (their ``images``, B x D
        x D) against the structures decoded from ``decoder_input`` (B,
        decoder inputs), projected with their poses (or ``poses``, see
        :meth:`projection_losses`), CTF and low-pass, over the loss's mask
        (:func:`~..losses.correlation_loss`); and the decoded coordinates
        (B, N, 3)."""
        with self.autocast():
            displacement = self.vae.decoder(decoder_input)
        coords = self.vae.ref_coords + displacement.float()
        return self.projection_losses(idx, images, coords, poses=poses), coords

    def projection_losses(self, idx, images, coords, rotations=(), own=True, poses=None):
        """Image losses of the particles ``idx`` (their ``images``) against
        the structures ``coords`` (B, N, 3) projected with their own
        rotations (unless not ``own``) and then with each of ``rotations``
        (a sequence of (B, 3, 3)), with the particles' origins, CTF,
        low-pass and mask: (B,) for one projection, else (B, k). ``poses``
        ((B, 3, 3) rotations, (B, 2) origins in Angstrom) replace the
        particles' own (a searched pose, :meth:`search_poses`)."""
        t = torch.as_tensor(idx, device=self.device)
        ctf = self.targets.filters(t)
        observed = self.targets.observed(t, images)
        own_rotations, shifts = (self.rotations[t], self.shifts[t]) if poses is None else poses
        mask = self.mask if self.focus is None else self.focus.particle_weights(
            idx, own_rotations, shifts)
        points = self.vae.render_coords(coords)
        losses = []
        for rotation in ((own_rotations,) if own else ()) + tuple(rotations):
            proj = imaging.project_gaussians(points, self.vae.render_amplitudes,
                                             rotation, self.D, self.apix,
                                             sigma=self.vae.sigma, shifts=shifts,
                                             truncate=imaging.TRAINING_TRUNCATION_SIGMAS)
            losses.append(correlation_loss(imaging.apply_ctf(proj, ctf), observed, mask))
        return torch.stack(losses, 1) if len(losses) > 1 else losses[0]

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
        inliers = self.screen.weights(idx, image)
        if self.focus is not None:
            inliers = inliers * self.focus.kept(idx)
        loss = ((image * inliers).sum() / G
                + beta * kl.sum() / (G * self.n_masked)
                + share * (cfg.continuity_weight * r["continuity"]
                           + self.elastic_weight(step) * r["elastic"]
                           + cfg.clash_weight * r["clash"]))
        terms = torch.stack([loss.detach(), image.detach().sum() / G,
                             share * r["continuity"].detach(),
                             share * r["elastic"].detach(),
                             share * r["elastic_kept"].detach(),
                             share * r["clash"].detach(),
                             kl.detach().sum() / G,
                             (b - inliers.sum()).detach()]).double()
        bad = self.guarded_update(loss)
        ctx.all_reduce_(terms)
        values = dict(zip(("loss", "image", "continuity", "elastic",
                           "elastic_kept", "clash", "kl", "outliers"), terms.tolist()))
        values.update(beta=beta, lr=self.optimizer.param_groups[0]["lr"],
                      skipped=int(bad))
        values.update(kl_logs)
        if self.batch_in_epoch + 1 == self.steps_per_epoch and self.screen.scoring(self.epoch):
            reduce_fn = ctx.all_reduce_ if ctx.active else None
            self.log(self.screen.finish(self.epoch, reduce_fn))
        return values, bad

    # ------------------------------------------------------------ checkpoints
    def model_state(self):
        return {"config": asdict(self.cfg), "model_config": self.vae.config,
                "model": self.vae.state_dict(), "prior": self.prior.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "convergence": self.convergence.state_dict(),
                "pose_screen": self.screen.state_dict()}

    def epoch_state(self):
        return {"model_config": self.vae.config, "model": self.vae.state_dict(),
                "prior": self.prior.state_dict()}

    def load_networks(self, state):
        self.load_matching([(self.vae, state["model"]), (self.prior, state["prior"])],
                           "networks do")

    def load_model_state(self, state):
        self.load_networks(state)
        self.optimizer.load_state_dict(state["optimizer"])
        # absent from runs that predate it: their next epoch starts afresh
        self.convergence.load_state_dict(state.get("convergence"))
        self.screen.load_state_dict(state.get("pose_screen"))

    # ------------------------------------------------------------ convergence
    @torch.no_grad()
    def epoch_metrics(self):
        """``latent_corr`` and ``pc1_rmsd`` of the epoch just trained
        (:mod:`.convergence`): the tracked particles encoded in eval mode,
        structures decoded along their PC1 (a binary code, where the
        decoder takes one, from the particle nearest each point); logged
        with their cost. Main process only."""
        if not self.ctx.is_main:
            return {}
        start = time.perf_counter()
        z, _, code = self.infer_latents(self.convergence.indices)

        def decode(points):
            inputs = torch.as_tensor(np.ascontiguousarray(points), dtype=torch.float32)
            if code is not None:
                nearest = nearest_particles(z, points)
                inputs = torch.cat([inputs, torch.as_tensor(code[nearest]).float()], 1)
            self.vae.eval()
            coords = self.vae.decode(inputs.to(self.device)).float().cpu().numpy()
            self.vae.train()
            return coords

        values = self.convergence.update(z, decode)
        self.log("epoch %d: %s (%d particles, %.2f s)"
                 % (self.epoch + 1, reading(values[LATENT_CORR], values[PC1_RMSD])
                    or "no previous epoch to compare with", len(self.convergence.indices),
                    time.perf_counter() - start))
        return values

    # ------------------------------------------------------------ outputs
    @torch.no_grad()
    def infer_latents(self, indices=None, batch=1024, losses=None):
        """Posterior means, log variances and (for a binary latent) the most
        probable binary code of the particles ``indices`` (all of them by
        default), in that order. With a list ``losses``, the particles'
        image losses with their own pose and at random orientations
        (:meth:`pose_losses`, (B, 2 + RANDOM_POSES) float32, one array per
        batch) are appended to it, in the same order."""
        self.vae.eval()
        if indices is None:
            indices = np.arange(self.particles.n)
        n = len(indices)
        mus, logvars, codes = [], [], []
        for start in range(0, n, batch):
            idx = indices[start:start + batch]
            images = self.load_images(idx)
            mu, logvar, extra = self.vae.encode(self.encoder_input(idx, images))
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
            if extra is not None:
                codes.append((extra > 0).to(torch.int8).cpu())
            if losses is not None:
                losses.append(self.pose_losses(idx, images, mu, extra))
        self.vae.train()
        code = torch.cat(codes).numpy() if codes else None
        return torch.cat(mus).numpy(), torch.cat(logvars).numpy(), code

    def pose_losses(self, idx, images, mu, extra):
        """(B, 2 + RANDOM_POSES) float32 image losses of the particles
        ``idx`` (their ``images``) with the structure decoded at their
        posterior means ``mu`` (and codes from ``extra``): the training
        loss with their own pose (column 0), then the pose contrast's
        coarse losses (:class:`.scoring.PoseScorer`) with their own pose
        (column 1) and at uniformly random orientations, seeded by the
        run's seed and the batch's first row (``particle_scores``)."""
        decoder_input = self.prior.decoder_input(
            mu.float(), None if extra is None else extra.float(), training=False)
        rng = np.random.default_rng([self.cfg.seed, int(idx[0])])
        t = torch.as_tensor(idx, device=self.device)
        rotations = torch.as_tensor(
            np.stack([Rotation.random(len(idx), random_state=rng).as_matrix()
                      for _ in range(RANDOM_POSES)]), dtype=torch.float32,
            device=self.device)
        loss, coords = self.image_loss(idx, images, decoder_input)
        if self.pose_scorer is None:
            self.pose_scorer = PoseScorer(self.D, self.apix, self.cfg.low_pass,
                                          self.cfg.mask_radius, self.device)
        scorer = self.pose_scorer
        coarse = scorer.losses(coords, self.vae.amplitudes,
                               torch.cat([self.rotations[t][None], rotations]),
                               self.shifts[t], self.targets.filters(t),
                               scorer.observed(self.targets.observed(t, images)))
        return torch.cat([loss[:, None], coarse], 1).float().cpu().numpy()

    @torch.no_grad()
    def search_poses(self, z, logvar, code, junk, loss):
        """``--pose-search flagged``: search the poses of the particles whose
        ``junk`` score (N,) lies above ``--outlier-z`` (:mod:`.pose_search`,
        against the structure decoded for the kept particle nearest the
        kept particles' median latent), encode each with its searched pose,
        and where that pose lies over ``pose_search.CONFIRM_ANGLE`` from the
        consensus pose and the structure decoded from that latent fits the
        image better with it than ``loss`` (N,), the training loss of its
        consensus latent and pose, put that latent into ``z``, ``logvar``
        and ``code`` (modified in place), unless the search fails its check:
        :data:`~.pose_search.CONTROL_PARTICLES` kept particles, searched
        alike, must get back their consensus pose (within the angle) in at
        least :data:`~.pose_search.MIN_RECOVERY` of cases, else the data
        cannot confirm a searched pose. Writes ``searched_poses.npz``
        (``layout.SEARCHED_POSES``) and logs what it did."""
        cfg = self.cfg
        if cfg.pose_search != "flagged":   # the config allows it only with a screen
            return                          # and aligned encoder input
        flagged = np.flatnonzero(junk > cfg.outlier_z)
        kept = np.setdiff1d(np.arange(len(z)), flagged)
        if not len(flagged) or not len(kept):
            return
        start = time.perf_counter()
        # kept particles searched alike: how often the search finds their poses
        rng = np.random.default_rng([cfg.seed, 17])
        control = np.sort(rng.choice(kept, min(len(kept), CONTROL_PARTICLES), replace=False))
        self.log("pose search: searching the poses of %s whose junk score lies above %g, "
                 "and of %d kept particles to check the search"
                 % (counted(len(flagged), "particle"), cfg.outlier_z, len(control)))
        self.vae.eval()
        middle = kept[[np.argmin(np.linalg.norm(z[kept] - np.median(z[kept], 0), axis=1))]]
        structure = self.decoded(middle, self.load_images(middle))[0][1][0]
        search = PoseSearch(structure, self.vae.amplitudes, self.D, self.apix, cfg.low_pass,
                            seed=cfg.seed)
        found = {name: self._searched(search, idx)
                 for name, idx in (("control", control), ("flagged", flagged))}
        self.vae.train()
        recovered = float(np.mean(found["control"]["moved"] <= CONFIRM_ANGLE))
        result = found["flagged"]
        trusted = recovered >= MIN_RECOVERY
        accepted = (result["loss"] < loss[flagged]) & (result["moved"] > CONFIRM_ANGLE) & trusted
        rows = flagged[accepted]
        z[rows] = result["mu"][accepted]
        logvar[rows] = result["logvar"][accepted]
        if code is not None:
            code[rows] = result["code"][accepted]
        save_npz(self.layout.searched_poses, particles=flagged,
                 angles=matrix_to_euler(result["rotations"]).astype(np.float32),
                 origins=result["origins"].astype(np.float32),
                 angle_to_consensus=result["moved"].astype(np.float32),
                 consensus_loss=loss[flagged].astype(np.float32),
                 searched_loss=result["loss"].astype(np.float32), accepted=accepted,
                 control_particles=control,
                 control_angle_to_consensus=found["control"]["moved"].astype(np.float32),
                 control_consensus_loss=loss[control].astype(np.float32),
                 control_searched_loss=found["control"]["loss"].astype(np.float32))
        check = ("the search finds the consensus pose (within %g degrees) of %d of %d kept "
                 "particles" % (CONFIRM_ANGLE, round(recovered * len(control)), len(control)))
        if trusted:
            self.log("pose search: %s; for %d of the %s the searched pose lies over %g "
                     "degrees from the consensus pose and fits better, and their latents "
                     "come from it (%s, %.1f s)"
                     % (check, len(rows), counted(len(flagged), "particle"), CONFIRM_ANGLE,
                        SEARCHED_POSES, time.perf_counter() - start))
        else:
            self.log("pose search: %s, under the %d %% it needs: the data cannot confirm a "
                     "searched pose, and every latent comes from its consensus pose (%s, "
                     "%.1f s)" % (check, round(100 * MIN_RECOVERY), SEARCHED_POSES,
                                  time.perf_counter() - start))

    def _searched(self, search, idx_all, batch=64):
        """The poses ``search`` finds for the particles ``idx_all`` and what
        they give: ``rotations`` (n, 3, 3), ``origins`` (n, 2), ``moved``
        (n,) degrees from the consensus pose, the training ``loss`` (n,) of
        the latent encoded with the searched pose, that latent's ``mu`` and
        ``logvar`` (n, latent_dim) and binary ``code`` (or None)."""
        parts = []
        for lo in range(0, len(idx_all), batch):
            idx = idx_all[lo:lo + batch]
            t = torch.as_tensor(idx, device=self.device)
            images = self.load_images(idx)
            poses = search.search(self.targets.observed(t, images), self.targets.filters(t),
                                  first=int(idx[0]))[:2]
            (new_loss, _), (mu, new_logvar, extra) = self.decoded(idx, images, poses)
            parts.append({"rotations": poses[0], "origins": poses[1],
                          "moved": rotation_angles(poses[0], self.rotations[t]),
                          "loss": new_loss, "mu": mu, "logvar": new_logvar,
                          "code": None if extra is None else (extra > 0).to(torch.int8)})
        return {key: None if parts[0][key] is None
                else torch.cat([part[key] for part in parts]).cpu().numpy()
                for key in parts[0]}

    def decoded(self, idx, images, poses=None):
        """``(image loss (B,), coords (B, N, 3)), (mu, logvar, extra)`` of the
        particles ``idx`` (their ``images``) encoded and scored with their
        own poses or ``poses`` ((B, 3, 3) rotations, (B, 2) origins in
        Angstrom), decoded at their posterior means."""
        t = torch.as_tensor(idx, device=self.device)
        rotations, shifts = (self.rotations[t], self.shifts[t]) if poses is None else poses
        mu, logvar, extra = self.vae.encode(self.encoder_input.posed(images, rotations, shifts))
        decoder_input = self.prior.decoder_input(
            mu.float(), None if extra is None else extra.float(), training=False)
        return (self.image_loss(idx, images, decoder_input, poses=(rotations, shifts)),
                (mu, logvar, extra))

    def fit_prior(self, z, logvar):
        """Fit the prior to the frozen posteriors of all particles (its KL's
        own gradient, i.e. maximum likelihood on posterior samples) until it
        converges (at its own learning rate, ``priors.fit.FIT_LR``), so the
        saved prior matches the latents it will be sampled against. A prior
        with ``fit_steps_factor`` (the ebm, whose sampled KL converges
        slowly) gets that many times ``--prior-fit-steps``."""
        steps = self.cfg.prior_fit_steps * getattr(self.prior, "fit_steps_factor", 1)
        if (not steps or not any(True for _ in self.prior.parameters())
                or self.prior.extra_encoder_dim):
            return
        self.log("fitting the %s prior to the posteriors of %d particles (at most %d steps)"
                 % (self.cfg.prior, len(z), steps))
        loss = fit_to_posteriors(self.prior, z, logvar, steps, seed=self.cfg.seed,
                                 log=self.log)
        self.log("prior fitted to the posteriors (sampled KL estimate %.3f, the mean of "
                 "its last 20 steps)" % loss)

    @torch.no_grad()
    def check_latents(self, z, code, limit=MAX_LATENT, sample=256):
        """NonFiniteLoss, before any output is written, when the latents
        ``z`` (n, latent_dim) are non-finite or beyond ``limit`` in absolute
        value, or the structures decoded from the first ``sample`` of them
        are non-finite or lie more than :data:`MAX_BOXES` boxes from the
        box centre: the run has diverged."""
        if not np.isfinite(z).all():
            raise diverged(self.step, "%d non-finite latents"
                           % int((~np.isfinite(z)).any(1).sum()))
        largest = float(np.abs(z).max()) if z.size else 0.0
        if largest > limit:
            raise diverged(self.step, "latents up to %.3g, beyond %g" % (largest, limit))
        inputs = z[:sample]
        if code is not None:
            inputs = np.concatenate([inputs, code[:sample].astype(z.dtype)], 1)
        was_training = self.vae.training
        self.vae.eval()
        coords = self.vae.decode(torch.from_numpy(np.ascontiguousarray(
            inputs, dtype=np.float32)).to(self.device)).double().cpu().numpy()
        self.vae.train(was_training)
        reach = MAX_BOXES * self.box0 * self.apix0
        if not np.isfinite(coords).all() or np.abs(coords).max() > reach:
            raise diverged(self.step, "decoded coordinates %s, beyond %.0f A"
                           % ("non-finite" if not np.isfinite(coords).all()
                              else "up to %.3g A" % np.abs(coords).max(), reach))

    def finish(self):
        """Latents, the model file and the analysis (main process only)."""
        layout = self.layout
        if self.ctx.is_main:
            start, losses = time.perf_counter(), []
            z, logvar, code = self.infer_latents(losses=losses)
            seconds = time.perf_counter() - start
            self.check_latents(z, code)
            losses = np.concatenate(losses)
            scores = save_particle_scores(layout, losses[:, 1:], loss=losses[:, 0])
            self.log("latents and per-particle scores of %d particles (%.1f s); %s"
                     % (len(z), seconds, describe_scores(scores)))
            self.search_poses(z, logvar, code, scores["z"], losses[:, 0])
            self.fit_prior(z, logvar)
            save_array(layout.latents, z)
            save_array(layout.latent_logvar, logvar)
            if code is not None:
                save_array(layout.codes, code)
            reference_copy = self.reference_copy
            save_torch(layout.model, {
                "model_config": self.vae.config,
                "model": self.vae.state_dict(),
                "prior_name": self.cfg.prior,
                "prior_options": dict(self.cfg.prior_options),
                "latent_dim": self.cfg.latent_dim,
                "prior": self.prior.state_dict(),
                "reference": reference_copy.name,
                "reference_centre": self.reference_centre,
                "box": self.D, "apix": self.apix,
                "box0": self.box0, "apix0": self.apix0,
                "step": self.step}, "model file")
            write_analysis(self.run_dir, z, log=self.log)
        self.ctx.barrier()


def check_widths(cfg, D, apix, box0, apix0, log=print):
    """Refuse (ValueError naming the option) widths the data cannot carry:
    ``--low-pass`` (Angstrom) not below the training box's width (``D`` x
    ``apix``: nothing would be left to fit), a loss circle
    (``--mask-radius``) of fewer pixels than one resolution element of the
    low-pass (``imaging.resolution_element``; one pixel makes the loss
    0/0), and ``--sigma`` (Angstrom) not
    below the particles' box width (``box0`` x ``apix0``: every atom would
    be a flat blur). A ``--low-pass`` finer than the training box's Nyquist
    limit (2 x ``apix``) is said in ``log``: every frequency of the box
    passes, as with no low-pass. A refusal that depends on a derived
    low-pass says why it has its value (:func:`low_pass_source`)."""
    nyquist, width = 2.0 * apix, D * apix
    source = low_pass_source(cfg)
    note = "; " + source if source else ""
    if not cfg.low_pass < width:
        if "low_pass" in (cfg.derived or {}):   # derived: the box is what is wrong
            raise ValueError(
                "%s: a training box of %d px leaves nothing to fit: its low-pass "
                "(%g A%s) is not below its width, %.4g A; train on a larger box"
                % ("--box %d" % D if cfg.box else "the particles' box", D,
                   cfg.low_pass, note, width))
        raise ValueError(
            "--low-pass %g A: must be below the training box width, %.4g A (%d px "
            "of %.3g A)" % (cfg.low_pass, width, D, apix))
    circle = int(imaging.circular_mask(D, cfg.mask_radius).sum())
    least = imaging.resolution_element(cfg.low_pass, apix)
    if int(imaging.circular_mask(D, 1.0).sum()) < least:   # whatever the radius
        raise ValueError(
            "%s: a training box of %d px holds less than one resolution element of "
            "the %g A low-pass (%.3g px%s) even in its full circle; train on a "
            "larger box" % ("--box %d" % D if cfg.box else "the particles' box", D,
                            cfg.low_pass, least, note))
    if circle < least:
        raise ValueError(
            "--mask-radius %g: the loss circle (radius %.4g A, %d px of the %d px "
            "training box) holds less than one resolution element of the %g A "
            "low-pass (%.3g px%s): the image loss would compare one number at "
            "most; give a larger --mask-radius or a finer --low-pass"
            % (cfg.mask_radius, cfg.mask_radius * width / 2.0, circle, D, cfg.low_pass,
               least, note))
    if cfg.low_pass < nyquist:
        log("--low-pass %g A is finer than the training box's Nyquist limit, %.3g A "
            "(2 x %.3g A pixels): every frequency of the box is fitted"
            % (cfg.low_pass, nyquist, apix))
    check_encoder_box(cfg, D, apix, log)
    width0 = box0 * apix0
    if cfg.sigma is not None and not cfg.sigma < width0:
        raise ValueError("--sigma %g A: must be below the particle box width, "
                         "%.4g A (%d px of %.3g A)" % (cfg.sigma, width0, box0, apix0))


def check_encoder_box(cfg, D, apix, log=print):
    """Refuse an encoder box (``--encoder-box``) larger than the training
    box ``D`` (px); say in ``log`` when one given is smaller than the box
    the low-pass band needs (``derived.band_pixels``): the encoder then
    sees less than the image loss compares."""
    box = cfg.encoder_box or D
    if box > D:
        raise ValueError("--encoder-box %d: larger than the %d px training box; give "
                         "at most %d, or 0 for the whole box" % (box, D, D))
    needed = min(D, band_pixels(D, apix, cfg.low_pass))
    if box < needed:
        log("--encoder-box %d: smaller than the %d px that hold the %g A low-pass band "
            "(pixels of %.3g A): the encoder sees less than the image loss compares"
            % (box, needed, cfg.low_pass, D * apix / box))


def low_pass_source(cfg):
    """Why ``cfg.low_pass`` has its value when it was derived, for a
    refusal that depends on it (``auto: 3.5 x the 1.30 A training pixel
    ...``, ``cryostar: the published value``); None when ``--low-pass``
    was given (its value is the user's own)."""
    return (cfg.derived or {}).get("low_pass")


def run_training(cfg, run_dir, resume=False, log=print, overwrite=False):
    """Train (or resume) a stage-1 run with ``cfg`` (a ``TrainConfig``) in
    ``run_dir`` and write its outputs; returns ``Path(run_dir)``.

    ``run_dir`` must be new, empty, or (``resume``) this run's folder; a
    folder holding another run's outputs raises a ValueError unless
    ``overwrite``, which replaces them once every input has been checked.
    A new folder is removed again when training fails before its first
    checkpoint. The format of the structures (``cfg.format``) is decided
    from the reference before anything is written (StructureError when
    ``'pdb'`` cannot hold its model) and saved in the config."""
    # a new run that diverged is removed whole: --resume keeps its --lr
    with created_folder(run_dir, no_checkpoint, refusals=(NonFiniteLoss,)):
        trainer = Stage1Trainer(cfg, run_dir, resume=resume, log=log,
                                overwrite=overwrite)
        try:
            trainer.fit()
            trainer.finish()
        except BaseException as err:
            trainer.log_stop(err)
            raise
        finally:
            trainer.close()
    return Path(run_dir)


def resume_config(run_dir, overrides):
    """The saved config of a stage-1 run, with the options a resume may
    change (``config.RESUME_OPTIONS``) taken from ``overrides``."""
    return TrainConfig.for_resume(run_dir, overrides)
