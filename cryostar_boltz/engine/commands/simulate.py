"""Simulate a particle dataset from one or more atomic structures.

Each particle takes a structure by weight, a uniform random orientation, a
random shift and a defocus; its image is projected from all heavy atoms,
CTF-modulated (RELION sign) and given Gaussian noise at the requested SNR.
Writes NAME.star (RELION 3.1), NAME.mrcs, NAME_truth.npz (state, Euler
angles, shifts, CTF and the states' CA coordinates per particle) and
reference.pdb (the first structure in the box frame; reference.cif when a PDB
file cannot hold it).

Examples:

    # two states, 70/30, 10,000 particles of 64 px at 2 A/px
    cryostar-boltz simulate --structures closed.pdb open.pdb \\
        --weights 0.7 0.3 -n 10000 --box 64 --apix 2.0 --snr 0.05 --out sim

    # every model of a multi-model PDB (a morph or a trajectory), equal weights
    cryostar-boltz simulate --structures path.pdb -n 20000 --box 64 \\
        --apix 2.2 --defocus 10000 30000 --out sim_path
"""
from ..simulate import simulate_dataset


def add_args(parser):
    parser.add_argument("--structures", nargs="+", required=True,
                        help="structure files (PDB/mmCIF) sharing one "
                             "topology, or one multi-model file")
    parser.add_argument("--weights", type=float, nargs="+",
                        help="relative population of each structure "
                             "(default: equal)")
    parser.add_argument("-n", "--n-particles", type=int, required=True)
    parser.add_argument("--box", type=int, default=64, help="pixels")
    parser.add_argument("--apix", type=float, default=2.0,
                        help="pixel size (Angstrom)")
    parser.add_argument("--snr", type=float, default=0.1,
                        help="signal-to-noise ratio (variance ratio); "
                             "0 or negative: no noise")
    parser.add_argument("--defocus", type=float, nargs=2,
                        default=(10000.0, 30000.0), metavar=("MIN", "MAX"),
                        help="defocus range (Angstrom)")
    parser.add_argument("--astigmatism", type=float, default=300.0,
                        help="largest defocus U - V (Angstrom)")
    parser.add_argument("--shift-std", type=float,
                        help="std of the random shifts (Angstrom; "
                             "default 2 pixels)")
    parser.add_argument("--voltage", type=float, default=300.0, help="kV")
    parser.add_argument("--cs", type=float, default=2.7, help="mm")
    parser.add_argument("--amplitude-contrast", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="particles",
                        help="base name of the star and stack")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: torch's default)")
    parser.add_argument("-o", "--out", required=True, help="output folder")


def main(args):
    import torch

    from ..particles import check_box
    if args.n_particles < 1:
        raise ValueError("-n must be at least 1, got %d" % args.n_particles)
    check_box(args.box, "--box")
    if not args.apix > 0:
        raise ValueError("--apix must be positive, got %g" % args.apix)
    if not 0 < args.defocus[0] <= args.defocus[1]:
        raise ValueError("--defocus MIN MAX: need 0 < MIN <= MAX, got %g %g"
                         % tuple(args.defocus))
    if args.threads:
        torch.set_num_threads(args.threads)
    result = simulate_dataset(
        args.structures, args.out, args.n_particles, args.box, args.apix,
        weights=args.weights, snr=args.snr if args.snr > 0 else None,
        defocus_range=tuple(args.defocus), astigmatism=args.astigmatism,
        shift_std=args.shift_std, voltage=args.voltage, cs=args.cs,
        amplitude_contrast=args.amplitude_contrast, seed=args.seed,
        name=args.name, log=print)
    print("particles: %s\nstack:     %s\ntruth:     %s\nreference: %s"
          % (result.star, result.stack, result.truth, result.reference))
