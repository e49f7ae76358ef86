"""Every option of a training run, saved in its folder (``config.json``).

Torch-free: Scipion's process reads the defaults from here.

Stage-1 options of :data:`~.derived.AUTO_FIELDS` (rendering, low-pass,
batch, learning rate and schedule, epochs, KL warm-up, elastic-network
weights and kept edges) default to None, "auto": derived from the data
when training starts (:mod:`.derived`), or set to the published values
with ``preset="cryostar"``. The other stage-1 defaults follow the
published CryoSTAR method (Li et al. 2024): latent dimension 8, encoder
512-256-128-64-32, decoder mirrored, sigma 2 A (a residue's), mask radius
0.9375 of the half box, continuity, elastic network (12 A) and clash (4 A)
weights 1, KL free bits 3 nats with beta rising to 0.5, AdamW weight decay
0.01. Stage-2 defaults follow cryoDRGN's decoder as the method uses it:
width 1024, three residual blocks, D//2 random frequencies per axis with
sigma 0.5, batch 8, Adam at 1e-4.
"""
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from ..io import read_json, write_text
from ..layout import CONFIG
from ..options import (at_least, box_or_whole, check, even_box, fraction,
                       layer_widths, nonnegative_float, nonnegative_int, one_of,
                       positive_float, positive_int, screen_threshold, seed)
from .derived import AUTO_FIELDS, PRESETS

#: Options a ``--resume`` may change; everything else keeps its saved value.
RESUME_OPTIONS = ("epochs", "device", "threads", "checkpoint_every")
#: How stage 1 renders each residue (``pseudoatoms.MODES``, which a test
#: pins to this tuple; repeated here so that option checks need no torch).
PSEUDO_ATOM_MODES = ("ca", "centroid", "atoms")
#: Devices a run may name.
DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?|mps")
#: Learning-rate schedules of stage 1.
LR_SCHEDULES = ("constant", "cosine")
#: What the stage-1 encoder sees (``training.encoder_input``): each image
#: turned and centred by its pose, or the image as recorded (the published
#: method's).
ENCODER_INPUTS = ("aligned", "raw")
#: Whose poses stage 1 searches after training (``training.pose_search``):
#: the particles whose junk score lies above ``--outlier-z``, or none.
POSE_SEARCHES = ("flagged", "off")
#: The latent priors (``priors.PRIORS``, named here without importing torch).
PRIOR_NAMES = ("gaussian", "gmm", "grbm", "rbm", "ebm")
#: How the stage-1 decoder moves the reference: a free displacement per
#: residue, or one rigid transform per domain (``domain_decoder``).
MOTIONS = ("free", "domains")


def flag(name):
    """The command-line flag of the option ``name``: ``--batch-size``."""
    return "--" + name.replace("_", "-")


