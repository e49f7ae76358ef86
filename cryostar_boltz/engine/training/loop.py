"""The epoch loop both training stages share.

Determinism: the particle order of epoch ``e`` is drawn from a generator
seeded by ``(seed, e)`` and step ``s`` gets the seed
:meth:`EpochTrainer.step_seed`, so nothing random lives outside the
checkpoint and a run killed and resumed ends exactly where an
uninterrupted run does. The batch size is global: with ``torchrun`` each
process takes an equal slice of every batch and gradients are summed, so
results do not depend on the number of processes.
"""
import io
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..io import atomic_write, write_error
from ..layout import CONVERGENCE_COLUMNS, RUN_LOG, RunLayout
from ..outputs import claim, prepare
from .derived import counted
from .distributed import init_distributed
from .progress import MetricsTable, Progress
from .runlog import HeldLog
from .threads import choose_threads


class NonFiniteLoss(RuntimeError, ValueError):
    """Raised when training diverges: too many consecutive batches with a
    non-finite loss, more than half of an epoch's batches skipped,
    non-finite weights, or non-finite / absurd latents at the end (a
    ValueError too, so the command line reports it in one line)."""


#: Most per-epoch weight copies a run keeps (``checkpoints/epoch_NNNN.pt``).
EPOCH_COPIES = 20
#: What a diverged run tells the user to do: ``--resume`` keeps the saved
#: options, so a lower learning rate means a new run.
DIVERGED_ADVICE = ("lower --lr: train a new run with a lower --lr (--resume "
                   "keeps the saved --lr)")


def diverged(step, why):
    """The :class:`NonFiniteLoss` of a run that diverged at ``step``."""
    return NonFiniteLoss("training diverged at step %d (%s); %s"
                         % (step, why, DIVERGED_ADVICE))


def nonfinite_terms(values):
    """Names of the non-finite loss terms of a step's ``values`` (the
    epoch's convergence measures, NaN in a first epoch, are not terms)."""
    return [k for k, v in values.items() if k not in CONVERGENCE_COLUMNS
            and isinstance(v, float) and not math.isfinite(v)]


def load_torch(path, device="cpu", what="checkpoint"):
    """``torch.load(path)``; a damaged or truncated file is a ValueError
    naming it and ``what`` it is (torch's own errors name neither)."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # pickle, zip and torch errors alike
        raise ValueError("%s: the %s cannot be read (%s: %s); the file is "
                         "damaged or not a cryostar-boltz file"
                         % (path, what, type(err).__name__, _first_sentence(err))) from None


def _first_sentence(err, limit=200):
    """The first sentence of an exception's message, on one line (torch's
    run on for several, with advice that does not apply here)."""
    text = " ".join(str(err).split())
    end = text.find(". ")
    text = (text if end < 0 else text[:end]).rstrip(".")
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def save_torch(path, obj, what="checkpoint"):
    """``torch.save(obj)`` written atomically: a kill never leaves a
    truncated checkpoint under ``path``. Serialised in memory first, so a
    full disk gives an OSError naming ``path`` and ``what`` (torch's own
    writer reports it as a RuntimeError without the path)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    return atomic_write(path, lambda fh: fh.write(data), binary=True, what=what)


