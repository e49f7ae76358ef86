"""Train the density decoder (stage 2) of a finished stage-1 run.

The decoder learns a map for every latent: the stage-1 latents of the
particles (RUN/z.npy) stay fixed, and each particle's central slice of the
decoded map, times its CTF, is fitted to the particle in Fourier space.
Everything lands in RUN/density/ (run.json, config.json, run.log,
metrics.csv, checkpoints/, model.pt); maps are then written by 'generate' or the Python API
(TrainedDensity). The defaults follow the method (width 1024, three
residual blocks); on a CPU use a smaller --hidden and --box.

Examples:

    cryostar-boltz train-density --run run1 --epochs 20

    # faster, smaller decoder on a 64 px box
    cryostar-boltz train-density --run run1 --box 64 --hidden 256

    # leave out the particles stage 1's pose screen flagged (junk score > 2)
    cryostar-boltz train-density --run run1 --exclude-junk

    # continue a killed run, or train a finished one 10 more epochs
    cryostar-boltz train-density --run run1 --resume --epochs 30

    # 2 GPUs with torchrun
    torchrun --nproc_per_node 2 -m cryostar_boltz.engine.cli train-density --run run1
"""
from .. import options as opt_type
from ..particle_scores import DEFAULT_JUNK_Z
from ..training.config import DensityConfig

_DEFAULTS = DensityConfig()
#: option name -> (type, help); every default is None so that --resume can
#: tell what was given.
_OPTIONS = {
    "box": (opt_type.even_box, "downsample the particles to this box (default: the "
                 "stage-1 box)"),
    "hidden": (opt_type.positive_int, "decoder width (default %d)" % _DEFAULTS.hidden),
    "layers": (opt_type.positive_int, "residual blocks (default %d)" % _DEFAULTS.layers),
    "pe_dim": (opt_type.positive_int, "random frequencies per axis of the positional encoding "
                    "(default: box // 2)"),
    "feat_sigma": (opt_type.positive_float, "width of the random frequencies, in units of "
                          "box / 2 (default %g)" % _DEFAULTS.feat_sigma),
    "epochs": (opt_type.positive_int, "default %d" % _DEFAULTS.epochs),
    "batch_size": (opt_type.positive_int, "global batch size, split over processes (default %d)"
                        % _DEFAULTS.batch_size),
    "lr": (opt_type.positive_float, "learning rate (default %g)" % _DEFAULTS.lr),
    "weight_decay": (opt_type.nonnegative_float, "default %g" % _DEFAULTS.weight_decay),
    "seed": (opt_type.seed, "default %d" % _DEFAULTS.seed),
    "device": (str, "auto (default), cpu, cuda or cuda:N"),
    "threads": (opt_type.nonnegative_int, "CPU threads per process (0: auto, the free "
                "cores shared among the node's processes; the run log says what it chose)"),
    "checkpoint_every": (opt_type.nonnegative_int, "also checkpoint every N steps (default: per "
                              "epoch)"),
}


#: Checks whose values are integers (shown as N in the help).
INTEGER_CHECKS = (opt_type.even_box, opt_type.positive_int, opt_type.nonnegative_int,
                  opt_type.seed)


def add_args(parser):
    parser.add_argument("--run", required=True, help="stage-1 run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue RUN/density from its last checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a density run already in RUN/density")
    for name, (kind, text) in _OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        extra = {"metavar": "N"} if kind in INTEGER_CHECKS else {}
        if name == "batch_size":
            parser.add_argument("-b", flag, type=kind, help=text, **extra)
        else:
            parser.add_argument(flag, type=kind, help=text, **extra)
    parser.add_argument("--exclude-junk", nargs="?", const=DEFAULT_JUNK_Z, default=None,
                        type=opt_type.positive_float, metavar="Z",
                        help="leave out the particles whose stage-1 junk score "
                        "(RUN/junk_score.npy: their poses fit no better than "
                        "random ones) is above Z (%g when given alone; default: "
                        "train on every particle)" % DEFAULT_JUNK_Z)
    parser.add_argument("--amp", action="store_true", default=None,
                        help="bfloat16 decoder on GPUs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _given(args):
    names = list(_OPTIONS) + ["amp", "exclude_junk"]
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def check_inputs(run, resume=False, overwrite=False):
    """Checks that need no torch: ``run`` is a finished stage-1 run and
    its ``density/`` may take this run (``outputs.claim``). Nothing is
    written."""
    from ..layout import RunLayout
    from ..outputs import claim
    from ..layout import LATENTS, MODEL
    layout = RunLayout(run)
    if layout.config.is_file() and not (layout.model.is_file() and layout.latents.is_file()):
        raise FileNotFoundError(
            "%s: stage 1 has not finished (no %s or %s): finish it with "
            "'cryostar-boltz train --resume --out %s'" % (run, MODEL, LATENTS, run))
    layout.require_finished()
    if resume and overwrite:
        raise ValueError("--resume continues the density run of %s and "
                         "--overwrite replaces it: give one of them" % run)
    claim(RunLayout(run).density, "train-density", {}, overwrite=overwrite,
          resume=resume, option=None)


def main(args):
    from pathlib import Path

    from ..layout import RunLayout
    given = _given(args)
    check_inputs(args.run, args.resume, args.overwrite)
    if args.resume:
        cfg = DensityConfig.for_resume(RunLayout(args.run).density, given)
        cfg.run = str(args.run)
    else:
        cfg = DensityConfig(run=str(Path(args.run)), **given)
    from ..training.stage2 import run_density_training  # torch: after the checks
    out = run_density_training(cfg, resume=args.resume, overwrite=args.overwrite)
    print("density run: %s (model.pt; maps with 'cryostar-boltz generate')" % out)

