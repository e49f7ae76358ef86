"""The per-particle scoring pass of a trained run, rescored: its cost and
how well the junk score finds known junk.

Loads a finished stage-1 run (``RUN/model.pt``) into a ``Stage1Trainer``
without training and runs ``infer_latents(losses=...)`` on the first N
particles, once per variant, alternating: ``new`` (the package's pass: the
pose contrast on the Fourier-cropped scoring image, ``training.scoring``)
and ``old`` (the former pass: all five projections with the heavy atoms on
the training box). Prints each pass's CPU-seconds, the ROC AUC of the
junk score and of the particle loss's robust z against the truth's
``junk``, and the junk caught / good particles dropped at z > 2::

    python benchmarks/bench_scoring.py RUN DATA/particles_truth.npz 6000 new,old,new,old
"""
import sys
import time

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from sklearn.metrics import roc_auc_score

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.particle_scores import robust_z
from cryostar_boltz.engine.runs import TrainedRun
from cryostar_boltz.engine.training.config import TrainConfig
from cryostar_boltz.engine.training.data import LossTargets, TrainingData
from cryostar_boltz.engine.training.distributed import init_distributed
from cryostar_boltz.engine.training.stage1 import Stage1Trainer

torch.set_num_threads(1)
run, truth, n, variants = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
tr = TrainedRun(run)
cfg = TrainConfig.load(run)
t = Stage1Trainer.__new__(Stage1Trainer)
t.cfg, t.ctx, t.device = cfg, init_distributed("cpu"), torch.device("cpu")
t.data = TrainingData(cfg.particles, None, None, "/nonexistent", t.ctx, log=lambda *a: None)
t.particles, t.D, t.apix = t.data.particles, t.data.D, t.data.apix
t.rotations, t.shifts = t.data.rotations, t.data.shifts
t.load_images = t.data.load_images
t.vae, t.prior, t.focus = tr.vae, tr.prior, None
t.mask = imaging.circular_mask(t.D, cfg.mask_radius)
t.lowpass = imaging.lowpass_mask(t.D, t.apix, cfg.low_pass)
t.n_masked = float(t.mask.sum())
idx = np.arange(n)
start = time.process_time()
t.targets = LossTargets(t.data, t.lowpass) if n >= t.particles.n else None
if t.targets is None:
    t.targets = LossTargets.__new__(LossTargets)
    t.targets.imaging, t.targets.data, t.targets.lowpass = imaging, t.data, t.lowpass
    t.targets._filters = t.targets._compute_filters(torch.as_tensor(idx))
    t.targets._lowpassed = t.targets._compute_observed(t.data.load_images(idx))
print("targets %.1f s" % (time.process_time() - start))
junk = np.load(truth)["junk"][:n]
def report(name, seconds, losses, contrast=None):
    losses = np.asarray(losses, np.float64)
    z_loss = robust_z(losses[:, 0])
    if contrast is None:
        contrast = losses[:, 0] - losses[:, 1:].mean(1) if losses.shape[1] > 1 else losses[:, 0]
    z = robust_z(contrast)
    print("%-12s %7.1f s  AUC contrast %.4f loss %.4f | z>2: junk caught %d/%d good dropped %d/%d"
          % (name, seconds, roc_auc_score(junk, z), roc_auc_score(junk, z_loss),
             int((z > 2)[junk].sum()), int(junk.sum()), int((z > 2)[~junk].sum()), int((~junk).sum())),
          flush=True)
    return z
def old_pose_losses(self, idx, images, mu, extra):
    decoder_input = self.prior.decoder_input(
        mu.float(), None if extra is None else extra.float(), training=False)
    rng = np.random.default_rng([self.cfg.seed, int(idx[0])])
    rotations = [torch.as_tensor(Rotation.random(len(idx), random_state=rng).as_matrix(),
                                 dtype=torch.float32, device=self.device)
                 for _ in range(4)]
    losses, _ = self.image_loss(idx, images, decoder_input, rotations)
    return losses.float().cpu().numpy()
new_pose_losses = Stage1Trainer.pose_losses
for v in variants:
    Stage1Trainer.pose_losses = old_pose_losses if v.startswith("old") else new_pose_losses
    losses = []
    start = time.process_time()
    t.infer_latents(idx, losses=losses)
    sec = time.process_time() - start
    losses = np.concatenate(losses)
    if v.startswith("old"):
        z = report(v, sec, losses)
    else:
        z = report(v, sec, losses[:, 1:])
        print("   full-loss AUC %.4f" % roc_auc_score(junk, robust_z(losses[:, 0])))
