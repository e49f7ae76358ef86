"""How close written full-atom models come to the true atoms when the CA
trace is right.

Every frame of the adenylate-kinase DIMS path (superposed onto the closed
crystal structure, ``adk_dataset.load_path``) gives its true CA trace to
the full-atom writer's placement (``structure.atom_positions``: each atom
carried by its residue's local frame, as training renders it), and to the
placement that moves each residue's atoms by its CA's displacement only.
Prints, per placement, the heavy-atom RMSD to the frame's true atoms
(Angstrom): median, 90th percentile and maximum over the frames, and the
same for the first, middle and last frame. What neither placement
recovers is the residues' own change of shape (side-chain rotamers, local
backbone) between the crystal reference and the path.

    python benchmarks/bench_full_atom.py [--data path/to/adk]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adk_dataset import DEFAULT_DATA, load_path  # noqa: E402

from cryostar_boltz.engine.structure import atom_positions  # noqa: E402


def translated(model, ca):
    """(F, A, 3) atoms of ``model`` moved by their residue's CA displacement."""
    owner = model.atoms.residue_index
    return model.atoms.coords + ca[:, owner] - model.coords[owner]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with adk_dims.dcd (default %(default)s)")
    args = parser.parse_args(argv)
    closed, heavy, frames = load_path(args.data)
    ca = frames[:, closed.atom_index]
    truth = frames[:, heavy]
    placements = {"frames": atom_positions(closed, ca)[:, heavy],
                  "translated": translated(closed, ca)[:, heavy]}
    middle = len(frames) // 2
    print("%d frames, %d heavy atoms; heavy-atom RMSD to the true atoms (A)"
          % (len(frames), len(heavy)))
    print("%-11s %7s %7s %7s %8s %8s %8s" % ("placement", "median", "p90", "max",
                                             "frame 0", "frame %d" % middle,
                                             "frame %d" % (len(frames) - 1)))
    for name, atoms in placements.items():
        rmsd = np.sqrt(((atoms - truth) ** 2).sum(-1).mean(-1))
        print("%-11s %7.2f %7.2f %7.2f %8.2f %8.2f %8.2f"
              % (name, np.median(rmsd), np.percentile(rmsd, 90), rmsd.max(),
                 rmsd[0], rmsd[middle], rmsd[-1]))


if __name__ == "__main__":
    main()
