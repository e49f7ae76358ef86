"""Latent-space pictures of a real run: every colouring renders to a PNG
that is not blank, the clusters and free energy label the colour bars."""
import numpy as np
import pytest

from cryostar_boltz.engine import plots
from cryostar_boltz.engine.plots.latent import picture_name


def test_latent_pictures_for_every_colouring(pictures, tmp_path, assert_picture):
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


def test_hexbin_latent_picture(pictures, tmp_path, assert_picture):
    figures = plots.latent_plots(None, tmp_path, "free_energy", kind="hexbin",
                                 pictures=pictures)
    assert_picture(tmp_path / "latent_pca_free_energy.png")
    assert "free energy" in figures["latent_pca_free_energy"].axes[1].get_ylabel()


def test_contours_can_be_left_out(pictures):
    with_contours = plots.latent_plots(None, None, "density", pictures=pictures)
    without = plots.latent_plots(None, None, "density", contours=False,
                                 pictures=pictures)
    texts = [t.get_text() for t in with_contours["latent_pca_density"].axes[0].texts]
    assert any("contours: prior free energy" in t for t in texts)
    assert not without["latent_pca_density"].axes[0].texts
    assert not without["latent_pca_density"].axes[0].collections[1:]


def test_latent_dimension_out_of_range_is_a_clear_error(pictures):
    with pytest.raises(plots.PlotError, match="dimensions 1..8"):
        plots.latent_plots(None, None, "dim", dim=9, pictures=pictures)


def test_cluster_colouring_alone_without_clusters_says_what_to_run(run):
    class NoClusters(plots.RunPictures):
        def clusters(self):
            return None

    pics = NoClusters(run)
    with pytest.raises(plots.PlotError, match="no clusters found .*analyze"):
        plots.latent_plots(None, None, "cluster", pictures=pics)
    # among other colourings it is left out
    assert set(plots.latent_plots(None, None, ("cluster", "density"),
                                  contours=False, pictures=pics)) \
        == {"latent_pca_density"}


def test_unknown_colouring_is_a_clear_error(pictures):
    with pytest.raises(plots.PlotError, match="unknown colouring 'energy'"):
        plots.latent_plots(None, None, "energy", pictures=pictures)


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


def test_picture_names():
    assert picture_name("pca", "dim", 3) == "latent_pca_z3"
    assert picture_name("umap", "cluster") == "latent_umap_cluster"


def test_bad_coordinates_raise_clear_errors():
    with pytest.raises(plots.PlotError, match=r"\(n, 2\)"):
        plots.latent_figure(np.zeros((5, 3)))
    with pytest.raises(plots.PlotError, match="scatter or hexbin"):
        plots.latent_figure(np.zeros((5, 2)), kind="violin")
