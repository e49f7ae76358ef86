"""Cluster the latents of a trained run; write per-cluster particle subsets,
structures and maps.

Methods: kmeans (default), gmm (a full-covariance Gaussian mixture), or
basins (the prior's own states: for a continuous latent, gmm, grbm or ebm, the
basins of its free energy, each particle in the basin its latent descends
into; for rbm, the basin code nearest the particle's code; --k is then the
most basins to consider, empty basins are dropped, and summary.json lists
each basin's population from the prior and from the particles).

Writes to --out (default RUN/analysis_METHODK):

    labels.npy            cluster of each particle (0-based, dataset order)
    centers.npy           cluster centres in latent space
    centers_particles.npy the member particle nearest each centre
    cluster_XXX.star      the particles of cluster XXX (all original
                          columns: re-refine it in RELION), and
    cluster_XXX.cs        the same rows as a cryoSPARC file (.cs input)
    clusters.pdb          one model per cluster, decoded at its snapped
    clusters_coarse.pdb   centre (cluster_z.npy: the decoder inputs);
                          .cif in the run's mmCIF format or --format cif
    cluster_XXX.mrc       its map, when the run has a density decoder
                          (stage 2)
    pca.npz               PCA of the latents (scores, components...)
    umap.npy              2-D UMAP embedding (--umap; needs umap-learn)
    kept.npy              --exclude-junk: rows of the particles kept (the
                          run's order; reconstruct --indices takes it)
    summary.json          sizes, files and the options used (written last)

--exclude-junk [Z] leaves out the particles whose junk score (the run's
junk_score.npy, written at the end of training: how little better the
particle's pose fits than random orientations, as a robust z-score; see
engine/particle_scores.py) is above Z (default 2): they take no part in the PCA,
UMAP, clustering or basins, are placed on the PCA plane and the UMAP
embedding (without moving them) and have label -1 in labels.npy (no
cluster subset holds them); summary.json says how many and why. Runs
trained before per-particle scores were written are refused with this
option.

Rerunning with the same options finishes an interrupted analysis; every
file appears complete or not at all. The folder belongs to this analysis
(run.json records the run and the options): a folder holding other engine
outputs (another analysis, a run, samples...) is refused, or with
--overwrite emptied of them first (a user's other files stay). Every input
is checked before the folder is made.

Examples:

    cryostar-boltz analyze --run run1
    cryostar-boltz analyze --run run1 --method gmm --k 5 --umap
    cryostar-boltz analyze --run run1 --method basins --k 16 --out run1/basins
    cryostar-boltz analyze --run run1 --particles moved/particles.star
    cryostar-boltz analyze --run run1 --exclude-junk        # junk score > 2
    cryostar-boltz analyze --run run1 --exclude-junk 2.5 --method gmm
"""
from pathlib import Path

import numpy as np

from .. import layout
from ..structure.formats import FORMAT_CHOICES
from .. import options as opt_type

#: Clusters (kmeans, gmm) or most basins (basins) when --k is not given.
DEFAULT_K = 10


