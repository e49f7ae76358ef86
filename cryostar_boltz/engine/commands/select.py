"""Select particles in the latent space and write them as a subset.

Criteria (a particle is kept when it meets every one given):

    --polygon FILE   inside a polygon drawn on the PCA plane (--space pca,
                     PCs 1 and 2 as the latent pictures draw them) or on
                     the UMAP embedding (--space umap: the umap.npy of
                     --analysis or of the run's analysis folders). FILE is
                     JSON, [[x, y], ...] or {"space": "pca", "vertices":
                     [[x, y], ...]}, or text with one "x y" pair per line.
    --range DIM:LO:HI  LO <= coordinate <= HI; DIM is a latent dimension
                     (1 or z1) or a principal component (pc1), 1-based;
                     LO or HI may be left empty. Repeatable.
    --clusters LIST  in the clusters LIST (0,2 or 0-3) of --analysis (an
                     analyze output folder: k-means, Gaussian-mixture or
                     prior-basin clusters), or of the run's own k-means.
    --invert         every particle the criteria above leave out (particles
                     an analysis left out of its clusters stay out).
    --exclude-junk [Z]  leave out, whatever the rest, the particles whose
                     junk score (the run's junk_score.npy: robust z-score
                     of the pose contrast at the end of training) is
                     above Z (default 2); alone, it selects every
                     particle but the junk, and with --invert only the
                     junk.

Writes to --out (refused before anything is created when an input is bad
or nothing is selected; --out belongs to this selection, as run.json
records: the same command rerun continues it, a folder of other engine
outputs is refused or, with --overwrite, emptied of them first):

    particles.star   the selected particles with every original column
                     (and the optics table); image names load from here
    particles.cs     the same rows as a cryoSPARC file (.cs input)
    indices.npy      rows of the selected particles in the run's order
    summary.json     counts, criteria and files (written last)

Examples:

    cryostar-boltz select --run run1 --out picked --polygon lasso.json
    cryostar-boltz select --run run1 --out open --range 1:0.5: --range 2::0
    cryostar-boltz select --run run1 --out basin3 --clusters 3 \\
        --analysis run1/analysis_basins8
    cryostar-boltz select --run run1 --out rest --polygon lasso.txt \\
        --space umap --analysis run1/analysis_kmeans10 --invert
    cryostar-boltz select --run run1 --out clean --exclude-junk
"""
from pathlib import Path


def add_args(parser):
    from ..selection import SPACES
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("-o", "--out", required=True,
                        help="output folder for the subset")
    parser.add_argument("--polygon", metavar="FILE",
                        help="polygon vertices (JSON or 'x y' lines)")
    parser.add_argument("--space", choices=SPACES, default=None,
                        help="coordinates of the polygon (default: the "
                        "file's \"space\", else pca)")
    parser.add_argument("--range", action="append", default=[], dest="ranges",
                        metavar="DIM:LO:HI", help="coordinate range "
                        "(repeatable)")
    parser.add_argument("--clusters", metavar="LIST",
                        help="cluster numbers, e.g. 0,2 or 0-3")
    parser.add_argument("--analysis", metavar="DIR", help="analyze output "
                        "folder (clusters, its PCA and UMAP)")
    parser.add_argument("--invert", action="store_true",
                        help="keep the particles the criteria leave out")
    from .. import options as opt_type
    from ..particle_scores import DEFAULT_JUNK_Z
    parser.add_argument("--exclude-junk", nargs="?", const=DEFAULT_JUNK_Z, default=None,
                        type=opt_type.nonnegative_float, metavar="Z",
                        help="leave out the particles whose junk score (robust "
                        "z-score of the pose contrast, junk_score.npy) is above Z (default %g when "
                        "given without a value)" % DEFAULT_JUNK_Z)
    parser.add_argument("--particles", help="the run's particle file, when it "
                        "has moved since training (default: from config.json)")
    parser.add_argument("--datadir", help="folder of the particle stacks "
                        "(default: the training's --datadir when --particles is "
                        "not given, else found from the particle file's folder)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args):
    from ..io import save_json
    from ..layout import SUMMARY
    from ..selection import (RunLatents, parse_labels, parse_range, read_polygon,
                             run_particles, select_particles, write_selection)
    from ..outputs import claim, created_folder, input_paths, prepare, request_of_args
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError("--out %s: exists and is not a folder" % out)
    request = request_of_args(args, paths=("run", "polygon", "analysis", "particles",
                                           "datadir"))
    action = claim(out, "select", request, overwrite=args.overwrite,
                   keep=input_paths(args))
    ranges = [parse_range(text) for text in args.ranges]
    clusters = parse_labels(args.clusters) if args.clusters is not None else None
    polygon, space = None, args.space
    if args.polygon:
        polygon, file_space = read_polygon(args.polygon)
        if file_space and space and file_space != space:
            raise ValueError("--polygon %s is drawn in %s but --space is %s"
                             % (args.polygon, file_space, space))
        space = space or file_space
    space = space or "pca"
    latents = RunLatents(args.run, args.analysis)
    exclude = None
    if args.exclude_junk is not None:
        from ..particle_scores import junk_exclusion
        exclude = junk_exclusion(latents.run_dir, len(latents.z), args.exclude_junk)
    selection = select_particles(latents, polygon, space, ranges, clusters,
                                 args.invert, exclude=exclude)
    particles = run_particles(latents, args.particles, args.datadir)
    # every check passed: only now is the output folder made
    with created_folder(out, refusals=(ValueError,)):
        prepare(out, "select", request, action=action)
        files = write_selection(particles, selection, out)
        save_json(out / SUMMARY, {
            "run": str(latents.run_dir), "particles": str(particles.path),
            "n_particles": selection.n, "n_selected": int(len(selection.indices)),
            "criteria": selection.criteria, "files": files})
    print("%d of %d particles selected: %s"
          % (len(selection.indices), selection.n, out / files["star"]))
