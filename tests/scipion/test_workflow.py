"""The whole workflow in a headless Scipion project.

Simulated adenylate-kinase particles (two states, 32 px) and the reference
model are imported, then: train (stage 1 with a grbm prior, and a small
stage 2) -> sample the prior -> generate an ensemble -> analyze, and a
cluster subset goes through a standard pwem protocol. Training is
continued, bad particles are refused by the form's validation, and a
failing engine job leaves the project usable.
"""
import os

import numpy as np
import pytest

pwem = pytest.importorskip("pwem")

from pwem.constants import ALIGN_NONE, ALIGN_PROJ  # noqa: E402
from pwem.objects import (AtomStruct, SetOfAtomStructFlex, SetOfClassesFlex,  # noqa: E402
                          SetOfParticles, SetOfParticlesFlex, SetOfVolumesFlex)
from pwem.protocols import (ProtImportParticles, ProtImportPdb,  # noqa: E402
                            ProtUnionSet)
from pyworkflow.object import Pointer  # noqa: E402

from cryostar_boltz import constants as cts, convert  # noqa: E402
from cryostar_boltz.protocols import (CryoStarBoltzProtAnalyze,  # noqa: E402
                                      CryoStarBoltzProtGenerate,
                                      CryoStarBoltzProtReconstruct,
                                      CryoStarBoltzProtSamplePrior,
                                      CryoStarBoltzProtSelect,
                                      CryoStarBoltzProtTrain)

BOX = 32
APIX = 4.0
N_PARTICLES = 200
LATENT_DIM = 2
HIDDEN_UNITS = 3
N_RESIDUES = 214
#: Settings that keep every protocol small and on the CPU.
CPU = {"useGpu": False, "numberOfThreads": 1}
#: A tiny run: 1 epoch of stage 1 (grbm prior) and of stage 2.
TRAIN = dict(CPU, numberOfEpochs=1, batchSize=32, latentDim=LATENT_DIM,
             boxSize=BOX, lowPass=12.0, prior=cts.PRIORS.index("grbm"),
             priorSize=HIDDEN_UNITS, doDensity=True, densityEpochs=1,
             densityHidden=32, densityLayers=1)


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def simulated(tmp_path_factory, adk_dir):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = tmp_path_factory.mktemp("workflow_sim")
    result = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                              out, n_particles=N_PARTICLES, box=BOX, apix=APIX,
                              snr=1.0, seed=5)
    return result, dict(np.load(result.truth)), out


def run_log(protocol):
    return "".join(open(p).read() for p in protocol.getLogPaths()
                   if os.path.exists(p))


def new(project, protocol_class, inputs=None, **params):
    """A protocol whose pointer parameters ``inputs`` (name -> (protocol,
    output name)) point to outputs the way the GUI sets them."""
    protocol = project.newProtocol(protocol_class, **params)
    for name, (source, extended) in (inputs or {}).items():
        getattr(protocol, name).set(source)
        if extended:
            getattr(protocol, name).setExtended(extended)
    return protocol


def launch(project, protocol_class, inputs=None, **params):
    protocol = new(project, protocol_class, inputs, **params)
    project.launchProtocol(protocol, wait=True)
    if not protocol.isFinished():
        pytest.fail("%s ended %s:\n%s" % (protocol_class.__name__,
                                          protocol.getStatus(),
                                          run_log(protocol)[-4000:]))
    return protocol


def latents_of(train):
    return {"inputParticles": (train, "Particles")}


def output(protocol, name):
    """A pointer to an output, as the GUI makes it (for pointer lists)."""
    return Pointer(protocol, extended=name)


def import_particles(project, sqlite, truth):
    return launch(project, ProtImportParticles,
                  importFrom=ProtImportParticles.IMPORT_FROM_SCIPION,
                  sqliteFile=str(sqlite), samplingRate=APIX,
                  voltage=float(truth["ctf"][0, 3]),
                  sphericalAberration=float(truth["ctf"][0, 4]),
                  amplitudeContrast=float(truth["ctf"][0, 5]))


