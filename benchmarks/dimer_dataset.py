"""Simulated particles of a two-chain complex whose subunits move rigidly.

The second protein of the stage-1 and priors benchmarks, chosen to differ
from adenylate kinase in kind: a homodimer of 500 residues (the
progesterone receptor ligand-binding domain, PDB 1A28, chains A and B;
``data/1a28/ORIGIN.rst``) whose motion is quaternary, each subunit moving
as a rigid body relative to the other, where adk closes domains inside
one chain.

The motion follows one of the complex's softest collective modes: by
default the second lowest non-trivial normal mode of its anisotropic network model (CA atoms,
15 Angstrom cutoff, uniform springs; Atilgan et al. 2001, Biophys J
80:505) is fitted, chain by chain, by the rigid-body motion (rotation
about the chain's centroid plus translation) closest to it in the least
squares sense, and that rigid motion is applied with growing amplitude:
frame k of ``--frames`` rotates each chain by k/(F-1) of its full angle.
The full amplitude makes the last frame ``--rmsd`` Angstrom (CA RMSD after
superposition) from the crystal structure. Subunits moving rigidly keep
every bond and every intra-chain distance exact, so the truth is a
physical structure at every frame, not a linear extrapolation of a mode.

As in ``adk_dataset.py``: the particles are 64 px images at SNR 0.05,
defocus 1-3 micrometre, the pixel size makes the box 1.5 times the
largest extent over the path, frames are drawn uniformly (or, with
``--three-states``, as three clouds at the start, middle and end of the
path with weights 0.5 / 0.3 / 0.2), and the reference given to training
is the crystal structure (frame 0) in the box frame.

Writes into ``--out``: ``particles.star``, ``particles.mrcs``,
``particles_truth.npz`` (with ``frame``, and ``macrostate`` with
``--three-states``) and ``reference.pdb``.

Examples::

    python benchmarks/dimer_dataset.py --out dimer_path
    python benchmarks/dimer_dataset.py --out dimer_3states --three-states --n 4000 --box 48
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from adk_dataset import add_simulation_options, simulate_path
from cryostar_boltz.engine.structure import ca_rmsd, load_structure

DIMER_PDB = Path(__file__).resolve().parent / "data" / "1a28" / "1a28.pdb.gz"

#: Elastic-network cutoff (Angstrom) of the normal-mode analysis.
ANM_CUTOFF = 15.0


def anm_modes(ca, cutoff=ANM_CUTOFF, count=3):
    """The ``count`` lowest non-trivial normal modes (count, N, 3) of the
    anisotropic network model of CA positions ``ca`` (N, 3), unit norm,
    with their eigenvalues (count,)."""
    n = len(ca)
    diff = ca[:, None] - ca[None]
    dist2 = (diff ** 2).sum(-1)
    contact = (dist2 < cutoff ** 2) & ~np.eye(n, dtype=bool)
    block = np.where(contact[..., None, None],
                     -diff[..., :, None] * diff[..., None, :]
                     / np.maximum(dist2, 1e-12)[..., None, None], 0.0)
    for i in range(n):
        block[i, i] = -block[i].sum(0)
    hessian = block.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    values, vectors = np.linalg.eigh(hessian)
    # six zero modes (rigid motions of the whole complex) come first
    return vectors[:, 6:6 + count].T.reshape(count, n, 3), values[6:6 + count]


def rigid_fit(points, displacement):
    """Rotation vector w and translation t (about the centroid of
    ``points``) minimising sum |w x (p - c) + t - d|^2; returns
    (w, t, centroid, fraction of |d|^2 the rigid motion explains)."""
    centroid = points.mean(0)
    r = points - centroid
    rows = []
    for x, y, zc in r:  # w x r = -[r]x w
        rows.append(np.array([[0.0, zc, -y], [-zc, 0.0, x], [y, -x, 0.0]]))
    a = np.concatenate([np.concatenate(rows), np.tile(np.eye(3), (len(r), 1))], 1)
    solution, *_ = np.linalg.lstsq(a, displacement.reshape(-1), rcond=None)
    fitted = a @ solution
    explained = 1 - ((fitted - displacement.reshape(-1)) ** 2).sum() / (
        displacement ** 2).sum()
    return solution[:3], solution[3:], centroid, float(explained)


def screw(points, w, t, centroid):
    """``points`` carried by the flow of the rigid velocity field
    v(x) = w x (x - centroid) + t for unit time: a screw motion, rotation
    by |w| about the axis through p = centroid + w x t_perp / |w|^2 along
    w, and a slide of t_par along it (Chasles' theorem)."""
    angle2 = float(w @ w)
    if angle2 < 1e-24:
        return points + t
    axis = w / np.sqrt(angle2)
    t_par = (t @ axis) * axis
    pivot = centroid + np.cross(w, t - t_par) / angle2
    return Rotation.from_rotvec(w).apply(points - pivot) + pivot + t_par


def rigid_path(model, frames, rmsd, mode=0, log=print):
    """Heavy-atom coordinates (F, A, 3) of each chain moved rigidly along
    the rigid-body fit of ANM mode ``mode``, the last frame ``rmsd``
    Angstrom (CA, superposed) from the model; and the heavy-atom rows."""
    heavy = np.flatnonzero(model.atoms.atomic_numbers > 1)
    ca = model.coords
    modes, values = anm_modes(ca, count=mode + 1)
    chains = np.unique(model.chain_index)
    motions = []
    for chain in chains:
        rows = model.chain_index == chain
        w, t, centroid, explained = rigid_fit(ca[rows], modes[mode][rows])
        motions.append((w, t, centroid))
        log("chain %s: mode %d is %.0f %% rigid-body"
            % (model.chain_ids[rows][0], mode + 7, 100 * explained))
    atom_chain = model.chain_index[model.atoms.residue_index[heavy]]
    start = model.atoms.coords[heavy]

    def moved(amplitude):
        out = start.copy()
        for chain, (w, t, centroid) in zip(chains, motions):
            rows = atom_chain == chain
            out[rows] = screw(start[rows], amplitude * w, amplitude * t, centroid)
        return out

    ca_rows = np.searchsorted(heavy, model.atom_index)

    def end_rmsd(amplitude):
        return float(ca_rmsd(moved(amplitude)[ca_rows], ca))

    low, high = 0.0, 1.0
    while end_rmsd(high) < rmsd:
        high *= 2
    for _ in range(60):  # bisection on the amplitude
        mid = 0.5 * (low + high)
        low, high = (mid, high) if end_rmsd(mid) < rmsd else (low, mid)
    amplitude = 0.5 * (low + high)
    path = np.stack([moved(amplitude * k / (frames - 1)) for k in range(frames)])
    angles = [np.degrees(np.linalg.norm(amplitude * w)) for w, _, _ in motions]
    last = path[-1]
    contact = [cdist(last[atom_chain == a], last[atom_chain == b]).min()
               for a in chains for b in chains if a < b]
    log("path: %d frames; chains rotate by %s degrees; last frame %.2f A CA "
        "RMSD from the crystal structure; closest inter-chain heavy atoms "
        "%.2f A (crystal %.2f A)"
        % (frames, "/".join("%.1f" % a for a in angles), end_rmsd(amplitude),
           min(contact), min(cdist(start[atom_chain == chains[0]],
                                   start[atom_chain == chains[1]]).min()
                              for _ in [0])))
    return path, heavy


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=98,
                        help="states along the path (as adk's 98 DIMS frames)")
    parser.add_argument("--rmsd", type=float, default=5.0,
                        help="CA RMSD (Angstrom) of the last frame from the first")
    parser.add_argument("--mode", type=int, default=1,
                        help="which non-trivial ANM mode, 0 the softest (default 1: "
                             "the softest mode, 0, pushes interface side chains "
                             "through each other, 0.5 A apart at the last frame)")
    add_simulation_options(parser, "start / middle / end clouds (0.5/0.3/0.2) "
                                   "instead of the uniform path")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = load_structure(DIMER_PDB)
    print("%s: %d residues in %d chains, %d heavy atoms"
          % (DIMER_PDB.name, model.n, len(np.unique(model.chain_index)),
             int((model.atoms.atomic_numbers > 1).sum())))
    frames, heavy = rigid_path(model, args.frames, args.rmsd, args.mode)
    simulate_path(frames, model.atoms.atomic_numbers[heavy], model, heavy, args)


if __name__ == "__main__":
    sys.exit(main())
