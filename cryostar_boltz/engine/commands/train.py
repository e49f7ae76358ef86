"""Train the structure-guided VAE (stage 1) on particles with poses and CTF.

Every option lands in RUN/config.json. Options marked "auto" (rendering,
low-pass, batch, learning rate and schedule, epochs, KL warm-up, elastic
weights and kept edges, the pose screen's threshold, the encoder's input
and box) are derived from the data when training starts, and the log
(kept in RUN/run.log) and config.json (``derived``) say what was chosen
and why; --preset cryostar
sets them to the published CryoSTAR values instead. A value given always
wins. The reference model must sit in the particle box: either
centred on the box, or docked into the consensus map given with --map.
Checkpoints are written each epoch (and every --checkpoint-every steps);
--resume continues a killed or finished run from its last checkpoint (give
a larger --epochs to train a finished run further).

The run folder belongs to its run (RUN/run.json records which): training
into a folder that holds another run's outputs is refused; --overwrite
replaces them (every file the engine writes there, only those), after
every input has been checked. A refused run writes nothing and prints
only its one error line: the run's log (threads, derived options...)
starts once every input is accepted.

Examples:

    cryostar-boltz train --particles particles.star --reference ref.pdb \\
        --out run1 --box 64

    # the published CryoSTAR method exactly, with 30 epochs
    cryostar-boltz train --particles particles.star --reference ref.pdb \\
        --out run1c --box 64 --preset cryostar --epochs 30

    # reference docked in the consensus map, cryoSPARC particles
    cryostar-boltz train --particles J42_particles.cs --datadir J42 \\
        --reference model.cif --map J42_map.mrc --out run2

    # continue a killed run, or train a finished one 10 more epochs
    cryostar-boltz train --resume --out run1 --epochs 30

    # also train one run per half-set (run3/half1, run3/half2) and report
    # how well they agree (run3/halves/agreement.json)
    cryostar-boltz train --particles particles.star --reference ref.pdb \\
        --out run3 --half-sets

    # only chain B may move, and the loss sees where its mask projects
    cryostar-boltz train --particles particles.star --reference complex.pdb \\
        --map consensus.mrc --mask chainB_mask.mrc --move B --out run4

    # rigid domains: given, or found in the reference (RUN/domains.json)
    cryostar-boltz train ... --motion domains --domains "A:1-120;A:121-214"
    cryostar-boltz train ... --motion domains --num-domains 3

    # 2 GPUs (or CPU processes) with torchrun
    torchrun --nproc_per_node 2 -m cryostar_boltz.engine.cli train ...
"""
from .. import options as opt_type
from ..structure.formats import FORMAT_CHOICES
from ..training.halfsets import half_finished
from ..training.config import (ENCODER_INPUTS, LR_SCHEDULES, MOTIONS, POSE_SEARCHES,
                               PRIOR_NAMES, PSEUDO_ATOM_MODES, RESUME_OPTIONS, TrainConfig,
                               config_from_args)
from ..training.derived import PRESETS, PUBLISHED, RULES

_DEFAULTS = TrainConfig()


def auto(name, what=""):
    """Help text of an option derived when left unset: ``what`` it is, the
    rule (``derived.RULES``) and the published value (``--preset cryostar``)."""
    published = PUBLISHED[name]
    return ("%sdefault auto: %s; published (--preset cryostar): %s"
            % (what + " " if what else "", RULES[name],
               "none" if published is None else published)).replace("%", "%%")


