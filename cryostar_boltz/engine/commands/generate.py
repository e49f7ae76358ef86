"""Decode latent points of a trained run to atomic models (and maps).

The points come from a .npy file (--z, one latent per row) or from the run
itself (--from):

    pca      points along a principal component of the particles' latents
             (--component, --n points from the 5th to the 95th percentile)
    kmeans   k-means centres (--k), each snapped to its nearest member
             particle
    basins   the prior's distinct low-energy states (at most --k)
    samples  --n samples of the prior (--sampler, --seed)

The output holds one model per point, residues in the reference's order and
in the reference's own frame (so outside tools can score them against it):
DIR/NAME.pdb (full atom, each residue's atoms carried by its local frame
as in training: they turn with the backbone),
DIR/NAME_coarse.pdb (one CA / C1' per residue) and DIR/NAME_z.npy (the
decoder inputs used); .cif instead of .pdb when the run writes mmCIF (a
model a PDB file cannot hold) or --format cif asks for it. --maps also writes one density map per point with
the run's stage-2 density decoder (train-density first): DIR/NAME_000.mrc...
Last comes DIR/summary.json, the record of what was made: the source and
its options, the number of points n, and the file names (pdb, coarse_pdb:
the structure files, PDB or mmCIF as format says; z, maps). Every file appears complete or not at all, so an interrupted run
is simply rerun.

DIR belongs to this generation (DIR/run.json records the run and the
options): the same command rerun into it continues; a folder holding other
engine outputs (another generation, a run, samples...) is refused, or with
--overwrite emptied of them first (a user's other files stay). Every input
is checked before DIR is made.

Examples:

    cryostar-boltz generate --run run1 --z run1/analysis/pc1.npy --out pc1
    cryostar-boltz generate --run run1 --from pca --component 2 --n 20 --out pc2
    cryostar-boltz generate --run run1 --from kmeans --k 8 --maps --out states
    cryostar-boltz generate --run run1 --from basins --out basins
    cryostar-boltz generate --run run1 --from samples --n 50 --sampler sa \\
        --out ens --name prior_samples
"""
from pathlib import Path

from .. import options as opt_type
from ..latents import SOURCE_OPTIONS, SOURCES
from ..structure.formats import FORMAT_CHOICES


def add_args(parser):
    parser.add_argument("--run", required=True, help="training run folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--z", help=".npy of latent points (one per row)")
    source.add_argument("--from", dest="source", choices=SOURCES,
                        help="latent points from the run (see above)")
    parser.add_argument("--component", type=opt_type.positive_int, default=None,
                        help="principal component of --from pca (1-based; "
                        "default 1)")
    parser.add_argument("--n", type=opt_type.model_count, default=None,
                        help="points along the component (pca) or prior "
                        "samples (samples); at most %d; default 10"
                        % opt_type.MAX_MODELS)
    parser.add_argument("--k", type=opt_type.model_count, default=None,
                        help="k-means clusters (kmeans), or the most basins to "
                        "keep (basins); at most %d; default 10" % opt_type.MAX_MODELS)
    parser.add_argument("--sampler", default=None,
                        help="sampler of --from samples (Boltzmann priors)")
    parser.add_argument("--seed", type=opt_type.seed, default=None,
                        help="random seed of --from basins and samples (default 0)")
    parser.add_argument("--maps", action="store_true",
                        help="also write density maps (needs stage 2)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--name", default=None,
                        help="base name of the output files (default: the "
                        "source, or 'structures' for --z)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                        help="structure files: pdb, cif (mmCIF) or auto "
                        "(default: the run's format, from its config.json)")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def request_of(args):
    """The options that decide what ``main`` makes (kept in run.json: a
    rerun with the same request continues the folder)."""
    return {"run": str(Path(args.run).absolute()),
            "z": str(Path(args.z).absolute()) if args.z else None,
            "source": args.source, "component": args.component, "n": args.n,
            "k": args.k, "sampler": args.sampler, "seed": args.seed,
            "maps": bool(args.maps), "name": output_name(args),
            "format": args.format}


def output_name(args):
    return args.name or ("structures" if args.z else
                         "pc%d" % args.component if args.source == "pca"
                         else args.source)