@pytest.fixture(scope="module")
def imported(project, simulated, tmp_path_factory):
    result, truth, out = simulated
    sqlite = tmp_path_factory.mktemp("workflow_sqlite") / "particles.sqlite"
    convert.particles_star_to_sqlite(result.star, sqlite)
    particles = import_particles(project, sqlite, truth)
    reference = launch(project, ProtImportPdb,
                       inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                       pdbFile=str(out / "reference.pdb"), skipChimera=True)
    return particles, reference


@pytest.fixture(scope="module")
def train(project, imported):
    particles, reference = imported
    return launch(project, CryoStarBoltzProtTrain,
                  inputs={"inputParticles": (particles, "outputParticles"),
                          "inputReference": (reference, "outputPdb")}, **TRAIN)


@pytest.fixture(scope="module")
def analyze(project, train):
    return launch(project, CryoStarBoltzProtAnalyze,
                  inputs=latents_of(train), numberOfClusters=3,
                  **CPU)


def latents_by_id(train):
    particles = train.Particles
    info = particles.getFlexInfo()
    ids = convert.load_particle_ids(info.getAttr(cts.FLEX_PARTICLE_IDS))
    z = np.load(os.path.join(info.getAttr(cts.FLEX_RUN_DIR), "z.npy"))
    return dict(zip(ids.tolist(), z))


def pdb_atoms(path, name=None):
    with open(path) as fh:
        return sum(1 for line in fh if line.startswith("ATOM")
                   and (name is None or line[12:16].strip() == name))


# ------------------------------------------------------------ training

def test_train_outputs_particles_with_latents(train):
    particles = train.Particles
    assert isinstance(particles, SetOfParticlesFlex)
    assert particles.getSize() == N_PARTICLES
    assert particles.hasCTF() and particles.getAlignment() == ALIGN_PROJ
    assert particles.getSamplingRate() == pytest.approx(APIX)
    info = particles.getFlexInfo()
    assert info.getProgName() == cts.CRYOSTAR_BOLTZ
    assert info.getAttr(cts.FLEX_PRIOR) == "grbm"
    assert info.getAttr(cts.FLEX_LATENT_DIM) == LATENT_DIM
    run = info.getAttr(cts.FLEX_RUN_DIR)
    for name in ("model.pt", "config.json", "z.npy", "metrics.csv",
                 "checkpoints/last.pt", "density/model.pt"):
        assert os.path.isfile(os.path.join(run, name)), name
    assert os.path.isfile(info.getAttr(cts.FLEX_MODEL))
    # Each particle carries its own row of z.npy, matched by Scipion id.
    z = latents_by_id(train)
    for particle in particles.iterItems():
        assert particle.getFlexInfo().getProgName() == cts.CRYOSTAR_BOLTZ
        np.testing.assert_allclose(particle.getZFlex(), z[particle.getObjId()],
                                   rtol=1e-5, atol=1e-6)
        assert len(particle.getZRed()) == LATENT_DIM  # PCA scores
        assert particle.hasCTF() and particle.getTransform() is not None


def test_train_particles_carry_their_junk_score(train):
    """Each output particle carries the engine's junk score and image loss
    (the run's junk_score.npy and particle_loss.npy rows, by Scipion id)."""
    info = train.Particles.getFlexInfo()
    run = info.getAttr(cts.FLEX_RUN_DIR)
    ids = convert.load_particle_ids(info.getAttr(cts.FLEX_PARTICLE_IDS)).tolist()
    junk = dict(zip(ids, np.load(os.path.join(run, "junk_score.npy"))))
    loss = dict(zip(ids, np.load(os.path.join(run, "particle_loss.npy"))))
    for particle in train.Particles.iterItems():
        assert getattr(particle, convert.JUNK_SCORE_ATTR).get() == pytest.approx(
            float(junk[particle.getObjId()]), abs=1e-5)
        assert getattr(particle, convert.IMAGE_LOSS_ATTR).get() == pytest.approx(
            float(loss[particle.getObjId()]), abs=1e-5)