def add_args(parser):
    d = _DEFAULTS
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--particles", help="RELION star or cryoSPARC .cs with "
                    "poses and CTF")
    io.add_argument("--datadir", help="folder of the particle stacks when "
                    "their paths are not found from the star/.cs folder "
                    "(default: none)")
    io.add_argument("--reference", help="reference atomic model (PDB/mmCIF)")
    io.add_argument("--map", help="consensus map the reference is docked "
                    "into (its origin, voxel size and box place the model)")
    io.add_argument("-o", "--out", required=True, help="run folder")
    io.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its last checkpoint")
    io.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                    help="structure files the run writes: pdb, cif (mmCIF), "
                    "or auto (default: PDB when a PDB file holds the "
                    "reference's chain ids, residue numbers and atoms "
                    "exactly, else mmCIF); pdb is refused before training "
                    "for a model it cannot hold")
    io.add_argument("--overwrite", action="store_true",
                    help="replace the run (or other engine outputs) already "
                    "in --out")
    io.add_argument("--preset", choices=PRESETS, default=None,
                    help="auto (default): the options left unset are derived "
                    "from the data (the recommended settings; the log and "
                    "config.json say what each is and why); cryostar: they "
                    "take the published CryoSTAR values (Li et al. 2024)")
    io.add_argument("--half-sets", action="store_true",
                    help="also train one run per half-set (rlnRandomSubset or "
                    "cryoSPARC's split, else a split seeded by --seed) in "
                    "RUN/half1 and RUN/half2, and report how well they agree "
                    "(RUN/halves/agreement.json)")
    focus = parser.add_argument_group("focus: what the loss sees and what may move")
    focus.add_argument("--mask", help="focus mask (MRC, values 0..1, soft edge) on "
                       "the grid of the consensus map (--map), or of the particle box "
                       "without --map: the image loss counts the pixels where it "
                       "projects with each particle's pose; particles that see less "
                       "than one resolution element of it in the loss circle are left "
                       "out of the image loss, and a mask that leaves none is refused "
                       "(default: no mask)")
    focus.add_argument("--move", metavar="SELECTION",
                       help="the residues that may move, as chains and residue "
                       "ranges, comma-separated ('B', 'A:120-250,B'); the rest stay "
                       "exactly at the reference (default: all move)")
    focus.add_argument("--motion", choices=MOTIONS, default=None,
                       help="free: a displacement per residue (default, the "
                       "published method); domains: one rigid transform per domain "
                       "(--domains, or found by spectral clustering of the elastic "
                       "network), the restraints holding the hinges")
    focus.add_argument("--domains", metavar="SELECTIONS",
                       help="with --motion domains: the domains, selections "
                       "separated by ';' ('A:1-120;A:121-214'); default: found "
                       "automatically (RUN/domains.json)")
    focus.add_argument("--num-domains", type=opt_type.at_least(2),
                       help="with --motion domains and no --domains: how many "
                       "domains to find (default: the largest relative eigengap "
                       "of the elastic network, 2 to 8)")
    data = parser.add_argument_group("data")
    data.add_argument("--box", type=opt_type.even_box, help="downsample the particles to "
                      "this box (Fourier cropping; default: no downsampling)")
    data.add_argument("--low-pass", type=opt_type.positive_float, default=None,
                      help=auto("low_pass", "low-pass bandwidth of the image loss "
                                "(Angstrom), below the training box's width;"))
    data.add_argument("--mask-radius", type=opt_type.fraction, default=d.mask_radius,
                      help="loss mask radius, fraction of the half box; the "
                      "circle must hold one resolution element of the low-pass "
                      "(default %(default)s)")
    model = parser.add_argument_group("model and prior")
    model.add_argument("--latent-dim", type=opt_type.positive_int, default=d.latent_dim,
                       help="dimensions of the latent code z (default %(default)s)")
    model.add_argument("--sigma", type=opt_type.positive_float, default=None,
                       help="Gaussian width (Angstrom) of each rendered point "
                       "(default: 2, a residue's; with --pseudo-atoms atoms an "
                       "atom's, 1 widened by the pixel); below the box width")
    model.add_argument("--pseudo-atoms", choices=("auto",) + PSEUDO_ATOM_MODES,
                       default=None,
                       help=auto("pseudo_atoms", "render each residue's Gaussian "
                                 "at its CA (C1' for nucleotides) as the published "
                                 "method does, at its heavy-atom centroid carried "
                                 "by the backbone, or render every heavy atom "
                                 "carried by its residue (about 8x the projection "
                                 "work);"))
    model.add_argument("--encoder-input", choices=("auto",) + ENCODER_INPUTS,
                       default=None,
                       help=auto("encoder_input", "the encoder's input: aligned, or "
                                 "raw (the image as recorded);"))
    model.add_argument("--encoder-box", type=opt_type.box_or_whole, default=None,
                       metavar="PX",
                       help=auto("encoder_box", "the box the encoder's images are "
                                 "Fourier-cropped to: an even number of pixels up "
                                 "to the training box, or 0 for all of it;"))
    model.add_argument("--encoder-hidden", type=opt_type.layer_widths,
                       default=d.encoder_hidden, metavar="W1,W2,...",
                       help="the encoder's hidden-layer widths (default %s, the "
                       "published)" % ",".join(map(str, d.encoder_hidden)))
    model.add_argument("--prior", default=d.prior, choices=PRIOR_NAMES,
                       help="latent prior: gaussian, gmm, grbm, rbm or ebm "
                       "(default %(default)s)")
    model.add_argument("--prior-lr", type=opt_type.positive_float, default=None,
                       help="learning rate of the prior's parameters "
                       "(default: 10 x --lr)")
    model.add_argument("--prior-fit-steps", type=opt_type.nonnegative_int, default=d.prior_fit_steps,
                       help="after training, fit the prior to the particles' "
                       "posteriors for at most this many steps, fewer once it "
                       "has converged; the ebm takes 3 times as many, every one "
                       "(0: off; default %(default)s)")
    model.add_argument("--prior-option", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="prior option (repeatable), e.g. components=3 (gmm; "
                       "default 8 components), hidden=16 (grbm, rbm; default 8 "
                       "hidden units), visible=4 (rbm; default 8 visible units), "
                       "width=64 (ebm; default 128 units per layer); the other "
                       "options keep each prior's defaults")
    loss = parser.add_argument_group("losses")
    loss.add_argument("--continuity-weight", type=opt_type.nonnegative_float,
                      default=d.continuity_weight,
                      help="weight of the chain-continuity restraint (default %(default)s)")
    loss.add_argument("--elastic-weight", type=opt_type.nonnegative_float, default=None,
                      help=auto("elastic_weight", "elastic-network weight (at the "
                                "start of the run);"))
    loss.add_argument("--clash-weight", type=opt_type.nonnegative_float,
                      default=d.clash_weight,
                      help="weight of the clash restraint (default %(default)s)")
    loss.add_argument("--elastic-cutoff", type=opt_type.positive_float, default=d.elastic_cutoff,
                      help="elastic network edges: same-chain pairs closer "
                      "than this (Angstrom; default %(default)s)")
    loss.add_argument("--elastic-keep", type=opt_type.fraction, default=None,
                      help=auto("elastic_keep", "per chain, keep the edges below "
                                "this quantile of error variance (lower frees large "
                                "domain motions);"))
    loss.add_argument("--elastic-tolerance", type=opt_type.nonnegative_float, default=d.elastic_tolerance,
                      help="Angstrom an elastic edge may stretch or shrink "
                      "for free (a flat-bottomed well; default 0, the "
                      "published harmonic loss)")
    loss.add_argument("--elastic-weight-final", type=opt_type.nonnegative_float, default=None,
                      help=auto("elastic_weight_final", "decay the elastic-network "
                                "weight to this value over the run (cosine; the "
                                "value of --elastic-weight keeps it constant);"))
    loss.add_argument("--free-bits", type=opt_type.nonnegative_float, default=d.free_bits,
                      help="Gaussian prior: each latent dimension's KL, averaged "
                      "over the batch, counts at least this many nats (free "
                      "bits; default %(default)s)")
    loss.add_argument("--kl-beta", type=opt_type.nonnegative_float, default=d.kl_beta,
                      help="final weight of the KL term (default %(default)s)")
    loss.add_argument("--kl-warmup", type=opt_type.nonnegative_int, default=None,
                      help=auto("kl_warmup", "steps over which the KL weight rises "
                                "to --kl-beta;"))
    loss.add_argument("--outlier-z", type=opt_type.screen_threshold, default=None,
                      help=auto("outlier_z", "pose screening: in the first epoch and "
                                "at a quarter of the run, particles whose pose "
                                "contrast (own pose against random orientations) "
                                "lies more than this many robust SDs above the "
                                "median (wrong poses, junk) leave the image loss; "
                                "0 keeps every particle, else at least 1;"))
    loss.add_argument("--pose-search", choices=("auto",) + POSE_SEARCHES, default=None,
                      help=auto("pose_search", "after training, search the poses of "
                                "the particles whose junk score lies above "
                                "--outlier-z (flagged) and take their latents from "
                                "the searched poses where those fit better, once the "
                                "same search finds the poses of kept particles, or "
                                "not (off); searched_poses.npz in the run records "
                                "them;"))
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=opt_type.positive_int, default=None,
                     help=auto("epochs", "passes over the particles (with --resume: "
                               "the total, default the run's);"))
    opt.add_argument("-b", "--batch-size", type=opt_type.positive_int, default=None,
                     help=auto("batch_size", "global batch size (split over "
                               "processes);"))
    opt.add_argument("--lr", type=opt_type.positive_float, default=None,
                     help=auto("lr", "AdamW learning rate;"))
    opt.add_argument("--weight-decay", type=opt_type.nonnegative_float,
                     default=d.weight_decay,
                     help="AdamW weight decay of the networks (default %(default)s)")
    opt.add_argument("--lr-schedule", choices=("auto",) + LR_SCHEDULES,
                     default=None,
                     help=auto("lr_schedule", "constant, or a cosine decay to 10% "
                               "of --lr over the run;"))
    opt.add_argument("--seed", type=opt_type.seed, default=d.seed,
                     help="random seed of the networks, batches and noise "
                     "(default %(default)s)")
    opt.add_argument("--device", default=None,
                     help="auto (default), cpu, cuda or cuda:N")
    opt.add_argument("--threads", type=opt_type.nonnegative_int, default=None,
                     help="CPU threads per process (0, the default: auto, the free "
                     "cores (cores less the load average) shared among the "
                     "node's processes, at most 8; the run log says what it chose)")
    opt.add_argument("--amp", action="store_true",
                     help="bfloat16 networks (faster on GPUs and on CPUs "
                     "with AVX512-BF16; projection and losses stay float32)")
    opt.add_argument("--checkpoint-every", type=opt_type.nonnegative_int, default=None,
                     help="also checkpoint every N steps (default: per epoch)")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks")



