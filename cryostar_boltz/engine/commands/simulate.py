"""Simulate a particle dataset from one or more atomic structures.

Each particle takes a structure by weight, a uniform random orientation, a
random shift and a defocus; its image is projected from all heavy atoms,
CTF-modulated (RELION sign) and given Gaussian noise at the requested SNR.
Writes NAME.star (RELION 3.1), NAME.mrcs, NAME_truth.npz (state, Euler
angles, shifts, CTF and the states' CA coordinates per particle) and
reference.pdb (the first structure in the box frame; reference.cif when a PDB
file cannot hold it).

OUT belongs to this simulation (OUT/run.json records the options): the same
command rerun into it makes the same files again; a folder holding other
engine outputs is refused, or with --overwrite emptied of them first (a
user's other files stay). Every input is checked before OUT is made.

Examples:

    # two states, 70/30, 10,000 particles of 64 px at 2 A/px
    cryostar-boltz simulate --structures closed.pdb open.pdb \\
        --weights 0.7 0.3 -n 10000 --box 64 --apix 2.0 --snr 0.05 --out sim

    # every model of a multi-model PDB (a morph or a trajectory), equal weights
    cryostar-boltz simulate --structures path.pdb -n 20000 --box 64 \\
        --apix 2.2 --defocus 10000 30000 --out sim_path
"""
from .. import options as opt_type


def add_args(parser):
    parser.add_argument("--structures", nargs="+", required=True,
                        help="structure files (PDB/mmCIF) sharing one "
                             "topology, or one multi-model file")
    parser.add_argument("--weights", type=opt_type.nonnegative_float, nargs="+",
                        help="relative population of each structure "
                             "(default: equal)")
    parser.add_argument("-n", "--n-particles", type=opt_type.positive_int, required=True)
    parser.add_argument("--box", type=opt_type.even_box, default=64, help="pixels")
    parser.add_argument("--apix", type=opt_type.pixel_size, default=2.0,
                        help="pixel size (Angstrom, %g-%g)"
                        % (opt_type.MIN_APIX, opt_type.MAX_APIX))
    parser.add_argument("--snr", type=opt_type.finite_float, default=0.1,
                        help="signal-to-noise ratio (variance ratio); "
                             "0 or negative: no noise")
    parser.add_argument("--defocus", type=opt_type.positive_float, nargs=2,
                        default=(10000.0, 30000.0), metavar=("MIN", "MAX"),
                        help="defocus range (Angstrom)")
    parser.add_argument("--astigmatism", type=opt_type.nonnegative_float, default=300.0,
                        help="largest defocus U - V (Angstrom)")
    parser.add_argument("--shift-std", type=opt_type.nonnegative_float,
                        help="std of the random shifts (Angstrom; "
                             "default 2 pixels)")
    parser.add_argument("--voltage", type=opt_type.voltage_kv, default=300.0,
                        help="kV (%g-%g)" % (opt_type.MIN_KV, opt_type.MAX_KV))
    parser.add_argument("--cs", type=opt_type.nonnegative_float, default=2.7, help="mm")
    parser.add_argument("--amplitude-contrast", type=opt_type.fraction, default=0.1,
                        help="CTF amplitude contrast (default %(default)s)")
    parser.add_argument("--seed", type=opt_type.seed, default=0,
                        help="seed of the poses, defoci, states and noise "
                        "(default %(default)s)")
    parser.add_argument("--name", default="particles",
                        help="base name of the star and stack")
    parser.add_argument("--threads", type=opt_type.nonnegative_int, default=0,
                        help="CPU threads (0: torch's default)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args):
    from pathlib import Path
    for path in args.structures:
        if not Path(path).is_file():
            raise FileNotFoundError("--structures %s: file not found" % path)
    if args.weights is not None and not sum(args.weights) > 0:
        raise ValueError("--weights: at least one weight must be positive")
    if "/" in args.name or not args.name.strip():
        raise ValueError("--name %r: a base name, without folders" % args.name)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError("--out %s is a file, not a folder" % args.out)
    if not 0 < args.defocus[0] <= args.defocus[1]:
        raise ValueError("--defocus MIN MAX: need 0 < MIN <= MAX, got %g %g"
                         % tuple(args.defocus))
    from ..outputs import claim, created_folder, input_paths, prepare, request_of_args
    request = request_of_args(args, paths=("structures",))
    action = claim(args.out, "simulate", request, overwrite=args.overwrite,
                   keep=input_paths(args))
    import torch

    from ..simulate import simulate_dataset
    if args.threads:
        torch.set_num_threads(args.threads)
    # a simulation is cheap to make again: a new folder goes whole on a
    # refusal or a write error (a full disk)
    with created_folder(args.out, refusals=(ValueError, OSError)):
        prepare(args.out, "simulate", request, action=action, name=args.name)
        result = simulate_dataset(
            args.structures, args.out, args.n_particles, args.box, args.apix,
            weights=args.weights, snr=args.snr if args.snr > 0 else None,
            defocus_range=tuple(args.defocus), astigmatism=args.astigmatism,
            shift_std=args.shift_std, voltage=args.voltage, cs=args.cs,
            amplitude_contrast=args.amplitude_contrast, seed=args.seed,
            name=args.name, log=print)
    print("particles: %s\nstack:     %s\ntruth:     %s\nreference: %s"
          % (result.star, result.stack, result.truth, result.reference))
