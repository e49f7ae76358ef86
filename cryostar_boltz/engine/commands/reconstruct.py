"""Reconstruct a particle subset from the original particles: two
half-maps, their map and the gold-standard FSC.

The run's particles are read from the file it was trained on (full box and
pixel size, not the training cache) with their poses and CTF, and
backprojected (direct Fourier inversion, CTF-weighted with a Wiener-like
filter) into one map per half-set: the file's rlnRandomSubset (or
cryoSPARC's alignments3D/split), else a split of all particles seeded by
--seed. The subset is every particle meeting all criteria given (none:
all particles):

    --indices FILE    rows of a .npy file (0-based, the run's particle
                      order; select writes one as indices.npy)
    --clusters LIST   clusters of --analysis (an analyze output folder) or
                      of the run's own k-means
    --pc K --bin I/N  bin I (0-based) of N along principal component K:
                      the particles nearest point I of the N points that
                      'generate --from pca --component K --n N' decodes
    --basin B         the particles nearest prior basin B (lowest free
                      energy first; the clusters of 'analyze --method
                      basins --k --max-basins')

--deform-to reference (or --deform-to z FILE.npy, --deform-to basin B)
corrects each particle's motion: its decoded displacement from that
conformation, spread from the residues to the voxels with Gaussian weights
(--deform-sigma), carries every voxel of the target to where it sits in the
particle, and the image is backprojected through that mapping (deformable
backprojection, as DynaMight does), so all particles add into one map of
the target conformation.

Writes to --out (every input is checked before it is made):

    half1.mrc half2.mrc  the half-maps
    map.mrc          the map of both halves (voxel size and origin of the
                     consensus map when the run was trained with --map,
                     else voxel D//2 at the reference's box centre)
    fsc.csv          resolution_A,fsc of the half-maps per Fourier shell
    fsc.png          the FSC curve(s)
    indices.npy      rows of the particles backprojected
    decoded.mrc fsc_decoded.csv  with a density decoder (stage 2): its map
                     at the subset's mean latent and the FSC of map.mrc
                     against it (at the decoder's box)
    summary.json     subset, half-sets, resolutions at 0.143 and 0.5, files

Examples:

    cryostar-boltz reconstruct --run run1 --out all
    cryostar-boltz reconstruct --run run1 --out c3 --analysis an1 --clusters 3
    cryostar-boltz reconstruct --run run1 --out pc1_bin0 --pc 1 --bin 0/5
    cryostar-boltz reconstruct --run run1 --out picked --indices picked/indices.npy
    cryostar-boltz reconstruct --run run1 --out sharp --deform-to reference
"""
import time
from pathlib import Path

from .. import options as opt_type


