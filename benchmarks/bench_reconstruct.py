"""Time and peak memory of the half-map reconstruction (``cryostar-boltz
reconstruct``'s backprojection) for N particles at given boxes::

    python benchmarks/bench_reconstruct.py --n 20000 --boxes 64 128

Particles are random noise images with random poses and CTF (the time of
direct Fourier inversion does not depend on the images), made a batch at a
time when the backprojection reads them, as ``reconstruct`` reads a stack:
the table gives, per box, the seconds for both half-maps and their FSC,
particles per second, and the peak resident memory the reconstruction
added (MB, from ``resource.getrusage``; the Fourier sums are ``pad^3 D^3``
complex numbers and weights per half, whatever the number of particles).
"""
import argparse
import resource
import time

import numpy as np
import torch

from cryostar_boltz.engine.geometry import euler_to_matrix
from cryostar_boltz.engine.halfmaps import reconstruct_halves


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class NoiseImages:
    """A stack of ``n`` float32 noise images of ``box`` px, each made from
    its index when read (``images[idx]`` -> (len(idx), box, box))."""

    def __init__(self, n, box):
        self.n, self.box = int(n), int(box)

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        idx = np.atleast_1d(np.asarray(idx))
        rng = np.random.default_rng(int(idx[0]))
        return rng.standard_normal((len(idx), self.box, self.box), dtype=np.float32)


def bench(n, box, apix, batch, pad, device):
    rng = np.random.default_rng(0)
    euler = np.column_stack([rng.uniform(-180, 180, n), np.degrees(np.arccos(
        rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)])
    rotations = np.asarray(euler_to_matrix(euler))
    ctf = np.zeros((n, 8))
    ctf[:, 0] = ctf[:, 1] = rng.uniform(10000, 30000, n)   # defocus U, V (A)
    ctf[:, 3], ctf[:, 4], ctf[:, 5] = 300.0, 2.7, 0.1        # kV, Cs, amplitude
    images = NoiseImages(n, box)
    shifts = np.zeros((n, 2))
    halves = np.arange(n) % 2 + 1
    before = _peak_mb()
    start = time.perf_counter()
    maps = reconstruct_halves(images, rotations, shifts, ctf, apix, np.arange(n),
                              halves, pad=pad, batch=batch, device=device)
    seconds = time.perf_counter() - start
    return seconds, max(0.0, _peak_mb() - before), maps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--boxes", type=int, nargs="+", default=[64])
    parser.add_argument("--apix", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pad", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("%6s %8s %10s %12s %14s" % ("box", "n", "seconds", "particles/s",
                                       "peak +MB"))
    for box in args.boxes:
        seconds, peak, _ = bench(args.n, box, args.apix, args.batch, args.pad,
                                 args.device)
        print("%6d %8d %10.1f %12.0f %14.0f" % (box, args.n, seconds,
                                                args.n / seconds, peak))


if __name__ == "__main__":
    main()