def test_analyze_can_exclude_junk(project, train):
    """Particles above the junk threshold are in no class and no subset."""
    analyze = launch(project, CryoStarBoltzProtAnalyze, inputs=latents_of(train),
                     numberOfClusters=2, excludeJunk=True, junkThreshold=0.5,
                     doMaps=False, **CPU)
    info = train.Particles.getFlexInfo()
    ids = convert.load_particle_ids(info.getAttr(cts.FLEX_PARTICLE_IDS))
    junk = np.load(os.path.join(info.getAttr(cts.FLEX_RUN_DIR), "junk_score.npy")) > 0.5
    assert 0 < junk.sum() < N_PARTICLES
    kept = set(ids[~junk].tolist())
    in_classes = {p.getObjId() for cls in analyze.Classes.iterItems()
                  for p in cls.iterItems()}
    assert in_classes == kept
    in_subsets = {p.getObjId() for name, out in analyze.iterOutputAttributes()
                  if name.startswith("ParticlesCluster") for p in out.iterItems()}
    assert in_subsets == kept
    assert any("excluded as junk" in line for line in analyze.summary())


def test_select_can_keep_all_but_the_junk(project, train):
    select = launch(project, CryoStarBoltzProtSelect, inputs=latents_of(train),
                    excludeJunk=True, junkThreshold=0.5)
    info = train.Particles.getFlexInfo()
    ids = convert.load_particle_ids(info.getAttr(cts.FLEX_PARTICLE_IDS))
    junk = np.load(os.path.join(info.getAttr(cts.FLEX_RUN_DIR), "junk_score.npy")) > 0.5
    assert {p.getObjId() for p in select.Particles.iterItems()} == set(ids[~junk].tolist())


def test_train_outputs_the_reference_used(train, imported):
    reference = train.Reference
    assert isinstance(reference, AtomStruct)
    assert os.path.isfile(reference.getFileName())
    with open(reference.getFileName()) as used, \
            open(imported[1].outputPdb.getFileName()) as given:
        assert used.read() == given.read()


def test_train_summary_and_methods(train):
    summary = "\n".join(train.summary())
    assert "grbm" in summary and "200 particles" in summary
    assert "Density decoder (stage 2): trained" in summary
    assert ("Convergence, measured from the second epoch on (one epoch trained "
            "so far).") in summary
    assert "Li2024cryostar" in "\n".join(train.methods())
    assert "Tieleman2008pcd" in train._citations()


# ------------------------------------------------------------ sampling

def test_sample_prior_decodes_samples_and_basins(project, train):
    protocol = launch(project, CryoStarBoltzProtSamplePrior,
                      inputs=latents_of(train),
                      numberOfSamples=5, maxStructures=4,
                      sampler=cts.SAMPLERS.index("gibbs"),
                      doBasins=True, maxBasins=4, basinReads=50, **CPU)
    samples, coarse = protocol.Samples, protocol.SamplesCoarse
    assert isinstance(samples, SetOfAtomStructFlex)
    # every sample's latent and energy is kept; the first 4 are decoded
    energies = np.load(protocol._getExtraPath("samples", "energies.npy"))
    assert len(energies) == 5
    assert samples.getSize() == coarse.getSize() == 4
    assert samples.getFlexInfo().getAttr(cts.FLEX_SAMPLER) == "gibbs"
    assert coarse.getFlexInfo().getAttr(cts.FLEX_ATOMS) == "coarse"
    for k, structure in enumerate(samples.iterItems(orderBy="id")):
        assert len(structure.getZFlex()) == LATENT_DIM
        assert getattr(structure, cts.ITEM_ENERGY).get() == pytest.approx(energies[k])
        assert pdb_atoms(structure.getFileName()) > N_RESIDUES
    for structure in coarse.iterItems():
        assert pdb_atoms(structure.getFileName(), "CA") == N_RESIDUES
    basins = protocol.Basins
    assert 1 <= basins.getSize() <= 4
    assert all(np.isfinite(getattr(b, cts.ITEM_ENERGY).get()) for b in basins)
    summary = "\n".join(protocol.summary())
    count = basins.getSize()
    assert "gibbs" in summary
    assert "%d basin%s, energies " % (count, "" if count == 1 else "s") in summary
    # the energy named once, in words
    assert "Energy of the binary quadratic model (dimod convention): mean" in summary
    assert "Energy (energy" not in summary


