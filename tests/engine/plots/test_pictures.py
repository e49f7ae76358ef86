"""What the pictures read from a run folder and from sample-prior
folders."""
import numpy as np
import pytest

from cryostar_boltz.engine import plots
from cryostar_boltz.engine.plots.pictures import read_sample_folder


def test_missing_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        plots.RunPictures(tmp_path / "missing")


def test_clusters_come_from_the_analysis_folder_given(pictures, run):
    labels, centres, source = pictures.clusters()
    assert source == "analysis" and labels.max() == 2 and len(labels) == 200
    own = plots.RunPictures(run).clusters()
    assert own[2].startswith("kmeans")


def test_landscape_is_relative_to_its_minimum(pictures):
    X, Y, F = pictures.landscape(grid=20)
    assert X.shape == Y.shape == F.shape == (20, 20)
    assert np.nanmin(F) == 0.0 and np.all(np.isfinite(F))
    # the slice through the mean latent: F at the grid's points
    scores, components, mean, _ = pictures.pca()
    point = mean + X[3, 5] * components[0] + Y[3, 5] * components[1]
    direct = pictures.free_energy(point[None])[0]
    every = pictures.free_energy(mean + X.reshape(-1, 1) * components[0]
                                 + Y.reshape(-1, 1) * components[1])
    assert direct - every.min() == pytest.approx(F[3, 5], abs=1e-6)


def test_unit_probabilities_and_basins_of_a_grbm(pictures):
    p, unit = pictures.unit_probabilities()
    assert unit == "hidden unit" and p.shape == (200, 4)
    assert np.all((p >= 0) & (p <= 1))
    table, z = pictures.basins()
    assert len(table) == len(z) >= 1
    labels = pictures.basin_labels(table, z)
    assert labels.shape == (200,) and labels.max() < len(table)


def test_sample_folders(run, tmp_path):
    sample = read_sample_folder(run.parent / "qpu")
    assert sample["name"] == "qpu" and sample["info"]["beta_eff"] == 0.42
    assert sample["states"].shape == (150, 4) and len(sample["energies"]) == 150
    with pytest.raises(plots.PlotError, match="not a sample-prior folder"):
        read_sample_folder(tmp_path)
