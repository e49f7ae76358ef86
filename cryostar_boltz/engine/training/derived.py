"""Training options derived from the data ("auto") and the published preset.

An option of :data:`AUTO_FIELDS` left unset (None in ``TrainConfig``) is
chosen once, when stage 1 starts and has read the particles and the
reference (:class:`DataFacts`), by the rules below; a value the user gives
always wins. ``--preset cryostar`` sets every option left unset to the
published CryoSTAR value instead (Li et al. 2024, :data:`PUBLISHED`), with
no rule applied. The run's ``config.json`` then holds the concrete values,
the preset and ``derived``, ``{field: reason}`` of every value chosen here;
``--resume`` and the half-set runs keep those values (never re-derived; a
half-set run's reasons say so and what the values give on its own
particles, :func:`shared_reasons`).

The constants are the one place to tune the recommended settings.
Torch-free: Scipion's process imports it for the form's help texts.
"""
import math
import re
from dataclasses import dataclass

# ---------------------------------------------------------------- constants
#: Low-pass bandwidth in training pixels: 3.5 pixels, 0.57 of the box's
#: Nyquist frequency (measured: on adk at 1.45 A/px 5 A beat 6 A; on the
#: 1A28 dimer at 2.18 A/px 5 A beat 8.7 A; a protein whose particles are
#: sampled coarsely keeps a coarser low-pass, the published 10 A at about
#: 2.9 A/px).
LOW_PASS_PIXELS = 3.5
#: The low-pass is never finer than this many pixels (Nyquist: 2 pixels).
MIN_LOW_PASS_PIXELS = 2.0
#: ... nor coarser than this (Angstrom): beyond it the domains blur together.
MAX_LOW_PASS = 15.0
#: Rendering: every heavy atom of the reference, carried by its residue
#: (the projections closest to a real map).
PSEUDO_ATOMS = "atoms"
#: Global batch (particles per optimiser step).
BATCH_SIZE = 128
#: AdamW learning rate of the networks.
LR = 5e-4
#: Learning-rate schedule ("constant" or "cosine"): a cosine decay to 10 %
#: of the rate over the run. On the adk path (seeds 0 / 1 / 2) it gave
#: 0.941 / 0.942 / 0.937 A and |Spearman(PC1, frame)| 0.961 / 0.961 /
#: 0.958, where the constant rate gave 1.058 / 0.975 / 1.033 A and 0.953 /
#: 0.957 / 0.952: the last steps' smaller updates settle the decoder
#: instead of leaving it where the last batches pushed it.
LR_SCHEDULE = "cosine"
#: Optimiser steps a run should make: epochs follow from the particles
#: (26 epochs of 20,000 particles at batch 128, the benchmarks' runs). On
#: the adk path (seeds 0 / 1 / 2) 4,000 steps gave 0.942 / 0.916 / 0.904 A
#: and |Spearman(PC1, frame)| 0.962 / 0.962 / 0.962, where 3,000 gave
#: 0.941 / 0.942 / 0.937 A and 0.961 / 0.961 / 0.958, for about a third
#: more CPU time.
TARGET_STEPS = 4000
#: Fewest epochs (large data sets still see every particle a few times).
MIN_EPOCHS = 5
#: Most epochs: more passes over a small set fit its noise. On the
#: three-state adk set (4,000 particles, 31 steps an epoch) the 4,000-step
#: target's 130 epochs lowered the Gaussian prior's k-means ARI on z to
#: 0.938 / 0.926 (seeds 0 / 1) from 0.970 / 0.965 at 97 epochs (its
#: latents fit each particle's noise: nearest-state-centre accuracy
#: 0.984 / 0.981 from 0.990 / 0.987).
MAX_EPOCHS = 100
#: The KL weight rises over this many steps: the published warm-up, kept
#: for every run length (the benchmarks measured it: a run of about 4,000
#: steps ends with beta at 0.4 of its final value, a weaker KL that keeps
#: more detail in z; a warm-up over the run's first third gave worse
#: states on the three-state adk set with every prior).
KL_WARMUP = 10000
#: Elastic-network weight at the start of the run.
ELASTIC_WEIGHT = 0.1
#: Its final value, as a fraction of the start (cosine decay over the run).
ELASTIC_FINAL_FRACTION = 0.1
#: Per chain, the elastic edges kept (quantile of their error variance).
ELASTIC_KEEP = 0.8

