"""The sample-prior, generate and analyze commands on tiny trained runs."""
import json

import numpy as np
import pytest
import torch

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.training.config import TrainConfig
from cryostar_boltz.engine.particles import load_particles
from cryostar_boltz.engine.runs import TrainedRun
from cryostar_boltz.engine.simulate import simulate_dataset
from cryostar_boltz.engine.structure import read_models

N, BOX, APIX, RESIDUES = 96, 32, 3.2, 214


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, adk_dir):
    out = tmp_path_factory.mktemp("sim")
    return simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            out, N, BOX, APIX, snr=1.0, seed=3)


def train(dataset, out, prior="gaussian", **options):
    from cryostar_boltz.engine.training.stage1 import run_training
    torch.set_num_threads(1)
    cfg = TrainConfig(particles=str(dataset.star), reference=str(dataset.reference),
                      epochs=1, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                      seed=1, kl_warmup=20, device="cpu", prior=prior,
                      prior_options=options)
    return run_training(cfg, out, log=lambda *a: None)


@pytest.fixture(scope="module")
def gaussian_run(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("runs") / "gaussian")


@pytest.fixture(scope="module")
def grbm_run(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("runs") / "grbm", "grbm",
                 hidden_units=4)


@pytest.fixture(scope="module")
def density_run(grbm_run):
    """The grbm run with a (barely trained) stage-2 density decoder."""
    from cryostar_boltz.engine.training.config import DensityConfig
    from cryostar_boltz.engine.training.stage2 import run_density_training
    run_density_training(DensityConfig(run=str(grbm_run), hidden=16, layers=1,
                                       epochs=1, batch_size=48, device="cpu",
                                       threads=1), log=lambda *a: None)
    return grbm_run


def cli(*args):
    return main([str(a) for a in args])