# ------------------------------------------------------------ generation

def test_generate_pca_path_structures_and_maps(project, train):
    protocol = launch(project, CryoStarBoltzProtGenerate,
                      inputs=latents_of(train),
                      source=cts.GENERATE_SOURCES.index("pca"), component=1,
                      numberOfPoints=3, **CPU)
    structures, coarse = protocol.Structures, protocol.StructuresCoarse
    volumes = protocol.Volumes
    assert structures.getSize() == coarse.getSize() == volumes.getSize() == 3
    assert isinstance(volumes, SetOfVolumesFlex)
    first = [s.getFileName() for s in coarse.iterItems(orderBy="id")]
    assert all(pdb_atoms(f, "CA") == N_RESIDUES for f in first)
    # Points along the path give distinct models.
    assert open(first[0]).read() != open(first[-1]).read()
    for volume in volumes.iterItems():
        assert os.path.isfile(volume.getFileName())
        assert len(volume.getZFlex()) == LATENT_DIM
    assert volumes.getSamplingRate() > 0
    assert structures.getFlexInfo().getAttr(cts.FLEX_SOURCE) == "pca"


def test_failing_engine_job_leaves_the_project_usable(project, train, tmp_path):
    bad = tmp_path / "bad_latents.npy"
    np.save(bad, np.zeros((2, LATENT_DIM + 3), dtype=np.float32))
    protocol = new(project, CryoStarBoltzProtGenerate, inputs=latents_of(train),
                   source=cts.GENERATE_SOURCES.index("file"),
                   latentFile=str(bad), **CPU)
    project.launchProtocol(protocol, wait=True)
    assert protocol.isFailed()
    assert protocol.getOutputsSize() == 0
    assert "decoder takes" in run_log(protocol)
    # the training outputs are untouched and still feed new protocols
    assert train.Particles.getSize() == N_PARTICLES
    good = launch(project, CryoStarBoltzProtGenerate,
                  inputs=latents_of(train),
                  source=cts.GENERATE_SOURCES.index("kmeans"),
                  numberOfClusters=2, doMaps=False, **CPU)
    assert good.Structures.getSize() == 2
    assert not good.hasAttribute("Volumes")


# ------------------------------------------------------------ analysis

def test_analyze_classes_and_subsets(analyze):
    classes = analyze.Classes
    assert isinstance(classes, SetOfClassesFlex)
    assert classes.getSize() == 3
    sizes = [cls.getSize() for cls in classes.iterItems()]
    assert sum(sizes) == N_PARTICLES
    for cls in classes.iterItems():
        representative = cls.getRepresentative()
        assert len(representative.getZFlex()) == LATENT_DIM
        assert os.path.isfile(representative.getFileName())  # stage-2 map
    assert analyze.ClusterStructures.getSize() == 3
    assert analyze.ClusterVolumes.getSize() == 3
    subsets = {name: out for name, out in analyze.iterOutputAttributes()
               if name.startswith("ParticlesCluster")}
    assert sorted(subsets) == ["ParticlesCluster000", "ParticlesCluster001",
                               "ParticlesCluster002"]
    labels = np.load(analyze._getExtraPath("analysis", "labels.npy"))
    ids = convert.load_particle_ids(
        analyze.inputParticles.get().getFlexInfo().getAttr(cts.FLEX_PARTICLE_IDS))
    seen = set()
    for k, (name, subset) in enumerate(sorted(subsets.items())):
        assert type(subset) is SetOfParticles
        assert subset.hasCTF() and subset.getAlignment() == ALIGN_PROJ
        assert subset.getSamplingRate() == pytest.approx(APIX)
        members = {p.getObjId() for p in subset.iterItems()}
        assert members == set(ids[labels == k].tolist())
        seen |= members
        particle = subset.getFirstItem()
        assert not hasattr(particle, "_zFlex")
        assert os.path.exists(particle.getFileName())
    assert len(seen) == N_PARTICLES


