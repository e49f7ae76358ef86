"""Speed of the Gaussian rendering that stage 1 trains through.

One table from one run: particles per CPU-second (one thread: per core) of
``imaging.project_gaussians`` forward and backward, as in a training step
(per-particle coordinates with gradients, a different rotation and shift
per particle, one loss over the batch), at batch 256 and 64 px of 1.45 A
(the adenylate-kinase dataset's), median of ``--repeats`` steps after two
warm-up steps, for:

* CA rendering: adenylate kinase's 214 residues, 2 A wide;
* heavy atoms (``--pseudo-atoms atoms``): its 1,656 heavy atoms, an atom's
  width (1 A widened by the pixel);
* heavy atoms of a 700-residue model: copies of adenylate kinase (closed
  and open, rotated, around a common centre) cut at 700 residues.

Columns: the old implementation (every Gaussian on every pixel: three
(D x N) @ (N x D) products per step) and the new one (what stage 1's
projection does now: each Gaussian cut at
``imaging.TRAINING_TRUNCATION_SIGMAS`` widths, on its K x K patch of
nearest pixels where that is cheaper) side by side; the new kernel's
arithmetic bound (its multiply-adds per particle over the single-thread
float32 matmul peak measured at the start) and how close the new one
comes to it; and how far the new images and coordinate gradients are from
the old ones within the band the image loss compares (3.5 pixels: images
and loss gradients low-passed there; max |difference| over the largest
value). Old and new steps alternate, so a change in the machine's load
hits both.

    python benchmarks/bench_render_speed.py [--threads 1] [--repeats 7]
"""
import argparse
import os
import time

import numpy as np
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.geometry import euler_to_matrix
from cryostar_boltz.engine.pseudoatoms import RESIDUE_SIGMA, atom_sigma
from cryostar_boltz.engine.resources import adk_dir
from cryostar_boltz.engine.structure import load_structure

#: Residues of the large model.
LARGE_RESIDUES = 700


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=7, help="timed steps per cell")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--box", type=int, default=64, help="pixels")
    p.add_argument("--apix", type=float, default=1.45, help="Angstrom per pixel")
    return p.parse_args(argv)


def heavy_atoms(model):
    """Heavy-atom coordinates, atomic numbers and residue indices."""
    atoms = model.atoms
    heavy = atoms.atomic_numbers > 1
    return atoms.coords[heavy], atoms.atomic_numbers[heavy].astype(float), atoms.residue_index[heavy]


def large_model(closed, opened, n_residues=LARGE_RESIDUES, seed=0):
    """Heavy atoms (P, 3) and atomic numbers of copies of adenylate kinase
    (alternately closed and open, each rotated at random and placed 22 A
    from a common centre) up to ``n_residues`` residues."""
    rng = np.random.default_rng(seed)
    corners = 22.0 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    coords, numbers, done = [], [], 0
    for copy in range(int(np.ceil(n_residues / closed.n))):
        xyz, z, residue = heavy_atoms(closed if copy % 2 == 0 else opened)
        keep = residue < n_residues - done
        rotation = euler_to_matrix(rng.uniform([-180, 0, -180], [180, 180, 180]))
        centred = xyz[keep] - xyz.mean(0)
        coords.append(centred @ rotation.T + corners[copy % len(corners)])
        numbers.append(z[keep])
        done += int(residue[keep].max()) + 1
    coords = np.concatenate(coords)
    return coords - coords.mean(0), np.concatenate(numbers), done