def check_inputs(cfg, out, resume=False, overwrite=False):
    """Every check that needs no torch: the input files exist and ``out``
    may take this run (``outputs.claim``); ValueError or FileNotFoundError
    naming the option and the file. Nothing is written."""
    from pathlib import Path

    from ..outputs import claim
    from ..training.config import input_path
    for option, name, kind in (("--particles", "particles", "file"),
                               ("--reference", "reference", "file"),
                               ("--map", "map", "file"),
                               ("--mask", "mask", "file"),
                               ("--datadir", "datadir", "folder")):
        path = input_path(cfg, name)  # a resumed run's paths: from its workdir
        if path is None:
            continue
        found = Path(path).is_dir() if kind == "folder" else Path(path).is_file()
        if not found:
            raise FileNotFoundError("%s %s: %s not found" % (option, path, kind))
    if resume and overwrite:
        raise ValueError("--resume continues the run in %s and --overwrite "
                         "replaces it: give one of them" % out)
    claim(out, "train", {}, overwrite=overwrite, resume=resume,
          keep=[input_path(cfg, name) for name in ("particles", "reference", "map",
                                                    "mask", "datadir")])


def resume_overrides(args):
    """The options given with --resume: those of ``RESUME_OPTIONS`` that are
    set, and any other whose value differs from its default (which
    ``TrainConfig.for_resume`` then refuses, naming it, rather than
    silently keeping the run's saved value)."""
    import argparse
    parser = argparse.ArgumentParser()
    add_args(parser)
    defaults = {a.dest: a.default for a in parser._actions}
    given = {}
    for key, value in vars(args).items():
        if key in ("out", "resume", "overwrite", "debug", "func", "command"):
            continue
        if key in RESUME_OPTIONS:
            if value is not None:
                given[key] = value
        elif key in defaults and value != defaults[key]:
            given[key] = value
    return given


