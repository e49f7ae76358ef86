"""The training protocol's form: inputs, stage 1 (latent and prior, what
may move: ``focus_form``), losses and optimiser (the networks:
``network_form``), stage 2 (density decoder).

Defaults come from the engine's options (``engine/training/config.py``,
torch-free): stage 1 from ``TrainConfig``, stage 2 from ``DensityConfig``.
Stage-1 options the engine derives from the data are empty by default
(auto; ``settings_form``: the settings choice, the help of each).
The priors' options live in modules that import torch, which Scipion's
process does not load: their defaults are stated in
:data:`PRIOR_DEFAULTS`, and ``tests/scipion/test_form_choices.py`` pins
them to the engine's. Each form parameter that the engine takes as it is
maps to its option in :data:`STAGE1_FIELDS` / :data:`DENSITY_FIELDS`,
which give both its default and its command-line flag (:func:`flag`).
"""

import pyworkflow.protocol.params as params

from .. import constants as cts
from ..engine.training.config import DensityConfig, TrainConfig
from .focus_form import define_focus, focus_args, focus_summary  # noqa: F401
from .form import NEW_RUN, add_choice, choice_is
from .network_form import (NETWORK_CHOICES, define_network, network_args,  # noqa: F401
                           network_errors)
from .settings_form import (DERIVED_PARAMS, NonNegativeOrEmpty, PositiveOrEmpty,  # noqa: F401
                            auto_help, define_settings, planned_batch,
                            settings_args, settings_summary)

#: Stage-1 defaults (``cryostar-boltz train``).
TRAIN = TrainConfig()
#: Stage-2 defaults (``cryostar-boltz train-density``).
DENSITY = DensityConfig()
#: Defaults of the prior options the form sets (the priors' constructors).
PRIOR_DEFAULTS = {"components": 8, "hidden_units": 8, "visible_units": 8,
                  "num_chains": 256, "gibbs_steps": 1, "energy_width": 128,
                  "langevin_steps": 20}

#: Form parameter -> ``TrainConfig`` field, passed on every new training.
STAGE1_FIELDS = {
    "latentDim": "latent_dim", "continuityWeight": "continuity_weight", "seed": "seed",
    "clashWeight": "clash_weight", "elasticCutoff": "elastic_cutoff", "klBeta": "kl_beta",
    "elasticTolerance": "elastic_tolerance", "freeBits": "free_bits",
    "maskRadius": "mask_radius"}
#: Form parameter -> ``TrainConfig`` field, passed unless empty (None): the
#: engine then derives it (``DERIVED_PARAMS``) or uses its default.
STAGE1_OPTIONAL = dict(DERIVED_PARAMS, sigma="sigma")
#: Form parameter -> ``DensityConfig`` field of a new stage-2 run.
DENSITY_FIELDS = {"densityHidden": "hidden", "densityLayers": "layers",
                  "densityBatch": "batch_size"}

SIZED = choice_is("prior", cts.PRIORS, "gmm", "grbm", "rbm")
BOLTZMANN = choice_is("prior", cts.PRIORS, *cts.BOLTZMANN_PRIORS)
EBM = choice_is("prior", cts.PRIORS, "ebm")


def flag(field):
    """The engine's command-line flag of option ``field`` (``--batch-size``)."""
    return "--" + field.replace("_", "-")


def _train(param):
    field = STAGE1_FIELDS.get(param) or STAGE1_OPTIONAL[param]
    return getattr(TRAIN, field)


