"""Which particles a reconstruction takes: every criterion of ``selection``
(indices file, clusters, a bin along a principal path, a prior basin) in
one call, all particles when none is given, and the one pixel size they
share."""
import numpy as np

from .selection import (Selection, basin_mask, indices_mask, parse_bin,
                        parse_labels, pc_bin_mask, select_particles)


def choose_subset(latents, run=None, indices=None, clusters=None, pc=None,
                  bin=None, basin=None, max_basins=10, seed=0):
    """The :class:`~cryostar_boltz.engine.selection.Selection` meeting every
    criterion given: rows of the .npy ``indices``; ``clusters`` (text such
    as ``0,2``) of the analysis of ``latents``; bin ``bin`` (text ``I/N``)
    along principal component ``pc``; prior basin ``basin`` of the run
    ``run`` (a ``TrainedRun``, for its prior). None given: every particle.
    ValueError naming the option for a bad criterion or an empty subset."""
    n = len(latents.z)
    masks = []
    if indices is not None:
        masks.append(indices_mask(indices, n))
    if (pc is None) != (bin is None):
        raise ValueError("--pc and --bin go together (bin I/N along component K)")
    if pc is not None:
        masks.append(pc_bin_mask(latents, int(pc), *parse_bin(bin)))
    if basin is not None:
        codes = None
        if run.layout.codes.is_file():
            codes = np.load(run.layout.codes)
        masks.append(basin_mask(latents, run.prior, int(basin), max_basins, codes, seed))
    labels = parse_labels(clusters) if clusters is not None else None
    if not masks and not labels:
        return Selection(np.arange(n), n, [])
    return select_particles(latents, clusters=labels, masks=masks)


def pixel_size(particles, indices):
    """The pixel size (Angstrom) of the particles ``indices``; ValueError
    naming the particle file when they have several (optics groups of
    different pixel sizes cannot share one map)."""
    apix = np.unique(np.round(np.asarray(particles.apix)[indices], 6))
    if len(apix) != 1:
        raise ValueError("%s: the subset's particles have pixel sizes %s A; one "
                         "map needs one pixel size (rescale the optics groups "
                         "to one first)" % (particles.path,
                                            ", ".join("%g" % a for a in apix)))
    return float(apix[0])
