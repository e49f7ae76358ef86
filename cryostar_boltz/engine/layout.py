"""Names of the files and folders the engine writes, in one place.

A training run is a folder (``RUN/``); every later command reads it and
writes an output folder of its own. The engine writes these names, and the
Scipion protocols and viewers read them from here, so the two cannot drift
apart. This module imports nothing heavy (no numpy, no torch): Scipion's
process imports it.

Run folder (``cryostar-boltz train --out RUN``)::

    run.json           what run this is: command, id, date, inputs
                       (``engine.outputs``; every output folder has one)
    config.json        every option of the run (TrainConfig)
    run.log            what the run printed (options chosen, epochs, final
                       lines), each line timed; appended on --resume
    metrics.csv        every loss term per step; on each epoch's last
                       row how much z and the PC1 motion still change
    checkpoints/       last.pt (resume) and epoch_NNNN.pt (weights; at most 20 epochs)
    cache/             downsampled particle stacks (particles_BOX.mrcs,
                       reused on resume and by stage 2)
    domains.json       --motion domains: the rigid domains (given or found)
    reference.EXT      the run's copy of the reference model
    z.npy z_logvar.npy posterior means and log-variances, particle order
    z_code.npy         binary code per particle (rbm prior only)
    particle_loss.npy  image loss per particle with its decoded structure
                       (lower fits better), its pose contrast (against
    pose_contrast.npy  random orientations) and the junk score (robust
    junk_score.npy     z-score of the contrast; ``engine.particle_scores``)
    searched_poses.npz the poses searched for the particles whose junk score
                       is above --outlier-z, and which of their latents
                       come from them (``training.pose_search``)
    model.pt           the trained model: written last, marks a finished run
    analysis/          PCA paths (pcN.npy, pcN.pdb/.cif) and k-means centres
                       (kmeansK/: labels, centers, centers_particles;
                       summary.json)
    density/           stage 2: its own config.json, run.log, checkpoints/,
                       metrics.csv and model.pt
    half1/ half2/      --half-sets: one ordinary run per half-set (trained on
                       halves/half1.star, halves/half2.star)
    halves/            --half-sets: the split (split.npy, 1 or 2 per particle),
                       the halves' particle files, and agreement.json,
                       agreement.png (how well the two halves agree)

Every other command writes an output folder and, last, a JSON record of
what it made: ``summary.json`` (generate, analyze), ``info.json`` and
``basins.json`` (sample-prior); readers take file names from the record.

Structure outputs: ``STEM.pdb`` (full atom, multi-model), ``STEM_coarse.pdb``
(one pseudo-atom per residue), or ``STEM.cif`` and ``STEM_coarse.cif`` when
the run's models need mmCIF (``config.json`` ``format``; records name the
files), and ``STEM_z.npy`` (the decoder inputs used);
maps ``STEM_000.mrc``, ``STEM_001.mrc``... (one per decoder input).
"""
from pathlib import Path

# ------------------------------------------------------------ run folder
#: The record of what run or command owns a folder (``engine.outputs``):
#: written first, when the folder is claimed.
RUN_RECORD = "run.json"
CONFIG = "config.json"
#: Latent priors whose basins come from their own weighted chains rather
#: than from ``--basin-reads`` prior samples (those that override
#: ``Prior._weighted_basin_samples`` in ``engine/priors``; a test pins the
#: two).
WEIGHTED_CHAIN_PRIORS = ("ebm",)
METRICS = "metrics.csv"
#: What a training run printed, line by line with the time (appended on resume).
RUN_LOG = "run.log"
#: Columns of the metrics table measured once per epoch (on the epoch's
#: last row, empty on the others): how much the latent embedding and the
#: decoded PC1 motion changed since the previous epoch
#: (``engine.training.convergence``).
LATENT_CORR = "latent_corr"
PC1_RMSD = "pc1_rmsd"
CONVERGENCE_COLUMNS = (LATENT_CORR, PC1_RMSD)
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.pt"
EPOCH_CHECKPOINT = "epoch_%04d.pt"
CACHE = "cache"
#: A particle stack downsampled to a box (``% box``), in ``CACHE``.
CACHED_PARTICLES = "particles_%d.mrcs"
REFERENCE_STEM = "reference"
LATENTS = "z.npy"
LATENT_LOGVAR = "z_logvar.npy"
CODES = "z_code.npy"
#: Per-particle scores at the end of training, (N,) float32 each
#: (``engine.particle_scores``): the image loss with the particle's pose
#: (lower fits better), the pose contrast (that loss minus the mean loss at
#: random orientations: about 0 for junk) and the junk score (the robust
#: z-score of the contrast: high for junk).
PARTICLE_LOSS = "particle_loss.npy"
POSE_CONTRAST = "pose_contrast.npy"
JUNK_SCORE = "junk_score.npy"
#: The poses searched after training for the particles the pose screen
#: flags (``training.pose_search``): their indices, RELION angles and
#: origins, the losses with the consensus and the searched pose, and which
#: latents were taken from the searched pose.
SEARCHED_POSES = "searched_poses.npz"
MODEL = "model.pt"
#: The particles a run was trained on: their count and a hash of their
#: ordered image identifiers (``particles.fingerprint``).
PARTICLE_FINGERPRINT = "particles_fingerprint.json"
#: SHA-256 of the focus mask's voxels and voxel size a run was trained with.
MASK_FINGERPRINT = "mask_fingerprint.json"
#: --motion domains: the rigid domains trained with (given or found).
DOMAINS = "domains.json"
ANALYSIS = "analysis"
DENSITY = "density"
#: --half-sets: the two half-set runs (ordinary run folders inside the run),
#: and the folder of the split, the halves' particle files and their
#: agreement report.
HALF_RUNS = ("half1", "half2")
HALVES = "halves"
HALF_SPLIT = "split.npy"
HALF_PARTICLES = "half%d.star"
AGREEMENT = "agreement.json"
AGREEMENT_PLOT = "agreement.png"