def matmul_peak_gflops(repeats=5, n=1024):
    """Float32 matrix-product throughput (GFLOP/s) on the current threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        torch.mm(a, b)
        times.append(time.process_time() - start)
    return 2.0 * n ** 3 / np.median(times) / 1e9


class Renderer:
    """One training-like step of ``project_gaussians`` on fixed inputs."""

    def __init__(self, coords, amplitudes, sigma, batch, D, apix, seed=0):
        rng = np.random.default_rng(seed)
        self.D, self.apix, self.sigma = D, apix, sigma
        self.coords = torch.as_tensor(coords, dtype=torch.float32).expand(batch, -1, -1) \
            + 0.3 * torch.randn(batch, len(coords), 3, generator=torch.Generator().manual_seed(seed))
        self.amplitudes = torch.as_tensor(amplitudes, dtype=torch.float32)
        self.rotations = torch.as_tensor(
            euler_to_matrix(rng.uniform([-180, 0, -180], [180, 180, 180], (batch, 3))),
            dtype=torch.float32)
        self.shifts = torch.as_tensor(rng.normal(0.0, 2.0, (batch, 2)), dtype=torch.float32)
        # a loss gradient within the compared band, as stage 1's
        self.weights = self.band_limited(
            torch.randn(batch, D, D, generator=torch.Generator().manual_seed(seed)))

    def step(self, dense):
        """(CPU seconds, image, coordinate gradient) of one forward and
        backward: every Gaussian on every pixel (``dense``), or cut as stage
        1 cuts them (``imaging.TRAINING_TRUNCATION_SIGMAS``)."""
        truncate = False if dense else imaging.TRAINING_TRUNCATION_SIGMAS
        leaf = self.coords.clone().requires_grad_()
        start = time.process_time()
        image = imaging.project_gaussians(leaf, self.amplitudes, self.rotations, self.D,
                                          self.apix, sigma=self.sigma, shifts=self.shifts,
                                          truncate=truncate)
        (image * self.weights).sum().backward()
        seconds = time.process_time() - start
        return seconds, image.detach(), leaf.grad

    def band_limited(self, image):
        """``image`` (B, D, D) within the band stage 1's image loss compares
        (3.5 pixels, the default low-pass)."""
        k = np.hypot(*np.meshgrid(np.fft.fftfreq(self.D), np.fft.rfftfreq(self.D),
                                  indexing="ij"))
        band = torch.as_tensor(k <= 1 / 3.5, dtype=image.dtype)
        return torch.fft.irfft2(torch.fft.rfft2(image) * band, s=(self.D, self.D))


def multiply_adds(n, D, K):
    """Multiply-adds per particle: the dense kernel's three (D x N) @ (N x
    D) products, or the patch kernel's 6 K^2 + 23 K per Gaussian (forward:
    outer product and sum into the image; backward: two products and two
    sums over the gathered gradient; the rest is per factor)."""
    if K is None:
        return 6.0 * D * D * n
    return (6.0 * K * K + 23.0 * K) * n


def measure(name, renderer, repeats, batch, peak):
    n = renderer.amplitudes.shape[0]
    K = imaging._window_size(renderer.sigma, renderer.apix, renderer.D,
                             imaging.TRAINING_TRUNCATION_SIGMAS)
    times = {True: [], False: []}
    for i in range(repeats + 2):
        for dense in (True, False):
            seconds, image, grad = renderer.step(dense)
            if i >= 2:
                times[dense].append(seconds)
    _, old_image, old_grad = renderer.step(True)
    _, new_image, new_grad = renderer.step(False)
    old, new = (batch / np.median(times[d]) for d in (True, False))
    bound = peak * 1e9 / multiply_adds(n, renderer.D, K)
    old_image, new_image = renderer.band_limited(old_image), renderer.band_limited(new_image)
    image_diff = float((new_image - old_image).abs().max() / old_image.abs().max())
    grad_diff = float((new_grad - old_grad).abs().max() / old_grad.abs().max())
    kernel = "dense" if K is None else "patch %dx%d" % (K, K)
    return [name, "{:,}".format(n), kernel, "{:,.0f}".format(old), "{:,.0f}".format(new),
            "%.2f" % (new / old), "{:,.0f}".format(bound), "%.1f %%" % (100.0 * new / bound),
            "%.1e" % image_diff, "%.1e" % grad_diff]


def print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(rule)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(rule)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    closed = load_structure(adk_dir() / "adk_closed.pdb")
    opened = load_structure(adk_dir() / "adk_open.pdb")
    centre = closed.coords.mean(0)
    atoms, numbers, _ = heavy_atoms(closed)
    big, big_numbers, big_residues = large_model(closed, opened)
    width = atom_sigma(args.apix)
    cases = [("CA, adk", closed.coords - centre, closed.amplitudes, RESIDUE_SIGMA),
             ("heavy atoms, adk", atoms - centre, numbers, width),
             ("heavy atoms, %d residues" % big_residues, big, big_numbers, width)]
    peak = matmul_peak_gflops()
    print("torch %s, %d thread(s), batch %d, %d px of %.2f A; float32 matmul peak "
          "%.1f GFLOP/s; load average %.2f %.2f %.2f"
          % (torch.__version__, args.threads, args.batch, args.box, args.apix, peak,
             *os.getloadavg()))
    rows = []
    for name, coords, amplitudes, sigma in cases:
        renderer = Renderer(coords, amplitudes, sigma, args.batch, args.box, args.apix)
        rows.append(measure(name, renderer, args.repeats, args.batch, peak))
        del renderer
    print("particles per CPU-second, forward + backward, median of %d steps" % args.repeats)
    print_table(["rendering", "Gaussians", "new kernel", "old", "new", "speed-up",
                 "new bound", "of bound", "image diff", "grad diff"], rows)
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
