"""Decode latent points of a trained run to atomic models.

Each row of the .npy file is one latent point; the output holds one model
per row, residues in the reference's order and in the reference's own
frame (so outside tools can score them against it): DIR/NAME.pdb (full
atom, each residue moved rigidly with its pseudo-atom) and
DIR/NAME_coarse.pdb (one CA / C1' per residue).

Examples:

    cryostar-boltz generate --run run1 --z run1/analysis/pc1.npy --out pc1
    cryostar-boltz generate --run run1 --z my_points.npy --out ens --name states
"""
from pathlib import Path

import numpy as np


def add_args(parser):
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("--z", required=True, help=".npy of latent points "
                        "(one per row)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--name", default="structures",
                        help="base name of the output files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--debug", action="store_true")


def main(args):
    from ..runs import TrainedRun
    path = Path(args.z)
    try:
        z = np.load(path)
    except (OSError, ValueError) as err:
        raise ValueError("%s: not a readable .npy file (%s)" % (path, err))
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or not np.isfinite(z).all():
        raise ValueError("%s: expected a finite (M, latent_dim) array, got "
                         "shape %s" % (path, z.shape))
    run = TrainedRun(args.run, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    full, coarse = run.write_structures(out / args.name, z)
    print("%d models: %s, %s" % (len(z), full, coarse))