# ------------------------------------------------------------ output folders
#: The record each command writes last in its output folder (what it made).
SUMMARY = "summary.json"
#: sample-prior: facts of the samples (sampler, timing, energies...).
SAMPLES_INFO = "info.json"
#: sample-prior: per-sample arrays beside the decoder inputs (``LATENTS``):
#: the energy of each sample, its free energy F(z), its binary state.
ENERGIES = "energies.npy"
FREE_ENERGY = "free_energy.npy"
STATES = "states.npy"
#: sample-prior: array name -> file (the decoder inputs are ``LATENTS``).
SAMPLE_ARRAYS = {"z": LATENTS, "energies": ENERGIES, "free_energy": FREE_ENERGY,
                 "states": STATES}
#: sample-prior --basins: the basin table.
BASINS_INFO = "basins.json"
#: analyze and the run's own analysis.
PCA = "pca.npz"
LABELS = "labels.npy"
UMAP = "umap.npy"
#: analyze --exclude-junk: rows of the particles kept (the run's order).
KEPT_INDICES = "kept.npy"
#: The run's own analysis: points along principal component N (``% N``)
#: and the folder of k-means with K clusters (``% K``).
PC_PATH = "pc%d"
PC_POINTS = PC_PATH + ".npy"
KMEANS = "kmeans%d"
#: Cluster centres in latent space, and the particle snapped to each, by
#: the names cryoDRGN's analysis gives them (``centers.txt``,
#: ``centers_ind.txt``): the run's own k-means and ``analyze`` alike
#: (``analyze`` writes its clusters' structures and maps under the stem
#: ``CLUSTERS``).
CENTRES = "centers.npy"
CENTRE_PARTICLES = "centers_particles.npy"
#: What earlier analyze folders named them (read by plots, replaced by
#: --overwrite).
OLD_CLUSTER_CENTRES = "centres.npy"
OLD_CLUSTER_CENTRE_PARTICLES = "centres_particles.npy"
CLUSTERS = "clusters"
CLUSTER_MAPS = "cluster"
#: sample-prior: the samples' and the basins' structures (stems), the
#: basins' decoder inputs.
SAMPLES = "samples"
BASINS = "basins"
BASIN_POINTS = "basins_z.npy"
#: select: the subset (RELION star, cryoSPARC .cs for .cs input) and the
#: rows of the selected particles in the run's particle order.
SELECTED_STAR = "particles.star"
SELECTED_CS = "particles.cs"
SELECTED_INDICES = "indices.npy"
#: reconstruct: the two half-maps, the map of both, the half-map FSC
#: (``resolution_A,fsc``) and its picture, the rows of the particles
#: backprojected, and (with a density decoder) the stage-2 map at their
#: mean latent with its FSC against the map.
HALF_MAPS = ("half1.mrc", "half2.mrc")
FULL_MAP = "map.mrc"
FSC_TABLE = "fsc.csv"
FSC_PLOT = "fsc.png"
DECODED_MAP = "decoded.mrc"
DECODED_FSC_TABLE = "fsc_decoded.csv"
#: Structure files: STEM + suffix of the run's format (``--format``, in
#: config.json): ``STEM.pdb`` and ``STEM_coarse.pdb``, or ``STEM.cif`` and
#: ``STEM_coarse.cif`` when a PDB file cannot hold the model.
STRUCTURE_SUFFIXES = {"pdb": ".pdb", "cif": ".cif"}
COARSE_TAG = "_coarse"
POINTS_SUFFIX = "_z.npy"
MAP_SUFFIX = ".mrc"
#: Compressed atomic-model suffixes kept whole when the reference is copied.
COMPRESSED_MODEL_SUFFIXES = (".pdb.gz", ".cif.gz", ".ent.gz")