def adamw(params, device, **options):
    """``torch.optim.AdamW`` over ``params`` (tensors or parameter groups)
    with its fused kernel on CPUs and GPUs: one pass over each weight
    tensor instead of a dozen (about 10x faster on one CPU core for the
    stage-1 encoder's 2.4 M weights; the same update within float
    rounding). Other devices get torch's default implementation. A resumed
    run keeps the implementation its checkpoint was saved with (it is one
    of the optimiser's saved settings)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.AdamW(params, fused=fused or None, **options)


def gradients_finite(parameters):
    """Whether every gradient of ``parameters`` is finite: one sum per
    tensor (any NaN or infinity makes the sum non-finite) and one check,
    instead of an elementwise test of each tensor."""
    sums = [p.grad.sum() for p in parameters if p.grad is not None]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())


class EpochTrainer:
    """Epochs of global batches in a seeded order, the per-step metrics
    table, progress, the non-finite guard, and checkpoints that resume
    bit-for-bit (``checkpoints/last.pt``; the weights of every epoch in
    ``checkpoints/epoch_NNNN.pt``).

    A stage calls ``_start``, then within ``with self.log:``
    ``_claim_run_dir`` (nothing written), reads and checks every input
    (a resume: ``_check_checkpoint``), then ``_prepare_run_dir`` (the
    folder, its ``run.json`` and ``config.json``; ``--overwrite`` replaces
    another run's outputs only here). ``log`` lines wait until then
    (``runlog.HeldLog``): a refused run prints its refusal only. It sets
    ``data`` (a
    ``TrainingData``), ``D``, ``apix``, ``parameters`` and ``optimizer``,
    and implements ``train_step(batch, step) -> (values, bad)``,
    ``model_state()`` (what a resume needs besides the loop position),
    ``load_networks(state)`` (its weights: a ValueError naming the
    checkpoint when they do not fit the networks), ``load_model_state(state)``
    and ``epoch_state()`` (the weights kept at
    the end of each epoch). ``cfg`` is a ``config.LoopOptions``.
    """
    #: Columns of the metrics table.
    metric_columns = ("step", "epoch", "loss", "lr", "particles_per_s", "skipped")
    #: Metrics shown on the progress line.
    progress_terms = ("loss",)
    #: What the run folder holds, for messages.
    run_kind = "training run"
    #: The command that owns the run folder (``outputs.OUTPUTS``) and the
    #: option naming the folder, for messages.
    command = "train"
    out_option = "--out"

    def _start(self, cfg, run_dir, log):
        """Process context, logging (held until the inputs are accepted),
        threads and the initial seed."""
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.layout = RunLayout(run_dir)
        self.ctx = init_distributed(cfg.device)
        self.log = HeldLog(log if self.ctx.is_main else (lambda *a, **k: None))
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", self.ctx.world))
        self.threads, why = choose_threads(cfg.threads, processes)
        torch.set_num_threads(self.threads)
        self.log("CPU threads: %d per process (%s)" % (self.threads, why))
        torch.manual_seed(cfg.seed)
        self.device = self.ctx.device
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.bad_steps = 0
        self.epoch_skipped = 0
        #: sorted indices of the particles the epochs go through (None: all)
        self.train_indices = None

    def run_inputs(self):
        """What the run is made from, recorded in its ``run.json``."""
        return {}

    def _claim_run_dir(self, resume, overwrite):
        """Check (changing nothing) that the run folder is new, empty, this
        run's own on resume, or replaced with ``overwrite``
        (``outputs.claim``); every process checks, so all refuse alike."""
        if resume and overwrite:
            raise ValueError("--resume continues the run in %s and --overwrite "
                             "replaces it: give one of them" % self.run_dir)
        self.claim = claim(self.run_dir, self.command, {}, self.run_inputs(),
                           overwrite=overwrite, resume=resume, option=self.out_option,
                           keep=[v for v in self.run_inputs().values() if v])
        self.ctx.barrier()  # before the main process writes the folder

    def _prepare_run_dir(self, resume):
        """The run folder, once every input is checked: old outputs removed
        (``--overwrite``), the record (``run.json``), ``config.json``,
        ``checkpoints/`` and ``run.log``, which then receives the log held
        so far and every later line."""
        if self.ctx.is_main:
            prepare(self.run_dir, self.command, {}, self.run_inputs(), self.claim)
            self.cfg.save(self.run_dir)
            self.layout.checkpoints.mkdir(parents=True, exist_ok=True)
            try:
                self.log.keep_in(self.run_dir / RUN_LOG, "cryostar-boltz %s %s: %s %s"
                                 % (__version__, self.command,
                                    "resumed" if resume else "started", self.run_dir))
            except OSError as err:
                raise write_error(err, self.run_dir / RUN_LOG, "run log") from None
        self.log.release()
        self.ctx.barrier()

    def log_stop(self, err):
        """Say in ``run.log`` (only: the command line reports it) why the
        run stopped: interrupted (Ctrl-C, SIGTERM) or the error ``err``,
        and at which step."""
        if isinstance(err, KeyboardInterrupt):
            why = "interrupted; --resume continues from the last checkpoint"
        else:
            why = "error: %s" % (" ".join(str(err).split()) or type(err).__name__)
        self.log.note("stopped at step %d: %s" % (self.step, why))

    # ------------------------------------------------------------ batches
    @property
    def train_count(self):
        """How many particles the epochs go through."""
        return self.data.n if self.train_indices is None else len(self.train_indices)

    @property
    def global_batch(self):
        return min(self.cfg.batch_size, self.train_count)

    @property
    def steps_per_epoch(self):
        return max(1, self.train_count // self.global_batch)

    def epoch_order(self, epoch):
        """The particle order of ``epoch``: a permutation seeded by (seed,
        epoch) of every particle, or of ``train_indices``."""
        rng = np.random.default_rng([self.cfg.seed, epoch])
        order = rng.permutation(self.train_count)
        return order if self.train_indices is None else self.train_indices[order]

    def step_seed(self, step):
        """The seed of everything random in ``step``."""
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
        """Train to ``cfg.epochs`` from where the run stands."""
        cfg = self.cfg
        metrics = None
        if self.ctx.is_main:
            metrics = MetricsTable(self.layout.metrics, self.metric_columns)
            metrics.open(keep_until_step=self.step)
        total = cfg.epochs * self.steps_per_epoch
        progress = Progress(total, "train", enabled=self.ctx.is_main,
                            start_at=self.step)
        G = self.global_batch
        self.log("training: %d particles, %d px at %.3f A/px, %s of %s, batch %d, "
                 "%d process(es) on %s"
                 % (self.train_count, self.D, self.apix, counted(cfg.epochs, "epoch"),
                    counted(self.steps_per_epoch, "step"), G, self.ctx.world,
                    self.device))
        tick, rate, values = time.perf_counter(), 0.0, {}
        if self.epoch >= cfg.epochs:
            self.log("nothing left to train: %s done (give a larger --epochs to "
                     "train on); the outputs are written again"
                     % counted(self.epoch, "epoch"))
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
                    if k + 1 == self.steps_per_epoch:
                        # the epoch's last row also holds its own measures
                        values.update(self.epoch_metrics())
                        tick = time.perf_counter()
                    if metrics:
                        metrics.write(values)
                    self._guard(bad, values)
                    self.step += 1
                    self.batch_in_epoch += 1
                    progress.update(self.step, self._short(values), (rate, "particles"))
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.check_weights()
                        self.save_checkpoint()
                self.check_epoch()
                self.epoch += 1
                self.batch_in_epoch = 0
                self.epoch_skipped = 0
                self.save_checkpoint(epoch_copy=self.keeps_epoch(self.epoch))
                progress.update(self.step, self._short(values), (rate, "particles"),
                                force=True)
            if values:
                self.log("trained to step %d (epoch %d): %s" % (
                    self.step, self.epoch, " ".join(
                        "%s %.4g" % kv for kv in self._short(values).items())))
        finally:
            progress.close()
            if metrics:
                metrics.close()

    def epoch_metrics(self):
        """Values measured once per epoch, after its last step (main
        process; added to that step's row of the metrics table): none
        here; stage 1 adds its convergence measures."""
        return {}

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
        if ctx.broadcast_flag(not gradients_finite(self.parameters)):
            return True
        self.optimizer.step()
        return False

    def _guard(self, bad, values):
        if not bad:
            self.bad_steps = 0
            return
        self.bad_steps += 1
        self.epoch_skipped += 1
        terms = nonfinite_terms(values)
        self.log("step %d: non-finite %s: batch skipped"
                 % (self.step + 1, ", ".join(terms) if terms else "gradient"))
        if self.bad_steps > self.cfg.max_bad_steps:
            raise diverged(self.step + 1, "%d consecutive batches gave a "
                           "non-finite loss or gradient; if the learning rate is "
                           "not the cause, check the particles for NaN pixels"
                           % self.bad_steps)

    def check_epoch(self):
        """NonFiniteLoss (before the epoch's checkpoint is written) when more
        than half of the epoch's batches were skipped or a weight is no
        longer finite: the run has diverged."""
        if 2 * self.epoch_skipped > self.steps_per_epoch:
            raise diverged(self.step, "%d of the %d batches of epoch %d gave a "
                           "non-finite loss or gradient"
                           % (self.epoch_skipped, self.steps_per_epoch,
                              self.epoch + 1))
        self.check_weights()

    def check_weights(self):
        """NonFiniteLoss when a trained weight is NaN or infinite."""
        if not all(bool(torch.isfinite(p).all()) for p in self.parameters):
            raise diverged(self.step, "non-finite weights")

    # ------------------------------------------------------------ checkpoints
    def state(self):
        state = self.model_state()
        state.update(step=self.step, epoch=self.epoch,
                     batch_in_epoch=self.batch_in_epoch, bad_steps=self.bad_steps,
                     epoch_skipped=self.epoch_skipped)
        return state

    def keeps_epoch(self, epoch):
        """Whether epoch ``epoch`` (1-based) keeps a copy of its weights:
        every one of a run of up to :data:`EPOCH_COPIES` epochs, else every
        ``ceil(epochs / EPOCH_COPIES)``-th and the last (a 200-epoch run of
        a small data set keeps 20, not 200)."""
        every = max(1, math.ceil(self.cfg.epochs / EPOCH_COPIES))
        return epoch % every == 0 or epoch == self.cfg.epochs

    def save_checkpoint(self, epoch_copy=False):
        """``last.pt`` (and with ``epoch_copy`` the epoch's weights); main
        process only."""
        if not self.ctx.is_main:
            return
        save_torch(self.layout.last_checkpoint, self.state(),
                   "checkpoint of step %d" % self.step)
        if epoch_copy:
            weights = self.epoch_state()
            weights.update(step=self.step, epoch=self.epoch)
            save_torch(self.layout.epoch_checkpoint(self.epoch), weights,
                       "weights of epoch %d" % self.epoch)

    def _read_checkpoint(self):
        """Read ``last.pt`` (None without one) before anything is written,
        so a damaged checkpoint refuses the resume with the folder as it
        was; :meth:`_load_checkpoint` applies it once the model is built."""
        path = self.layout.last_checkpoint
        self._resume_state = (load_torch(path, self.device, "checkpoint to resume from")
                              if path.exists() else None)

    def _check_checkpoint(self):
        """Load the weights of the checkpoint read by :meth:`_read_checkpoint`
        into the networks just built, before anything is written: one that
        does not fit them (a ``config.json`` edited after training) is
        refused with the folder as it was. :meth:`_load_checkpoint` loads
        everything again once the run is set up."""
        state = getattr(self, "_resume_state", None)
        if state is not None:
            self.load_networks(state)

    def load_matching(self, pairs, what):
        """Load each ``(module, state_dict)`` of ``pairs``; a checkpoint
        whose tensors do not fit the modules (a ``config.json`` edited
        after training) is one ValueError naming it: "the checkpoint's
        ``what`` not match the run's config.json" (``what``: "networks
        do", "decoder does")."""
        try:
            for module, state in pairs:
                module.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[-1].strip()
            raise ValueError("%s: the checkpoint's %s not match the run's config.json (%s)"
                             % (self.layout.last_checkpoint, what, first)) from None

    def _load_checkpoint(self):
        path = self.layout.last_checkpoint
        if getattr(self, "_resume_state", None) is None:
            self._read_checkpoint()
        state, self._resume_state = self._resume_state, None
        if state is None:
            self.log("no checkpoint in %s: starting from the beginning"
                     % self.run_dir)
            return
        self.load_model_state(state)
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self.bad_steps = state.get("bad_steps", 0)
        self.epoch_skipped = state.get("epoch_skipped", 0)
        self.log("resumed from %s at epoch %d, step %d"
                 % (path, self.epoch + (self.batch_in_epoch > 0), self.step))

    def close(self):
        self.log.close()
        self.ctx.close()
