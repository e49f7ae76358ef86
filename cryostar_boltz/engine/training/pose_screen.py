"""Particles whose consensus pose is wrong, found while stage 1 trains, and
left out of its image loss (``--outlier-z``).

A refinement of a flexible particle leaves some particles with wrong poses
(junk, false picks): no structure fits them, and their gradients bend the
decoder and the encoder towards them. During a few *screening epochs* (the
first, and the one at :data:`SCREEN_AT` of the run) each step also projects
the particles' decoded structures, without gradient, at
:data:`SCREEN_POSES` uniformly random orientations; a particle's *pose
contrast* is its image loss with its own pose minus the mean at the random
ones (``particle_scores``: about 0 for junk, clearly negative for a good
particle, and, unlike the loss itself, nearly blind to how far the
particle's conformation is from what the decoder has learnt). After each
screening epoch, a particle whose contrast lies more than ``--outlier-z``
robust standard deviations above the median (``particle_scores.robust_z``)
weighs 0 in the image loss until the next screening; its KL term and the
restraints stay. Particles a screening epoch did not reach (the last
incomplete batch) keep their weight.

Measured on the adk path with 3 degree / 1 A pose errors and 5 % random
poses (docs/benchmarks.rst, "Consensus poses with errors").
"""
import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..particle_scores import robust_z

#: Screening epochs, as fractions of the run: the first epoch (the decoder
#: near the reference) and this one (the decoder has learnt the motion).
SCREEN_AT = (0.0, 0.25)
#: Random orientations per particle in a screening step (ROC AUC of the
#: contrast against junk with the reference structure: 1: 0.92, 2: 0.95,
#: 4: 0.96); each costs one forward projection without gradient.
SCREEN_POSES = 2


class PoseScreen:
    """Per-particle image-loss weights (0 or 1) of a run of ``n`` particles
    and ``epochs`` epochs, screened at ``threshold`` (robust z of the pose
    contrast; 0 or None: every particle weighs 1, nothing is screened).
    ``seed``: the run's seed (the random orientations follow it and the
    step, so a resumed run repeats them)."""

    def __init__(self, n, epochs, threshold, seed=0):
        self.n, self.threshold, self.seed = int(n), float(threshold or 0.0), int(seed)
        self.epochs = int(epochs)
        self.keep = torch.ones(self.n)
        self._sum = np.zeros(self.n)
        self._count = np.zeros(self.n)

    def screening_epochs(self):
        """The 0-based epochs that screen (none without a threshold)."""
        if self.threshold <= 0:
            return set()
        return {min(self.epochs - 1, int(math.floor(f * self.epochs))) for f in SCREEN_AT}

    def scoring(self, epoch):
        """Whether the steps of ``epoch`` (0-based) record pose contrasts."""
        return epoch in self.screening_epochs()

    def rotations(self, b, step, device):
        """:data:`SCREEN_POSES` (b, 3, 3) float32 uniformly random rotations
        of ``step``."""
        rng = np.random.default_rng([self.seed, int(step), 7])
        return [torch.as_tensor(Rotation.random(b, random_state=rng).as_matrix(),
                                dtype=torch.float32, device=device)
                for _ in range(SCREEN_POSES)]

    def record(self, idx, own, random):
        """Add the pose contrasts of the particles ``idx``: ``own`` (B,)
        image losses with their poses, ``random`` (B, K) (or (B,)) at the
        random orientations."""
        random = random.reshape(len(own), -1).mean(1)
        contrast = (own - random).double().cpu().numpy()
        idx = np.asarray(idx)
        np.add.at(self._sum, idx, contrast)
        np.add.at(self._count, idx, 1)

    def finish(self, epoch, reduce_fn=None):
        """New weights from the contrasts recorded in ``epoch`` (summed over
        processes by ``reduce_fn``, an in-place all-reduce of a tensor);
        returns the log line."""
        totals = torch.as_tensor(np.stack([self._sum, self._count]))
        if reduce_fn is not None:
            reduce_fn(totals)
        total, count = totals.numpy()
        self._sum[:] = 0
        self._count[:] = 0
        with np.errstate(invalid="ignore", divide="ignore"):
            contrast = total / count
        # a particle not recorded (one a focus mask leaves out of the image
        # loss) or whose contrast is not finite is not judged
        seen = (count > 0) & np.isfinite(contrast)
        if seen.sum() < 8:
            return "epoch %d: too few particles to screen their poses" % (epoch + 1)
        z = robust_z(contrast[seen])
        keep = np.ones(self.n, dtype=np.float32)
        keep[np.flatnonzero(seen)[z > self.threshold]] = 0.0
        self.keep = torch.as_tensor(keep)
        out = int((keep == 0).sum())
        when = ("left out of the image loss from the next epoch" if epoch + 1 < self.epochs
                else "this is the run's last epoch, so its training is unchanged")
        judged = int(seen.sum())
        unseen = ("" if judged == self.n else
                  "; the other %d (outside the epoch's full batches, or without a finite "
                  "loss) were not judged and stay in the image loss" % (self.n - judged))
        return ("epoch %d: pose screen: %d of the %d particles judged (%.1f %%) fit "
                "their poses no better than random ones (pose contrast above %g robust "
                "SDs): %s%s" % (epoch + 1, out, judged, 100.0 * out / judged,
                                self.threshold, when, unseen))

    def weights(self, idx, image):
        """(B,) weights (the dtype and device of ``image``, the batch's image
        losses) of the particles ``idx``."""
        return self.keep[torch.as_tensor(np.asarray(idx))].to(image)

    def state_dict(self):
        return {"keep": self.keep.clone(), "sum": torch.as_tensor(self._sum.copy()),
                "count": torch.as_tensor(self._count.copy())}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` (None: a run saved before screening;
        every particle weighs 1)."""
        if not state:
            return
        self.keep = torch.as_tensor(state["keep"]).float()
        self._sum = torch.as_tensor(state["sum"]).double().numpy().copy()
        self._count = torch.as_tensor(state["count"]).double().numpy().copy()