def define_input(form):
    form.addSection(label="Input")
    form.addParam("doContinue", params.BooleanParam, default=False,
                  label="Continue a previous run?",
                  help="Train a previous cryoSTAR-Boltz run further: its "
                       "run folder is copied here and training resumes "
                       "from its last checkpoint up to the number of "
                       "epochs given below (more than it has done). "
                       "Its inputs and model settings are kept.")
    form.addParam("continueRun", params.PointerParam,
                  pointerClass="CryoStarBoltzProtTrain",
                  condition="doContinue", allowsNull=True, important=True,
                  label="Previous run",
                  help="The training protocol to continue.")
    form.addParam("inputParticles", params.PointerParam,
                  pointerClass="SetOfParticles", condition=NEW_RUN,
                  important=True, label="Particles",
                  help="Particles with 3D poses (projection alignment) "
                       "and CTF, e.g. from a consensus 3D refinement.")
    form.addParam("inputReference", params.PointerParam,
                  pointerClass="AtomStruct", condition=NEW_RUN,
                  important=True, label="Reference atomic model",
                  help="Atomic model (PDB/mmCIF) of one state, in the "
                       "frame of the particle box: docked into the "
                       "consensus map (give the map below) or centred on "
                       "the box. Protein and nucleic-acid residues become "
                       "one pseudo-atom each.")
    form.addParam("inputMap", params.PointerParam, pointerClass="Volume",
                  condition=NEW_RUN, allowsNull=True,
                  label="Consensus map (optional)",
                  help="The map the reference model was docked into "
                       "(MRC). Its header origin, voxel size and box "
                       "place the model in the particle box. Leave empty "
                       "when the model is already centred on the box.")
    form.addParam("inputMask", params.PointerParam, pointerClass="VolumeMask,Volume",
                  condition=NEW_RUN, allowsNull=True,
                  label="Focus mask (optional)",
                  help="A 3D mask (values 0 to 1, soft edge) around the "
                       "part that moves, made on the consensus map (same "
                       "box, voxel size and origin), or on the particle box "
                       "when no map is given. The image comparison then "
                       "counts only the pixels where the mask projects, with "
                       "each particle's pose. Empty: the whole circular "
                       "mask.")
    add_choice(form, "structureFormat", cts.STRUCTURE_FORMATS, TRAIN.format,
               display=params.EnumParam.DISPLAY_HLIST, condition=NEW_RUN,
               expertLevel=params.LEVEL_ADVANCED, label="Structure files",
               help="Format of the atomic models the run writes (and "
                    "later generations from it):\n*auto*: PDB when a PDB "
                    "file holds the reference exactly, mmCIF otherwise "
                    "(chain ids longer than one character, residue "
                    "numbers past 9999, more than 99,999 atoms);\n*pdb*: "
                    "always PDB (refused for a model PDB cannot hold);\n"
                    "*cif*: always mmCIF.")


