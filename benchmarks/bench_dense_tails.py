"""Cost of the far tails in the dense Gaussian projection.

The dense projection (``imaging._SeparableGaussianImage``: every Gaussian
on every pixel, one batched matrix product of its x and y factors) is what
the per-particle scoring pass and the pose screen project with (adenylate
kinase's 214 residues, 2 A wide, on the 40 px box of the low-pass band) and
what CA rendering trains through (64 px). Far from its centre a factor is
tiny, and the product of two tiny factors is a denormal float, on which a
CPU computes many times slower. ``imaging._MIN_EXPONENT`` clamps the
exponents so that these products stay normal floats.

One table from one run: milliseconds per particle (one thread, batch 128,
median of ``--repeats`` calls after a warm-up) of the forward pass, and of
forward and backward, with the exponents clamped at -80 (exp(-80) =
1.8e-35: each factor a normal float, their products not) and at the
package's value, the two alternating so that a change in the machine's
load hits both; and the largest difference between their images, over the
largest pixel::

    python benchmarks/bench_dense_tails.py [--threads 1] [--repeats 9]
"""
import argparse
import time

import numpy as np
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.geometry import euler_to_matrix
from cryostar_boltz.engine.pseudoatoms import RESIDUE_SIGMA
from cryostar_boltz.engine.resources import adk_dir
from cryostar_boltz.engine.structure import load_structure

#: The clamp before this benchmark's change.
OLD_MIN_EXPONENT = -80.0


def particles(batch, seed=0):
    """Adenylate kinase's CA positions (batch, 214, 3), centred and jittered,
    with random rotations (batch, 3, 3)."""
    model = load_structure(adk_dir() / "adk_closed.pdb")
    ca = np.asarray(model.coords, dtype=np.float32)
    ca -= ca.mean(0)
    rng = np.random.default_rng(seed)
    coords = ca[None] + rng.normal(0.0, 0.5, (batch,) + ca.shape).astype(np.float32)
    angles = rng.uniform(-180, 180, (batch, 3))
    angles[:, 1] = np.degrees(np.arccos(rng.uniform(-1, 1, batch)))
    rotations = euler_to_matrix(angles).astype(np.float32)
    return torch.from_numpy(coords), torch.from_numpy(rotations)


def timed(coords, rotations, box, apix, backward, repeats):
    """Median seconds per call, and the last image."""
    times = []
    for _ in range(repeats + 1):
        x = coords.clone().requires_grad_(backward)
        start = time.process_time()
        image = imaging.project_gaussians(x, torch.ones(x.shape[1]), rotations, box,
                                          apix, sigma=RESIDUE_SIGMA, truncate=False)
        if backward:
            image.square().sum().backward()
        times.append(time.process_time() - start)
    return float(np.median(times[1:])), image.detach()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    coords, rotations = particles(args.batch)
    width = 64 * 1.45
    new = imaging._MIN_EXPONENT
    print("torch %s, %d thread(s), batch %d, adk's %d CA, %.0f A box"
          % (torch.__version__, args.threads, args.batch, coords.shape[1], width))
    rows = []
    for box in (40, 64):
        apix = width / box
        for backward in (False, True):
            seconds = {OLD_MIN_EXPONENT: [], new: []}
            images = {}
            for _ in range(3):
                for clamp in (OLD_MIN_EXPONENT, new):
                    imaging._MIN_EXPONENT = clamp
                    t, images[clamp] = timed(coords, rotations, box, apix, backward,
                                             args.repeats)
                    seconds[clamp].append(t)
            imaging._MIN_EXPONENT = new
            old_ms, new_ms = (1e3 * float(np.median(seconds[c])) / args.batch
                              for c in (OLD_MIN_EXPONENT, new))
            diff = float((images[new] - images[OLD_MIN_EXPONENT]).abs().max()
                         / images[OLD_MIN_EXPONENT].abs().max())
            rows.append(["%d px (%.2f A)" % (box, apix),
                         "forward + backward" if backward else "forward",
                         "%.4f" % old_ms, "%.4f" % new_ms, "%.1f" % (old_ms / new_ms),
                         "%.1e" % diff])
    header = ["box", "pass", "ms, clamp %g" % OLD_MIN_EXPONENT, "ms, clamp %g" % new,
              "ratio", "image difference"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    for i, row in enumerate([header] + rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print(rule)
    print(rule)


if __name__ == "__main__":
    main()
