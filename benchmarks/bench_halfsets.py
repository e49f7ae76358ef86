"""Half-set agreement against the truth: do two models trained on
independent halves of the particles learn the same motion and states, and
are those the true ones?

Prepare a dataset (``adk_dataset.py``, the path or ``--three-states``),
train on it with ``--half-sets``::

    cryostar-boltz train --particles DATA/particles.star \\
        --reference DATA/reference.pdb --out RUN --half-sets

then::

    python benchmarks/bench_halfsets.py --data DATA --run RUN

prints, for the run on all particles and for each half-set run (each on
its own particles): median per-particle CA RMSD (Angstrom, box frame) of
the structure decoded from the particle's z to its true structure,
|Spearman| between PC1 of z and the true frame index, and with
``macrostate`` in the truth (three-state data) the adjusted Rand index of
k-means (k = 3) on z against the true state; for each half, also
|Spearman| of its encoder's PC1 on the OTHER half's particles, which it
never saw (``held-out``): how well the encoder generalises, which the
agreement's score correlation over all particles mixes in. Then the agreement report
the training wrote (``RUN/halves/agreement.json``): per matched principal
component the correlation of the two halves' scores over all particles,
the mean and largest RMSD between the two halves' decoded paths and the
size of the motion; per matched state the Jaccard index, the RMSD between
the two halves' structures and the state's half-map FSC resolutions.
"""
import argparse
import json
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="output folder of adk_dataset.py (particles_truth.npz)")
    p.add_argument("--run", type=Path, required=True,
                   help="a finished run trained with --half-sets on --data")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def accuracy(run_dir, rows, truth, device="cpu"):
    """Median CA RMSD (box frame), |Spearman(PC1, frame)| and, for
    three-state truth, k-means ARI of ``run_dir``'s latents; ``rows`` are
    the particles (indices into the full set) its z.npy holds, in order."""
    from sklearn.metrics import adjusted_rand_score

    from cryostar_boltz.engine.analysis import fit_pca, kmeans, spearman_abs
    from cryostar_boltz.engine.runs import TrainedRun
    z = np.load(Path(run_dir) / "z.npy")
    state = truth["state"][rows]
    decoded = TrainedRun(run_dir, device).decode(z)
    rmsd = np.sqrt(((decoded - truth["state_coords"][state]) ** 2).sum(-1).mean(-1))
    frame = truth["frame"][rows] if "frame" in truth else state
    row = {"particles": len(rows), "rmsd": float(np.median(rmsd)),
           "spearman": spearman_abs(fit_pca(z, 1).transform(z)[:, 0], frame)}
    if "macrostate" in truth:
        labels = kmeans(z, 3, seed=0)[0]
        row["ari"] = float(adjusted_rand_score(truth["macrostate"][rows], labels))
    return row


def held_out_spearman(run_dir, half, split, frame, device="cpu"):
    """|Spearman| between the true frame and PC1 (fitted on its own
    particles) of half ``half``'s encoder applied to the other half's
    particles (images at the run's box, from the run's cache)."""
    from cryostar_boltz.engine.analysis import fit_pca, spearman_abs
    from cryostar_boltz.engine.halfset_agreement import encode_all, open_particles
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.training.config import TrainConfig, input_path
    cfg = TrainConfig.load(run_dir)
    data = open_particles(input_path(cfg, "particles"), input_path(cfg, "datadir"),
                          cfg.box, Path(run_dir), device)
    z = encode_all(TrainedRun(Path(run_dir) / ("half%d" % half), device), data)[0]
    pca = fit_pca(z[split == half], 1)
    other = split != half
    return spearman_abs(pca.transform(z[other])[:, 0], frame[other])


def main(argv=None):
    args = parse_args(argv)
    truth = dict(np.load(args.data / "particles_truth.npz"))
    split = np.load(args.run / "halves" / "split.npy")
    runs = [("all", args.run, np.arange(len(split)))]
    runs += [("half %d" % h, args.run / ("half%d" % h), np.flatnonzero(split == h))
             for h in (1, 2)]
    frame = truth["frame"] if "frame" in truth else truth["state"]
    print("run       particles  CA RMSD (A)  |Spearman PC1|  held-out  ARI k-means")
    for i, (name, run_dir, rows) in enumerate(runs):
        r = accuracy(run_dir, rows, truth, args.device)
        ari = "%.3f" % r["ari"] if "ari" in r else "-"
        held = ("%.3f" % held_out_spearman(args.run, i, split, frame, args.device)
                if i else "-")
        print("%-9s %9d  %11.2f  %14.3f  %8s  %11s" % (name, r["particles"], r["rmsd"],
                                                       r["spearman"], held, ari))
    report = json.loads((args.run / "halves" / "agreement.json").read_text())
    print("\nhalf-set agreement (%d + %d particles; split: %s)"
          % (*report["counts"], report["half_sets"]))
    print("path      corr   RMSD mean / max (A)  motion (A)")
    for c in report["components"]:
        print("PC%d~PC%d  %+.2f   %6.2f / %5.2f       %6.2f"
              % (c["half1"], c["half2"], c["correlation"], c["rmsd_mean"],
                 c["rmsd_max"], c["motion"]))
    clusters = report["clusters"]
    print("states: %.0f%% of the particles in matched clusters"
          % (100 * clusters["matched_fraction"]))
    print("state  jaccard  RMSD (A)  particles    FSC 0.143 / 0.5 (A)")
    for s in clusters["states"]:
        res = ["%.1f" % s[key] if s.get(key) is not None else "-"
               for key in ("resolution_0.143", "resolution_0.5")]
        print("%d~%d   %7.2f  %8.2f  %5d+%-5d  %s / %s"
              % (s["half1"], s["half2"], s["jaccard"], s["rmsd"], *s["particles"], *res))


if __name__ == "__main__":
    main()
