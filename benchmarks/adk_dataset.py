"""Simulated particles of adenylate kinase along its closed -> open path.

The stage-1 benchmark dataset: every frame of the DIMS transition
(``adk_dims.dcd``, 98 frames from closed to open) is one state, drawn
uniformly; the particles are 64 px images at SNR 0.05 with defocus
1-3 micrometre. The reference given to training is the closed crystal
structure (``adk_closed.pdb``) in the box frame of the simulation.

The frames are superposed onto the closed structure first (CA atoms,
Kabsch), so the ground truth holds the domain motion only, not the small
rigid drift of the trajectory. The pixel size, unless given, makes the box
1.5 times the largest extent of the particle over the whole path.

With ``--three-states`` the dataset has three populated states instead:
closed, the middle of the path and open (weights 0.5 / 0.3 / 0.2), each a
small cloud of the frames within 2 of its own frame (for the priors
benchmark).

Writes into ``--out``: ``particles.star``, ``particles.mrcs``,
``particles_truth.npz`` (the simulator's truth, plus ``frame``: the DCD
frame of each particle, and ``macrostate`` with ``--three-states``) and
``reference.pdb``.

Examples::

    python benchmarks/adk_dataset.py --out adk_sim
    python benchmarks/adk_dataset.py --out adk_3states --three-states
    python benchmarks/adk_dataset.py --data path/to/adk --n 2000 --out small
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.io import FortranEOFError, FortranFile, FortranFormattingError
from scipy.spatial.distance import pdist

from cryostar_boltz.engine.simulate import StateEnsemble, simulate_dataset
from cryostar_boltz.engine.structure import ca_rmsd, load_structure

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "adk"
CLOSED_PDB = REPO / "cryostar_boltz" / "engine" / "data" / "adk" / "adk_closed.pdb"
OPEN_PDB = REPO / "cryostar_boltz" / "engine" / "data" / "adk" / "adk_open.pdb"

#: Box size over the particle's largest extent.
BOX_OVER_EXTENT = 1.5

#: Populations of closed, mid-path and open in ``--three-states`` mode, and
#: how many frames either side of each state's frame make its cloud.
THREE_STATE_WEIGHTS = (0.5, 0.3, 0.2)
THREE_STATE_JITTER = 2


class TrajectoryError(ValueError):
    """A DCD file that cannot be read as a CHARMM coordinate trajectory."""


# ------------------------------------------------------------------ reading

def read_dcd(path):
    """Coordinates (frames, atoms, 3) of a CHARMM/NAMD DCD trajectory.

    The header's frame count is not trusted (writers often leave it
    stale): frames are read until the end of the file. Unit-cell records
    (flag ICNTRL(11)) are skipped; fixed-atom and 4D trajectories are
    refused.
    """
    path = Path(path)
    try:
        with FortranFile(str(path), "r") as fh:
            header = fh.read_record(np.uint8)
            if len(header) != 84 or header[:4].tobytes() != b"CORD":
                raise TrajectoryError("%s: not a CHARMM DCD (no CORD header)"
                                      % path)
            icntrl = np.frombuffer(header[4:].tobytes(), dtype=np.int32)
            n_fixed, has_cell, has_4d = icntrl[8], icntrl[10], icntrl[11]
            if n_fixed or has_4d:
                raise TrajectoryError(
                    "%s: fixed atoms (%d) or 4D coordinates are not supported"
                    % (path, n_fixed))
            fh.read_record(np.uint8)                  # title lines
            n_atoms = int(fh.read_record(np.int32)[0])
            frames = _read_frames(fh, n_atoms, bool(has_cell), path)
    except (OSError, TypeError) as err:
        raise TrajectoryError("%s: cannot read DCD (%s)" % (path, err)) from err
    if not frames:
        raise TrajectoryError("%s: no frames" % path)
    return np.stack(frames).astype(np.float64)


def _read_frames(fh, n_atoms, has_cell, path):
    frames = []
    while True:
        try:
            if has_cell:
                fh.read_record(np.float64)
            xyz = [fh.read_record(np.float32) for _ in range(3)]
        except FortranEOFError:
            return frames
        except FortranFormattingError as err:
            raise TrajectoryError("%s: frame %d is truncated (%s)"
                                  % (path, len(frames) + 1, err)) from err
        if any(len(c) != n_atoms for c in xyz):
            raise TrajectoryError("%s: frame %d does not hold %d atoms"
                                  % (path, len(frames) + 1, n_atoms))
        frames.append(np.stack(xyz, axis=1))


# ----------------------------------------------------------------- geometry

def kabsch_onto(mobile, target, rows):
    """Move each frame of ``mobile`` (F, A, 3) rigidly so that its atoms
    ``rows`` best fit ``target[rows]`` (least squares, no reflection)."""
    a = mobile[:, rows]
    b = target[rows]
    a_mean = a.mean(axis=1, keepdims=True)
    b_mean = b.mean(axis=0)
    h = np.swapaxes(a - a_mean, 1, 2) @ (b - b_mean)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= d[:, None]
    rot = u @ vt                                    # x_fit = x @ rot
    return (mobile - a_mean) @ rot + b_mean


def largest_extent(coords):
    """Largest atom-atom distance (Angstrom) over all frames (F, A, 3)."""
    return max(pdist(frame).max() for frame in coords)


# ----------------------------------------------------------------- ensemble

def load_path(data_dir):
    """The closed model and the superposed path frames, checked.

    Returns ``(closed CoarseModel, heavy rows, frames (F, A_heavy, 3))``.
    """
    data_dir = Path(data_dir)
    dcd = data_dir / "adk_dims.dcd"
    closed = load_structure(CLOSED_PDB)
    frames = read_dcd(dcd)
    if frames.shape[1] != closed.atoms.n:
        raise TrajectoryError("%s has %d atoms, %s has %d"
                              % (dcd, frames.shape[1], CLOSED_PDB,
                                 closed.atoms.n))
    # The DCD holds the file's atoms in file order; the model's table
    # keeps their serial numbers.
    frames = frames[:, closed.atoms.serials - 1]
    frames = kabsch_onto(frames, closed.atoms.coords, closed.atom_index)
    heavy = np.flatnonzero(closed.atoms.atomic_numbers > 1)
    return closed, heavy, frames


def check_path(closed, frames, log=print):
    """The path must run from the closed to the open state."""
    open_model = load_structure(OPEN_PDB)
    ca = frames[:, closed.atom_index]
    to_open = ca_rmsd(ca, open_model.coords)
    to_closed = ca_rmsd(ca, closed.coords)
    log("path: %d frames; CA RMSD to closed %.2f -> %.2f A, to open "
        "%.2f -> %.2f A" % (len(frames), to_closed[0], to_closed[-1],
                             to_open[0], to_open[-1]))
    if not (to_closed[0] < 1.0 and to_open[-1] < 1.0):
        raise TrajectoryError("the trajectory does not run from the closed "
                              "to the open state")


def three_state_frames(n_frames, jitter=THREE_STATE_JITTER):
    """Frames and weights of the closed / mid / open clouds.

    Each state's weight is shared equally by the frames of its cloud
    (frames within ``jitter`` of its centre, clipped to the path).
    """
    centres = (0, (n_frames - 1) // 2, n_frames - 1)
    frames, weights, labels = [], [], []
    for label, (centre, weight) in enumerate(zip(centres,
                                                 THREE_STATE_WEIGHTS)):
        cloud = np.arange(max(centre - jitter, 0),
                          min(centre + jitter, n_frames - 1) + 1)
        frames.extend(cloud)
        weights.extend([weight / len(cloud)] * len(cloud))
        labels.extend([label] * len(cloud))
    return np.array(frames), np.array(weights), np.array(labels)


# --------------------------------------------------------------------- main

def add_simulation_options(parser, states_help):
    """The options every path dataset shares (output, particles, box,
    pixel size, SNR, seed, three states, threads)."""
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder")
    parser.add_argument("--n", type=int, default=20000,
                        help="number of particles")
    parser.add_argument("--box", type=int, default=64, help="pixels")
    parser.add_argument("--apix", type=float,
                        help="pixel size (Angstrom; default: box = %.1f x "
                             "the largest extent)" % BOX_OVER_EXTENT)
    parser.add_argument("--snr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--three-states", action="store_true", help=states_help)
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads for the simulator")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with adk_dims.dcd (default: "
                             "shared/data/adk beside the repository)")
    add_simulation_options(parser, "closed / mid / open clouds (0.5/0.3/0.2) "
                                   "instead of the uniform path")
    return parser.parse_args(argv)


def simulate_path(frames, atomic_numbers, model, rows, args, reference="frame 0"):
    """Simulate ``args.n`` particles from the path ``frames`` (F, A, 3)
    heavy atoms (``atomic_numbers`` (A,), rows ``rows`` of ``model``'s
    atoms): uniformly over the frames, or the three-state clouds with
    ``args.three_states``; writes into ``args.out`` and prints what it did."""
    torch.set_num_threads(args.threads)
    extent = largest_extent(frames)
    apix = args.apix or round(BOX_OVER_EXTENT * extent / args.box, 2)
    print("largest extent %.1f A; box %d px x %.2f A/px = %.1f A (%.2f x)"
          % (extent, args.box, apix, args.box * apix,
             args.box * apix / extent))
    if args.three_states:
        frame_of_state, weights, labels = three_state_frames(len(frames))
    else:
        frame_of_state = np.arange(len(frames))
        weights, labels = None, None
    ensemble = StateEnsemble(frames[frame_of_state], atomic_numbers, model, rows)
    t0 = time.perf_counter()
    result = simulate_dataset(ensemble, args.out, args.n, box=args.box,
                              apix=apix, weights=weights, snr=args.snr,
                              defocus_range=(10000.0, 30000.0),
                              seed=args.seed)
    seconds = time.perf_counter() - t0
    _add_frames(result.truth, frame_of_state, labels)
    print("simulated %d particles of %d px (%d states) in %.1f s "
          "(%.0f particles/s, %d threads)"
          % (args.n, args.box, ensemble.n_states, seconds,
             args.n / seconds, args.threads))
    print("particles: %s\ntruth:     %s\nreference: %s (%s)"
          % (result.star, result.truth, result.reference, reference))


def main(argv=None):
    args = parse_args(argv)
    closed, heavy, frames = load_path(args.data)
    check_path(closed, frames)
    simulate_path(frames[:, heavy], closed.atoms.atomic_numbers[heavy], closed,
                  heavy, args, reference="closed state")


def _add_frames(truth_path, frame_of_state, labels):
    """Record each particle's DCD frame (and macrostate) in the truth."""
    with np.load(truth_path) as npz:
        truth = dict(npz)
    truth["frame"] = frame_of_state[truth["state"]]
    if labels is not None:
        truth["macrostate"] = labels[truth["state"]]
    np.savez(truth_path, **truth)


if __name__ == "__main__":
    sys.exit(main())