def add_args(parser):
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    subset = parser.add_argument_group("subset (all particles when none is given)")
    subset.add_argument("--indices", metavar="FILE", help=".npy of particle rows")
    subset.add_argument("--clusters", metavar="LIST", help="cluster numbers, e.g. 0,2")
    subset.add_argument("--analysis", metavar="DIR", help="analyze output folder "
                        "(clusters, PCA)")
    subset.add_argument("--pc", type=opt_type.positive_int, metavar="K",
                        help="principal component of --bin (1-based)")
    subset.add_argument("--bin", metavar="I/N", help="bin I (0-based) of N along --pc")
    subset.add_argument("--basin", type=opt_type.nonnegative_int, metavar="B",
                        help="particles nearest prior basin B (0-based)")
    subset.add_argument("--max-basins", type=opt_type.positive_int, default=10,
                        help="basins searched for --basin (default %(default)s)")
    deform = parser.add_argument_group("deformation-corrected reconstruction")
    deform.add_argument("--deform-to", nargs="+", metavar="TARGET",
                        help="reference | z FILE.npy | basin B")
    deform.add_argument("--deform-sigma", type=opt_type.positive_float, default=6.0,
                        help="width (A) of the Gaussian spreading residue "
                        "displacements to voxels (default %(default)s)")
    parser.add_argument("--seed", type=opt_type.seed, default=0,
                        help="seed of the half-set split when the particle "
                        "file has none (default %(default)s)")
    parser.add_argument("--pad", type=opt_type.positive_int, default=2,
                        help="Fourier padding factor (default %(default)s)")
    parser.add_argument("--batch-size", type=opt_type.positive_int, default=256,
                        help="particles back-projected at once (default %(default)s)")
    parser.add_argument("--particles", help="the run's particle file, when it "
                        "has moved since training (default: from config.json)")
    parser.add_argument("--datadir", help="folder of the particle stacks "
                        "(default: the training's --datadir when --particles is "
                        "not given, else found from the particle file's folder)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def request_of(args):
    """The options that decide what ``main`` makes (kept in run.json)."""
    absolute = (lambda p: str(Path(p).absolute()) if p else None)
    return {"run": absolute(args.run), "indices": absolute(args.indices),
            "clusters": args.clusters, "analysis": absolute(args.analysis),
            "pc": args.pc, "bin": args.bin, "basin": args.basin,
            "max_basins": args.max_basins, "deform_to": args.deform_to,
            "deform_sigma": args.deform_sigma, "seed": args.seed, "pad": args.pad}


def check_inputs(args):
    """Checks that need no torch; returns (claim action, parsed target).
    Writes nothing."""
    from ..deformable import parse_target
    from ..layout import RunLayout
    from ..outputs import claim, input_paths
    from ..selection import parse_bin, parse_labels
    RunLayout(args.run).require_finished()
    if (args.pc is None) != (args.bin is None):
        raise ValueError("--pc and --bin go together (bin I/N along component K)")
    if args.bin is not None:
        parse_bin(args.bin)
    if args.clusters is not None:
        parse_labels(args.clusters)
    target = parse_target(args.deform_to) if args.deform_to else None
    action = claim(args.out, "reconstruct", request_of(args), overwrite=args.overwrite,
                   keep=input_paths(args))
    return action, target


def main(args):
    action, target = check_inputs(args)
    from ..halfmaps import THRESHOLDS, half_sets
    from ..runs import TrainedRun
    from ..selection import RunLatents, run_particles
    from ..subset_choice import choose_subset, pixel_size
    latents = RunLatents(args.run, args.analysis)
    run = TrainedRun(args.run, args.device)
    selection = choose_subset(latents, run, args.indices, args.clusters, args.pc,
                              args.bin, args.basin, args.max_basins, args.seed)
    particles = run_particles(latents, args.particles, args.datadir, images=True)
    apix = pixel_size(particles, selection.indices)
    halves, source = half_sets(particles, args.seed)
    deformer = None
    if target is not None:
        from ..deformable import Deformer
        deformer = Deformer.for_run(run, target, args.deform_sigma, particles.box,
                                    apix, seed=args.seed)
    print("reconstructing %d of %d particles (%d px, %.3f A/px; half-sets: %s%s)"
          % (len(selection.indices), selection.n, particles.box, apix, source,
             "; deformed to %s" % deformer.describe() if deformer else ""))
    start = time.perf_counter()
    maps = _reconstruct(args, particles, selection.indices, halves, apix, deformer,
                        run)
    elapsed = time.perf_counter() - start
    _write(args, run, action, latents, selection, maps, source, deformer, elapsed)
    print("FSC of the half-maps: %.2f A at 0.143, %.2f A at 0.5 (%s)"
          % (maps.resolution(THRESHOLDS[0]), maps.resolution(THRESHOLDS[1]),
             Path(args.out)))


def _reconstruct(args, particles, indices, halves, apix, deformer, run):
    from ..halfmaps import reconstruct_halves
    if deformer is not None:
        from ..deformable import deformed_halves
        return deformed_halves(deformer, run, particles, indices, halves, apix,
                               batch=max(1, args.batch_size // 8), device=args.device)
    return reconstruct_halves(particles.images, particles.rotations, particles.shifts,
                              particles.ctf, apix, indices, halves, pad=args.pad,
                              batch=args.batch_size, device=args.device)


def _write(args, run, action, latents, selection, maps, source, deformer, elapsed):
    from ..density import map_origin, write_map
    from ..halfmaps import THRESHOLDS, decoded_comparison
    from ..io import save_array, save_json, write_text
    from ..layout import (DECODED_FSC_TABLE, DECODED_MAP, FSC_PLOT, FSC_TABLE,
                          FULL_MAP, HALF_MAPS, SELECTED_INDICES, SUMMARY)
    from ..outputs import created_folder, prepare
    from ..plots.figure import save_figure
    from ..plots.fsc import fsc_figure
    out = Path(args.out)
    D = maps.full.shape[0]
    origin = map_origin(run.centre, D, maps.apix)
    resolutions = {t: maps.resolution(t) for t in THRESHOLDS}
    curves = {"half-maps": (maps.frequency, maps.curve, resolutions)}
    with created_folder(out, refusals=(ValueError,)):
        prepare(out, "reconstruct", request_of(args), {"run": args.run}, action)
        for name, volume in zip(HALF_MAPS + (FULL_MAP,),
                                (maps.half1, maps.half2, maps.full)):
            write_map(out / name, volume, maps.apix, origin)
        write_text(out / FSC_TABLE, maps.table())
        save_array(out / SELECTED_INDICES, selection.indices)
        decoded = decoded_comparison(run, latents.z[selection.indices], maps) \
            if deformer is None else None
        if decoded is not None:
            write_map(out / DECODED_MAP, decoded.map, decoded.apix, decoded.origin)
            write_text(out / DECODED_FSC_TABLE, decoded.table)
            curves["map vs stage-2 map"] = (decoded.frequency, decoded.curve,
                                            decoded.resolutions)
            print("FSC against the stage-2 map at the subset's mean latent: "
                  "%.2f A at 0.5" % decoded.resolutions[0.5])
        save_figure(fsc_figure(curves), out / FSC_PLOT)
        summary = {
            "run": str(run.run_dir.absolute()), "n_particles": selection.n,
            "n_selected": int(len(selection.indices)), "criteria": selection.criteria,
            "half_sets": source, "half_counts": list(maps.counts),
            "box": int(D), "apix": maps.apix, "origin": [float(v) for v in origin],
            "resolution_0.143": resolutions[0.143], "resolution_0.5": resolutions[0.5],
            "seconds": round(elapsed, 2),
            "files": {"half1": HALF_MAPS[0], "half2": HALF_MAPS[1], "map": FULL_MAP,
                      "fsc": FSC_TABLE, "plot": FSC_PLOT, "indices": SELECTED_INDICES}}
        if deformer is not None:
            summary["deform_to"] = deformer.record()
        if decoded is not None:
            summary["decoded"] = {"map": DECODED_MAP, "fsc": DECODED_FSC_TABLE,
                                  "box": decoded.map.shape[0],
                                  "resolution_0.143": decoded.resolutions[0.143],
                                  "resolution_0.5": decoded.resolutions[0.5]}
        save_json(out / SUMMARY, summary)
