"""Training configuration: every option of a run, saved in the run folder.

Defaults follow the published CryoSTAR method (Li et al. 2024): latent
dimension 8, encoder 512-256-128-64-32, decoder mirrored, sigma 2 A, mask
radius 0.9375 of the half box, continuity, elastic network (12 A, keep the
0.99 quantile) and clash (4 A) weights 1, KL free bits 3 nats with beta
rising to 0.5 over 10,000 steps, AdamW at 1e-4, batch 64.
"""
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from .io import write_text
from .layout import CONFIG as CONFIG_NAME


class SavedConfig:
    """JSON round trip of a dataclass of options, saved as ``RUN/config.json``
    (tuples come back as tuples)."""
    #: What the folder is, for the error on a folder without a config.
    run_kind = "training run"

    def to_json(self):
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def save(self, run_dir):
        return write_text(Path(run_dir) / CONFIG_NAME, self.to_json() + "\n")

    @classmethod
    def load(cls, run_dir):
        path = Path(run_dir) / CONFIG_NAME
        if not path.exists():
            raise FileNotFoundError("%s: no %s: not a %s folder"
                                    % (run_dir, CONFIG_NAME, cls.run_kind))
        values = json.loads(path.read_text())
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError("%s: unknown options %s" % (path, unknown))
        for key, value in values.items():
            if isinstance(known[key].default, tuple) and isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    def differences(self, other):
        """Options whose values differ (for refusing an inconsistent resume)."""
        a, b = asdict(self), asdict(other)
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


@dataclass
class LoopOptions(SavedConfig):
    """Options of the epoch loop both training stages share
    (``train.EpochTrainer``); each stage sets its own defaults."""
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
