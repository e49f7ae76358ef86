"""Names shared by the Scipion plugin, its protocols and viewers."""

#: Plugin variable: the folder of the engine's own environment, made by the
#: binary install (``scipion3 installb cryostar-boltz``) under Scipion's
#: software folder.
ENGINE_HOME = "CRYOSTAR_BOLTZ_HOME"
#: Plugin variable: a shell command that activates the environment in which
#: the engine runs (for example ``conda activate cryostar-boltz``). Empty means
#: the engine runs in the interpreter that runs Scipion.
ENV_ACTIVATION = "CRYOSTAR_BOLTZ_ENV_ACTIVATION"
#: Plugin variable: the Python interpreter of the engine environment.
ENGINE_PYTHON = "CRYOSTAR_BOLTZ_PYTHON"

ENGINE_MODULE = "cryostar_boltz.engine.cli"

#: Program name recorded in the flexibility information (``FlexInfo``) of
#: every set the protocols create; viewers and other plugins test it.
CRYOSTAR_BOLTZ = "CryoSTAR-Boltz"

# Attributes of the flexibility information (``FlexInfo.setAttr``): paths are
# relative to the project folder, like every Scipion path.
#: The engine's training run folder (what every later command reads).
FLEX_RUN_DIR = "runDir"
#: The trained model of the run (``RUN/model.pt``).
FLEX_MODEL = "modelPath"
#: The run's configuration (``RUN/config.json``).
FLEX_CONFIG = "configPath"
#: Latent prior name (gaussian, gmm, grbm, rbm, ebm) and its options (JSON text).
FLEX_PRIOR = "prior"
FLEX_PRIOR_OPTIONS = "priorOptions"
#: Size of the continuous latent.
FLEX_LATENT_DIM = "latentDim"
#: Scipion ids of the particles in the order of the run's rows (``.npy``).
FLEX_PARTICLE_IDS = "particleIds"
#: The reference model the run was trained with (its copy in the run).
FLEX_REFERENCE = "reference"
#: Whether the structure items of a set are full-atom or one pseudo-atom per
#: residue ("full" or "coarse").
FLEX_ATOMS = "atoms"
#: The latent source a generated ensemble came from (pca, kmeans, basins,
#: samples, file) and, for prior samples, the sampler used.
FLEX_SOURCE = "source"
FLEX_SAMPLER = "sampler"

# Per-item attributes of sampled or generated structures.
#: Energy of the sample: the binary model's energy for Boltzmann priors,
#: the free energy F(z) otherwise.
ITEM_ENERGY = "_cryostarEnergy"
#: Free energy F(z) of the latent under the prior.
ITEM_FREE_ENERGY = "_cryostarFreeEnergy"
#: Basin index (basin mode) or cluster index (analysis), 0-based.
ITEM_INDEX = "_cryostarIndex"

# Choices of the protocol forms: the engine's names, in the engine's order.
# Scipion's process does not import the engine's registries (they import
# torch); tests/scipion/test_form_choices.py pins these to them.
#: Latent priors (``engine/priors/`` PRIORS).
PRIORS = ("gaussian", "gmm", "grbm", "rbm", "ebm")
#: Priors built on a binary Boltzmann machine, sampled through a dimod sampler.
BOLTZMANN_PRIORS = ("grbm", "rbm")
#: Priors with a binary part in their decoder input (no continuous sampler).
BINARY_CODE_PRIORS = ("rbm",)
#: Built-in samplers (``engine/samplers`` SAMPLERS): dimod samplers of
#: binary models, then the continuous samplers.
SAMPLERS = ("gibbs", "sa", "sa-optimise", "exact", "qpu", "langevin", "mala")
#: Continuous samplers (``engine/samplers`` CONTINUOUS_SAMPLERS): they
#: sample F(z) of every prior with a continuous latent.
CONTINUOUS_SAMPLERS = ("langevin", "mala")
#: The sampler the form offers first (the Boltzmann priors' default).
DEFAULT_SAMPLER = "gibbs"
#: The sampler the engine uses for each prior when none is named (or the
#: named one does not apply): ``direct`` draws the prior exactly.
PRIOR_SAMPLERS = {"gaussian": "direct", "gmm": "direct", "grbm": "gibbs",
                  "rbm": "gibbs", "ebm": "mala"}
#: Where generated latent points come from (``engine/latents.py`` SOURCES,
#: then a file of points).
GENERATE_SOURCES = ("pca", "kmeans", "basins", "samples", "file")
#: The options that choose each source's points (``engine/latents.py``
#: SOURCE_OPTIONS): the generate protocol passes only these.
GENERATE_SOURCE_OPTIONS = {"file": (), "pca": ("component", "n"), "kmeans": ("k",),
                           "basins": ("k", "seed"), "samples": ("n", "sampler", "seed")}
#: Clustering methods (``engine/analysis.py`` METHODS).
CLUSTER_METHODS = ("kmeans", "gmm", "basins")
#: Coordinates a polygon of the select protocol is drawn in
#: (``cryostar_boltz.engine.selection.SPACES``).
SELECT_SPACES = ("pca", "umap")
#: Where each residue's Gaussian is rendered (``engine/pseudoatoms.py`` MODES).
PSEUDO_ATOMS = ("ca", "centroid", "atoms")
#: The training form's rendering choice: auto (derived) or a rendering.
PSEUDO_ATOM_CHOICES = ("auto",) + PSEUDO_ATOMS
#: What the stage-1 encoder sees (``engine/training/config.py``
#: ENCODER_INPUTS): auto (derived), each image turned and centred by its
#: pose, or the image as recorded.
ENCODER_INPUT_CHOICES = ("auto", "aligned", "raw")
#: Whose poses stage 1 searches after training (``engine/training/config.py``
#: POSE_SEARCHES): auto (derived), the particles the pose screen flags, or none.
POSE_SEARCH_CHOICES = ("auto", "flagged", "off")
#: Settings of a training run (``engine/training/derived.py`` PRESETS): auto,
#: the recommended options derived from the data, or cryostar, the
#: published method's.
PRESETS = ("auto", "cryostar")
#: Structure files a run writes (``engine/structure/formats.py``
#: FORMAT_CHOICES): auto (PDB when it holds the model), pdb, cif.
STRUCTURE_FORMATS = ("auto", "pdb", "cif")
#: How the decoder moves the reference (``engine/training/config.py``
#: MOTIONS): a displacement per residue, or one rigid transform per domain.
MOTIONS = ("free", "domains")
#: Particle subsets the reconstruct protocol backprojects (one map each):
#: all particles, the rows of a .npy file, each cluster of an analysis,
#: each bin along a principal path, each prior basin.
RECONSTRUCT_SUBSETS = ("all", "indices", "clusters", "pc bins", "basins")
