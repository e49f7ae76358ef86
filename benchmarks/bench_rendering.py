"""How far from the truth each rendering puts the image loss's optimum.

A structure decoder can only be as accurate as the image model it is
trained through. This benchmark takes one frame of the adenylate-kinase
path, renders noiseless particles of its heavy atoms exactly as the
simulator does (random poses, defocus 1-3 micrometre), then moves the CA
trace of that frame freely (one displacement per residue, held only by a
CA-CA bond restraint) to minimise the stage-1 image loss under each
rendering. Where it stops is the rendering's bias floor: the RMSD no
amount of data or training removes.

Renderings: the published CA Gaussians (width 2 A); residue centroids
(2 A); every heavy atom (an atom's width, 1 A widened by the pixel); and
an oracle that shows where the remaining bias comes from: heavy atoms
with the side chains placed as on average along the path (what one
shared side-chain correction per residue could reach at best) instead of
as in the crystal reference.

    python benchmarks/bench_rendering.py [--frames 0 50 97] [--images 128]
"""
import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adk_dataset import DEFAULT_DATA, load_path  # noqa: E402

from cryostar_boltz.engine import imaging  # noqa: E402
from cryostar_boltz.engine.geometry import euler_to_matrix  # noqa: E402
from cryostar_boltz.engine.losses import correlation_loss  # noqa: E402
from cryostar_boltz.engine.pseudoatoms import (atom_sigma, render_points,  # noqa: E402
                                               render_positions)
from cryostar_boltz.engine.simulate import draw_parameters, render_particles  # noqa: E402

BOX, APIX, LOW_PASS = 64, 1.45, 6.0


def path_mean_offsets(closed, heavy, frames, mode):
    """Offsets of ``mode``'s render points averaged over the path's frames
    (each frame's own side chains, in its own residue frames)."""
    offsets = []
    model = copy.deepcopy(closed)
    for frame in frames:
        model.atoms.coords[heavy] = frame[heavy]
        model.coords[:] = frame[closed.atom_index]
        offsets.append(render_points(model, mode).offsets)
    return np.mean(offsets, axis=0)


def renderings(closed, heavy, frames):
    """name -> (points or None, sigma, offsets override or None)."""
    atom_width = atom_sigma(APIX)
    return {
        "ca (published)": (None, 2.0, None),
        "centroid": (render_points(closed, "centroid"), 2.0, None),
        "atoms": (render_points(closed, "atoms"), atom_width, None),
        "atoms, path-mean side chains": (
            render_points(closed, "atoms"), atom_width,
            path_mean_offsets(closed, heavy, frames, "atoms")),
    }


def bias_floor(ca, images, rotations, shifts, ctf, amplitudes, points, sigma,
               offsets, steps=300, lr=0.02, bond_weight=0.01):
    """Move the CA trace ``ca`` (N, 3) to minimise the image loss; returns
    (RMSD of the optimum from ``ca``, loss at ``ca``, loss at the optimum)."""
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)
    ca = f32(ca)
    lowpass = imaging.lowpass_mask(BOX, APIX, LOW_PASS)
    mask = imaging.circular_mask(BOX, 0.9375)
    observed = imaging.apply_fourier_mask(images, lowpass)
    ctf_grid = imaging.compute_ctf(ctf, BOX, APIX) * lowpass
    if points is None:
        place, weights = (lambda c: c), amplitudes
    else:
        args = (torch.as_tensor(points.frame_a), torch.as_tensor(points.frame_b),
                f32(points.offsets if offsets is None else offsets),
                torch.as_tensor(points.owner))
        place, weights = (lambda c: render_positions(c, *args)), f32(points.amplitudes)

    def loss(shift):
        coords = ca + shift
        proj = imaging.project_gaussians(place(coords), weights, rotations, BOX, APIX,
                                         sigma=sigma, shifts=shifts)
        image = correlation_loss(imaging.apply_ctf(proj, ctf_grid), observed, mask).mean()
        bonds = (coords[1:] - coords[:-1]).norm(dim=-1)
        return image, image + bond_weight * (bonds - 3.8).square().mean()

    shift = torch.zeros_like(ca, requires_grad=True)
    optimiser = torch.optim.Adam([shift], lr=lr)
    with torch.no_grad():
        start = float(loss(shift)[0])
    for step in range(steps):
        if step in (steps // 3, 2 * steps // 3):
            for group in optimiser.param_groups:
                group["lr"] /= 4
        optimiser.zero_grad()
        loss(shift)[1].backward()
        optimiser.step()
    with torch.no_grad():
        end = float(loss(shift)[0])
    rmsd = float(shift.detach().square().sum(-1).mean().sqrt())
    return rmsd, start, end


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with adk_dims.dcd")
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 50, 97])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    closed, heavy, frames = load_path(args.data)
    z = closed.atoms.atomic_numbers[heavy].astype(np.float64)
    centre = (z / z.sum()) @ frames[0][heavy]
    frames = frames - centre
    closed = closed.translated(-centre)
    table = renderings(closed, heavy, frames)
    rng = np.random.default_rng(args.seed)
    results = {name: [] for name in table}
    for f in args.frames:
        _, euler, shifts, ctf = draw_parameters(args.images, [1.0], rng,
                                                shift_std=2 * APIX)
        rotations = euler_to_matrix(euler)
        images = render_particles(frames[f][heavy], z, rotations, shifts, ctf, BOX, APIX)
        tensors = [torch.as_tensor(x, dtype=torch.float32) for x in (rotations, shifts, ctf)]
        amplitudes = torch.as_tensor(closed.amplitudes, dtype=torch.float32)
        for name, (points, sigma, offsets) in table.items():
            t0 = time.perf_counter()
            rmsd, start, end = bias_floor(frames[f][closed.atom_index], images, *tensors,
                                          amplitudes, points, sigma, offsets)
            results[name].append(rmsd)
            print("frame %2d  %-30s optimum %.2f A from the truth (loss %.4f -> %.4f, "
                  "%.0f s)" % (f, name, rmsd, start, end, time.perf_counter() - t0),
                  flush=True)
    print("\n| rendering | bias floor (A), frames %s | mean |" % "/".join(map(str, args.frames)))
    print("|---|---|---|")
    for name, values in results.items():
        print("| %s | %s | %.2f |" % (name, " / ".join("%.2f" % v for v in values),
                                     np.mean(values)))


if __name__ == "__main__":
    main()
