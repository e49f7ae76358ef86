"""Stage-2 benchmark: maps along the adenylate-kinase path, and map speed.

Prepare the data first (see ``adk_dataset.py``)::

    python benchmarks/adk_dataset.py --out bench_data/adk_path

then::

    python benchmarks/bench_density.py --data bench_data/adk_path --out bench_runs/density

trains stage 1 (or reuses ``--run``, or ``--out/stage1`` when it has
finished) and the density decoder (or reuses a finished ``RUN/density``),
then prints:

* accuracy: for the first, middle and last tenth of the path (particles
  grouped by their true frame), the FSC-0.5 (and 0.143) resolution of the
  map generated at the group's mean latent against the ground truth (the
  group's frames rendered from their atoms, in the box frame), next to a
  homogeneous reconstruction of all particles against the same truth, and
  of the group's own particles (an oracle that knows the states);
* speed: seconds to generate and write 10 maps at 64 and 128 px with a
  decoder of the given width (untrained weights: the time does not depend
  on them).

Everything is measured at the training box (``--box``, default the
particles' box); FSC shells run up to its Nyquist frequency.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Groups of the path: name -> (start, stop) as fractions of the frames.
TENTHS = {"first": (0.0, 0.1), "middle": (0.45, 0.55), "last": (0.9, 1.0)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="output folder of adk_dataset.py (uniform path)")
    p.add_argument("--adk", type=Path, default=None,
                   help="folder with adk_dims.dcd (default: adk_dataset's)")
    p.add_argument("--out", type=Path, required=True, help="working folder")
    p.add_argument("--run", type=Path, help="a finished stage-1 run on --data")
    p.add_argument("--box", type=int, help="training box (default: particles')")
    p.add_argument("--stage1-epochs", type=int, default=20)
    p.add_argument("--stage1-batch", type=int, default=64)
    p.add_argument("--stage1-lr", type=float, default=1e-4)
    p.add_argument("--low-pass", type=float, default=10.0)
    p.add_argument("--epochs", type=int, default=20, help="stage-2 epochs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timing-boxes", type=int, nargs="*", default=[64, 128])
    p.add_argument("--timing-hidden", type=int, help="decoder width for the "
                   "timing (default --hidden)")
    p.add_argument("--timing-maps", type=int, default=10)
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--exclude-junk", type=float, default=None, metavar="Z",
                   help="train stage 2 without the particles whose stage-1 junk "
                   "score is above Z (train-density --exclude-junk)")
    return p.parse_args(argv)


# ------------------------------------------------------------ training

def stage1_run(args):
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.training.stage1 import run_training
    run = args.run or args.out / "stage1"
    layout = RunLayout(run)
    if layout.latents.exists() and layout.model.exists():
        return run, 0.0
    if args.run:
        raise SystemExit("%s: not a finished stage-1 run" % run)
    cfg = TrainConfig(particles=str(args.data / "particles.star"),
                      reference=str(args.data / "reference.pdb"), box=args.box,
                      epochs=args.stage1_epochs, batch_size=args.stage1_batch,
                      lr=args.stage1_lr, low_pass=args.low_pass,
                      threads=args.threads, device=args.device)
    start = time.perf_counter()
    run_training(cfg, run, resume=layout.config.exists())
    return run, time.perf_counter() - start


def stage2_run(args, run):
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.engine.training.config import DensityConfig
    from cryostar_boltz.engine.training.stage2 import run_density_training
    layout = RunLayout(run)
    if layout.has_density():
        return 0.0
    cfg = DensityConfig(run=str(run), box=args.box, hidden=args.hidden,
                        layers=args.layers, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr,
                        threads=args.threads, device=args.device,
                        exclude_junk=args.exclude_junk)
    start = time.perf_counter()
    run_density_training(cfg, resume=layout.density_run.config.exists())
    return time.perf_counter() - start


# ------------------------------------------------------------ accuracy

def truth_maps(args, frames_used, centre, D, apix, apix0):
    """Rendered heavy-atom map of each frame in ``frames_used`` (box frame)."""
    from adk_dataset import DEFAULT_DATA, load_path
    from cryostar_boltz.engine import imaging
    from cryostar_boltz.engine.pseudoatoms import atom_sigma
    closed, heavy, frames = load_path(args.adk or DEFAULT_DATA)
    amps = torch.as_tensor(closed.atoms.atomic_numbers[heavy], dtype=torch.float64)
    sigma = atom_sigma(apix0)
    return {f: imaging.render_volume(torch.as_tensor(frames[f][heavy] - centre),
                                     amps, D, apix, sigma).numpy()
            for f in frames_used}


def accuracy(args, run):
    from cryostar_boltz.engine.particles import load_particles
    from cryostar_boltz.engine.density import TrainedDensity
    from cryostar_boltz.engine.fsc import fsc, resolution
    from cryostar_boltz.engine.reconstruct import reconstruct
    truth = np.load(args.data / "particles_truth.npz")
    if "frame" not in truth:
        raise SystemExit("%s: no 'frame' in the truth: simulate the data with "
                         "adk_dataset.py (uniform path)" % args.data)
    frame = truth["frame"]
    z = np.load(run / "z.npy")
    model = TrainedDensity(run, device=_device(args.device))
    D, apix = model.box, model.apix
    particles = load_particles(args.data / "particles.star")
    images = particles.images if D == particles.box else particles.images.downsampled(D)
    apix0 = float(particles.apix[0])
    start = time.perf_counter()
    homogeneous = reconstruct(images, particles.rotations, particles.shifts,
                              particles.ctf, apix)
    seconds = time.perf_counter() - start
    n_frames = int(frame.max()) + 1
    groups = {name: np.flatnonzero((frame >= lo * n_frames) & (frame < hi * n_frames))
              for name, (lo, hi) in TENTHS.items()}
    maps = truth_maps(args, np.unique(np.concatenate([frame[g] for g in groups.values()])),
                      truth["centre"], D, apix, apix0)
    rows = []
    for name, idx in groups.items():
        target = np.mean([maps[f] for f in frame[idx]], axis=0)
        generated = model.volume(z[idx].mean(0))
        oracle = reconstruct(images, particles.rotations, particles.shifts,
                             particles.ctf, apix, indices=idx)
        row = {"group": name, "particles": len(idx),
               "frames": "%d-%d" % (frame[idx].min(), frame[idx].max())}
        for key, vol in (("generated", generated), ("homogeneous", homogeneous),
                         ("group_homog", oracle)):
            f, c = fsc(vol, target, apix)
            row[key] = (resolution(f, c, 0.5), resolution(f, c, 0.143))
        rows.append(row)
    return rows, D, apix, seconds, len(z)


def _device(name):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# ------------------------------------------------------------ speed

def time_generation(box, hidden, layers, n_maps, device):
    """Seconds to write ``n_maps`` maps of ``box`` px via ``TrainedDensity``."""
    from cryostar_boltz.engine.density import DensityDecoder, TrainedDensity
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.engine.training.loop import save_torch
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        decoder = DensityDecoder(box, 8, hidden=hidden, layers=layers)
        save_torch(RunLayout(run).density_run.model,
                   {"decoder_config": decoder.config,
                    "decoder": decoder.state_dict(), "scale": 1.0, "box": box,
                    "apix": 1.0, "reference_centre": np.zeros(3)})
        model = TrainedDensity(run, device=device)
        z = np.random.default_rng(0).normal(size=(n_maps, 8)).astype(np.float32)
        model.volume(z[0])                               # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.write_maps(z, run / "maps", "map")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start


# ------------------------------------------------------------ main

def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    device = _device(args.device)
    if not args.skip_accuracy:
        run, t1 = stage1_run(args)
        t2 = stage2_run(args, run)
        rows, D, apix, t_homog, n = accuracy(args, run)
        print("\nFSC against the ground truth: %d particles, %d px at %.2f A/px "
              "(Nyquist %.1f A); decoder width %d x %d blocks; stage 1 %.0f s, "
              "stage 2 %.0f s (0: reused), homogeneous reconstruction %.1f s"
              % (n, D, apix, 2 * apix, args.hidden, args.layers, t1, t2, t_homog))
        print("%-7s %9s %7s | %-13s %-13s %-13s | %s"
              % ("tenth", "particles", "frames", "generated", "homog. (all)",
                 "homog. (group)", "beats homog. at 0.5"))
        print("%-7s %9s %7s | %-13s %-13s %-13s |" % ("", "", "", "0.5 / 0.143 A",
                                                      "0.5 / 0.143 A", "0.5 / 0.143 A"))
        for r in rows:
            cells = ["%5.1f / %5.1f" % r[k] for k in ("generated", "homogeneous",
                                                      "group_homog")]
            print("%-7s %9d %7s | %s | %s" % (r["group"], r["particles"], r["frames"],
                                              " ".join(cells),
                                              "yes" if r["generated"][0] < r["homogeneous"][0]
                                              else "NO"))
    hidden = args.timing_hidden or args.hidden
    if args.timing_boxes:
        print("\nmap generation (%s, %d thread(s)), decoder width %d x %d blocks:"
              % (device, args.threads, hidden, args.layers))
        print("%6s %6s %12s %10s" % ("box", "maps", "seconds", "s / map"))
        for box in args.timing_boxes:
            seconds = time_generation(box, hidden, args.layers, args.timing_maps, device)
            print("%6d %6d %12.2f %10.2f" % (box, args.timing_maps, seconds,
                                             seconds / args.timing_maps))


if __name__ == "__main__":
    main()