def resume_config(args):
    """The saved config of the run in ``--out`` with the options given
    (``resume_overrides``); ``--half-sets`` is accepted when the run was
    trained with it and refused, naming the run, when it was not."""
    overrides = resume_overrides(args)
    half_sets = overrides.pop("half_sets", False)
    cfg = TrainConfig.for_resume(args.out, overrides)
    if half_sets and not cfg.half_sets:
        raise ValueError("--half-sets: %s was trained without half-sets and --resume "
                         "keeps a run's options; train a new run with --half-sets"
                         % args.out)
    return cfg


def main(args):
    if args.resume:   # the folder first: a missing one has no config to read
        from ..outputs import claim
        claim(args.out, "train", {}, resume=True)
    cfg = resume_config(args) if args.resume else config_from_args(args)
    check_inputs(cfg, args.out, args.resume, args.overwrite)
    if cfg.half_sets:
        from ..training.halfsets import plan_halves
        # refuses a split it cannot train, writing nothing
        _, halves, _ = plan_halves(cfg, args.out)
        from ..priors import build_prior
        smaller = min(int((halves == h).sum()) for h in (1, 2))
        try:
            build_prior(cfg.prior, cfg.latent_dim, **cfg.prior_options).check_particles(smaller)
        except ValueError as err:
            raise ValueError("--half-sets: %s: a half-set of %d particles: %s"
                             % (cfg.particles, smaller, err)) from None
    from ..training.stage1 import run_training  # torch: after the checks
    if cfg.half_sets and args.resume and half_finished(args.out, cfg.epochs):
        print("run on all particles: finished (%s)" % args.out)
    else:
        run_training(cfg, args.out, resume=args.resume, overwrite=args.overwrite)
    print("run folder: %s (z.npy, model.pt, analysis/)" % args.out)
    if cfg.half_sets:
        from ..training.halfsets import train_halves
        train_halves(cfg, args.out)
        print("half-set runs: %s/half1, %s/half2; agreement: %s/halves/agreement.json"
              % (args.out, args.out, args.out))