def test_cluster_subset_feeds_a_standard_protocol(project, analyze):
    union = project.newProtocol(ProtUnionSet)
    union.inputSets.append(output(analyze, "ParticlesCluster000"))
    union.inputSets.append(output(analyze, "ParticlesCluster001"))
    project.launchProtocol(union, wait=True)
    assert union.isFinished(), run_log(union)[-3000:]
    expected = (analyze.ParticlesCluster000.getSize()
                + analyze.ParticlesCluster001.getSize())
    assert union.outputSet.getSize() == expected
    assert union.outputSet.getAlignment() == ALIGN_PROJ


# ------------------------------------------------------------ selection

def test_polygon_selection_makes_a_subset(project, train):
    """A polygon on the PCA plane given as a parameter (as a project script
    or the latent viewer gives it) selects the particles inside it, as a
    plain subset that keeps each particle's CTF, pose and image."""
    import json
    from cryostar_boltz.engine.analysis import fit_pca
    from cryostar_boltz.engine.particles import read_star
    info = train.Particles.getFlexInfo()
    z = np.load(os.path.join(info.getAttr(cts.FLEX_RUN_DIR), "z.npy"))
    xy = fit_pca(z, min(z.shape[1], 10)).transform(z)[:, :2]
    cut = float(np.median(xy[:, 0]))
    pad = 10 * float(np.abs(xy).max()) + 1
    polygon = [[cut, -pad], [pad, -pad], [pad, pad], [cut, pad]]
    select = launch(project, CryoStarBoltzProtSelect, inputs=latents_of(train),
                    polygon=json.dumps(polygon), space=0)
    ids = convert.load_particle_ids(info.getAttr(cts.FLEX_PARTICLE_IDS))
    expected = set(ids[xy[:, 0] >= cut].tolist())
    subset = select.Particles
    assert type(subset) is SetOfParticles
    assert subset.hasCTF() and subset.getAlignment() == ALIGN_PROJ
    assert {p.getObjId() for p in subset.iterItems()} == expected
    originals = {p.getObjId(): p.clone() for p in train.Particles.iterItems()}
    for particle in subset.iterItems():
        original = originals[particle.getObjId()]
        assert particle.getLocation() == original.getLocation()
        assert particle.getCTF().getDefocusU() == original.getCTF().getDefocusU()
        np.testing.assert_array_equal(particle.getTransform().getMatrix(),
                                      original.getTransform().getMatrix())
        assert not hasattr(particle, "_zFlex")
    # the engine's subset keeps every column of the training particles
    star = read_star(select._getExtraPath("selection", "particles.star"))
    source = read_star(train._getExtraPath("particles.star"))
    assert set(source["particles"]) <= set(star["particles"])
    assert len(star["particles"]["rlnImageName"]) == len(expected)
    assert "%d of %d particles selected inside a 4-vertex polygon on PCA." % (
        len(expected), N_PARTICLES) in select.summary()[0]


def test_selection_without_criteria_is_refused(project, train):
    select = new(project, CryoStarBoltzProtSelect, inputs=latents_of(train))
    assert "Give a polygon, latent ranges, clusters or junk exclusion to select " \
        "by." in select.validate()
    bad = new(project, CryoStarBoltzProtSelect, inputs=latents_of(train),
              polygon="[[0, 0], [1, 1]]")
    assert any("at least 3 [x, y] vertices" in e for e in bad.validate())


