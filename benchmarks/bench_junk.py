"""Junk benchmark: does a run's junk score find the particles with random
poses, and what does leaving them out change?

Data: a dataset perturbed by ``perturb_poses.py`` (its truth holds
``junk``), and a finished training run on it::

    python benchmarks/adk_dataset.py --out bench_data/adk3k --n 3000
    python benchmarks/perturb_poses.py --data bench_data/adk3k \\
        --out bench_data/adk3k_poses --rot-error 3 --shift-error 1 --junk 0.05
    cryostar-boltz train --particles bench_data/adk3k_poses/particles.star \\
        --reference bench_data/adk3k_poses/reference.pdb --out runs/poses
    python benchmarks/bench_junk.py --data bench_data/adk3k_poses --run runs/poses

Prints the ROC AUC of each per-particle score (the junk score, the pose
contrast, the image loss) for junk against the rest; how many junk and good
particles each junk-score threshold leaves out; and the median CA RMSD of
the decoded structures to the true ones (box frame) and |Spearman(PC1,
frame)| over all particles, over the particles the default threshold keeps,
and over the truly good ones (PCA fitted on the particles counted).
"""
import argparse
from pathlib import Path

import numpy as np


def roc_auc(score, positive):
    """Probability that a positive scores above a negative (ties count
    half): the Mann-Whitney U statistic over the product of the counts."""
    from scipy.stats import mannwhitneyu
    positive = np.asarray(positive, bool)
    u = mannwhitneyu(score[positive], score[~positive]).statistic
    return float(u) / (positive.sum() * (~positive).sum())


def accuracy(data, run, kept):
    """Median box-frame CA RMSD of the decoded structures of the particles
    ``kept`` to their true state, and |Spearman| of their PC1 (fitted on
    them) with the true state index."""
    from cryostar_boltz.engine.analysis import fit_pca, spearman_abs
    from cryostar_boltz.engine.runs import TrainedRun
    truth = np.load(Path(data) / "particles_truth.npz")
    state = truth["state"][kept]
    z = np.load(Path(run) / "z.npy")[kept]
    decoded = TrainedRun(run).decode(z)
    target = truth["state_coords"][state]
    rmsd = np.sqrt(((decoded - target) ** 2).sum(-1).mean(-1))
    pc1 = fit_pca(z, 1).transform(z)[:, 0]
    return float(np.median(rmsd)), spearman_abs(pc1, state)


def main(argv=None):
    from cryostar_boltz.engine.particle_scores import DEFAULT_JUNK_Z, load_particle_scores
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="perturbed dataset folder")
    parser.add_argument("--run", required=True, help="finished training run on it")
    args = parser.parse_args(argv)
    junk = np.load(Path(args.data) / "particles_truth.npz")["junk"]
    scores = load_particle_scores(args.run, len(junk))
    print("%d particles, %d junk" % (len(junk), junk.sum()))
    print("ROC AUC, junk vs the rest: junk score %.4f, pose contrast %.4f, image loss %.4f"
          % (roc_auc(scores["z"], junk), roc_auc(scores["contrast"], junk),
             roc_auc(scores["loss"], junk)))
    print("%-10s %12s %12s" % ("threshold", "junk out", "good out"))
    for threshold in (1.5, 2.0, 2.5, 3.0):
        out = scores["z"] > threshold
        print("%-10g %6d / %-4d %6d / %-4d" % (threshold, (out & junk).sum(), junk.sum(),
                                               (out & ~junk).sum(), (~junk).sum()))
    print("%-28s %10s %12s %10s" % ("particles", "count", "median RMSD", "|Spearman|"))
    rows = (("all", np.arange(len(junk))),
            ("junk score <= %g" % DEFAULT_JUNK_Z,
             np.flatnonzero(scores["z"] <= DEFAULT_JUNK_Z)),
            ("truly good", np.flatnonzero(~junk)))
    for name, kept in rows:
        rmsd, rho = accuracy(args.data, args.run, kept)
        print("%-28s %10d %10.3f A %10.3f" % (name, len(kept), rmsd, rho))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
