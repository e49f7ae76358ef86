"""Stage-1 benchmark: accuracy and speed on the adenylate-kinase path.

Prepare the data first (20,000 particles, 64 px, SNR 0.05, 98 states)::

    python benchmarks/adk_dataset.py --out bench_data/adk_path

then::

    python benchmarks/bench_stage1.py --data bench_data/adk_path --out bench_runs

trains one run (or reuses ``--out/train`` when it has finished), then prints:

* accuracy: median per-particle CA RMSD of the decoded structure to the true
  one (in the box frame, and after superposition) next to the undeformed
  reference's; |Spearman| between PC1 of z and the true frame index;
* error budget: where the per-particle error comes from (``error_budget``);
* speed: training particles/s with 1 and 2 CPU threads (median over 30
  steps in a fresh process, batch 256), peak resident memory of that
  process and of the full training run.
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
    """Run ``cryostar-boltz train``; ``epochs``, ``batch`` and ``lr`` of
    None are left to the engine (derived from the data)."""
    given = [(flag, value) for flag, value in (("--epochs", epochs), ("--batch-size", batch),
                                               ("--lr", lr)) if value is not None]
    cmd = [sys.executable, "-m", "cryostar_boltz.engine.cli", "train",
           "--particles", str(data / "particles.star"),
           "--reference", str(data / "reference.pdb"), "--out", str(run),
           *[str(x) for pair in given for x in pair],
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


def error_budget(data, run, window=15):
    """Split the decoding error into what the latent misses and what the
    decoder misses, and measure the part no smooth path can learn.

    * ``frame_mean_rmsd``: median over frames of the RMSD of the structure
      decoded at the frame's mean z (latent noise averaged out);
    * ``constant_error_rms``: RMS of the per-residue error common to all
      frames (the decoded path's systematic offset from the truth);
    * ``truth_roughness_rms``: median RMS of the true frames minus their
      running mean over ``window`` frames: thermal motion that differs from
      frame to frame, which no decoder of a smooth path can reproduce;
    * ``latent_spread_frames``: median spread of PC1 of z within a frame,
      in frames along the path (the encoder's precision).
    """
    from scipy.ndimage import uniform_filter1d

    from cryostar_boltz.engine.analysis import fit_pca
    from cryostar_boltz.engine.runs import TrainedRun
    truth = np.load(data / "particles_truth.npz")
    state, states = truth["state"], truth["state_coords"]
    frames = np.unique(state)
    z = np.load(run / "z.npy")
    decoded = TrainedRun(run).decode(np.stack([z[state == f].mean(0) for f in frames]))
    error = decoded - states[frames]
    rms = lambda x: np.sqrt((x ** 2).sum(-1).mean(-1))
    smooth = uniform_filter1d(states, window, axis=0, mode="nearest")
    pc1 = fit_pca(z, 1).transform(z)[:, 0]
    centres = np.array([pc1[state == f].mean() for f in frames])
    step = np.median(np.abs(np.diff(centres)))
    spread = np.median([pc1[state == f].std() for f in frames])
    return {"frame_mean_rmsd": float(np.median(rms(error))),
            "constant_error_rms": float(rms(error.mean(0))),
            "truth_roughness_rms": float(np.median(rms(states - smooth))),
            "latent_spread_frames": float(spread / step)}


def speed(data, out, threads, batch, steps=30, amp=False, pseudo_atoms="ca", box=None):
    """Median particles/s of training steps in a fresh process with
    ``threads`` CPU threads, and that process's peak resident memory."""
    cmd = [sys.executable, __file__, "--speed-worker", "--data", str(data),
           "--out", str(out / ("speed_%d" % threads)), "--threads", str(threads),
           "--batch", str(batch), "--steps", str(steps),
           "--pseudo-atoms", pseudo_atoms] + (["--amp"] if amp else []) \
        + (["--box", str(box)] if box else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["particles_per_s"], result["peak_rss_mib"]


def speed_worker(args):
    import shutil

    import torch

    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    torch.set_num_threads(args.threads)
    shutil.rmtree(args.out, ignore_errors=True)
    cfg = TrainConfig(particles=str(args.data / "particles.star"),
                      reference=str(args.data / "reference.pdb"),
                      batch_size=args.batch, threads=args.threads, low_pass=4.0,
                      device="cpu", amp=args.amp, pseudo_atoms=args.pseudo_atoms,
                      box=args.box)
    trainer = Stage1Trainer(cfg, args.out, log=lambda *a: None)
    order = trainer.epoch_order(0)
    times = []
    for step in range(args.steps + 3):
        batch = order[step * args.batch:(step + 1) * args.batch]
        start = time.perf_counter()
        trainer.train_step(batch, step)
        if step >= 3:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"particles_per_s": args.batch / float(np.median(times)),
                      "peak_rss_mib": rss}))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: the engine's (derived from the data)")
    parser.add_argument("--batch", type=int, default=None,
                        help="default: the engine's; the speed figures use 256")
    parser.add_argument("--lr", type=float, default=None,
                        help="default: the engine's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-args", default="",
                        help="extra options for 'cryostar-boltz train'")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--steps", type=int, default=30,
                        help="training steps timed for the speed figures")
    parser.add_argument("--amp", action="store_true",
                        help="time bfloat16 networks (train --amp)")
    parser.add_argument("--pseudo-atoms", default="ca",
                        help="rendering timed for the speed figures (train --pseudo-atoms)")
    parser.add_argument("--box", type=int, default=None,
                        help="training box timed for the speed figures (train --box)")
    parser.add_argument("--speed-worker", action="store_true",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_worker:
        return speed_worker(args)
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.out / "train"
    report = {}
    if not (run / "model.pt").exists():
        seconds = train(args.data, run, args.epochs, args.batch, args.lr,
                        args.threads, extra=tuple(args.train_args.split()))
        report["train_seconds"] = seconds
        report["train_peak_rss_mib"] = peak_rss_mib()
    report.update(accuracy(args.data, run))
    report.update(error_budget(args.data, run))
    if not args.skip_speed:
        for threads in (1, 2):
            for amp in (False, True):
                rate, rss = speed(args.data, args.out, threads, args.batch or 256,
                                  args.steps, amp, args.pseudo_atoms, args.box)
                key = "%dthread%s" % (threads, "_bf16" if amp else "")
                report["particles_per_s_" + key] = rate
                report["peak_rss_mib_" + key] = rss
    print()
    print("| metric | value |")
    print("|---|---|")
    for key, value in report.items():
        print("| %s | %s |" % (key, "%.3f" % value if isinstance(value, float) else value))
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