def test_cluster_selection_matches_the_cluster_subset(project, train, analyze):
    select = launch(project, CryoStarBoltzProtSelect, inputs=dict(
        latents_of(train), inputAnalysis=(analyze, None)), clusters="1")
    members = {p.getObjId() for p in select.Particles.iterItems()}
    assert members == {p.getObjId() for p in analyze.ParticlesCluster001.iterItems()}


# ------------------------------------------------------------ continue

def test_reconstruct_outputs_a_volume_with_half_maps_per_bin(project, train):
    import json

    from pwem.objects import Volume
    reconstruct = launch(project, CryoStarBoltzProtReconstruct, inputs=latents_of(train),
                         subset=cts.RECONSTRUCT_SUBSETS.index("pc bins"),
                         component=1, numberOfBins=2, **CPU)
    counts = 0
    for i in range(2):
        volume = getattr(reconstruct, "outputVolume_pc1_bin%02d" % i)
        assert type(volume) is Volume
        assert volume.getSamplingRate() == pytest.approx(APIX)
        assert volume.getDim() == (BOX, BOX, BOX)
        half1, half2 = volume.getHalfMaps().split(",")
        assert os.path.isfile(half1) and half1.endswith("half1.mrc")
        assert os.path.isfile(half2) and half2.endswith("half2.mrc")
        counts += len(np.load(reconstruct._getExtraPath(
            "reconstruction_pc1_bin%02d" % i, "indices.npy")))
    assert counts == N_PARTICLES   # the bins partition the particles
    # the run has a density decoder: its map at the bin's mean latent is
    # compared with the reconstruction
    record = json.load(open(reconstruct._getExtraPath("reconstruction_pc1_bin00",
                                                      "summary.json")))
    assert record["decoded"]["map"] == "decoded.mrc"
    assert record["decoded"]["resolution_0.5"] >= 2 * APIX
    summary = reconstruct.summary()
    assert len(summary) == 2 and "at FSC 0.143" in summary[0]


def test_continue_training_extends_the_run(project, train):
    from cryostar_boltz.engine.training.progress import read_metrics
    previous = train.Particles.getFlexInfo().getAttr(cts.FLEX_RUN_DIR)
    before = read_metrics(os.path.join(previous, "metrics.csv"))
    z_before = np.load(os.path.join(previous, "z.npy"))
    protocol = launch(project, CryoStarBoltzProtTrain, doContinue=True,
                      inputs={"continueRun": (train, None)},
                      numberOfEpochs=2, **CPU)
    run = protocol.Particles.getFlexInfo().getAttr(cts.FLEX_RUN_DIR)
    after = read_metrics(os.path.join(run, "metrics.csv"))
    assert max(after["step"]) == 2 * max(before["step"])
    assert max(after["epoch"]) == 2
    assert protocol.Particles.getSize() == N_PARTICLES
    # epoch 2 is compared with epoch 1, whose z the checkpoint carried over
    assert np.isfinite(after["latent_corr"][-1]) and np.isfinite(after["pc1_rmsd"][-1])
    assert ("Convergence, epoch 2: latent correlation with the previous epoch "
            "%.3f; PC1 path moved %.2f A: " % (after["latent_corr"][-1],
                                               after["pc1_rmsd"][-1])
            ) in "\n".join(protocol.summary())
    # the previous run is left as it was
    assert read_metrics(os.path.join(previous, "metrics.csv")) == before
    np.testing.assert_array_equal(np.load(os.path.join(previous, "z.npy")), z_before)
    assert not np.array_equal(np.load(os.path.join(run, "z.npy")), z_before)
    # a finished run is only continued with more epochs
    same = new(project, CryoStarBoltzProtTrain, doContinue=True,
               inputs={"continueRun": (train, None)}, numberOfEpochs=1, **CPU)
    assert any("ask for more epochs" in e for e in same.validate())


# ------------------------------------------------------------ validation

