"""Pictures of a real (small) run: every figure renders headless to a PNG
that is not blank; the ChimeraX script and the displacement models hold
what they claim."""
import json
import shutil

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from cryostar_boltz.engine import chimerax, plots  # noqa: E402

BOX, APIX = 32, 3.2


def assert_picture(path, min_colours=20, min_std=8.0):
    """The PNG exists and shows something: many colours, varied pixels."""
    from PIL import Image
    assert path.is_file(), path
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 200 and image.shape[1] > 200
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    assert colours > min_colours, "%s: only %d colours" % (path, colours)
    assert image.std() > min_std, "%s: nearly uniform" % path


@pytest.fixture(scope="session")
def run(tmp_path_factory, adk_dir):
    """Two states, 200 particles of 32 px, one epoch with a 4-unit grbm
    prior; a sample-prior folder and a k-means analysis beside it."""
    import torch
    from cryostar_boltz.engine.cli import main as cli
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.simulate import simulate_dataset
    from cryostar_boltz.engine.training.stage1 import run_training
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("plots")
    data = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            root / "sim", 200, BOX, APIX, snr=1.0, seed=3)
    cfg = TrainConfig(particles=str(data.star), reference=str(data.reference),
                      epochs=1, batch_size=32, lr=1e-3, low_pass=8.0, threads=1,
                      seed=1, kl_warmup=20, device="cpu", prior="grbm",
                      prior_options={"hidden_units": 4})
    run_dir = run_training(cfg, root / "run", log=lambda *a: None)
    assert cli(["sample-prior", "--run", str(run_dir), "--n", "150",
                "--sampler", "gibbs", "--structures", "4",
                "--out", str(root / "gibbs")]) == 0
    # a QPU run as sample-prior writes it: the same files, with beta_eff
    shutil.copytree(root / "gibbs", root / "qpu")
    info = json.loads((root / "qpu" / "info.json").read_text())
    info.update(sampler="qpu", beta_eff=0.42)
    (root / "qpu" / "info.json").write_text(json.dumps(info))
    assert cli(["analyze", "--run", str(run_dir), "--k", "3",
                "--out", str(root / "analysis")]) == 0
    return run_dir


@pytest.fixture(scope="session")
def pictures(run):
    return plots.RunPictures(run, run.parent / "analysis")


def test_latent_pictures_for_every_colouring(pictures, tmp_path):
    figures = plots.latent_plots(None, tmp_path, plots.COLOR_BY, dim=2,
                                 pictures=pictures)
    assert set(figures) == {"latent_pca_cluster", "latent_pca_free_energy",
                            "latent_pca_z2", "latent_pca_density"}
    for name in figures:
        assert_picture(tmp_path / (name + ".png"))
    # the analysis' clusters colour the picture, 3 of them on the colour bar
    bar = figures["latent_pca_cluster"].axes[1]
    assert "analysis" in bar.get_ylabel()
    assert len(bar.get_yticks()) == 3


def test_hexbin_latent_picture(pictures, tmp_path):
    figures = plots.latent_plots(None, tmp_path, "free_energy", kind="hexbin",
                                 pictures=pictures)
    assert_picture(tmp_path / "latent_pca_free_energy.png")
    assert "free energy" in figures["latent_pca_free_energy"].axes[1].get_ylabel()


def test_latent_dimension_out_of_range_is_a_clear_error(pictures):
    with pytest.raises(plots.PlotError, match="dimensions 1..8"):
        plots.latent_plots(None, None, "dim", dim=9, pictures=pictures)


def test_umap_without_umap_learn_says_how_to_install(pictures):
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="umap-learn"):
            plots.latent_plots(None, None, "density", embedding="umap",
                               pictures=plots.RunPictures(pictures.run_dir))
    else:
        figures = plots.latent_plots(None, None, "density", embedding="umap",
                                     pictures=pictures)
        assert "latent_umap_density" in figures


def test_training_curves_show_every_loss_term(pictures, tmp_path):
    figures = plots.training_plots(None, tmp_path, pictures=pictures)
    assert_picture(tmp_path / "training.png")
    titles = {ax.get_title() for ax in figures["training"].axes}
    for term in ("total loss", "image (-correlation)", "continuity",
                 "elastic network", "clash", "KL"):
        assert term in titles


def test_prior_pictures_with_samplers_and_beta_eff(pictures, run, tmp_path):
    samples = [run.parent / "gibbs", run.parent / "qpu"]
    figures = plots.prior_plots(None, tmp_path, samples, pictures=pictures)
    assert set(figures) == {"prior_landscape", "prior_occupancy", "prior_energies"}
    for name in figures:
        assert_picture(tmp_path / (name + ".png"))
    legend = [t.get_text() for t in figures["prior_energies"].axes[0].get_legend().get_texts()]
    assert any("qpu" in t and "beta_eff 0.42" in t for t in legend)
    assert any("exact Boltzmann" in t for t in legend)
    # occupancy: particles and both samplers, one bar per hidden unit each
    mean_axes = [ax for ax in figures["prior_occupancy"].axes
                 if ax.get_title() == "mean occupancy"]
    bars = mean_axes[0].patches
    assert len(bars) == 3 * 4