def label(name):
    """How messages name the option ``name``: as in config.json and on the
    command line, ``batch_size (--batch-size)``."""
    return "%s (%s)" % (name, flag(name))


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
        values = read_json(path)  # ValueError naming the file when corrupt
        if not isinstance(values, dict):
            raise ValueError("%s: expected a JSON object of options" % path)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError("%s: unknown options %s" % (path, unknown))
        for key, value in values.items():
            if isinstance(known[key].default, tuple) and isinstance(value, list):
                values[key] = tuple(value)
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise ValueError("%s: %s" % (path, err)) from None

    @classmethod
    def for_resume(cls, run_dir, overrides):
        """The config saved in ``run_dir`` with ``overrides`` (a dict) of
        :data:`RESUME_OPTIONS` applied; ValueError for any other option
        whose value is not the run's own (:meth:`unchanged`), and for
        fewer ``epochs`` than the run's (a resume never shortens a run). An option the
        run derived (``derived``) that ``overrides`` sets to another value
        is given now: its reason goes."""
        cfg = cls.load(run_dir)
        for key, value in overrides.items():
            if key not in RESUME_OPTIONS and cfg.unchanged(key, value):
                continue
            if key not in RESUME_OPTIONS:
                raise ValueError("--resume continues %s with its saved options; "
                                 "%s cannot change (allowed: %s)"
                                 % (run_dir, "--" + key.replace("_", "-"),
                                    ", ".join("--" + k.replace("_", "-")
                                              for k in RESUME_OPTIONS)))
            if (key == "epochs" and value is not None and cfg.epochs is not None
                    and value < cfg.epochs):
                raise ValueError("--resume trains %s further: --epochs %d is fewer than its "
                                 "%d (leave --epochs out, or give more)"
                                 % (run_dir, value, cfg.epochs))
            derived = getattr(cfg, "derived", None)
            if derived and key in derived and value != getattr(cfg, key):
                cfg.derived = {k: v for k, v in derived.items() if k != key}
            setattr(cfg, key, value)
        cfg.validate()
        return cfg

    def unchanged(self, key, value):
        """Whether option ``key`` given as ``value`` asks for what this
        (saved) config already has: the same value, or "auto" (None) for
        an option the run derived itself."""
        return value == getattr(self, key, None) or (
            value in (None, "auto") and key in (getattr(self, "derived", None) or {}))

    @classmethod
    def from_options(cls, **options):
        """A config from option values named as its fields; a None value
        means the field's default. Unknown names raise a ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError("unknown %s options %s" % (cls.__name__, unknown))
        return cls(**{k: v for k, v in options.items() if v is not None})

    def __post_init__(self):
        self.validate()

    def validate(self):
        """ValueError naming the first option out of range (``--epochs
        must be an integer >= 1, got 0``); the option classes list theirs
        in :meth:`rules`."""
        for name, rule, optional in self.rules():
            value = check(label(name), getattr(self, name), rule, optional)
            setattr(self, name, value)

    def rules(self):
        """(field, check, None allowed) of every checked option."""
        return []

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

    def rules(self):
        return [("epochs", positive_int, False), ("batch_size", positive_int, False),
                ("lr", positive_float, False), ("weight_decay", nonnegative_float, False),
                ("seed", seed, False), ("threads", nonnegative_int, False),
                ("checkpoint_every", nonnegative_int, False),
                ("max_bad_steps", nonnegative_int, False)]

    def validate(self):
        super().validate()
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise ValueError("device (--device) must be auto, cpu, cuda or cuda:N, got %r"
                             % (self.device,))


@dataclass
class TrainConfig(LoopOptions):
    """Every option of a stage-1 run (``RUN/config.json``). Options of
    :data:`~.derived.AUTO_FIELDS` left None are chosen when training starts
    (:func:`.derived.resolve`), which records why in ``derived``."""
    # None: "auto", derived from the data (training.derived)
    epochs: Optional[int] = None
    batch_size: Optional[int] = None   # global batch, split over processes
    lr: Optional[float] = None
    # "auto": derive the options left unset from the data; "cryostar": set
    # them to the published values
    preset: str = "auto"
    # {option: why it has its value} of the options the run chose itself;
    # None until chosen (training.derived.resolve); config.json files
    # without it (runs made before) read as {}: every value was given
    derived: Optional[dict] = None
    # inputs
    particles: str = ""
    reference: str = ""
    map: Optional[str] = None
    datadir: Optional[str] = None
    # the working directory the run was started in: relative input paths
    # (as typed, or as Scipion passes them: relative to its project folder)
    # resolve against it; None in runs made before it was recorded
    workdir: Optional[str] = None
    # focus (engine/focus_mask.py, structure/selection.py, domains.py);
    # config.json files without them read as no mask, all residues free
    mask: Optional[str] = None         # focus mask (MRC) on the consensus map's grid
    move: Optional[str] = None         # residues that may move ('B,A:120-250')
    motion: str = "free"               # or "domains": one rigid transform per domain
    # the domains trained with (given, or found and recorded when training
    # starts) as a --domains text, and their count
    domains: Optional[str] = None
    num_domains: Optional[int] = None
    # data
    box: Optional[int] = None          # downsampled box; None: the particles'
    low_pass: Optional[float] = None   # Angstrom; the hard low-pass bandwidth
    mask_radius: float = 0.9375        # fraction of the half box
    # model
    latent_dim: int = 8
    encoder_hidden: tuple = (512, 256, 128, 64, 32)   # hidden-layer widths
    decoder_hidden: tuple = (32, 64, 128, 256, 512)
    sigma: Optional[float] = None      # Gaussian width (A); None: per rendering
    pseudo_atoms: Optional[str] = None  # render at the CA, "centroid" or "atoms"
    # the encoder's input: "aligned" (turned and centred by the pose) or
    # "raw"; config.json files without it read as "raw" (runs made before)
    encoder_input: Optional[str] = None
    # the box (px) the encoder's images are Fourier-cropped to; 0: the
    # whole training box (config.json files without it read as 0)
    encoder_box: Optional[int] = None
    # whose poses are searched after training ("flagged": the particles
    # whose junk score lies above outlier_z; "off"); config.json files
    # without it read as "off"
    pose_search: Optional[str] = None
    # prior
    prior: str = "gaussian"
    prior_options: dict = field(default_factory=dict)
    prior_lr: Optional[float] = None    # learning rate of the prior; None: Prior.lr_factor x lr
    prior_fit_steps: int = 2000        # final fit of the prior to the posteriors (at most)
    # losses
    continuity_weight: float = 1.0
    elastic_weight: Optional[float] = None
    clash_weight: float = 1.0
    elastic_cutoff: float = 12.0
    elastic_keep: Optional[float] = None
    elastic_tolerance: float = 0.0     # A; flat bottom of the elastic well
    # cosine decay of the weight to this; None once derived: constant
    elastic_weight_final: Optional[float] = None
    clash_distance: float = 4.0
    clash_max_distance: float = 10.0
    free_bits: float = 3.0
    kl_beta: float = 0.5
    kl_warmup: Optional[int] = None
    # robust z above which a particle's image loss leaves the step; 0: none
    outlier_z: Optional[float] = None
    # optimisation (and the epoch loop's options)
    lr_schedule: Optional[str] = None  # "constant", or "cosine": decay to 10% of lr
    # outputs: structure files in "pdb" or "cif", decided from the reference
    # before training ("auto": PDB when it holds the model); config.json
    # files without it read as "auto"
    format: str = "auto"
    # also train one run per half-set (RUN/half1, RUN/half2) and report
    # their agreement (training.halfsets); config.json files without it
    # read as False
    half_sets: bool = False

    @classmethod
    def load(cls, run_dir):
        """The saved config; one written before options were derived
        (no ``derived``) gave every value: its ``derived`` is {}."""
        cfg = super().load(run_dir)
        saved = read_json(Path(run_dir) / CONFIG)
        if cfg.derived is None and "derived" not in saved:
            cfg.derived = {}
        if "encoder_input" not in saved:
            cfg.encoder_input = "raw"
        if "encoder_box" not in saved:
            cfg.encoder_box = 0
        if "pose_search" not in saved:
            cfg.pose_search = "off"
        return cfg

    def differences(self, other):
        """Options whose values differ; an option of :data:`AUTO_FIELDS` that
        a config not yet resolved (``derived`` None) leaves unset matches
        whatever the other has, and so does ``derived`` itself."""
        def unset(cfg, name):
            return cfg.derived is None and (name == "derived" or (
                name in AUTO_FIELDS and getattr(cfg, name) is None))
        return {k: v for k, v in super().differences(other).items()
                if not (unset(self, k) or unset(other, k))}

    def rules(self):
        """Options of :data:`AUTO_FIELDS` may be None (auto)."""
        return [(name, rule, optional or name in AUTO_FIELDS)
                for name, rule, optional in self._rules()]

    def _rules(self):
        return super().rules() + [
            ("box", even_box, True), ("low_pass", positive_float, False),
            ("mask_radius", fraction, False), ("latent_dim", positive_int, False),
            ("sigma", positive_float, True), ("prior_lr", positive_float, True),
            ("prior_fit_steps", nonnegative_int, False),
            ("continuity_weight", nonnegative_float, False),
            ("elastic_weight", nonnegative_float, False),
            ("clash_weight", nonnegative_float, False),
            ("elastic_cutoff", positive_float, False),
            ("elastic_keep", fraction, False),
            ("elastic_tolerance", nonnegative_float, False),
            ("elastic_weight_final", nonnegative_float, True),
            ("clash_distance", positive_float, False),
            ("clash_max_distance", positive_float, False),
            ("free_bits", nonnegative_float, False), ("kl_beta", nonnegative_float, False),
            ("kl_warmup", nonnegative_int, False),
            ("outlier_z", screen_threshold, False), ("encoder_box", box_or_whole, False)]

    def _validate_focus(self):
        """--move, --motion, --domains and --num-domains: their texts parse
        (``structure.selection``; residues are checked against the
        reference when training starts), domains only with rigid-domain
        motion, a count that agrees with the domains given."""
        one_of(label("motion"), self.motion, MOTIONS)
        if self.move is not None:
            from ..structure.selection import parse_selection
            parse_selection(self.move, "--move")
        if self.motion != "domains":
            for name in ("domains", "num_domains"):
                if getattr(self, name) is not None:
                    raise ValueError("%s: rigid domains need --motion domains (the "
                                     "motion is %s)" % (flag(name), self.motion))
            return
        if self.num_domains is not None:
            self.num_domains = check(label("num_domains"), self.num_domains,
                                     at_least(2))
        if self.domains is not None:
            from ..structure.selection import parse_domains
            count = len(parse_domains(self.domains, "--domains"))
            if self.num_domains is not None and self.num_domains != count:
                raise ValueError("--num-domains %d: --domains %r gives %d domains"
                                 % (self.num_domains, self.domains, count))

    def validate(self):
        super().validate()
        self.encoder_hidden = check(label("encoder_hidden"), self.encoder_hidden,
                                    layer_widths)
        self.decoder_hidden = tuple(check("decoder_hidden", v, positive_int)
                                    for v in self.decoder_hidden)
        for name, choices in (("pseudo_atoms", PSEUDO_ATOM_MODES),
                              ("lr_schedule", LR_SCHEDULES), ("preset", PRESETS),
                              ("encoder_input", ENCODER_INPUTS),
                              ("pose_search", POSE_SEARCHES), ("prior", PRIOR_NAMES)):
            if getattr(self, name) is not None or name == "preset":
                one_of(label(name), getattr(self, name), choices)
        if self.derived is not None and not isinstance(self.derived, dict):
            raise ValueError("derived must be a dict of OPTION: REASON, got %r"
                             % (self.derived,))
        self._validate_focus()
        if self.pose_search == "flagged" and (self.outlier_z == 0
                                              or self.encoder_input == "raw"):
            raise ValueError("--pose-search flagged searches the particles the pose screen "
                             "flags and gives their encoder a searched pose: it needs "
                             "--outlier-z above 0 and --encoder-input aligned, got %s"
                             % ("--outlier-z 0" if self.outlier_z == 0
                                else "--encoder-input raw"))
        if self.clash_max_distance < self.clash_distance:
            raise ValueError("clash_max_distance %g must be at least "
                             "clash_distance %g"
                             % (self.clash_max_distance, self.clash_distance))
        if not isinstance(self.half_sets, bool):
            raise ValueError("half_sets (--half-sets) must be true or false, got %r"
                             % (self.half_sets,))
        if not isinstance(self.prior_options, dict):
            raise ValueError("prior_options must be a dict of KEY: VALUE, got %r"
                             % (self.prior_options,))


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
    exclude_junk: Optional[float] = None  # junk score above which a particle is left out

    def rules(self):
        return super().rules() + [
            ("box", even_box, True), ("hidden", positive_int, False),
            ("layers", positive_int, False), ("pe_dim", positive_int, True),
            ("feat_sigma", positive_float, False), ("exclude_junk", positive_float, True)]


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


def input_path(cfg, name, config_file="config.json", required=False):
    """The input ``name`` (``particles``, ``reference``, ``map``,
    ``mask``, ``datadir``) of ``cfg`` as a path that does not depend on the current
    directory: absolute paths as they are, relative ones against the
    recorded ``workdir``. None when the option is unset. A relative path in
    a config without ``workdir`` (runs made before it was recorded) is a
    ValueError naming ``config_file`` when ``required``, else resolved
    against the current directory (a resume started where the run was)."""
    value = getattr(cfg, name)
    if not value:
        return None
    path = Path(value)
    if path.is_absolute():
        return path
    if cfg.workdir:
        return Path(cfg.workdir) / path
    if required:
        raise ValueError("%s: %s %r is relative and the run did not record the "
                         "folder it was started in: pass %s"
                         % (config_file, name, value, flag(name)))
    return path


def config_from_args(args):
    """The :class:`TrainConfig` of parsed ``cryostar-boltz train`` arguments
    (an argparse namespace whose names are the config's fields, plus
    ``prior_option``, a list of KEY=VALUE; ``out``, ``resume``,
    ``overwrite`` and ``debug`` are ignored; ``auto`` for ``pseudo_atoms``,
    ``lr_schedule``, ``encoder_input`` or ``pose_search`` means unset).
    ValueError without particles or reference, or with --prior-lr for the
    Gaussian prior, which has no parameters to learn."""
    if not args.particles or not args.reference:
        raise ValueError("--particles and --reference are required "
                         "(or --resume to continue a run)")
    if getattr(args, "prior_lr", None) is not None and args.prior == "gaussian":
        raise ValueError("--prior-lr %g: the gaussian prior (N(0, I)) has no "
                         "parameters to learn; it sets the rate of --prior gmm, "
                         "grbm, rbm or ebm" % args.prior_lr)
    options = {k: v for k, v in vars(args).items()
               if k not in ("out", "resume", "overwrite", "debug", "prior_option")}
    for name in ("pseudo_atoms", "lr_schedule", "encoder_input", "pose_search"):  # "auto"
        if options.get(name) == "auto":
            options[name] = None
    options.setdefault("workdir", None)
    options["workdir"] = options["workdir"] or os.getcwd()
    return TrainConfig.from_options(prior_options=parse_prior_options(args.prior_option),
                                    **options)
