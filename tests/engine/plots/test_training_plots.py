"""Training curves of a real run: one panel per loss term."""
import pytest

from cryostar_boltz.engine import plots


def test_training_curves_show_every_loss_term(pictures, tmp_path, assert_picture):
    figures = plots.training_plots(None, tmp_path, pictures=pictures)
    assert_picture(tmp_path / "training.png")
    titles = {ax.get_title() for ax in figures["training"].axes}
    for term in ("total loss", "image (-correlation)", "continuity",
                 "elastic network", "clash", "KL"):
        assert term in titles


def test_empty_metrics_are_a_clear_error():
    with pytest.raises(plots.PlotError, match="empty"):
        plots.training_figure({})