def test_prior_pictures_draw_samples_without_sample_folders(pictures, tmp_path):
    figures = plots.prior_plots(None, None, draw=100, basins=False,
                                pictures=pictures)
    legend = [t.get_text() for t in figures["prior_energies"].axes[0].get_legend().get_texts()]
    assert any(t.startswith("gibbs") for t in legend)
    assert any(t.startswith("sa") for t in legend)


def test_trajectory_pictures_of_the_pc_paths(pictures, run, tmp_path):
    figures = plots.trajectory_plots(None, None, pictures=pictures)
    assert set(figures) == {"trajectory_pc1", "trajectory_pc2", "trajectory_pc3"}
    assert_picture(plots.save_figure(figures["trajectory_pc1"], tmp_path / "t.png"))
    rmsd_axes = figures["trajectory_pc1"].axes[0]
    assert rmsd_axes.get_xlabel() == "PC1 coordinate"
    # a sample-prior ensemble: numbered models
    figures = plots.trajectory_plots(None, None, [run.parent / "gibbs" / "samples.pdb"],
                                     pictures=pictures)
    assert figures["trajectory_samples"].axes[0].get_xlabel() == "model"


def test_ensemble_pictures_and_chimerax_session(pictures, run, tmp_path):
    pc1 = run / "analysis" / "pc1.pdb"
    figures = plots.ensemble_plots(None, tmp_path, [pc1], pictures=pictures,
                                   script_dir=tmp_path / "cx")
    assert_picture(tmp_path / "ensemble_pc1.png")
    from cryostar_boltz.engine.structure import read_models
    cxc = (tmp_path / "cx" / "pc1.cxc").read_text()
    pdb = tmp_path / "cx" / "pc1_displacement.pdb"
    assert 'open "%s" coordsets true' % pdb.resolve() in cxc
    assert "color bfactor #1 palette blue:white:red range 0," in cxc
    # the B-factor column holds each residue's RMSF, in every model
    coords = read_models(pc1)
    expected = plots.rmsf(coords)
    ca = [line for line in pdb.read_text().splitlines()
          if line.startswith("ATOM") and line[12:16].strip() == "CA"]
    bfactors = np.array([float(line[60:66]) for line in ca]).reshape(len(coords), -1)
    np.testing.assert_allclose(bfactors, np.tile(expected, (len(coords), 1)), atol=0.006)
    assert np.allclose(read_models(pdb), coords, atol=1e-3)
    assert "ensemble_pc1" in figures


def test_maps_figure_and_script(tmp_path):
    import mrcfile
    grid = np.indices((16, 16, 16)).astype(np.float32) - 7.5
    paths = []
    for k in range(3):
        blob = np.exp(-((grid[0] - k) ** 2 + grid[1] ** 2 + grid[2] ** 2) / 8.0)
        path = tmp_path / ("map_%d.mrc" % k)
        with mrcfile.new(path) as mrc:
            mrc.set_data(blob.astype(np.float32))
        paths.append(path)
    fig = plots.maps_figure([mrcfile.read(p) for p in paths], [p.name for p in paths])
    assert_picture(plots.save_figure(fig, tmp_path / "maps.png"), min_colours=10)
    text = chimerax.cxc_script(maps=paths, map_level=0.5)
    assert "vseries true" in text and "volume #1 level 0.5" in text
    level = chimerax.default_map_level(paths[0])
    assert 0 < level < 1


def test_motion_measures_on_known_coordinates():
    base = np.zeros((3, 4, 3))
    base[:, 3, 0] = [0.0, 1.0, 2.0]  # residue 4 moves 1 A per model
    np.testing.assert_allclose(plots.displacement(base), [0, 0, 0, 2.0])
    np.testing.assert_allclose(plots.rmsf(base), [0, 0, 0, np.sqrt(2 / 3)])


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(plots.PlotError, match=r"\(n, 2\)"):
        plots.latent_figure(np.zeros((5, 3)))
    with pytest.raises(plots.PlotError, match="empty"):
        plots.training_figure({})
    with pytest.raises(FileNotFoundError, match="not found"):
        plots.RunPictures(tmp_path / "missing")
    with pytest.raises(ValueError, match="structures or maps"):
        chimerax.cxc_script()


def test_plot_command_writes_every_group(run, tmp_path, capsys):
    from cryostar_boltz.engine.cli import main
    out = tmp_path / "figs"
    pc1 = run / "analysis" / "pc1.pdb"
    assert main(["plot", "--run", str(run), "--out", str(out),
                 "--what", "training,trajectory,ensemble",
                 "--models", str(pc1)]) == 0
    names = {p.name for p in out.glob("*.png")}
    assert names == {"training.png", "trajectory_pc1.png", "ensemble_pc1.png"}
    for name in names:
        assert_picture(out / name)
    assert (out / "pc1.cxc").is_file()
    printed = capsys.readouterr().out
    assert "training.png" in printed
    assert main(["plot", "--run", str(run), "--out", str(out),
                 "--what", "latent,nonsense"]) == 1
