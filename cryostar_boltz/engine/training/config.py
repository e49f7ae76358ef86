"""Every option of a training run, saved in its folder (``config.json``).

Torch-free: Scipion's process reads the defaults from here.

Stage-1 defaults follow the published CryoSTAR method (Li et al. 2024):
latent dimension 8, encoder 512-256-128-64-32, decoder mirrored, sigma 2 A,
mask radius 0.9375 of the half box, continuity, elastic network (12 A,
keep the 0.99 quantile) and clash (4 A) weights 1, KL free bits 3 nats with
beta rising to 0.5 over 10,000 steps, AdamW at 1e-4, batch 64. Stage-2
defaults follow cryoDRGN's decoder as the method uses it: width 1024,
three residual blocks, D//2 random frequencies per axis with sigma 0.5,
batch 8, Adam at 1e-4.
"""
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from ..io import write_text
from ..layout import CONFIG

#: Options a ``--resume`` may change; everything else keeps its saved value.
RESUME_OPTIONS = ("epochs", "device", "threads", "checkpoint_every")


class SavedConfig:
    """JSON round trip of a dataclass of options, saved as ``FOLDER/config.json``
    (tuples come back as tuples)."""
    #: What the folder is, for the error on a folder without a config.
    run_kind = "training run"

    def to_json(self):
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, run_dir):
        return write_text(Path(run_dir) / CONFIG, self.to_json() + "\n")

    @classmethod
    def load(cls, run_dir):
        """The config saved in ``run_dir``: FileNotFoundError without one,
        ValueError naming the file for options this version does not know."""
        path = Path(run_dir) / CONFIG
        if not path.exists():
            raise FileNotFoundError("%s: no %s: not a %s folder"
                                    % (run_dir, CONFIG, cls.run_kind))
        values = json.loads(path.read_text())
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError("%s: unknown options %s" % (path, unknown))
        for key, value in values.items():
            if isinstance(known[key].default, tuple) and isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    @classmethod
    def for_resume(cls, run_dir, overrides):
        """The config saved in ``run_dir`` with ``overrides`` (a dict) of
        :data:`RESUME_OPTIONS` applied; ValueError for any other option."""
        cfg = cls.load(run_dir)
        for key, value in overrides.items():
            if key not in RESUME_OPTIONS:
                raise ValueError("--resume continues %s with its saved options; "
                                 "%s cannot change (allowed: %s)"
                                 % (run_dir, key, ", ".join(RESUME_OPTIONS)))
            setattr(cfg, key, value)
        return cfg

    @classmethod
    def from_options(cls, **options):
        """A config from option values named as its fields; a None value
        means the field's default. Unknown names raise a ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError("unknown %s options %s" % (cls.__name__, unknown))
        return cls(**{k: v for k, v in options.items() if v is not None})

    def differences(self, other):
        """Options whose values differ (for refusing an inconsistent resume)."""
        a, b = asdict(self), asdict(other)
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


@dataclass
class LoopOptions(SavedConfig):
    """Options of the epoch loop both training stages share
    (``training.loop.EpochTrainer``); each stage sets its own defaults."""
    epochs: int = 20
    batch_size: int = 64               # global batch, split over processes
    lr: float = 1e-4
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    amp: bool = False                  # bfloat16 networks
    checkpoint_every: int = 0          # steps; 0: at the end of each epoch only
    max_bad_steps: int = 20            # consecutive non-finite losses tolerated


@dataclass
class TrainConfig(LoopOptions):
    """Every option of a stage-1 run (``RUN/config.json``)."""
    # inputs
    particles: str = ""
    reference: str = ""
    map: Optional[str] = None
    datadir: Optional[str] = None
    # data
    box: Optional[int] = None          # downsampled box; None: the particles'
    low_pass: float = 10.0             # Angstrom; the hard low-pass bandwidth
    mask_radius: float = 0.9375        # fraction of the half box
    # model
    latent_dim: int = 8
    encoder_hidden: tuple = (512, 256, 128, 64, 32)
    decoder_hidden: tuple = (32, 64, 128, 256, 512)
    sigma: Optional[float] = None      # Gaussian width (A); None: per rendering
    pseudo_atoms: str = "ca"           # render at the CA, "centroid" or "atoms"
    # prior
    prior: str = "gaussian"
    prior_options: dict = field(default_factory=dict)
    prior_lr: Optional[float] = None    # learning rate of the prior; None: 10 x lr
    prior_fit_steps: int = 500         # final fit of the prior to the posteriors
    # losses
    continuity_weight: float = 1.0
    elastic_weight: float = 1.0
    clash_weight: float = 1.0
    elastic_cutoff: float = 12.0
    elastic_keep: float = 0.99
    elastic_tolerance: float = 0.0     # A; flat bottom of the elastic well
    elastic_weight_final: Optional[float] = None  # cosine decay of the weight to this
    clash_distance: float = 4.0
    clash_max_distance: float = 10.0
    free_bits: float = 3.0
    kl_beta: float = 0.5
    kl_warmup: int = 10000
    # optimisation (and the epoch loop's options)
    lr_schedule: str = "constant"      # or "cosine": decay to 10% of lr by the end
    # outputs: structure files in "pdb" or "cif", decided from the reference
    # before training ("auto": PDB when it holds the model); config.json
    # files without it read as "auto"
    format: str = "auto"


@dataclass
class DensityConfig(LoopOptions):
    """Every option of a stage-2 run (``RUN/density/config.json``)."""
    run_kind = "density run"

    run: str = ""                      # the stage-1 run folder
    box: Optional[int] = None          # default: the stage-1 box
    hidden: int = 1024
    layers: int = 3
    pe_dim: Optional[int] = None       # default: box // 2
    feat_sigma: float = 0.5
    batch_size: int = 8                # global batch, split over processes
    weight_decay: float = 0.0


def parse_prior_options(pairs):
    """``["components=3", "learn-sigma=1"]`` -> ``{"components": 3,
    "learn_sigma": 1}``: values become int, else float, else stay text;
    dashes in keys become underscores. ValueError for an item without '='."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError("--prior-option %r: expected KEY=VALUE" % pair)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        options[key.strip().replace("-", "_")] = value
    return options


def config_from_args(args):
    """The :class:`TrainConfig` of parsed ``cryostar-boltz train`` arguments
    (an argparse namespace whose names are the config's fields, plus
    ``prior_option``, a list of KEY=VALUE; ``out``, ``resume`` and ``debug``
    are ignored). ValueError without particles or reference."""
    if not args.particles or not args.reference:
        raise ValueError("--particles and --reference are required "
                         "(or --resume to continue a run)")
    options = {k: v for k, v in vars(args).items()
               if k not in ("out", "resume", "debug", "prior_option")}
    return TrainConfig.from_options(prior_options=parse_prior_options(args.prior_option),
                                    **options)
