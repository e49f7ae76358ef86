"""Write the pictures of a trained run as PNG files.

Groups (--what, comma-separated; default all):

    latent      PCA plane (or --embedding umap) coloured by cluster, by the
                prior's free energy and by latent dimension --dim, with the
                prior's free-energy contours; --kind hexbin for big sets
    training    every loss term, the KL weight and learning rate by step
    prior       the prior's free energy over the PC plane with its basins;
                for Boltzmann priors the unit occupancy and histograms of
                sample energies per sampler (--samples folders of
                sample-prior, else fresh gibbs and sa samples) against the
                exact distribution, and beta_eff of QPU runs
    trajectory  RMSD to the reference and per-residue RMSF of multi-model
                files (--models; default the run's PC paths)
    ensemble    CA traces coloured by RMSF, plus NAME_displacement.pdb
                (RMSF as B-factors) and NAME.cxc to open them in ChimeraX;
                --maps adds map projections and maps.cxc

Clusters come from --analysis (an analyze output folder) or the run's own
k-means. A group that cannot be drawn is reported and skipped.

Examples:

    cryostar-boltz plot --run run1 --out run1/plots
    cryostar-boltz plot --run run1 --out figs --what latent,prior \\
        --analysis run1/analysis_basins8 --samples s_gibbs --samples s_qpu
    cryostar-boltz plot --run run1 --out figs --what trajectory,ensemble \\
        --models pc1/pc1.pdb --maps pc1/pc1_000.mrc --maps pc1/pc1_009.mrc
"""


def add_args(parser):
    from ..plots import GROUPS
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("-o", "--out", required=True,
                        help="folder for the PNG files")
    parser.add_argument("--what", default=",".join(GROUPS),
                        help="picture groups, comma-separated (default all: "
                        "%(default)s)")
    parser.add_argument("--analysis", help="analyze output folder (clusters, "
                        "UMAP)")
    parser.add_argument("--samples", action="append", default=[],
                        metavar="DIR", help="sample-prior output folder "
                        "(repeatable)")
    parser.add_argument("--models", action="append", default=[],
                        metavar="FILE", help="multi-model PDB/mmCIF for the "
                        "trajectory and ensemble pictures (repeatable)")
    parser.add_argument("--maps", action="append", default=[], metavar="FILE",
                        help="density map for the ensemble pictures "
                        "(repeatable)")
    parser.add_argument("--embedding", choices=("pca", "umap"), default="pca")
    parser.add_argument("--kind", choices=("scatter", "hexbin"),
                        default="scatter")
    parser.add_argument("--dim", type=int, default=1,
                        help="latent dimension to colour by (1-based)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args):
    import matplotlib
    matplotlib.use("Agg")
    from ..plots import plot_run
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    written = plot_run(args.run, args.out, what, args.analysis, args.samples,
                       args.models or None, args.maps or None, args.embedding,
                       args.kind, args.dim)
    for path in written.values():
        print(path)
    if not written:
        raise ValueError("no picture could be drawn for %s" % args.run)