def define_stage1(form):
    form.addSection(label="Training")
    define_settings(form)
    form.addParam("numberOfEpochs", params.IntParam, default=_train("numberOfEpochs"),
                  validators=[PositiveOrEmpty()], allowsNull=True, label="Epochs",
                  help=auto_help(
                      "Passes over the particles. When continuing a run, the "
                      "total number of epochs (more than the previous run "
                      "did; empty: the run's own). The summary tells how much "
                      "the last epoch still changed the latents and the PC1 "
                      "motion: whether more epochs would help.", "epochs"))
    form.addParam("batchSize", params.IntParam, default=_train("batchSize"),
                  validators=[PositiveOrEmpty()], condition=NEW_RUN, allowsNull=True,
                  label="Batch size",
                  help=auto_help("Particles per optimisation step (the global "
                                 "batch, split over GPUs).", "batch_size"))
    form.addParam("latentDim", params.IntParam, default=_train("latentDim"),
                  validators=[params.Positive], condition=NEW_RUN,
                  label="Latent dimension",
                  help="Size of each particle's continuous latent code. "
                       "8 is the published default; 1-2 make very "
                       "simple motions easy to browse.")
    form.addParam("halfSets", params.BooleanParam, default=TRAIN.half_sets,
                  condition=NEW_RUN, label="Train on half-sets?",
                  help="Also train one model per half of the particles "
                       "(rlnRandomSubset, else a seeded split) and report "
                       "whether the two halves learn the same motions and "
                       "states (RMSD along matched paths and states, each "
                       "state's half-map FSC); about twice the training "
                       "time. The outputs stay those of the model of all "
                       "particles; the summary gives the agreement.")
    form.addParam("boxSize", params.IntParam, default=TRAIN.box or 0,
                  condition=NEW_RUN, label="Training box (px)",
                  help="Downsample the particles to this box (Fourier "
                       "cropping, even number) before training; 0 keeps "
                       "the particles' box. 64-128 px is usually enough "
                       "for the coarse-grained model.")
    form.addParam("lowPass", params.FloatParam, default=_train("lowPass"),
                  validators=[PositiveOrEmpty()], condition=NEW_RUN, allowsNull=True,
                  label="Low-pass filter (A)",
                  help=auto_help("Resolution limit of the image comparison, in "
                                 "Angstrom. The model cannot explain finer "
                                 "detail.", "low_pass"))
    group = form.addGroup("Latent prior", condition=NEW_RUN)
    add_choice(group, "prior", cts.PRIORS, TRAIN.prior, label="Prior",
               help="Distribution over the latent space:\n"
                    "*gaussian*: standard normal (the published "
                    "method);\n*gmm*: mixture of Gaussians;\n*grbm*: "
                    "Gaussian-Bernoulli restricted Boltzmann machine "
                    "(a mixture of 2^H Gaussians whose binary hidden "
                    "layer is a model D-Wave samplers can sample);\n"
                    "*rbm*: a binary RBM latent next to the "
                    "continuous one (discrete VAE);\n*ebm*: a small "
                    "neural energy times the standard normal (latent "
                    "energy-based prior), any shape, sampled by "
                    "Langevin dynamics.\nMulti-basin "
                    "priors (gmm, grbm, rbm, ebm) let the latent space "
                    "cluster where the data do.")
    group.addParam("priorSize", params.IntParam, default=PRIOR_DEFAULTS["hidden_units"],
                   validators=[params.Positive], condition=SIZED,
                   label="Components / hidden units",
                   help="gmm: number of Gaussian components; grbm and "
                        "rbm: number of hidden binary units (the prior "
                        "can have up to 2^N modes).")
    group.addParam("rbmVisible", params.IntParam, default=PRIOR_DEFAULTS["visible_units"],
                   validators=[params.Positive],
                   condition=choice_is("prior", cts.PRIORS, "rbm"),
                   label="Binary latent units",
                   help="rbm: number of visible binary units, the binary "
                        "code each particle gets next to its continuous "
                        "latent.")
    group.addParam("gibbsChains", params.IntParam, default=PRIOR_DEFAULTS["num_chains"],
                   validators=[params.Positive], condition=BOLTZMANN,
                   expertLevel=params.LEVEL_ADVANCED,
                   label="Persistent Gibbs chains",
                   help="grbm and rbm are trained by persistent "
                        "contrastive divergence: the negative phase is "
                        "sampled by this many persistent block-Gibbs "
                        "chains (the training sampler).")
    group.addParam("gibbsSteps", params.IntParam, default=PRIOR_DEFAULTS["gibbs_steps"],
                   validators=[params.Positive], condition=BOLTZMANN,
                   expertLevel=params.LEVEL_ADVANCED,
                   label="Gibbs sweeps per step",
                   help="Block-Gibbs sweeps of the persistent chains at "
                        "each optimisation step.")
    group.addParam("energyWidth", params.IntParam, default=PRIOR_DEFAULTS["energy_width"],
                   validators=[params.Positive], condition=EBM,
                   label="Energy network width",
                   help="ebm: units in each hidden layer of the neural "
                        "energy over the latent space.")
    group.addParam("langevinChains", params.IntParam, default=PRIOR_DEFAULTS["num_chains"],
                   validators=[params.Positive], condition=EBM,
                   expertLevel=params.LEVEL_ADVANCED,
                   label="Persistent Langevin chains",
                   help="ebm: the prior's side of its training is sampled "
                        "by this many persistent, importance-weighted "
                        "Langevin chains.")
    group.addParam("langevinSteps", params.IntParam, default=PRIOR_DEFAULTS["langevin_steps"],
                   validators=[params.Positive], condition=EBM,
                   expertLevel=params.LEVEL_ADVANCED,
                   label="Langevin steps per step",
                   help="ebm: Metropolis-adjusted Langevin steps of the "
                        "persistent chains at each optimisation step.")