def error_of(capsys, *args):
    """(exit code, stderr) of a command expected to fail cleanly."""
    code = cli(*args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# ------------------------------------------------------------ sample-prior

@pytest.mark.parametrize("sampler", ["gibbs", "sa", "exact"])
def test_sample_prior_writes_samples_energies_and_structures(grbm_run, tmp_path,
                                                             sampler):
    out = tmp_path / sampler
    assert cli("sample-prior", "--run", grbm_run, "--n", 40, "--sampler", sampler,
               "--seed", 5, "--out", out) == 0
    z, energies = np.load(out / "z.npy"), np.load(out / "energies.npy")
    states = np.load(out / "states.npy")
    assert z.shape == (40, 8) and energies.shape == (40,) and states.shape == (40, 4)
    prior = TrainedRun(grbm_run).prior
    np.testing.assert_allclose(energies, prior.to_bqm().energies((states, range(4))))
    with torch.no_grad():
        free = prior.free_energy(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(np.load(out / "free_energy.npy"), free, rtol=1e-5,
                               atol=1e-5)
    info = json.loads((out / "info.json").read_text())
    assert info["sampler"] == sampler and info["n"] == 40 and info["prior"] == "grbm"
    assert info["options"]["seed"] == 5 and info["timing"]["total_seconds"] > 0
    assert np.isfinite(info["log_z"])
    assert read_models(out / "samples_coarse.pdb").shape == (40, RESIDUES, 3)
    assert read_models(out / "samples.pdb").shape[0] == 40


def test_sample_prior_passes_beta_and_samples_the_tempered_prior(grbm_run, tmp_path):
    from cryostar_boltz.engine.samplers import exact_distribution
    out = tmp_path / "hot"
    assert cli("sample-prior", "--run", grbm_run, "--n", 4000, "--sampler", "exact",
               "--beta", 0.25, "--structures", 0, "--out", out) == 0
    info = json.loads((out / "info.json").read_text())
    assert info["beta"] == 0.25 and "structures" not in info
    assert not (out / "samples.pdb").exists()
    bqm = TrainedRun(grbm_run).prior.to_bqm()
    _, _, (states, p) = exact_distribution(bqm, beta=0.25)
    exact = bqm.energies((states, list(bqm.variables)))
    mean, std = p @ exact, np.sqrt(p @ (exact - p @ exact) ** 2)
    energies = np.load(out / "energies.npy")
    assert abs(energies.mean() - mean) < 5 * std / np.sqrt(len(energies))


def test_sample_prior_basins_are_minima_of_the_free_energy(grbm_run, tmp_path, capsys):
    out = tmp_path / "basins"
    capsys.readouterr()
    assert cli("sample-prior", "--run", grbm_run, "--n", 0, "--basins",
               "--out", out) == 0
    table = json.loads((out / "basins.json").read_text())["basins"]
    # the printed line gives each basin's populations, as basins.json does
    printed = capsys.readouterr().out
    assert ("populations prior %s, particles %s" % (
        " / ".join("%.2f" % row["prior_population"] for row in table[:10]),
        " / ".join("%.2f" % row["particle_population"] for row in table[:10]))) in printed
    energies = [row["energy"] for row in table]
    assert len(table) >= 1 and energies == sorted(energies)
    prior = TrainedRun(grbm_run).prior.double()
    z = torch.as_tensor(np.load(out / "basins_z.npy"), dtype=torch.float64)
    steps = torch.cat([torch.eye(z.shape[1]), -torch.eye(z.shape[1])]).double() * 1e-3
    with torch.no_grad():
        free = prior.free_energy(z)
        np.testing.assert_allclose(free.numpy(), energies, atol=1e-4)
        for point, value in zip(z, free):   # no step lowers F
            assert (prior.free_energy(point + steps) >= value - 1e-6).all()
        h = (prior.hidden_field(z) > 0).numpy().astype(int)
    assert [row["h"] for row in table] == h.tolist()
    # every prior sample (1000 reads) and every particle descends into a basin
    assert sum(row["count"] for row in table) == 1000
    assert sum(row["prior_population"] for row in table) == pytest.approx(1.0)
    assert sum(row["particle_population"] for row in table) == pytest.approx(1.0)
    assert all(len(row["minima"]) >= 1 for row in table)
    assert read_models(out / "basins_coarse.pdb").shape == (len(table), RESIDUES, 3)
    assert not (out / "z.npy").exists()


def test_gaussian_prior_is_sampled_directly_and_has_no_basins(gaussian_run, tmp_path,
                                                             capsys):
    out = tmp_path / "g"
    # a sampler does not apply to a prior sampled directly: refused, not ignored
    code, err = error_of(capsys, "sample-prior", "--run", gaussian_run, "--n", 5,
                         "--sampler", "sa", "--out", out)
    assert code == 1 and "--sampler sa: the gaussian prior is sampled directly" in err
    assert not out.exists()
    assert cli("sample-prior", "--run", gaussian_run, "--n", 500,
               "--structures", 2, "--out", out) == 0
    z = np.load(out / "z.npy")
    assert z.shape == (500, 8) and abs(z.std() - 1.0) < 0.1
    np.testing.assert_allclose(np.load(out / "energies.npy"), 0.5 * (z ** 2).sum(1),
                               rtol=1e-5)
    assert json.loads((out / "info.json").read_text())["sampler"] == "direct"
    assert read_models(out / "samples_coarse.pdb").shape[0] == 2
    code, err = error_of(capsys, "sample-prior", "--run", gaussian_run, "--basins",
                         "--out", tmp_path / "gb")
    assert code == 1 and "single basin" in err
    assert not (tmp_path / "gb").exists()


def test_sample_prior_writes_inside_the_run_without_out(grbm_run, tmp_path):
    """Without --out, as analyze: RUN/prior_samples (RUN/prior_samples_SAMPLER
    with --sampler, RUN/prior_basins for basins alone)."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(grbm_run, run)
    for _ in range(2):   # the same command again continues its folder
        assert cli("sample-prior", "--run", run, "--n", 20, "--structures", 0) == 0
    assert np.load(run / "prior_samples" / "z.npy").shape[0] == 20
    assert cli("sample-prior", "--run", run, "--n", 10, "--sampler", "gibbs",
               "--structures", 0) == 0
    info = json.loads((run / "prior_samples_gibbs" / "info.json").read_text())
    assert info["sampler"] == "gibbs"
    assert cli("sample-prior", "--run", run, "--n", 0, "--basins") == 0
    assert (run / "prior_basins" / "basins.json").is_file()


def test_qpu_without_credentials_is_a_clean_error(grbm_run, tmp_path, capsys,
                                                  monkeypatch):
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    monkeypatch.setenv("DWAVE_CONFIG_FILE", str(tmp_path / "absent.conf"))
    code, err = error_of(capsys, "sample-prior", "--run", grbm_run, "--n", 5,
                         "--sampler", "qpu", "--out", tmp_path / "q")
    assert code == 1 and "dwave" in err.lower().replace("-", "")
    assert not (tmp_path / "q" / "info.json").exists()


# ------------------------------------------------------------ generate

@pytest.mark.parametrize("source, options, count", [
    ("pca", ("--component", 2, "--n", 5), 5),
    ("kmeans", ("--k", 3), 3),
    ("samples", ("--n", 4, "--sampler", "sa"), 4),
])
def test_generate_from_run_sources(grbm_run, tmp_path, source, options, count):
    out = tmp_path / source
    assert cli("generate", "--run", grbm_run, "--from", source, *options,
               "--out", out, "--name", "ens") == 0
    z = np.load(out / "ens_z.npy")
    assert z.shape == (count, 8)
    assert read_models(out / "ens_coarse.pdb").shape == (count, RESIDUES, 3)
    assert read_models(out / "ens.pdb").shape[0] == count
    latents = np.load(grbm_run / "z.npy")
    if source == "kmeans":  # centres snapped to particles
        assert all((np.abs(latents - row).max(1) < 1e-6).any() for row in z)
    if source == "pca":  # points on a line through the particles' mean
        steps = np.diff(z, axis=0)
        np.testing.assert_allclose(steps, np.repeat(steps[:1], 4, 0), atol=1e-5)


def test_generate_from_basins_and_a_user_file(grbm_run, tmp_path):
    assert cli("generate", "--run", grbm_run, "--from", "basins", "--out",
               tmp_path) == 0
    basins = np.load(tmp_path / "basins_z.npy")
    assert read_models(tmp_path / "basins_coarse.pdb").shape[0] == len(basins)
    np.save(tmp_path / "mine.npy", np.zeros(8, np.float32))
    # a folder holds one generation: another goes to its own folder
    assert cli("generate", "--run", grbm_run, "--z", tmp_path / "mine.npy",
               "--out", tmp_path) == 1
    assert cli("generate", "--run", grbm_run, "--z", tmp_path / "mine.npy",
               "--out", tmp_path / "mine") == 0
    assert read_models(tmp_path / "mine" / "structures_coarse.pdb").shape == (1, RESIDUES, 3)


def test_generate_maps_next_to_the_structures(density_run, tmp_path):
    import mrcfile
    assert cli("generate", "--run", density_run, "--from", "kmeans", "--k", 2,
               "--maps", "--out", tmp_path) == 0
    maps = sorted(tmp_path.glob("kmeans_*.mrc"))
    assert [m.name for m in maps] == ["kmeans_000.mrc", "kmeans_001.mrc"]
    with mrcfile.open(maps[0]) as mrc:
        assert mrc.data.shape == (BOX, BOX, BOX) and np.isfinite(mrc.data).all()
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*"))


def test_generate_records_what_it_made(density_run, tmp_path):
    """summary.json, written last, names every file and the source."""
    assert cli("generate", "--run", density_run, "--from", "kmeans", "--k", 2,
               "--maps", "--out", tmp_path, "--name", "states") == 0
    record = json.loads((tmp_path / "summary.json").read_text())
    assert (record["source"], record["n"], record["options"]) == ("kmeans", 2, {"k": 2})
    assert (record["pdb"], record["coarse_pdb"], record["z"]) == (
        "states.pdb", "states_coarse.pdb", "states_z.npy")
    assert record["maps"] == ["states_000.mrc", "states_001.mrc"]
    for name in [record["pdb"], record["coarse_pdb"], record["z"], *record["maps"]]:
        assert (tmp_path / name).is_file(), name
    assert len(np.load(tmp_path / record["z"])) == 2
    mine = tmp_path / "mine.npy"
    np.save(mine, np.zeros((3, 8), np.float32))
    assert cli("generate", "--run", density_run, "--z", mine, "--out",
               tmp_path / "file") == 0
    record = json.loads((tmp_path / "file" / "summary.json").read_text())
    assert (record["source"], record["n"], record["maps"]) == ("file", 3, [])
    assert record["options"] == {"file": str(mine)} and record["pdb"] == "structures.pdb"


def test_generate_refusals(gaussian_run, grbm_run, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((2, 3), np.float32))
    cases = [
        (("--run", tmp_path / "missing", "--from", "pca"), "not found"),
        (("--run", gaussian_run, "--from", "pca", "--component", 9), "--component 9"),
        (("--run", gaussian_run, "--from", "kmeans", "--k", 0),
         "argument --k: must be an integer >= 1, got 0"),
        (("--run", gaussian_run, "--from", "kmeans", "--maps"), "train-density"),
        (("--run", gaussian_run, "--z", tmp_path / "bad.npy"), "decoder takes 8"),
        (("--run", gaussian_run, "--z", tmp_path / "none.npy"), "not a readable"),
    ]
    for args, message in cases:
        code, err = error_of(capsys, "generate", *args, "--out", tmp_path / "g")
        # 2: an option value refused when the command line is parsed
        assert code == (2 if "argument" in message else 1) and message in err, (args, err)
    assert not (tmp_path / "g").exists()


# ------------------------------------------------------------ analyze

def image_ids(particles):
    """Each particle's image as 'index@absolute stack path'."""
    folder = particles.path.parent
    return np.array(["%s@%s" % (index, (folder / name).resolve()) for index, name in
                     (n.split("@") for n in particles.table["rlnImageName"])])


def check_subsets(out, particles, labels, suffix=".star", ids=image_ids):
    """Every cluster's subset reloads to exactly its particles."""
    seen = []
    for c in range(labels.max() + 1):
        path = out / ("cluster_%03d%s" % (c, suffix))
        subset = load_particles(path, require_images=False, require_pose=False,
                                require_ctf=False)
        np.testing.assert_array_equal(ids(subset), ids(particles)[labels == c])
        seen.append(subset.n)
    assert sum(seen) == particles.n


def test_analyze_kmeans_writes_subsets_structures_and_summary(dataset, gaussian_run):
    assert cli("analyze", "--run", gaussian_run, "--k", 3) == 0
    out = gaussian_run / "analysis_kmeans3"
    labels = np.load(out / "labels.npy")
    assert labels.shape == (N,) and set(labels.tolist()) == {0, 1, 2}
    original = load_particles(dataset.star)
    check_subsets(out, original, labels)
    # RELION keeps every original column and the optics table
    subset = load_particles(out / "cluster_000.star")
    assert set(subset.table) == set(original.table)
    assert subset.optics is not None and subset.images is not None
    mask = labels == 0
    np.testing.assert_allclose(subset.rotations, original.rotations[mask], atol=1e-5)
    np.testing.assert_allclose(subset.ctf, original.ctf[mask], rtol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sizes"] == np.bincount(labels).tolist()
    assert summary["options"]["method"] == "kmeans" and summary["k"] == 3
    snapped = np.load(out / "centers_particles.npy")
    assert (labels[snapped] == np.arange(3)).all()
    z = np.load(gaussian_run / "z.npy")
    np.testing.assert_allclose(np.load(out / "cluster_z.npy"), z[snapped])
    assert read_models(out / "clusters_coarse.pdb").shape == (3, RESIDUES, 3)
    assert np.load(out / "pca.npz")["scores"].shape == (N, 8)
    assert not list(out.glob("*.mrc"))


def test_analyze_gmm_and_basins(grbm_run, tmp_path):
    for method in ("gmm", "basins"):
        out = tmp_path / method
        assert cli("analyze", "--run", grbm_run, "--method", method, "--k", 4,
                   "--out", out) == 0
        labels = np.load(out / "labels.npy")
        summary = json.loads((out / "summary.json").read_text())
        assert sum(summary["sizes"]) == N and min(summary["sizes"]) > 0
        assert labels.max() + 1 == summary["k"] == len(list(out.glob("cluster_*.star")))
    prior = TrainedRun(grbm_run).prior
    h = np.array([b["h"] for b in summary["basins"]], dtype=np.float64)
    z = np.load(grbm_run / "z.npy")
    with torch.no_grad():
        field = (prior.hidden_bias + torch.as_tensor(z) @ prior.weight).numpy()
    # each particle's basin is the most probable of the populated basins
    np.testing.assert_array_equal(labels, (field @ h.T).argmax(1))


def star_to_cs(particles, path):
    """A cryoSPARC .cs file holding the same particles (for tests)."""
    from scipy.spatial.transform import Rotation
    files, idx = zip(*[name.split("@")[::-1] for name in particles.table["rlnImageName"]])
    fields = [("uid", "<u8"), ("blob/path", "S64"), ("blob/idx", "<u4"),
              ("blob/shape", "<u4", (2,)), ("blob/psize_A", "<f4"),
              ("ctf/accel_kv", "<f4"), ("ctf/cs_mm", "<f4"), ("ctf/amp_contrast", "<f4"),
              ("ctf/df1_A", "<f4"), ("ctf/df2_A", "<f4"), ("ctf/df_angle_rad", "<f4"),
              ("alignments3D/shift", "<f4", (2,)), ("alignments3D/pose", "<f4", (3,))]
    raw = np.zeros(particles.n, dtype=fields)
    raw["uid"] = 1000 + np.arange(particles.n)
    raw["blob/path"] = [f.encode() for f in files]
    raw["blob/idx"] = np.array(idx, dtype=int) - 1
    raw["blob/shape"] = particles.box
    raw["blob/psize_A"] = particles.apix
    ctf = particles.ctf
    raw["ctf/df1_A"], raw["ctf/df2_A"] = ctf[:, 0], ctf[:, 1]
    raw["ctf/df_angle_rad"] = np.radians(ctf[:, 2])
    for column, name in zip((3, 4, 5), ("accel_kv", "cs_mm", "amp_contrast")):
        raw["ctf/" + name] = ctf[:, column]
    raw["alignments3D/shift"] = particles.shifts / particles.apix[:, None]
    raw["alignments3D/pose"] = Rotation.from_matrix(
        particles.rotations.transpose(0, 2, 1)).as_rotvec()
    with open(path, "wb") as fh:
        np.save(fh, raw)
    return path


def test_analyze_cs_input_writes_cs_and_star_subsets(dataset, gaussian_run, tmp_path):
    original = load_particles(dataset.star)
    cs = star_to_cs(original, dataset.star.with_name("particles.cs"))
    out = tmp_path / "cs"
    assert cli("analyze", "--run", gaussian_run, "--k", 2, "--particles", cs,
               "--out", out) == 0
    labels = np.load(out / "labels.npy")
    as_cs = load_particles(cs)
    np.testing.assert_allclose(as_cs.rotations, original.rotations, atol=1e-5)
    check_subsets(out, as_cs, labels, ".cs", ids=lambda p: p.table["uid"])
    for c in (0, 1):  # the star subsets are RELION conversions of the same rows
        star = load_particles(out / ("cluster_%03d.star" % c))
        np.testing.assert_allclose(star.rotations, original.rotations[labels == c],
                                   atol=1e-4)
        np.testing.assert_array_equal(star.images[np.arange(2)],
                                      original.images[np.flatnonzero(labels == c)[:2]])


def test_analyze_maps_per_cluster_and_resume(density_run, tmp_path):
    out = tmp_path / "maps"
    assert cli("analyze", "--run", density_run, "--k", 2, "--out", out) == 0
    maps = sorted(out.glob("cluster_*.mrc"))
    assert [m.name for m in maps] == ["cluster_000.mrc", "cluster_001.mrc"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["maps"] == [m.name for m in maps]
    # a rerun with the same clusters keeps the maps already written
    stamp = maps[0].stat().st_mtime_ns
    maps[1].unlink()
    assert cli("analyze", "--run", density_run, "--k", 2, "--out", out) == 0
    assert maps[0].stat().st_mtime_ns == stamp and maps[1].exists()


def test_analyze_refusals(dataset, gaussian_run, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    TrainConfig(particles=str(dataset.star)).save(unfinished)
    other = tmp_path / "other.star"
    from cryostar_boltz.engine.particles import write_particles_star
    write_particles_star(other, load_particles(dataset.star), np.arange(10))
    cases = [
        (("--run", tmp_path / "missing"), "not found"),
        (("--run", unfinished), "not finished training"),
        (("--run", gaussian_run, "--k", 0), "argument --k: must be an integer >= 1, got 0"),
        (("--run", gaussian_run, "--k", N + 1), "1 <= k"),
        (("--run", gaussian_run, "--method", "basins"), "single basin"),
        (("--run", gaussian_run, "--particles", tmp_path / "x.star"), "not found"),
        (("--run", gaussian_run, "--particles", other), "(10 particles, the run has 96)"),
    ]
    try:
        import umap  # noqa: F401
    except ImportError:
        cases.append((("--run", gaussian_run, "--umap"), "umap-learn"))
    for args, message in cases:
        code, err = error_of(capsys, "analyze", *args, "--out", tmp_path / "a")
        assert code == (2 if "argument" in message else 1) and message in err, (args, err)
        assert not (tmp_path / "a").exists(), args


# ------------------------------------------------------------ continuous samplers

@pytest.fixture(scope="module")
def ebm_run(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("runs") / "ebm", "ebm",
                 energy_width=16, num_chains=32)


def test_ebm_run_samples_with_mala_by_default_and_langevin(ebm_run, tmp_path, capsys):
    out = tmp_path / "mala"
    assert cli("sample-prior", "--run", ebm_run, "--n", 30, "--structures", 2,
               "--num-sweeps", 40, "--out", out) == 0
    info = json.loads((out / "info.json").read_text())
    assert info["sampler"] == "mala" and info["options"]["num_sweeps"] == 40
    assert 0 < info["sampleset_info"]["acceptance"] <= 1
    assert info["energy"] == "free energy F(z)" and info["log_z"] is not None
    z = np.load(out / "z.npy")
    prior = TrainedRun(ebm_run).prior
    with torch.no_grad():
        free = prior.free_energy(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(np.load(out / "energies.npy"), free, rtol=1e-5, atol=1e-5)
    assert not (out / "states.npy").exists()
    out = tmp_path / "langevin"
    assert cli("sample-prior", "--run", ebm_run, "--n", 10, "--structures", 0,
               "--sampler", "langevin", "--out", out) == 0
    assert json.loads((out / "info.json").read_text())["sampler"] == "langevin"
    code, err = error_of(capsys, "sample-prior", "--run", ebm_run, "--n", 5,
                         "--sampler", "gibbs", "--out", tmp_path / "g")
    assert code == 1 and ("--sampler gibbs: the ebm prior has a continuous latent (it "
                          "has no binary model for a dimod sampler); leave --sampler "
                          "out or choose a continuous sampler (langevin, mala)") in err
    assert not (tmp_path / "g").exists()
    out = tmp_path / "basins"
    assert cli("sample-prior", "--run", ebm_run, "--n", 0, "--basins", "--basin-reads",
               20, "--out", out) == 0
    table = json.loads((out / "basins.json").read_text())["basins"]
    assert table and [b["energy"] for b in table] == sorted(b["energy"] for b in table)
    # the ebm's basins come from its weighted chains: --basin-reads does not
    # apply, is not recorded, and another value continues the same folder
    assert json.loads((out / "run.json").read_text())["request"]["basin_reads"] is None
    assert cli("sample-prior", "--run", ebm_run, "--n", 0, "--basins", "--basin-reads",
               50, "--out", out) == 0


def test_basin_reads_is_an_option_only_where_it_applies(grbm_run, tmp_path, capsys):
    """A grbm's basins depend on --basin-reads: another value is refused as
    other options; k-means does not, so it may differ there."""
    out = tmp_path / "basins"
    assert cli("sample-prior", "--run", grbm_run, "--n", 0, "--basins", "--basin-reads",
               20, "--out", out) == 0
    assert json.loads((out / "run.json").read_text())["request"]["basin_reads"] == 20
    code, err = error_of(capsys, "sample-prior", "--run", grbm_run, "--n", 0, "--basins",
                         "--basin-reads", 30, "--out", out)
    assert code == 1 and "other options" in err and "basin_reads" in err
    out = tmp_path / "km"
    for reads in (20, 30):
        assert cli("analyze", "--run", grbm_run, "--k", 2, "--no-maps", "--basin-reads",
                   reads, "--out", out) == 0


@pytest.mark.parametrize("run_name", ["gaussian_run", "grbm_run"])
def test_continuous_samplers_sample_every_continuous_latent(run_name, request, tmp_path):
    """gaussian and grbm (its F with the hidden units summed out) through mala."""
    run = request.getfixturevalue(run_name)
    out = tmp_path / "m"
    assert cli("sample-prior", "--run", run, "--n", 400, "--structures", 0,
               "--sampler", "mala", "--num-sweeps", 100, "--seed", 2, "--out", out) == 0
    info = json.loads((out / "info.json").read_text())
    assert info["sampler"] == "mala" and info["energy"] == "free energy F(z)"
    z = np.load(out / "z.npy")
    if run_name == "gaussian_run":  # N(0, I)
        assert abs(z.mean()) < 0.1 and abs(z.std() - 1.0) < 0.1
    assert not (out / "states.npy").exists()


def test_the_rbm_code_refuses_continuous_samplers():
    from cryostar_boltz.engine.priors import build_prior
    from cryostar_boltz.engine.sampling import draw_samples
    prior = build_prior("rbm", 2, visible_units=2, hidden_units=2)
    for name in ("langevin", "mala"):
        with pytest.raises(ValueError, match=r"^--sampler %s: the rbm prior's code is "
                           r"binary; continuous samplers \(langevin, mala\) do not "
                           r"apply: use a dimod sampler" % name):
            draw_samples(prior, 3, name, log=lambda *a: None)
