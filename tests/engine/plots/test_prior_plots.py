"""The prior's pictures of a real grbm run: landscape, occupancy and
energies per sampler (with a QPU run's beta_eff and the exact
distribution); single pictures on request."""
import re

import pytest

from cryostar_boltz.engine import plots


def test_prior_pictures_with_samplers_and_beta_eff(pictures, run, tmp_path,
                                                   assert_picture):
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
    # with basins, the particles are sorted by basin
    left = figures["prior_occupancy"].axes[0]
    assert "sorted by cluster" in left.get_ylabel()
    landscape = figures["prior_landscape"]
    title = landscape.axes[0].title
    assert re.search(r"\(1 basin projected|\([02-9]\d* basins projected", title.get_text())
    # the whole title lies within the picture (a long one was cut at the left)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    box = title.get_window_extent(FigureCanvasAgg(landscape).get_renderer())
    assert box.x0 >= 0 and box.x1 <= landscape.bbox.x1, (box, landscape.bbox)


def test_prior_pictures_draw_samples_without_sample_folders(pictures, tmp_path):
    figures = plots.prior_plots(None, None, draw=100, basins=False,
                                pictures=pictures)
    legend = [t.get_text() for t in figures["prior_energies"].axes[0].get_legend().get_texts()]
    assert any(t.startswith("gibbs") for t in legend)
    assert any(t.startswith("sa") for t in legend)


def test_one_prior_picture_on_request(pictures, run):
    figures = plots.prior_plots(None, None, [run.parent / "gibbs"], basins=False,
                                pictures=pictures, only={"prior_occupancy"})
    assert set(figures) == {"prior_occupancy"}
    left = figures["prior_occupancy"].axes[0]
    assert left.get_ylabel() == "particle"  # no basins: not sorted
    figures = plots.prior_plots(None, None, basins=False, pictures=pictures,
                                only={"prior_landscape"})
    assert set(figures) == {"prior_landscape"}
    assert "basins" not in figures["prior_landscape"].axes[0].get_title()


def test_boltzmann_pictures_of_a_gaussian_prior_say_why_not():
    class GaussianPrior:
        name = "gaussian"

        def to_bqm(self):
            return None

    class Pictures:
        prior = GaussianPrior()

    with pytest.raises(plots.PlotError, match="not available for the gaussian "
                       "prior .*grbm and rbm"):
        plots.prior_plots(None, None, pictures=Pictures(),
                          only={"prior_occupancy"})
    with pytest.raises(plots.PlotError, match="unknown prior pictures prior_x"):
        plots.prior_plots(None, None, pictures=Pictures(), only={"prior_x"})