def define_losses(form):
    group = form.addGroup("Losses and optimiser", condition=NEW_RUN,
                          expertLevel=params.LEVEL_ADVANCED)
    for name, label, text in (
            ("elasticWeight", "Elastic network weight",
             "Weight of the elastic-network restraint between nearby "
             "residues (at the start of the run)."),
            ("elasticKeep", "Elastic edges kept (quantile)",
             "Per chain, keep the edges below this quantile of distance "
             "variance; lower frees large domain motions."),
            ("learningRate", "Learning rate", "AdamW learning rate."),
            ("outlierZ", "Pose screen (robust SDs)", "A particle whose pose contrast "
             "(its fit with its own pose against random ones) lies this far above the "
             "median (a wrong pose, junk) leaves the image loss; 0 keeps all, else >= 1.")):
        group.addParam(name, params.FloatParam, default=_train(name), allowsNull=True,
                       label=label, help=auto_help(text, DERIVED_PARAMS[name]),
                       validators=[NonNegativeOrEmpty()])
    for name, label, text in (
            ("continuityWeight", "Continuity weight",
             "Weight of the chain-continuity restraint (bonded "
             "neighbours keep their distance)."),
            ("clashWeight", "Clash weight",
             "Weight of the penalty on residues closer than %g A."
             % TRAIN.clash_distance),
            ("elasticCutoff", "Elastic network cutoff (A)",
             "Residue pairs of a chain closer than this are joined by "
             "an elastic-network edge."),
            ("elasticTolerance", "Elastic tolerance (A)",
             "An elastic edge may stretch or shrink this much for free "
             "(a flat-bottomed well); 0 is the published harmonic loss."),
            ("freeBits", "KL free bits",
             "Nats of KL below which the Gaussian prior's KL term is "
             "not penalised (avoids posterior collapse)."),
            ("klBeta", "KL weight", "Final weight of the KL term."),
            ("maskRadius", "Mask radius",
             "Radius of the circular loss mask, as a fraction of half "
             "the box.")):
        group.addParam(name, params.FloatParam, default=_train(name),
                       label=label, help=text)
    group.addParam("sigma", params.FloatParam, default=_train("sigma"),
                   allowsNull=True, label="Gaussian width (A)",
                   help="Standard deviation of the Gaussians rendered in "
                        "the projections. Empty: 2 A, a residue's, or an "
                        "atom's (1 A widened by the pixel) when every heavy "
                        "atom is rendered.")
    define_network(group)
    group.addParam("elasticWeightFinal", params.FloatParam, allowsNull=True,
                   default=_train("elasticWeightFinal"), label="Final elastic weight",
                   help=auto_help(
                       "The elastic-network weight decays (cosine) from its "
                       "weight above to this value over the run: strong "
                       "restraints early carry the model through the noise, "
                       "weaker ones late let the images set the local "
                       "geometry. The weight above keeps it constant.",
                       "elastic_weight_final"))
    group.addParam("klWarmup", params.IntParam, default=_train("klWarmup"),
                   allowsNull=True, label="KL warm-up (steps)",
                   help=auto_help("Optimisation steps over which the KL weight "
                                  "rises from 0 to its final value.", "kl_warmup"))
    group.addParam("seed", params.IntParam, default=_train("seed"), label="Random seed",
                   help="Seed of the particle order, the noise and the "
                        "initial weights: the same seed and inputs give "
                        "the same run.")
    form.addParam("extraParams", params.StringParam, default="",
                  condition=NEW_RUN, expertLevel=params.LEVEL_ADVANCED,
                  label="Extra engine options",
                  help="Further options for 'cryostar-boltz train' (see "
                       "its --help), e.g. *--amp* for mixed precision.")


def define_stage2(form):
    form.addSection(label="Density (stage 2)")
    form.addParam("doDensity", params.BooleanParam, default=False,
                  label="Train the density decoder?",
                  help="After stage 1, learn a density map for every "
                       "latent (the stage-1 latents stay fixed). Needed "
                       "to generate maps; structures need only stage 1.")
    form.addParam("densityEpochs", params.IntParam, default=DENSITY.epochs,
                  validators=[params.Positive], condition="doDensity",
                  label="Epochs", help="Passes over the particles.")
    form.addParam("densityBox", params.IntParam, default=DENSITY.box or 0,
                  condition="doDensity", label="Box (px)",
                  help="Downsample the particles to this box for stage "
                       "2; 0 uses the stage-1 box. The maps have this "
                       "box.")
    form.addParam("densityExcludeJunk", params.BooleanParam, default=False,
                  condition="doDensity", label="Leave out junk particles?",
                  help="Train the maps without the particles whose stage-1 "
                       "junk score is above 2 (their poses fit no better "
                       "than random ones; --exclude-junk).")
    form.addParam("densityHidden", params.IntParam, default=DENSITY.hidden,
                  validators=[params.Positive], condition="doDensity",
                  expertLevel=params.LEVEL_ADVANCED, label="Decoder width",
                  help="Width of the density decoder (1024 as in "
                       "cryoDRGN; smaller is faster on a CPU).")
    form.addParam("densityLayers", params.IntParam, default=DENSITY.layers,
                  validators=[params.Positive], condition="doDensity",
                  expertLevel=params.LEVEL_ADVANCED, label="Residual blocks",
                  help="Depth of the decoder.")
    form.addParam("densityBatch", params.IntParam, default=DENSITY.batch_size,
                  validators=[params.Positive], condition="doDensity", label="Batch size",
                  expertLevel=params.LEVEL_ADVANCED, help="Particles per step.")