# ------------------------------------------------------------ Scipion side
#: The engine's run folder inside a training protocol's extra folder.
PROTOCOL_RUN = "run"
#: The particles a training protocol hands to the engine (RELION star) and
#: their Scipion ids in the star's row order.
PROTOCOL_PARTICLES = "particles.star"
PROTOCOL_PARTICLE_IDS = "particle_ids.npy"
#: The engine's output folder inside a sample-prior, generate or analyze
#: protocol's extra folder.
PROTOCOL_SAMPLES = "samples"
PROTOCOL_ENSEMBLE = "ensemble"
PROTOCOL_ANALYSIS = "analysis"
#: The reconstruct protocol's engine output folders, one per subset
#: (``% name``).
PROTOCOL_RECONSTRUCTION = "reconstruction_%s"
#: The select protocol's engine output folder and the polygon file it
#: hands to the engine.
PROTOCOL_SELECTION = "selection"
PROTOCOL_POLYGON = "polygon.json"
#: Where viewers write their pictures, under a protocol's extra folder.
PLOTS = "plots"
#: plot: ChimeraX scripts (NAME + SCRIPT_SUFFIX), the displacement models
#: they open (NAME + DISPLACEMENT_TAG + the ensemble's structure suffix) and
#: the 2-D points of each latent picture (NAME + PICTURE_POINTS_SUFFIX).
SCRIPT_SUFFIX = ".cxc"
DISPLACEMENT_TAG = "_displacement"
PICTURE_POINTS_SUFFIX = "_points.npz"

# ------------------------------------------------------------ owned outputs
#: What each command writes in the folder it owns (glob patterns, ``%s``:
#: the base name of generate's files): what ``--overwrite`` removes, and
#: nothing else.
RUN_OUTPUTS = (RUN_RECORD, CONFIG, RUN_LOG, METRICS, CHECKPOINTS, CACHE, REFERENCE_STEM + ".*",
               LATENTS, LATENT_LOGVAR, CODES, PARTICLE_LOSS, POSE_CONTRAST, JUNK_SCORE, SEARCHED_POSES,
               MODEL, PARTICLE_FINGERPRINT, MASK_FINGERPRINT, DOMAINS,
               ANALYSIS, DENSITY, "analysis_*", PLOTS, HALVES) + HALF_RUNS
DENSITY_OUTPUTS = (RUN_RECORD, CONFIG, RUN_LOG, METRICS, CHECKPOINTS, MODEL)
GENERATE_OUTPUTS = (RUN_RECORD, SUMMARY, "%s.*", "%s_coarse.*", "%s" + POINTS_SUFFIX,
                    "%s_[0-9]*" + MAP_SUFFIX)
SAMPLE_OUTPUTS = (RUN_RECORD, SAMPLES_INFO, BASINS_INFO, LATENTS, ENERGIES,
                  FREE_ENERGY, STATES, BASIN_POINTS, SAMPLES + ".*",
                  SAMPLES + "_coarse.*", BASINS + ".*", BASINS + "_coarse.*")
ANALYZE_OUTPUTS = (RUN_RECORD, SUMMARY, LABELS, CENTRES, CENTRE_PARTICLES,
                   OLD_CLUSTER_CENTRES, OLD_CLUSTER_CENTRE_PARTICLES,
                   PCA, UMAP, KEPT_INDICES, CLUSTERS + ".*", CLUSTERS + "_coarse.*",
                   CLUSTER_MAPS + "_*")
SELECT_OUTPUTS = (RUN_RECORD, SUMMARY, SELECTED_STAR, SELECTED_CS, SELECTED_INDICES)
SIMULATE_OUTPUTS = (RUN_RECORD, "%s.star", "%s.mrcs", "%s_truth.npz",
                    REFERENCE_STEM + ".*")
RECONSTRUCT_OUTPUTS = (RUN_RECORD, SUMMARY, FULL_MAP, FSC_TABLE, FSC_PLOT, DECODED_MAP,
                       DECODED_FSC_TABLE, SELECTED_INDICES) + HALF_MAPS
