"""Train the density decoder (stage 2) of a finished stage-1 run.

The decoder learns a map for every latent: the stage-1 latents of the
particles (RUN/z.npy) stay fixed, and each particle's central slice of the
decoded map, times its CTF, is fitted to the particle in Fourier space.
Everything lands in RUN/density/ (config.json, metrics.csv, checkpoints/,
model.pt); maps are then written by 'generate' or the Python API
(TrainedDensity). The defaults follow the method (width 1024, three
residual blocks); on a CPU use a smaller --hidden and --box.

Examples:

    cryostar-boltz train-density --run run1 --epochs 20

    # faster, smaller decoder on a 64 px box
    cryostar-boltz train-density --run run1 --box 64 --hidden 256

    # continue a killed run, or train a finished one 10 more epochs
    cryostar-boltz train-density --run run1 --resume --epochs 30

    # 2 GPUs with torchrun
    torchrun --nproc_per_node 2 -m cryostar_boltz.engine.cli train-density --run run1
"""
from ..training.config import DensityConfig

_DEFAULTS = DensityConfig()
#: option name -> (type, help); every default is None so that --resume can
#: tell what was given.
_OPTIONS = {
    "box": (int, "downsample the particles to this box (default: the "
                 "stage-1 box)"),
    "hidden": (int, "decoder width (default %d)" % _DEFAULTS.hidden),
    "layers": (int, "residual blocks (default %d)" % _DEFAULTS.layers),
    "pe_dim": (int, "random frequencies per axis of the positional encoding "
                    "(default: box // 2)"),
    "feat_sigma": (float, "width of the random frequencies, in units of "
                          "box / 2 (default %g)" % _DEFAULTS.feat_sigma),
    "epochs": (int, "default %d" % _DEFAULTS.epochs),
    "batch_size": (int, "global batch size, split over processes (default %d)"
                        % _DEFAULTS.batch_size),
    "lr": (float, "learning rate (default %g)" % _DEFAULTS.lr),
    "weight_decay": (float, "default %g" % _DEFAULTS.weight_decay),
    "seed": (int, "default %d" % _DEFAULTS.seed),
    "device": (str, "auto (default), cpu, cuda or cuda:N"),
    "threads": (int, "CPU threads per process (0: torch's default)"),
    "checkpoint_every": (int, "also checkpoint every N steps (default: per "
                              "epoch)"),
}


def add_args(parser):
    parser.add_argument("--run", required=True, help="stage-1 run folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue RUN/density from its last checkpoint")
    for name, (kind, text) in _OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        extra = {"metavar": "N"} if kind is int else {}
        if name == "batch_size":
            parser.add_argument("-b", flag, type=kind, help=text, **extra)
        else:
            parser.add_argument(flag, type=kind, help=text, **extra)
    parser.add_argument("--amp", action="store_true", default=None,
                        help="bfloat16 decoder on GPUs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _given(args):
    names = list(_OPTIONS) + ["amp"]
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def main(args):
    from ..training.stage2 import resume_density_config, run_density_training
    given = _given(args)
    if args.resume:
        cfg = resume_density_config(args.run, given)
    else:
        for key in ("hidden", "layers", "epochs", "batch_size", "box"):
            if key in given and given[key] < 1:
                raise ValueError("--%s must be positive, got %s"
                                 % (key.replace("_", "-"), given[key]))
        cfg = DensityConfig(run=args.run, **given)
    out = run_density_training(cfg, resume=args.resume)
    print("density run: %s (model.pt; maps with 'cryostar-boltz generate')" % out)