#: Pose screening (``training.pose_screen``): in the first epoch and at a
#: quarter of the run, a particle whose pose contrast (its image loss with
#: its own pose minus that at random orientations) lies more than this many
#: robust standard deviations above the median fits its pose no better than
#: random ones (junk) and leaves the image loss until the next screening.
#: The same threshold as ``analyze --exclude-junk``.
OUTLIER_Z = 2.0

#: The encoder sees each image turned in-plane and centred by its pose: the
#: conformation does not depend on the in-plane angle or the shift, and an
#: encoder freed from learning that generalises better (|Spearman(PC1,
#: frame)| on 2,000 particles it never saw: 0.51 raw, 0.75 aligned).
ENCODER_INPUT = "aligned"

#: After training, the particles whose junk score lies above ``--outlier-z``
#: (their consensus pose fails the pose screen) get a searched pose, and
#: their latent from it where it fits better (``training.pose_search``): on
#: the pose-error copy of the adk path (5 % random poses) |Spearman(PC1,
#: frame)| of all particles' latents rose from 0.893 to 0.916.
POSE_SEARCH = "flagged"

#: ``--preset`` choices: "auto" derives from the data, "cryostar" is the
#: published method.
PRESETS = ("auto", "cryostar")
#: The published CryoSTAR values of the options (Li et al. 2024), which
#: ``--preset cryostar`` sets: CA rendering, a 10 A low-pass, batch 64,
#: AdamW at 1e-4 (constant), 20 epochs, the KL weight rising over 10,000
#: steps, a constant elastic weight 1 (final None: no decay) keeping the
#: 0.99 quantile of the edges, every particle's image loss kept, the encoder
#: fed the images as recorded, on the whole box (encoder box 0), no pose
#: searched.
PUBLISHED = {"pseudo_atoms": "ca", "low_pass": 10.0, "batch_size": 64, "lr": 1e-4,
             "lr_schedule": "constant", "epochs": 20, "kl_warmup": 10000,
             "elastic_weight": 1.0, "elastic_weight_final": None, "elastic_keep": 0.99,
             "outlier_z": 0.0, "encoder_input": "raw", "encoder_box": 0,
             "pose_search": "off"}
#: The options an "auto" run derives, in the order they are derived (a rule
#: may use the values before it: epochs the batch, the warm-up the epochs).
AUTO_FIELDS = ("pseudo_atoms", "low_pass", "batch_size", "lr", "lr_schedule", "epochs",
               "kl_warmup", "elastic_weight", "elastic_weight_final", "elastic_keep",
               "outlier_z", "encoder_input", "encoder_box", "pose_search")
#: Units of the options, for the log lines.
UNITS = {"low_pass": " A", "encoder_box": " px"}

#: What each rule chooses, for ``--help`` and the Scipion form.
RULES = {
    "pseudo_atoms": "every heavy atom (%s)" % PSEUDO_ATOMS,
    "low_pass": "%g x the training pixel size, at most %g A but at least %g pixels "
                "(Nyquist)" % (LOW_PASS_PIXELS, MAX_LOW_PASS, MIN_LOW_PASS_PIXELS),
    "batch_size": "%d" % BATCH_SIZE,
    "lr": "%g" % LR,
    "lr_schedule": "%s: a decay to 0.1 x the rate over the run" % LR_SCHEDULE,
    "epochs": "about %d optimiser steps: ceil(%d / (particles // batch)), %d to %d"
              % (TARGET_STEPS, TARGET_STEPS, MIN_EPOCHS, MAX_EPOCHS),
    "kl_warmup": "%d steps (the published warm-up)" % KL_WARMUP,
    "elastic_weight": "%g" % ELASTIC_WEIGHT,
    "elastic_weight_final": "%g x --elastic-weight (cosine decay)"
                            % ELASTIC_FINAL_FRACTION,
    "elastic_keep": "%g" % ELASTIC_KEEP,
    "outlier_z": "pose contrast %g robust standard deviations above the median"
                 % OUTLIER_Z,
    "encoder_input": "%s: each image turned in-plane and centred by its pose"
                     % ENCODER_INPUT,
    "encoder_box": "the smallest fast box in pixels that holds the low-pass "
                   "band; 0 is the whole training box",
    "pose_search": "%s: after training, the particles whose junk score lies above "
                   "the pose screen's threshold get a searched pose and, where it "
                   "fits better, their latent from it" % POSE_SEARCH,
}


