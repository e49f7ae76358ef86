"""Write the pictures of a trained run as PNG files.

Groups (--what, comma-separated; default all):

    latent      PCA plane (or --embedding umap) coloured by cluster, by the
                prior's free energy, by latent dimension --dim and by
                density (--color-by picks), with the prior's free-energy
                contours (--no-contours leaves them out); --kind hexbin for
                big sets
    training    every loss term, the KL weight and learning rate by step;
                by epoch, how much z and the PC1 motion still change
    prior       the prior's free energy over the PC plane with its basins
                (--no-basins leaves them out); for Boltzmann priors the unit
                occupancy and histograms of sample energies per sampler
                (--samples folders of sample-prior, else --draw fresh gibbs
                and sa samples) against the exact distribution, and
                beta_eff of QPU runs
    trajectory  RMSD to the reference and per-residue RMSF of multi-model
                files (--models; default the run's PC paths)
    ensemble    CA traces coloured by RMSF, plus NAME_displacement.pdb (.cif)
                (RMSF as B-factors) and NAME.cxc to open them in ChimeraX;
                --maps adds map projections, maps.cxc and, for each
                --models file, NAME_maps.cxc (the models with the maps)

Every picture's name starts with its group (latent_pca_cluster, training,
prior_landscape, prior_occupancy, prior_energies, trajectory_pc1,
ensemble_pc1, ensemble_maps...); --pictures draws only the names given.
The command writes OUT/summary.json last: picture name -> PNG file and
ChimeraX script name -> script (and displacement models), names inside OUT,
and what was skipped and why.

Clusters come from --analysis (an analyze output folder) or the run's own
k-means. A group that cannot be drawn is reported and skipped; when nothing
can be drawn the command fails with the reasons and writes nothing. An
unknown --pictures name is refused before anything is drawn.

OUT belongs to plot (OUT/run.json): plot may draw into it again (the
viewers redraw into one folder; pictures of the same name are replaced and
summary.json lists this run's), but a folder holding another command's
outputs is refused, or with --overwrite emptied of them first. --run may be left out for
the trajectory and ensemble groups when --models or --maps are given.

Examples:

    cryostar-boltz plot --run run1 --out run1/plots
    cryostar-boltz plot --run run1 --out figs --what latent,prior \\
        --analysis run1/analysis_basins8 --samples s_gibbs --samples s_qpu
    cryostar-boltz plot --run run1 --out figs --what latent --color-by dim \\
        --dim 3 --kind hexbin --no-contours
    cryostar-boltz plot --run run1 --out figs --pictures prior_energies \\
        --draw 1000
    cryostar-boltz plot --run run1 --out figs --what trajectory,ensemble \\
        --models pc1/pc1.pdb --maps pc1/pc1_000.mrc --maps pc1/pc1_009.mrc
"""
from .. import options as opt_type