#: Values of those options when not given.
OPTION_DEFAULTS = {"component": 1, "n": 10, "k": 10, "sampler": None, "seed": 0}


def apply_source_options(args):
    """Refuse (ValueError naming the option) an option given that does not
    apply to the chosen source (``--from pca --k 3``), then give the
    source's options not given their defaults (:data:`OPTION_DEFAULTS`)."""
    source = "file" if args.z else args.source
    takes = SOURCE_OPTIONS[source]
    for name in OPTION_DEFAULTS:
        if name not in takes and getattr(args, name) is not None:
            raise ValueError("--%s does not apply to %s (%s)" % (
                name, "--z" if source == "file" else "--from " + source,
                "it takes " + ", ".join("--" + t for t in takes) if takes
                else "the points are the file's"))
    for name, default in OPTION_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def check_inputs(args):
    """Checks that need no torch (the options of the source, the run, --z,
    --maps, --out); returns (claim action, latent points of --z or None).
    Writes nothing."""
    from ..latents import load_points
    apply_source_options(args)
    from ..layout import RunLayout
    from ..outputs import claim, input_paths
    layout = RunLayout(args.run)
    layout.require_finished()
    if args.maps and not layout.has_density():
        raise ValueError(
            "%s has no trained density decoder: run 'cryostar-boltz "
            "train-density --run %s' first to generate maps" % (args.run, args.run))
    if "/" in output_name(args) or not output_name(args).strip():
        raise ValueError("--name %r: a base name, without folders" % args.name)
    z = load_points(args.z) if args.z else None
    action = claim(args.out, "generate", request_of(args), overwrite=args.overwrite,
                   keep=input_paths(args))
    return action, z


def main(args):
    from ..outputs import created_folder, prepare
    action, z = check_inputs(args)
    from ..io import save_array, save_json
    from ..latents import points_from_run
    from ..layout import SUMMARY, points_file
    from ..runs import TrainedRun
    run = TrainedRun(args.run, args.device)
    if args.source == "pca" and not 1 <= args.component <= run.latent_dim:
        raise ValueError("--component %d: the run has %d principal components"
                         % (args.component, run.latent_dim))
    if args.source == "kmeans" and args.k > len(run.latents()):
        raise ValueError("--k %d: the run has only %d particles"
                         % (args.k, len(run.latents())))
    fmt = run.structure_format(args.format)  # refuse before any work
    density = run.density() if args.maps else None
    if z is not None:
        if z.shape[1] != run.decoder_input_dim:
            z = run.decoder_inputs(z)
    else:
        z = points_from_run(run, args.source, args.component, args.n, args.k,
                            args.sampler, args.seed)
    name = output_name(args)
    out = Path(args.out)
    with created_folder(out, refusals=(ValueError,)):
        prepare(out, "generate", request_of(args), {"run": args.run}, action, name)
        full, coarse = run.write_structures(out / name, z, fmt)
        print("%d models: %s, %s" % (len(z), full, coarse))
        points = points_file(out / name)
        maps = []
        if density is None:
            save_array(points, z)
        else:
            maps = run.write_maps(z, out, name, density)
            print("%d maps: %s ... %s" % (len(maps), maps[0].name, maps[-1].name))
        save_json(out / SUMMARY, record_of(args, run, name, len(z), full, coarse,
                                           points, maps))


def record_of(args, run, name, n, full, coarse, points, maps):
    """What ``main`` made (``summary.json``): the source and the options that
    chose the points, and the names of the files in the output folder."""
    source = "file" if args.z else args.source
    options = {"pca": {"component": args.component, "n": args.n},
               "kmeans": {"k": args.k}, "basins": {"k": args.k, "seed": args.seed},
               "samples": {"n": args.n, "sampler": args.sampler, "seed": args.seed},
               "file": {"file": str(Path(args.z).absolute()) if args.z else None}}[source]
    return {"run": str(run.run_dir.absolute()), "source": source, "options": options,
            "name": name, "n": int(n), "pdb": Path(full).name,
            "coarse_pdb": Path(coarse).name, "format": Path(full).suffix[1:],
            "z": Path(points).name,
            "maps": [Path(m).name for m in maps]}