PLOT_OUTPUTS = (RUN_RECORD, SUMMARY, "*.png", "*" + SCRIPT_SUFFIX,
                "*" + PICTURE_POINTS_SUFFIX) + tuple(
                    "*" + DISPLACEMENT_TAG + suffix for suffix in STRUCTURE_SUFFIXES.values())
#: Names that only the engine writes: a folder holding one of them without
#: a ``RUN_RECORD`` holds an older command's outputs.
ENGINE_NAMES = (RUN_RECORD, CONFIG, MODEL, CHECKPOINTS, METRICS, LATENTS, SUMMARY,
                SAMPLES_INFO, BASINS_INFO, LABELS, PCA, DENSITY, ANALYSIS, CACHE)


def glob_pattern(name):
    """A numbered name of this module (``PC_PATH``, ``KMEANS``...) as a
    glob pattern matching every number."""
    return name.replace("%d", "*")


def structure_files(stem, fmt="pdb"):
    """(full-atom, coarse) multi-model files of the structures ``stem`` in
    format ``fmt`` (``'pdb'`` or ``'cif'``; ValueError otherwise)."""
    if fmt not in STRUCTURE_SUFFIXES:
        raise ValueError("structure format %r: expected one of %s"
                         % (fmt, ", ".join(STRUCTURE_SUFFIXES)))
    stem, suffix = Path(stem), STRUCTURE_SUFFIXES[fmt]
    return (stem.parent / (stem.name + suffix),
            stem.parent / (stem.name + COARSE_TAG + suffix))


def structure_patterns(stem_pattern):
    """Glob patterns of the full-atom files ``stem_pattern`` + suffix, one
    per format (``glob_pattern(PC_PATH)`` -> ``('pc*.pdb', 'pc*.cif')``);
    coarse files match too: leave them out with :func:`is_coarse`."""
    return tuple(stem_pattern + suffix for suffix in STRUCTURE_SUFFIXES.values())


def is_coarse(path):
    """Whether ``path`` names a coarse structure file (``STEM_coarse.EXT``)."""
    return any(Path(path).name.endswith(COARSE_TAG + suffix)
               for suffix in STRUCTURE_SUFFIXES.values())


def structure_stem(path):
    """The stem of a structure file the engine wrote: ``out/basins.cif`` ->
    ``out/basins`` (also for ``STEM_coarse.EXT``)."""
    path = Path(path)
    name = path.name
    for suffix in STRUCTURE_SUFFIXES.values():
        for tail in (COARSE_TAG + suffix, suffix):
            if name.endswith(tail):
                return path.parent / name[:-len(tail)]
    return path.parent / path.stem


def points_file(stem):
    """The decoder inputs of the structures or maps ``stem``."""
    stem = Path(stem)
    return stem.parent / (stem.name + POINTS_SUFFIX)


def map_file(stem, index, count):
    """Map ``index`` of ``count`` maps ``stem``: ``stem_007.mrc`` (at least
    three digits, enough for ``count - 1``)."""
    stem = Path(stem)
    width = max(3, len(str(count - 1)))
    return stem.parent / ("%s_%0*d%s" % (stem.name, width, index, MAP_SUFFIX))


def model_suffix(path):
    """The suffix a copy of the atomic model ``path`` keeps: ``.cif``,
    ``.pdb.gz``... (``.pdb`` when it has none)."""
    name = str(path).lower()
    for ext in COMPRESSED_MODEL_SUFFIXES:
        if name.endswith(ext):
            return ext
    return Path(path).suffix or ".pdb"


