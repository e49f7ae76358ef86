"""Stage-1 benchmark: accuracy and speed on the adenylate-kinase path.

Prepare the data first (20,000 particles, 64 px, SNR 0.05, 98 states)::

    python benchmarks/adk_dataset.py --out bench_data/adk_path

then::

    python benchmarks/bench_stage1.py --data bench_data/adk_path --out bench_runs

trains one run (or reuses ``--out/train`` when it has finished), then prints:

* accuracy: median per-particle CA RMSD of the decoded structure to the true
  one (in the box frame, and after superposition) next to the undeformed
  reference's; |Spearman| between PC1 of z and the true frame index;
* speed: training particles/s with 1 and 2 CPU threads (median over steps
  of a short run), peak resident memory of the training process.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def train(data, run, epochs, batch, lr, threads, extra=()):
    cmd = [sys.executable, "-m", "cryostar_boltz.engine.cli", "train",
           "--particles", str(data / "particles.star"),
           "--reference", str(data / "reference.pdb"), "--out", str(run),
           "--epochs", str(epochs), "--batch-size", str(batch), "--lr", str(lr),
           "--threads", str(threads), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def accuracy(data, run):
    from cryostar_boltz.engine.analysis import fit_pca, spearman_abs
    from cryostar_boltz.engine.runs import TrainedRun
    from cryostar_boltz.engine.structure import ca_rmsd, load_structure
    truth = np.load(data / "particles_truth.npz")
    state, states = truth["state"], truth["state_coords"]
    z = np.load(run / "z.npy")
    decoded = TrainedRun(run).decode(z)
    target = states[state]
    box_rmsd = np.sqrt(((decoded - target) ** 2).sum(-1).mean(-1))
    fit_rmsd = ca_rmsd(decoded, target)
    ref = load_structure(data / "reference.pdb").coords
    ref_box = np.sqrt(((ref[None] - states) ** 2).sum(-1).mean(-1))[state]
    ref_fit = ca_rmsd(np.broadcast_to(ref, states.shape), states)[state]
    pc1 = fit_pca(z, 1).transform(z)[:, 0]
    return {
        "median_rmsd_box": float(np.median(box_rmsd)),
        "median_rmsd_superposed": float(np.median(fit_rmsd)),
        "reference_rmsd_box": float(np.median(ref_box)),
        "reference_rmsd_superposed": float(np.median(ref_fit)),
        "fraction_within_1A": float(np.mean(box_rmsd < 1.0)),
        "spearman_pc1": spearman_abs(pc1, state),
    }


def speed(data, out, threads, batch, steps=40):
    run = out / ("speed_%dthreads" % threads)
    if run.exists():
        import shutil
        shutil.rmtree(run)
    n = len(np.load(data / "particles_truth.npz")["state"])
    epochs = 1
    train(data, run, epochs, batch, 1e-4, threads,
          extra=("--seed", "0"))
    from cryostar_boltz.engine.progress import read_metrics
    rates = read_metrics(run / "metrics.csv")["particles_per_s"]
    return float(np.median(rates[2:])), n


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-args", default="",
                        help="extra options for 'cryostar-boltz train'")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.out / "train"
    report = {}
    if not (run / "model.pt").exists():
        seconds = train(args.data, run, args.epochs, args.batch, args.lr,
                        args.threads, extra=tuple(args.train_args.split()))
        report["train_seconds"] = seconds
        report["train_peak_rss_mib"] = peak_rss_mib()
    report.update(accuracy(args.data, run))
    if not args.skip_speed:
        for threads in (1, 2):
            rate, _ = speed(args.data, args.out, threads, args.batch)
            report["particles_per_s_%dthread" % threads] = rate
    print()
    print("| metric | value |")
    print("|---|---|")
    for key, value in report.items():
        print("| %s | %s |" % (key, "%.3f" % value if isinstance(value, float) else value))
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
