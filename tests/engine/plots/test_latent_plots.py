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


@pytest.mark.parametrize("kind", ["scatter", "hexbin"])
def test_particles_left_out_of_the_clusters_are_marked(kind):
    """Label -1 (analyze --exclude-junk) is drawn apart as excluded, not as
    a cluster colour; the picture's points keep every particle."""
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(300, 2))
    labels = rng.integers(0, 3, 300)
    labels[:20] = -1
    fig = plots.latent_figure(xy, labels, kind=kind, categorical=True)
    ax = fig.axes[0]
    assert ax.get_legend().get_texts()[0].get_text() == "excluded (20 junk)"
    assert len(fig.points["xy"]) == 300 and (fig.points["values"][:20] == -1).all()
    with pytest.raises(plots.PlotError, match="every particle is excluded"):
        plots.latent_figure(xy[:5], np.full(5, -1), kind=kind, categorical=True)


# ------------------------------------------------------------ reading right

def test_percentages_keep_the_digits_that_matter():
    from cryostar_boltz.engine.plots.pictures import percent
    assert [percent(f) for f in (0.995, 0.003, 0.4237, 1.0, 0.0, 0.00004)] == \
        ["99.5%", "0.3%", "42%", "100%", "0%", "0.004%"]


def test_axis_labels_show_the_variance_with_enough_digits(run):
    class Skewed(plots.RunPictures):
        def pca(self):
            scores, components, mean, ratio = super().pca()
            ratio = np.zeros_like(ratio)
            ratio[:2] = 0.995, 0.003
            return scores, components, mean, ratio

    figure = plots.latent_plots(None, None, "density", contours=False,
                                pictures=Skewed(run))["latent_pca_density"]
    ax = figure.axes[0]
    assert ax.get_xlabel() == "PC1 (99.5% of the variance)"
    assert ax.get_ylabel() == "PC2 (0.3% of the variance)"


def test_contours_cover_every_particle(pictures):
    scores = pictures.pca()[0][:, :2]
    X, Y, F = pictures.landscape(grid=12)
    assert X.min() <= scores[:, 0].min() and X.max() >= scores[:, 0].max()
    assert Y.min() <= scores[:, 1].min() and Y.max() >= scores[:, 1].max()
    # the picture's contours span the scatter's whole extent
    figure = plots.latent_plots(None, None, "density",
                                pictures=pictures)["latent_pca_density"]
    contour = next(c for c in figure.axes[0].collections
                   if hasattr(c, "levels"))
    (x0, y0), (x1, y1) = contour._mins, contour._maxs  # the grid's extent
    assert x0 <= scores[:, 0].min() and x1 >= scores[:, 0].max()
    assert y0 <= scores[:, 1].min() and y1 >= scores[:, 1].max()


def test_clusters_come_from_the_analysis_the_user_ran(run, tmp_path):
    """An ``analyze`` folder inside the run (its default output) colours
    the picture rather than the run's own 10-cluster k-means."""
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("cache"))
    analysis = copy / "analysis_kmeans2"
    analysis.mkdir()
    n = len(np.load(copy / "z.npy"))
    np.save(analysis / "labels.npy", (np.arange(n) % 2).astype(np.int64))
    pics = plots.RunPictures(copy)
    labels, _, source = pics.clusters()
    assert source == "analysis_kmeans2" and labels.max() == 1
    figure = plots.latent_plots(None, None, "cluster", contours=False,
                                pictures=pics)["latent_pca_cluster"]
    bar = figure.axes[1]
    assert len(bar.get_yticks()) == 2 and "analysis_kmeans2" in bar.get_ylabel()
