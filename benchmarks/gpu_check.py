"""GPU timings of stage 1, stage 2 and the gibbs sampler, in one table.

Run through ``benchmarks/gpu_check.sh`` (which checks first that torch,
CUDA and this package are there). Simulates a small adenylate-kinase
dataset from the bundled closed and open structures (``--n`` particles of
128 px), then times, after ``--warmup`` steps each:

* stage 1 (``Stage1Trainer.train_step``, heavy-atom rendering, the
  engine's other defaults) at 64 px (the particles downsampled) and 128 px,
  batch 256 and 1,024, ``--steps`` steps each;
* stage 2 (``Stage2Trainer.train_step``, the density decoder at its
  defaults) on a stage-1 run of one epoch at 64 px, ``--steps`` steps;
* the ``gibbs`` sampler on a 64 x 64 RBM, 4,096 chains x 1,000 sweeps.

Columns: milliseconds per step (median over the steps), particles (or
chain-sweeps) per second, and the device's peak memory. ``--device cpu``
with tiny sizes checks the script itself on a machine without a GPU::

    bash benchmarks/gpu_check.sh                      # on a CUDA machine
    python benchmarks/gpu_check.py --device cpu --n 256 --steps 2 --warmup 1 \\
        --batches 64 --boxes 32 --out /tmp/gpu_check  # the script's own check
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--out", type=Path, default=Path("gpu_check_runs"))
    p.add_argument("--n", type=int, default=2048, help="particles simulated")
    p.add_argument("--steps", type=int, default=200, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--boxes", default="64,128", help="stage-1 training boxes (px)")
    p.add_argument("--batches", default="256,1024", help="stage-1 batch sizes")
    p.add_argument("--stage2-batch", type=int, default=8)
    p.add_argument("--reads", type=int, default=4096, help="gibbs chains")
    p.add_argument("--sweeps", type=int, default=1000, help="gibbs sweeps")
    return p.parse_args(argv)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device):
    """Peak device memory since the last reset (GiB), '-' on a CPU."""
    if device.type != "cuda":
        return "-"
    value = torch.cuda.max_memory_allocated(device) / 1024 ** 3
    torch.cuda.reset_peak_memory_stats(device)
    return "%.1f GiB" % value


def time_steps(trainer, steps, warmup, device):
    """Median seconds per ``train_step`` of ``trainer`` over ``steps``."""
    G = trainer.global_batch
    order = np.concatenate([trainer.epoch_order(e) for e in range(
        (steps + warmup) * G // trainer.data.n + 1)])
    times = []
    for step in range(steps + warmup):
        batch = order[step * G:(step + 1) * G]
        sync(device)
        start = time.perf_counter()
        trainer.train_step(batch, step)
        sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def simulate(out, n, box):
    """A dataset of ``n`` particles of ``box`` px (at least 64: the
    protein's width) at 1.45 A/px: closed and open adenylate kinase, half
    each (for timings only; reused when ``out`` already holds it)."""
    from cryostar_boltz.engine.resources import adk_dir
    data = out / "data"
    if (data / "particles.star").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    adk = adk_dir()
    subprocess.run([sys.executable, "-m", "cryostar_boltz.engine.cli", "simulate",
                    "--structures", str(adk / "adk_closed.pdb"), str(adk / "adk_open.pdb"),
                    "-n", str(n), "--box", str(box), "--apix", "1.45", "--snr", "0.05",
                    "--name", "particles", "--out", str(data)], check=True)
    return data


def stage1_rows(args, data, device, rows):
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.training.stage1 import Stage1Trainer
    reference = next(data.glob("reference.*"))
    for box in [int(b) for b in args.boxes.split(",")]:
        for batch in [int(b) for b in args.batches.split(",")]:
            run = args.out / ("stage1_%d_%d" % (box, batch))
            shutil.rmtree(run, ignore_errors=True)
            cfg = TrainConfig(particles=str(data / "particles.star"),
                              reference=str(reference), box=box, batch_size=batch,
                              pseudo_atoms="atoms", device=str(device), epochs=1,
                              threads=0)
            trainer = Stage1Trainer(cfg, run, log=lambda *a: None)
            try:
                if trainer.global_batch < batch:
                    print("stage 1 %d px: batch %d needs %d particles (--n)"
                          % (box, batch, batch))
                    continue
                seconds = time_steps(trainer, args.steps, args.warmup, device)
            finally:
                trainer.close()
            rows.append(("stage 1, %d px, batch %d" % (box, batch), seconds,
                         "%.0f particles/s" % (batch / seconds), peak_memory(device)))


def stage2_row(args, data, device, rows):
    from cryostar_boltz.engine.training.config import DensityConfig, TrainConfig
    from cryostar_boltz.engine.training.stage1 import run_training
    from cryostar_boltz.engine.training.stage2 import Stage2Trainer
    run = args.out / "stage1_for_stage2"
    shutil.rmtree(run, ignore_errors=True)
    reference = next(data.glob("reference.*"))
    batch = min(256, args.n)
    run_training(TrainConfig(particles=str(data / "particles.star"), reference=str(reference),
                             box=64 if 64 in [int(b) for b in args.boxes.split(",")] else None,
                             batch_size=batch, pseudo_atoms="atoms", device=str(device),
                             epochs=1, threads=0, prior_fit_steps=0), run,
                 log=lambda *a: None)
    cfg = DensityConfig(run=str(run), batch_size=args.stage2_batch, device=str(device),
                        epochs=1, threads=0)
    trainer = Stage2Trainer(cfg, log=lambda *a: None)
    try:
        seconds = time_steps(trainer, args.steps, args.warmup, device)
    finally:
        trainer.close()
    rows.append(("stage 2, %d px, batch %d" % (trainer.D, args.stage2_batch), seconds,
                 "%.0f particles/s" % (args.stage2_batch / seconds), peak_memory(device)))


def gibbs_row(args, device, rows):
    import dimod
    from cryostar_boltz.engine.samplers import GibbsSampler
    rng = np.random.default_rng(0)
    visible, hidden = 64, 64
    linear = {v: float(b) for v, b in enumerate(rng.normal(0, 0.5, visible + hidden))}
    quadratic = {(i, visible + j): float(rng.normal(0, 0.3))
                 for i in range(visible) for j in range(hidden)}
    bqm = dimod.BinaryQuadraticModel(linear, quadratic, 0.0, "BINARY")
    sampler = GibbsSampler(device=str(device))
    sampler.sample(bqm, num_reads=args.reads, num_sweeps=10, seed=0)
    sync(device)
    start = time.perf_counter()
    sampler.sample(bqm, num_reads=args.reads, num_sweeps=args.sweeps, seed=1)
    sync(device)
    seconds = time.perf_counter() - start
    rows.append(("gibbs, RBM %dx%d, %d chains" % (visible, hidden, args.reads),
                 seconds / args.sweeps,
                 "%.3g chain-sweeps/s" % (args.reads * args.sweeps / seconds),
                 peak_memory(device)))


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: torch %s sees no CUDA device (torch.version.cuda=%s)"
              % (torch.__version__, torch.version.cuda), file=sys.stderr)
        return 1
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else "CPU, %d threads" % torch.get_num_threads())
    print("device: %s; torch %s" % (name, torch.__version__))
    start = time.perf_counter()
    data = simulate(args.out, args.n, max([64] + [int(b) for b in args.boxes.split(",")]))
    print("dataset: %d particles in %.0f s" % (args.n, time.perf_counter() - start))
    rows = []
    for part in (lambda: stage1_rows(args, data, device, rows),
                 lambda: stage2_row(args, data, device, rows),
                 lambda: gibbs_row(args, device, rows)):
        try:
            part()
        except Exception as err:  # one failing part still leaves the others' rows
            print("gpu_check: %s: %s" % (type(err).__name__, err), file=sys.stderr)
            rows.append(("failed: %s" % type(err).__name__, float("nan"),
                         str(err)[:60], "-"))
    print()
    print("%-34s %10s  %-28s %s" % ("what", "ms/step", "throughput", "peak memory"))
    for what, seconds, rate, memory in rows:
        print("%-34s %10.2f  %-28s %s" % (what, seconds * 1e3, rate, memory))
    print("total %.0f s" % (time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
