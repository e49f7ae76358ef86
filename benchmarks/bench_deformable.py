"""Deformation-corrected against uncorrected maps on the adenylate-kinase
path: FSC against the true map of the target (the closed reference).

Prepare the data first (``adk_dataset.py``), then::

    python benchmarks/bench_deformable.py --data bench_data/adk_path \\
        [--run RUN] [--n 3000]

prints the FSC-0.5 and FSC-0.143 resolutions (Angstrom) against the true
map of the closed reference (its heavy atoms rendered in the box frame)
of:

* ``corrected, true motion``: every particle backprojected through its
  true displacement from the reference (the simulator's pseudo-atoms),
  spread to the voxels (``cryostar_boltz.engine.deformable``): what the
  method gives with a perfect decoder;
* ``corrected, decoded motion`` (with ``--run``, a finished stage-1 run on
  these particles): the displacements the run decodes from each z, as
  ``reconstruct --deform-to reference`` does;
* ``homogeneous, all``: the map of all particles, no correction;
* ``homogeneous, nearest tenth``: the particles of the first tenth of the
  path (the frames nearest the closed state), no correction.

``--n`` uses the first N particles. Maps are at the particles' box.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="output folder of adk_dataset.py (uniform path)")
    p.add_argument("--run", type=Path, help="finished stage-1 run on --data")
    p.add_argument("--n", type=int, default=None, help="first N particles")
    p.add_argument("--sigma", type=float, default=6.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def main(argv=None):
    from cryostar_boltz.engine import imaging
    from cryostar_boltz.engine.deformable import Deformer, RealSpaceBackprojector
    from cryostar_boltz.engine.fsc import fsc, resolution
    from cryostar_boltz.engine.particles import load_particles
    from cryostar_boltz.engine.pseudoatoms import atom_sigma
    from cryostar_boltz.engine.reconstruct import reconstruct
    from cryostar_boltz.engine.structure import load_structure
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    truth = np.load(args.data / "particles_truth.npz")
    p = load_particles(args.data / "particles.star")
    n = min(p.n, args.n or p.n)
    rows = np.arange(n)
    D, apix = p.box, float(p.apix[0])
    reference = load_structure(args.data / "reference.pdb")
    target_map = imaging.render_volume(
        torch.as_tensor(reference.atoms.coords),
        torch.as_tensor(reference.atoms.atomic_numbers, dtype=torch.float64), D, apix,
        atom_sigma(apix)).numpy()
    state, coords = truth["state"][:n], truth["state_coords"]
    frame = truth["frame"][:n] if "frame" in truth else state
    nearest = rows[frame <= np.percentile(truth["frame"] if "frame" in truth
                                          else truth["state"], 10)]
    maps, seconds = {}, {}

    def corrected(displacements_of, label):
        start = time.perf_counter()
        deformer = Deformer(reference.coords, args.sigma, D, apix, args.device)
        bp = RealSpaceBackprojector(D, apix, args.device)
        for s in range(0, n, args.batch):
            idx = rows[s:s + args.batch]
            bp.add(p.images[idx], p.rotations[idx], p.shifts[idx], p.ctf[idx],
                   deformer.displacements(displacements_of(idx)), deformer.support)
        maps[label], seconds[label] = bp.volume(), time.perf_counter() - start

    corrected(lambda idx: torch.as_tensor(coords[state[idx]]), "corrected, true motion")
    if args.run:
        from cryostar_boltz.engine.runs import TrainedRun
        run = TrainedRun(args.run, args.device)

        def decoded(idx):
            with torch.no_grad():
                return run.vae.decode(torch.as_tensor(run.particle_decoder_inputs(idx)))
        corrected(decoded, "corrected, decoded motion")
    for label, subset in (("homogeneous, all", rows),
                          ("homogeneous, nearest tenth", nearest)):
        start = time.perf_counter()
        maps[label] = reconstruct(p.images, p.rotations, p.shifts, p.ctf, apix,
                                  indices=subset, device=args.device)
        seconds[label] = time.perf_counter() - start
    print("%d particles, %d px, %.2f A/px; nearest tenth: %d particles"
          % (n, D, apix, len(nearest)))
    print("%-28s %8s %8s %8s" % ("map", "FSC0.5", "FSC0.143", "seconds"))
    for label, volume in maps.items():
        f, c = fsc(volume, target_map, apix)
        print("%-28s %8.1f %8.1f %8.1f" % (label, resolution(f, c, 0.5),
                                           resolution(f, c, 0.143), seconds[label]))


if __name__ == "__main__":
    main()