@dataclass(frozen=True)
class DataFacts:
    """What the rules read from a run's data: ``particles`` (how many the
    run trains on), ``box`` (training box, px) and ``apix`` (its pixel size,
    Angstrom, after downsampling), ``residues`` (pseudo-atoms of the
    reference), ``heavy_atoms`` (its non-hydrogen atoms), ``chains``."""
    particles: int
    box: int
    apix: float
    residues: int
    heavy_atoms: int
    chains: int

    def steps_per_epoch(self, batch_size):
        return steps_per_epoch(self.particles, batch_size)


def steps_per_epoch(particles, batch_size):
    """Optimiser steps of one epoch of ``particles`` at ``batch_size`` (as
    the epoch loop counts them: whole batches, at least one)."""
    return max(1, particles // min(batch_size, particles))


# ---------------------------------------------------------------- the rules
# Each rule: (facts, values chosen so far) -> (value, reason).

def rule_pseudo_atoms(facts, values):
    return PSEUDO_ATOMS, "every heavy atom rendered (%d Gaussians)" % facts.heavy_atoms


def rule_low_pass(facts, values):
    apix = facts.apix
    wanted = LOW_PASS_PIXELS * apix
    # the 15 A cap, then the Nyquist floor: a coarse pixel wins over the cap
    value = max(min(wanted, MAX_LOW_PASS), MIN_LOW_PASS_PIXELS * apix)
    if value == wanted:
        return value, ("%g x the %.2f A training pixel (%.3g of the Nyquist frequency)"
                       % (LOW_PASS_PIXELS, apix, 2.0 / LOW_PASS_PIXELS))
    if value == MAX_LOW_PASS and value >= MIN_LOW_PASS_PIXELS * apix:
        return value, ("at most %g A (%g x the %.2f A training pixel would be %.3g A)"
                       % (MAX_LOW_PASS, LOW_PASS_PIXELS, apix, wanted))
    return value, ("Nyquist, %g x the %.2f A training pixel" % (MIN_LOW_PASS_PIXELS, apix))


def rule_batch_size(facts, values):
    if facts.particles < BATCH_SIZE:
        return BATCH_SIZE, ("the recommended batch; each step takes all %d particles"
                            % facts.particles)
    return BATCH_SIZE, "the recommended batch"


def rule_lr(facts, values):
    return LR, "the recommended AdamW rate"


def rule_lr_schedule(facts, values):
    return LR_SCHEDULE, "the recommended schedule, " + RULES["lr_schedule"]


def rule_epochs(facts, values):
    batch = values["batch_size"]
    steps = facts.steps_per_epoch(batch)
    wanted = math.ceil(TARGET_STEPS / steps)
    epochs = min(max(wanted, MIN_EPOCHS), MAX_EPOCHS)
    bound = ("" if epochs == wanted else ", %s %d epochs"
             % ("at least" if epochs > wanted else "at most", epochs))
    return epochs, ("%d particles at batch %d: %s (target %d steps%s)"
                    % (facts.particles, batch, _steps(facts.particles, batch, epochs),
                       TARGET_STEPS, bound))


def rule_kl_warmup(facts, values):
    return KL_WARMUP, ("the published %d steps; %s"
                       % (KL_WARMUP, _warmup_reached(facts.particles, values, KL_WARMUP)))


def _steps(particles, batch, epochs):
    """``6 steps per epoch, 120 steps in all`` (``1 step per epoch``)."""
    steps = steps_per_epoch(particles, batch)
    return "%s per epoch, %s in all" % (counted(steps, "step"), counted(epochs * steps, "step"))


def counted(n, noun):
    """``1 step``, ``2 steps``: ``n`` and the regular plural of ``noun``."""
    return "%d %s%s" % (n, noun, "" if n == 1 else "s")


def _warmup_reached(particles, values, warmup, whose="this run's"):
    total = values["epochs"] * steps_per_epoch(particles, values["batch_size"])
    return ("beta reaches %.2g of its final value in %s %s"
            % (min(1.0, total / warmup) if warmup else 1.0, whose, counted(total, "step")))


#: The run-length clause of a KL warm-up's reason (``_warmup_reached``):
#: "this run's" in a run's own reason (and in the full set's, which a
#: half-set run's reason quotes), "the half's" in what it gives on a half.
_WARMUP_CLAUSE = re.compile(r"beta reaches \S+ of its final value in (this run's|"
                            r"the half's) \d+ steps?")


def restate_length(cfg, particles, full_particles=None):
    """Restate, for the run's current length, how far the KL warm-up gets
    in ``cfg.derived["kl_warmup"]`` (``_warmup_reached``): a resume with
    another ``--epochs`` (whose own reason ``for_resume`` drops, the value
    being given) changes it. ``particles``: the run's. A half-set run's
    reason (:func:`shared_reasons`) also quotes the full set's, whose
    clause follows the same length with ``full_particles``, the full
    set's (left as it is without). Other reasons do not depend on the
    run's length."""
    reason = (cfg.derived or {}).get("kl_warmup")
    if not reason:
        return
    values = {k: getattr(cfg, k) for k in AUTO_FIELDS}
    half = "; this half: " in reason

    def restated(match):
        whose = match.group(1)
        count = full_particles if half and whose == "this run's" else particles
        if count is None:
            return match.group(0)
        return _warmup_reached(int(count), values, values["kl_warmup"], whose)

    cfg.derived["kl_warmup"] = _WARMUP_CLAUSE.sub(restated, reason)


def rule_elastic_weight(facts, values):
    return ELASTIC_WEIGHT, "for %d residues" % facts.residues


def rule_elastic_weight_final(facts, values):
    start = values["elastic_weight"]
    # rounded: 0.1 x 0.1 is 0.010000000000000002 in binary, in config.json too
    return (float("%.12g" % (ELASTIC_FINAL_FRACTION * start)),
            "%g x the elastic weight %g, cosine decay over the run"
            % (ELASTIC_FINAL_FRACTION, start))


def rule_elastic_keep(facts, values):
    return ELASTIC_KEEP, "for %d residues in %d chain(s)" % (facts.residues, facts.chains)


def rule_outlier_z(facts, values):
    return OUTLIER_Z, ("particles whose pose contrast lies %g robust SDs above the "
                       "median (wrong poses) leave the image loss" % OUTLIER_Z)


def rule_encoder_input(facts, values):
    return ENCODER_INPUT, ("each image turned in-plane and centred by its pose "
                           "before the encoder")


def rule_encoder_box(facts, values):
    """The encoder's images Fourier-cropped to the smallest fast box that
    holds the low-pass band (:func:`band_box`; 40 px of a 64 px box at the
    3.5-pixel low-pass): the image loss compares nothing beyond the band,
    and the encoder's first layer shrinks 2.6 times. Measured in
    docs/benchmarks.rst, "What the encoder sees"."""
    box = band_box(facts.box, facts.apix, values["low_pass"])
    if box >= facts.box:
        needed = band_pixels(facts.box, facts.apix, values["low_pass"])
        if needed >= facts.box:
            return 0, ("the whole %d px box: the %.4g A low-pass needs all of it"
                       % (facts.box, values["low_pass"]))
        return 0, ("the whole %d px box: the %.4g A low-pass band needs %d px, and no "
                   "fast box lies between" % (facts.box, values["low_pass"], needed))
    return box, ("the images Fourier-cropped to %d px (%.3g A pixels), the smallest "
                 "fast box that holds the %.4g A low-pass band the image loss compares"
                 % (box, facts.box * facts.apix / box, values["low_pass"]))


def rule_pose_search(facts, values):
    """Search the flagged particles' poses unless nothing would use them:
    no pose screen flags particles (``--outlier-z 0``), or the encoder reads
    the images as recorded, which a pose does not change."""
    if values["encoder_input"] == "raw":
        return "off", "the encoder reads the images as recorded: a searched pose " \
                      "would not change a latent"
    if not values["outlier_z"]:
        return "off", "no pose screen (--outlier-z 0) flags particles"
    return POSE_SEARCH, ("the particles whose junk score lies above %g get a searched "
                         "pose, and their latent from it where it fits better"
                         % values["outlier_z"])


def band_box(D, apix, low_pass):
    """The smallest even box (px) of pixels ``D * apix / box`` whose Nyquist
    frequency is above ``1 / low_pass`` (Angstrom) and whose prime factors
    are 2, 3 and 5 (FFTs of such sizes are the fastest: 40 px scores in
    0.34 s what 38 px does in 0.42 s), at most ``D``: a Fourier crop to it
    keeps every coefficient a ``low_pass`` filter leaves."""
    box = band_pixels(D, apix, low_pass)
    while box < D and not _smooth(box):
        box += 2
    return int(min(D, max(box, 2)))


def band_pixels(D, apix, low_pass):
    """The smallest even box (px) of pixels ``D * apix / box`` whose Nyquist
    frequency is above ``1 / low_pass`` (Angstrom), whatever its FFT."""
    band = 2.0 * D * apix / float(low_pass)
    return 2 * (math.floor(band / 2.0) + 1)


def _smooth(n):
    """Whether ``n``'s prime factors are all 2, 3 or 5."""
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


RULE_FUNCTIONS = {name: globals()["rule_" + name] for name in AUTO_FIELDS}


def resolve(cfg, facts=None):
    """Set every option of :data:`AUTO_FIELDS` that ``cfg`` leaves unset
    (None): to :data:`PUBLISHED` with ``cfg.preset == "cryostar"``, else
    by its rule from ``facts`` (a :class:`DataFacts`; required then).
    Records ``cfg.derived`` ({field: reason}) and returns it. A config
    already resolved (``cfg.derived`` not None: a saved run, a half-set of
    one) is left as it is: values are derived once per run."""
    if cfg.derived is not None:
        return cfg.derived
    derived = {}
    values = {}
    for name in AUTO_FIELDS:
        given = getattr(cfg, name)
        if given is not None:
            values[name] = given
            continue
        if cfg.preset == "cryostar":
            value, reason = PUBLISHED[name], "cryostar: the published value"
        else:
            if facts is None:
                raise ValueError("auto options need the data's facts: %s" % name)
            value, reason = RULE_FUNCTIONS[name](facts, values)
            reason = "auto: " + reason
        values[name] = value
        setattr(cfg, name, value)
        derived[name] = reason
    cfg.derived = derived
    cfg.validate()
    return derived


#: What the value of an option gives on a run's particles, for the options
#: whose effect depends on how many there are: (particles, values) -> text.
CONSEQUENCES = {
    "batch_size": lambda n, values: (
        "each step takes all %d particles" % n if n < values["batch_size"]
        else "%d particles: %s per epoch" % (
            n, counted(steps_per_epoch(n, values["batch_size"]), "step"))),
    "epochs": lambda n, values: "%d particles at batch %d: %s" % (
        n, values["batch_size"], _steps(n, values["batch_size"], values["epochs"])),
    "kl_warmup": lambda n, values: _warmup_reached(n, values, values["kl_warmup"],
                                                   "the half's"),
}


def shared_reasons(derived, values, particles):
    """The reasons (``{field: reason}``) of a half-set run, which trains
    with the values its full set derived (``derived``, the full run's
    reasons; ``values``, {field: value} of the run's options) so that both
    halves train alike, as gold-standard half-sets are refined (RELION's
    half-maps, cryoDRGN's reproducibility runs): each reason says so, and
    what the value gives on the half's own ``particles`` where that
    depends on their number (steps per epoch, steps in all, how far the KL
    warm-up gets)."""
    reasons = {}
    for name, reason in derived.items():
        text = ("as the full set, so that both halves train alike (the full set's "
                "reason: %s)" % reason)
        if name in CONSEQUENCES:
            text += "; this half: %s" % CONSEQUENCES[name](int(particles), values)
        reasons[name] = text
    return reasons


def describe(cfg):
    """One line per option of :data:`AUTO_FIELDS`, in that order (the order
    they are derived in; also for a saved config, whose JSON keeps its keys
    sorted): one the run chose itself (``cfg.derived``) with its reason,
    ``low_pass = 4.55 A (auto: 3.5 x the 1.30 A training pixel ...)``, one
    given on the command line (or by a caller) as ``epochs = 3 (given)``."""
    derived = cfg.derived or {}
    order = {name: i for i, name in enumerate(AUTO_FIELDS)}
    names = sorted(set(AUTO_FIELDS) | set(derived),
                   key=lambda name: order.get(name, len(order)))
    return ["%s = %s%s (%s)" % (name, _show(getattr(cfg, name)), UNITS.get(name, ""),
                                derived.get(name, "given"))
            for name in names]


def _show(value):
    if value is None:
        return "none"
    if isinstance(value, float):
        return "%.4g" % value
    return str(value)