def _names(values):
    """Comma-separated and repeated options as one list."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def add_args(parser):
    from ..plots import COLOR_BY, EMBEDDINGS, GROUPS, KINDS
    parser.add_argument("--run", help="training run folder (needed for every "
                        "group but trajectory and ensemble of given files)")
    parser.add_argument("-o", "--out", required=True,
                        help="folder for the PNG files, scripts and "
                        "summary.json")
    parser.add_argument("--what", default=",".join(GROUPS),
                        help="picture groups, comma-separated (default all: "
                        "%(default)s)")
    parser.add_argument("--pictures", action="append", default=[],
                        metavar="NAME", help="draw only these pictures "
                        "(comma-separated or repeated), e.g. prior_occupancy")
    parser.add_argument("--analysis", help="analyze output folder (clusters, "
                        "UMAP)")
    parser.add_argument("--color-by", action="append", default=[],
                        metavar="COLOUR", help="latent colourings, "
                        "comma-separated or repeated, from %s (default all)"
                        % ", ".join(COLOR_BY))
    parser.add_argument("--dim", type=opt_type.positive_int, default=1,
                        help="latent dimension to colour by (1-based)")
    parser.add_argument("--embedding", choices=EMBEDDINGS, default="pca",
                        help="the plane the latents are drawn on (default %(default)s)")
    parser.add_argument("--kind", choices=KINDS, default="scatter",
                        help="points, or hexagonal bins of their density "
                        "(default %(default)s)")
    parser.add_argument("--no-contours", dest="contours", action="store_false",
                        help="no prior free-energy contours on the latent "
                        "pictures")
    parser.add_argument("--samples", action="append", default=[],
                        metavar="DIR", help="sample-prior output folder "
                        "(repeatable)")
    parser.add_argument("--draw", type=opt_type.nonnegative_int, default=300, metavar="N",
                        help="fresh prior samples per sampler (gibbs, sa) "
                        "when no --samples are given; 0: none (default "
                        "%(default)s)")
    parser.add_argument("--no-basins", dest="basins", action="store_false",
                        help="do not search the prior's basins (landscape "
                        "without them, occupancy unsorted)")
    parser.add_argument("--models", action="append", default=[],
                        metavar="FILE", help="multi-model PDB/mmCIF for the "
                        "trajectory and ensemble pictures (repeatable)")
    parser.add_argument("--maps", action="append", default=[], metavar="FILE",
                        help="density map for the ensemble pictures "
                        "(repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another command's outputs in --out")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def check_pictures(names, what):
    """ValueError for a --pictures name no group draws (``latent_EMB_COLOUR``
    or ``latent_EMB_zN``, ``training``, the prior's pictures,
    ``trajectory_STEM``, ``ensemble_STEM``), or one outside --what."""
    from ..plots import COLOR_BY, EMBEDDINGS, GROUPS
    from ..plots.prior import PICTURES as PRIOR_PICTURES
    latent = {"latent_%s_%s" % (e, c) for e in EMBEDDINGS for c in COLOR_BY
              if c != "dim"}
    for name in names:
        group = name.split("_")[0]
        known = (name in latent or name == "training" or name in PRIOR_PICTURES
                 or (group == "latent" and any(
                     name.startswith("latent_%s_z" % e) and
                     name[len("latent_%s_z" % e):].isdigit() for e in EMBEDDINGS))
                 or (group in ("trajectory", "ensemble") and len(name) > len(group) + 1
                     and name[len(group)] == "_"))
        if not known:
            raise ValueError(
                "--pictures: unknown picture %r (names: training, %s, latent_"
                "EMBEDDING_COLOUR, trajectory_NAME, ensemble_NAME; groups %s)"
                % (name, ", ".join(PRIOR_PICTURES), ", ".join(GROUPS)))
        if group not in what:
            raise ValueError("--pictures %s: its group %s is not in --what %s"
                             % (name, group, ",".join(what)))


def main(args):
    from pathlib import Path

    from ..outputs import claim, created_folder, input_paths, prepare
    what = _names([args.what])
    if args.run is None and not (args.models or args.maps):
        raise ValueError("give --run, or --models / --maps for the trajectory "
                         "and ensemble pictures")
    pictures = _names(args.pictures) or None
    check_pictures(pictures or (), what)
    out = Path(args.out)
    action = claim(out, "plot", {}, overwrite=args.overwrite, keep=input_paths(args))
    import matplotlib
    matplotlib.use("Agg")
    from ..plots import COLOR_BY, plot_run
    with created_folder(out, refusals=(ValueError,)):
        if action == "replace":
            prepare(out, "plot", {}, {"run": args.run}, action)
        summary = plot_run(args.run, out, what, args.analysis, args.samples,
                           args.models or None, args.maps or None, args.embedding,
                           args.kind, args.dim, pictures=pictures,
                           color_by=_names(args.color_by) or COLOR_BY,
                           contours=args.contours, draw=args.draw, basins=args.basins)
        if not summary["pictures"]:
            reasons = "; ".join("%s: %s" % kv for kv in summary["skipped"].items())
            raise ValueError("no picture could be drawn for %s%s" % (
                args.run or ", ".join(args.models + args.maps),
                " (%s)" % reasons if reasons else ""))
        if action == "new":
            prepare(out, "plot", {}, {"run": args.run}, action)
    for path in summary["pictures"].values():
        print(path)
    for entry in summary["scripts"].values():
        print(entry["script"])