def add_args(parser):
    from ..analysis import METHODS
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("--method", choices=METHODS, default="kmeans",
                        help="clustering (default %(default)s)")
    parser.add_argument("--k", type=opt_type.positive_int, default=None,
                        help="clusters (kmeans, gmm) or most basins (basins); "
                        "default %d" % DEFAULT_K)
    parser.add_argument("--umap", action="store_true",
                        help="also a 2-D UMAP embedding (needs umap-learn)")
    from ..particle_scores import DEFAULT_JUNK_Z
    parser.add_argument("--exclude-junk", nargs="?", const=DEFAULT_JUNK_Z, default=None,
                        type=opt_type.nonnegative_float, metavar="Z",
                        help="leave out the particles whose junk score (robust "
                        "z-score of the pose contrast, junk_score.npy) is above Z (default %g when "
                        "given without a value); writes kept.npy" % DEFAULT_JUNK_Z)
    parser.add_argument("--seed", type=opt_type.seed, default=0,
                        help="seed of the clustering, the basin search and UMAP "
                        "(default %(default)s)")
    parser.add_argument("--basin-reads", type=opt_type.read_count, default=1000,
                        help="prior samples descended to find the prior's "
                        "basins and their populations (annealing runs for "
                        "rbm; the ebm descends its weighted chains instead; "
                        "at most %d; default %%(default)s)" % opt_type.MAX_READS)
    parser.add_argument("--particles", help="the run's particle file, when it "
                        "has moved since training (default: from config.json)")
    parser.add_argument("--datadir", help="folder of the particle stacks "
                        "(default: the training's --datadir when --particles is "
                        "not given, else found from the particle file's folder)")
    parser.add_argument("--no-maps", action="store_true",
                        help="skip the per-cluster maps even with stage 2")
    parser.add_argument("-o", "--out", help="output folder (default "
                        "RUN/analysis_METHODK)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                        help="structure files: pdb, cif (mmCIF) or auto "
                        "(default: the run's format, from its config.json)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def request_of(args):
    """The options that determine the outputs (kept in summary.json);
    ``basin_reads`` is None where it does not apply
    (:meth:`.layout.RunLayout.basin_reads_used`)."""
    basins = args.method == "basins"
    return {"method": args.method, "k": args.k, "seed": args.seed,
            "umap": bool(args.umap),
            "basin_reads": layout.RunLayout(args.run).basin_reads_used(args.basin_reads, basins),
            "exclude_junk": args.exclude_junk}


def analyze_run(run, out, method="kmeans", k=DEFAULT_K, seed=0, umap=False,
                basin_reads=1000, particles=None, datadir=None, maps=True,
                log=print, fmt=None, make_out=None, exclude_junk=None, k_given=True):
    """Cluster ``run``'s latents and write every output to ``out``;
    returns the summary dict. ``fmt``: the structure format (``'auto'``,
    ``'pdb'``, ``'cif'``; default the run's). ``make_out()``, when given,
    makes the output folder once every input is checked (default:
    ``mkdir``). ``exclude_junk``: leave out the particles whose junk score
    is above it (module docstring); ValueError naming the option when the
    run has no scores or too few particles remain, and for more clusters
    than particles (:func:`too_many_clusters`; ``k_given``: whether the
    user gave ``k``, else it is the default)."""
    from ..analysis import cluster_latents, fit_pca, require_umap, umap_embedding
    from ..io import save_array, save_npz
    from ..layout import CODES
    from ..subsets import write_cluster_subsets
    if umap:
        require_umap()
    fmt = run.structure_format(fmt)  # refuse before any work
    z_all = run.latents()
    kept, excluded = kept_particles(run, len(z_all), exclude_junk)
    z = z_all[kept]
    if int(k) < 1 or int(k) > len(z):
        raise ValueError(too_many_clusters(k, len(z), bool(excluded), k_given))
    loaded = run.load_particles(particles, datadir)
    prior = run.prior if method == "basins" else None
    codes_path = run.run_dir / CODES
    codes = np.load(codes_path)[kept] if method == "basins" and codes_path.exists() \
        else None
    if method == "basins" and prior.name == "gaussian":
        from ..sampling import basin_table
        basin_table(prior)  # the gaussian prior has one basin: refused here
    out = Path(out)
    if make_out is not None:
        make_out()
    else:
        out.mkdir(parents=True, exist_ok=True)
    clustering = cluster_latents(z, method, k, seed, prior=prior, codes=codes,
                                 basin_options={"num_reads": basin_reads, "seed": seed})
    # back to every particle of the run: the excluded ones are label -1
    labels = np.full(len(z_all), -1, dtype=np.int64)
    labels[kept] = clustering.labels
    snapped = kept[clustering.snapped]
    save_array(out / layout.LABELS, labels)
    save_array(out / layout.CENTRES, clustering.centres.astype(np.float32))
    save_array(out / layout.CENTRE_PARTICLES, snapped)
    pca = fit_pca(z, min(z.shape[1], 10))
    scores = pca.transform(z_all).astype(np.float32)
    save_npz(out / layout.PCA, components=pca.components_, mean=pca.mean_,
             explained_variance=pca.explained_variance_,
             explained_variance_ratio=pca.explained_variance_ratio_, scores=scores)
    summary = {"run": str(run.run_dir.absolute()), "particles": str(loaded.path.absolute()),
               "n_particles": int(loaded.n), "k": clustering.k,
               "sizes": clustering.sizes.tolist(),
               "centers_particles": snapped.tolist(),
               "explained_variance_ratio": pca.explained_variance_ratio_.tolist()}
    summary.update(clustering.details)
    if excluded:
        summary.update(excluded)
        save_array(out / layout.KEPT_INDICES, kept)
        summary["kept"] = layout.KEPT_INDICES
        log(excluded["exclusion"])
    if umap:
        save_array(out / layout.UMAP, umap_embedding(z_all, seed=seed, fit=kept))
        summary["umap"] = layout.UMAP
    summary["subsets"] = write_cluster_subsets(loaded, labels, out, clustering.k)
    inputs = run.particle_decoder_inputs(snapped)
    full, coarse = run.write_structures(out / layout.CLUSTERS, inputs, fmt)
    summary.update(pdb=full.name, coarse_pdb=coarse.name, format=fmt, z=layout.points_file(layout.CLUSTER_MAPS).name)
    if maps and run.has_density():
        written = run.write_maps(inputs, out, layout.CLUSTER_MAPS)
        summary["maps"] = [Path(p).name for p in written]
    else:
        save_array(layout.points_file(out / layout.CLUSTER_MAPS), inputs)
        if maps:
            log("no density decoder in %s (stage 2): cluster maps skipped"
                % run.run_dir)
    return summary


def too_many_clusters(k, n, kept=False, given=True):
    """The refusal of ``k`` clusters of ``n`` particles (``kept``: those
    ``--exclude-junk`` kept): it quotes ``--k k`` when the user gave it
    (``given``), else says that ``k`` is the default and why it cannot
    apply."""
    if given:
        return ("--k %d: need 1 <= k <= %d (the number of particles%s)"
                % (k, n, " kept" if kept else ""))
    return ("--k not given: its default, %d clusters, needs at least %d particles "
            "but %s %d; give --k %d or fewer"
            % (k, k, "--exclude-junk keeps" if kept else "the run has", n, n))


def kept_particles(run, n, threshold):
    """(rows kept (M,) int64, the exclusion record for summary.json or
    None) of a run of ``n`` particles: all of them when ``threshold`` is
    None, else those whose junk score is at most ``threshold``. ValueError
    naming ``--exclude-junk`` when the run has no scores or keeps none."""
    if threshold is None:
        return np.arange(n), None
    from ..particle_scores import junk_exclusion
    _, junk = junk_exclusion(run.run_dir, n, threshold)
    kept = np.flatnonzero(~junk)
    if not len(kept):
        raise ValueError("--exclude-junk: every one of the %d particles has a junk "
                         "score above %g" % (n, threshold))
    why = ("%d of %d particles excluded as junk: junk score (%s, robust z-score "
           "of the pose contrast) above %g" % (int(junk.sum()), n, layout.JUNK_SCORE, threshold))
    return kept, {"n_excluded": int(junk.sum()), "n_kept": int(len(kept)),
                  "junk_threshold": float(threshold), "junk_score": layout.JUNK_SCORE,
                  "exclusion": why}


def request_of_folder(args):
    """What run.json records: the run and every option that decides the
    outputs."""
    return dict(request_of(args), run=str(Path(args.run).absolute()),
                particles=args.particles, datadir=args.datadir,
                maps=not args.no_maps, format=args.format)


def output_folder(args):
    return Path(args.out or Path(args.run) / ("analysis_%s%d" % (args.method, args.k)))


def main(args):
    from ..outputs import claim, created_folder, input_paths, prepare
    k_given = args.k is not None
    if not k_given:
        args.k = DEFAULT_K
    layout.RunLayout(args.run).require_finished()
    out = output_folder(args)
    request = request_of_folder(args)
    action = claim(out, "analyze", request, overwrite=args.overwrite,
                   keep=input_paths(args))
    from ..io import save_json
    from ..runs import TrainedRun
    run = TrainedRun(args.run, args.device)
    with created_folder(out, refusals=(ValueError,)):
        summary = analyze_run(
            run, out, args.method, args.k, args.seed, args.umap, args.basin_reads,
            args.particles, args.datadir, maps=not args.no_maps, fmt=args.format,
            make_out=lambda: prepare(out, "analyze", request, {"run": args.run},
                                     action), exclude_junk=args.exclude_junk,
            k_given=k_given)
        summary["options"] = request_of(args)
        save_json(out / layout.SUMMARY, summary)
    print("%d cluster%s (%s), sizes %s: %s"
          % (summary["k"], "" if summary["k"] == 1 else "s", args.method,
             summary["sizes"], out))
