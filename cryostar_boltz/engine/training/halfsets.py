"""Half-set training (``train --half-sets``): two independent stage-1 runs,
one per half of the particles, beside the run on all of them, and the
report of how well they agree (:mod:`cryostar_boltz.engine.halfset_agreement`).

The halves follow the particle file (``rlnRandomSubset`` 1/2, or
cryoSPARC's ``alignments3D/split``), else a split seeded by the run's
``--seed`` (:func:`cryostar_boltz.engine.halfmaps.half_sets`, the split
``reconstruct`` uses, so both commands agree on which particle is in
which half). In the run folder::

    halves/split.npy           half-set (1 or 2) of every particle
    halves/half1.star half2.star  each half's particles (RELION star;
                               image names load from there; without the
                               half-set column, see :func:`half_particles`)
    half1/ half2/              ordinary run folders, trained on those files
                               with the run's options (seed + 1, seed + 2;
                               the values it derived for all particles, so
                               both halves train alike; each half's log and
                               config.json say so, and what they give on
                               its own particles)
    halves/agreement.json agreement.png   the agreement report

The halves train one after the other, after the run on all particles;
``--resume`` continues whichever is unfinished (a finished half is not
trained again) and writes the report when it is missing or a half changed.
"""
from dataclasses import replace

import numpy as np

from ..halfmaps import half_sets
from ..layout import RunLayout
from ..outputs import no_checkpoint
from .config import RESUME_OPTIONS, TrainConfig
from .derived import AUTO_FIELDS, restate_length, shared_reasons

#: Fewest particles a half-set may hold: the analysis of each half's run
#: clusters its latents into 10 k-means clusters.
MIN_HALF_PARTICLES = 10


def plan_halves(cfg, run_dir):
    """The particles (metadata), the half-set of each (n,) in {1, 2} and
    where it came from; ValueError naming the particle file when a half
    holds fewer than :data:`MIN_HALF_PARTICLES` particles or the file's
    half-set column holds other values, or naming the run's split when a
    resumed run's particles are now split otherwise. Torch-free; writes
    nothing."""
    from ..particles import load_particles
    from .config import input_path
    particles = load_particles(input_path(cfg, "particles"),
                               datadir=input_path(cfg, "datadir"), require_pose=False,
                               require_ctf=False, require_images=False)
    halves, source = half_sets(particles, cfg.seed)
    other = sorted(set(np.unique(halves).tolist()) - {1, 2})
    if other:
        raise ValueError("--half-sets: %s: %s holds %s; expected half-sets 1 and 2"
                         % (cfg.particles, source, other))
    counts = [int((halves == h).sum()) for h in (1, 2)]
    if min(counts) < MIN_HALF_PARTICLES:
        raise ValueError("--half-sets: %s has %d particles in half-set 1 and %d in "
                         "half-set 2 (%s): each half needs at least %d"
                         % (cfg.particles, counts[0], counts[1], source,
                            MIN_HALF_PARTICLES))
    saved = RunLayout(run_dir).half_split
    if saved.is_file():
        old = np.load(saved)
        if old.shape != halves.shape or not np.array_equal(old, halves):
            raise ValueError("%s: the particles of %s are now split into other "
                             "half-sets; train a new run" % (saved, cfg.particles))
    return particles, halves, source


def half_config(cfg, run_dir, half, particles):
    """The config of half-set run ``half`` (1 or 2) of ``particles``
    particles: the run's options on that half's particle file, seeded
    ``seed + half``. Options the run derived from the data (``derived``)
    keep the values it chose for all the particles (taken from its saved
    config when ``cfg`` has not been resolved), so a half never derives
    its own and both halves train alike; their reasons
    (``derived.shared_reasons``) say so and what the values give on the
    half's particles."""
    layout = RunLayout(run_dir)
    if cfg.derived is None:
        saved = TrainConfig.load(run_dir)
        cfg = replace(cfg, derived=saved.derived, preset=saved.preset,
                      **{k: getattr(saved, k) for k in AUTO_FIELDS})
    reasons = shared_reasons(cfg.derived, {k: getattr(cfg, k) for k in AUTO_FIELDS},
                             particles)
    return replace(cfg, particles=str(layout.half_particles(half).absolute()),
                   datadir=None, half_sets=False, seed=cfg.seed + half, derived=reasons)


def half_particles(particles, mask):
    """The particles of one half-set (``mask``) without the file's half-set
    column (``rlnRandomSubset``, cryoSPARC's ``alignments3D/split``): every
    particle of a half is in that half, so a command on the half's run
    (``reconstruct``'s half-maps) splits them anew, seeded."""
    from dataclasses import replace as copy
    from numpy.lib import recfunctions
    sub = particles.subset(mask)
    table = {k: v for k, v in sub.table.items() if k != "rlnRandomSubset"}
    raw = sub.raw
    if raw is not None and raw.dtype.names and "alignments3D/split" in raw.dtype.names:
        raw = recfunctions.drop_fields(raw, "alignments3D/split", usemask=False)
    return copy(sub, table=table, raw=raw)


def half_finished(run_dir, epochs):
    """Whether the half-set run folder ``run_dir`` finished ``epochs``."""
    layout = RunLayout(run_dir)
    return layout.is_finished() and TrainConfig.load(run_dir).epochs >= epochs


def train_halves(cfg, run_dir, log=print):
    """Write the split and the halves' particle files, train (or resume)
    each half-set run that has not finished, then the agreement report;
    returns the report (a dict)."""
    from ..io import save_array
    from ..particles import write_particles_star
    from .stage1 import run_training
    layout = RunLayout(run_dir)
    particles, halves, source = plan_halves(cfg, run_dir)
    layout.halves.mkdir(parents=True, exist_ok=True)
    save_array(layout.half_split, halves.astype(np.int64))
    for half in (1, 2):
        if not layout.half_particles(half).is_file():
            write_particles_star(layout.half_particles(half),
                                 half_particles(particles, halves == half))
    trained = False
    for half in (1, 2):
        folder = layout.half_run(half).root
        hcfg = half_config(cfg, run_dir, half, int((halves == half).sum()))
        if half_finished(folder, hcfg.epochs):
            log("half-set %d: finished (%s)" % (half, folder))
            continue
        resume = folder.is_dir() and not no_checkpoint(folder)
        if resume:
            hcfg = TrainConfig.for_resume(
                folder, {k: getattr(cfg, k) for k in RESUME_OPTIONS})
        # the warm-up's reasons, the half's and the full set's it quotes,
        # for this length (a resume may give another --epochs)
        restate_length(hcfg, int((halves == half).sum()), len(halves))
        log("half-set %d: training on %d particles (%s)"
            % (half, int((halves == half).sum()), folder))
        run_training(hcfg, folder, resume=resume, overwrite=folder.exists() and not resume,
                     log=lambda text, h=half: log("half %d: %s" % (h, text)))
        trained = True
    if not _is_main():
        return None  # torchrun: the main process writes the report
    from ..halfset_agreement import report
    if trained or not layout.agreement.is_file():
        return report(run_dir, source, device=_device(cfg), seed=cfg.seed, log=log)
    from ..io import read_json
    return read_json(layout.agreement)


def _is_main():
    import os
    return int(os.environ.get("RANK", "0")) == 0


def _device(cfg):
    from .distributed import resolve_device
    return str(resolve_device(cfg.device, 0))