def test_particles_without_alignment_are_refused(project, imported, simulated,
                                                 tmp_path):
    result, truth, _ = simulated
    sqlite = tmp_path / "no_alignment.sqlite"
    convert.particles_star_to_sqlite(result.star, sqlite)
    particles = SetOfParticles(filename=str(sqlite))
    particles.setAlignment(ALIGN_NONE)
    particles.write()
    particles.close()
    unaligned = import_particles(project, sqlite, truth)
    assert unaligned.outputParticles.getAlignment() == ALIGN_NONE
    protocol = new(
        project, CryoStarBoltzProtTrain,
        inputs={"inputParticles": (unaligned, "outputParticles"),
                "inputReference": (imported[1], "outputPdb")}, **TRAIN)
    errors = protocol.validate()
    assert ("The particles have no 3D alignment (projection poses); run a 3D "
            "refinement first.") in errors
    project.launchProtocol(protocol, wait=True)
    assert protocol.isFailed() and protocol.getOutputsSize() == 0


def test_reference_outside_the_box_is_refused(project, imported, simulated,
                                              tmp_path):
    from cryostar_boltz.engine.structure import load_structure, write_models
    _, _, out = simulated
    model = load_structure(out / "reference.pdb")
    moved = tmp_path / "moved.pdb"
    write_models(moved, model, model.coords + [60.0, 0.0, 0.0], full_atom=True)
    far = launch(project, ProtImportPdb, inputPdbData=ProtImportPdb.IMPORT_FROM_FILES,
                 pdbFile=str(moved), skipChimera=True)
    protocol = new(
        project, CryoStarBoltzProtTrain,
        inputs={"inputParticles": (imported[0], "outputParticles"),
                "inputReference": (far, "outputPdb")}, **TRAIN)
    errors = protocol.validate()
    assert any(e.startswith("Reference model:") and "box centre" in e
               for e in errors), errors


# ------------------------------------------------------------ forms

#: Parameters pyworkflow adds to every form, with its own help.
STANDARD_PARAMS = {"runName", "runMode", "comment", "hostName", "numberOfThreads"}


@pytest.mark.parametrize("protocol_class", [
    CryoStarBoltzProtTrain, CryoStarBoltzProtSamplePrior,
    CryoStarBoltzProtGenerate, CryoStarBoltzProtAnalyze, CryoStarBoltzProtSelect,
    CryoStarBoltzProtReconstruct])
def test_every_parameter_has_help(protocol_class):
    protocol = protocol_class()
    names = [name for name, param in protocol.getDefinition().iterParams()
             if name not in STANDARD_PARAMS and not (param.help.get() or "").strip()]
    assert not names
    assert protocol._possibleOutputs


# ------------------------------------------------------------ job command

def test_gpu_job_command_takes_the_assigned_gpus():
    """With GPUs the engine runs under CUDA_VISIBLE_DEVICES set from the ids
    the executor assigns (%(GPU)s), one process per GPU under torchrun."""
    from pyworkflow.utils.process import buildRunCommand
    protocol = CryoStarBoltzProtTrain(useGpu=True, gpuList="2 3")
    program = protocol._engineProgram("train", protocol._gpuCount())
    args = "--out run%(x) --device cuda".replace("%", "%%")
    command = buildRunCommand(program, args, 1, gpuList=[2, 3])
    assert "export CUDA_VISIBLE_DEVICES=2,3 && " in command
    assert ("-m torch.distributed.run --standalone --nproc_per_node 2 "
            "-m cryostar_boltz.engine.cli train") in command
    assert command.endswith("--out run%(x) --device cuda")
    assert protocol._engineDeviceArgs() == ["--device", "cuda"]
    cpu = CryoStarBoltzProtTrain(useGpu=False, numberOfThreads=3)
    assert "CUDA_VISIBLE_DEVICES" not in cpu._engineProgram("train")
    assert cpu._engineDeviceArgs() == ["--device", "cpu", "--threads", 3]