class RunLayout:
    """The paths of a training run folder."""

    def __init__(self, run_dir):
        self.root = Path(run_dir)

    def __repr__(self):
        return "RunLayout(%r)" % str(self.root)

    config = property(lambda self: self.root / CONFIG)
    metrics = property(lambda self: self.root / METRICS)
    checkpoints = property(lambda self: self.root / CHECKPOINTS)
    last_checkpoint = property(lambda self: self.root / CHECKPOINTS / LAST_CHECKPOINT)
    cache = property(lambda self: self.root / CACHE)
    latents = property(lambda self: self.root / LATENTS)
    latent_logvar = property(lambda self: self.root / LATENT_LOGVAR)
    codes = property(lambda self: self.root / CODES)
    particle_loss = property(lambda self: self.root / PARTICLE_LOSS)
    pose_contrast = property(lambda self: self.root / POSE_CONTRAST)
    junk_score = property(lambda self: self.root / JUNK_SCORE)
    searched_poses = property(lambda self: self.root / SEARCHED_POSES)
    model = property(lambda self: self.root / MODEL)
    particle_fingerprint = property(lambda self: self.root / PARTICLE_FINGERPRINT)
    mask_fingerprint = property(lambda self: self.root / MASK_FINGERPRINT)
    domains = property(lambda self: self.root / DOMAINS)
    analysis = property(lambda self: self.root / ANALYSIS)
    pca = property(lambda self: self.root / ANALYSIS / PCA)
    density = property(lambda self: self.root / DENSITY)

    @property
    def density_run(self):
        """The layout of the stage-2 run folder ``density/`` (its own
        config, metrics, checkpoints and model)."""
        return RunLayout(self.density)

    @property
    def halves(self):
        """Folder of the half-set split and agreement (``--half-sets``)."""
        return self.root / HALVES

    def half_run(self, half):
        """The layout of half-set run ``half`` (1 or 2)."""
        return RunLayout(self.root / HALF_RUNS[half - 1])

    def half_particles(self, half):
        """The particle file half-set run ``half`` (1 or 2) trains on."""
        return self.halves / (HALF_PARTICLES % half)

    agreement = property(lambda self: self.root / HALVES / AGREEMENT)
    agreement_plot = property(lambda self: self.root / HALVES / AGREEMENT_PLOT)
    half_split = property(lambda self: self.root / HALVES / HALF_SPLIT)

    def epoch_checkpoint(self, epoch):
        return self.checkpoints / (EPOCH_CHECKPOINT % epoch)

    def cached_particles(self, box):
        """The particle stack downsampled to ``box`` pixels."""
        return self.cache / (CACHED_PARTICLES % box)

    def pc_path(self, component):
        """Stem of the run's analysis along principal component
        ``component`` (1-based)."""
        return self.analysis / (PC_PATH % component)

    def pc_points(self, component):
        """Latent points (n, d) along principal component ``component``."""
        return self.analysis / (PC_POINTS % component)

    def kmeans(self, k):
        """Folder of the run's analysis by k-means with ``k`` clusters."""
        return self.analysis / (KMEANS % k)

    def reference_copy(self, suffix=None):
        """The run's copy of the reference: ``reference`` + ``suffix``, or,
        without a suffix, the copy that exists (None if none)."""
        if suffix is not None:
            return self.root / (REFERENCE_STEM + suffix)
        copies = sorted(self.root.glob(REFERENCE_STEM + ".*"))
        return copies[0] if copies else None

    def require_finished(self):
        """The run folder (a Path) when it holds a finished stage-1 run; a
        FileNotFoundError naming the folder and what is missing otherwise
        (torch-free, so commands check before importing torch)."""
        if not self.root.is_dir():
            raise FileNotFoundError("run folder %s not found" % self.root)
        if not self.model.exists():
            if self.config.exists():
                raise FileNotFoundError(
                    "%s: no %s: the run has not finished training (resume it "
                    "with 'cryostar-boltz train --resume --out %s')"
                    % (self.root, MODEL, self.root))
            raise FileNotFoundError("%s is not a training run folder (no %s)"
                                    % (self.root, CONFIG))
        return self.root

    def prior_name(self):
        """The latent prior the run was trained with (``prior`` in its
        config.json; "gaussian" when the config has none); a
        FileNotFoundError or ValueError naming the file when it is missing
        or is not JSON."""
        import json
        try:
            with open(self.config) as fh:
                saved = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError("%s: not JSON (%s)" % (self.config, exc)) from None
        prior = saved.get("prior", "gaussian") if isinstance(saved, dict) else None
        if not isinstance(prior, str):
            raise ValueError("%s: 'prior' is not a prior name" % self.config)
        return prior

    def basin_reads_used(self, basin_reads, basins):
        """``basin_reads`` (``--basin-reads``) when it decides the outputs:
        basins are asked for (``basins``) and the run's prior draws samples
        for them; None otherwise (no basins, or a prior of
        :data:`WEIGHTED_CHAIN_PRIORS`), so that a value given where it
        does not apply is no "other option" on a rerun."""
        if not basins or self.prior_name() in WEIGHTED_CHAIN_PRIORS:
            return None
        return basin_reads

    def is_finished(self):
        """Whether stage 1 finished: the config, the latents and the model
        (written last) are all there."""
        return all(p.exists() for p in (self.config, self.latents, self.model))

    def has_density(self):
        """Whether a stage-2 density decoder finished."""
        return self.density_run.model.is_file()
