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


def test_one_epoch_run_says_when_convergence_is_measured(pictures, tmp_path):
    figure = plots.training_plots(None, tmp_path, pictures=pictures)["training"]
    panel = [ax for ax in figure.axes
             if ax.get_title() == "change since the previous epoch"]
    assert len(panel) == 1
    assert "measured from epoch 2 on" in [t.get_text() for t in panel[0].texts]


def test_convergence_panel_draws_one_point_per_epoch(tmp_path, assert_picture):
    nan = float("nan")
    steps = list(range(1, 13))
    metrics = {"step": steps, "epoch": [1 + (s - 1) // 4 for s in steps],
               "loss": [-0.5 - 0.01 * s for s in steps],
               "latent_corr": [nan] * 7 + [0.9] + [nan] * 3 + [0.99],
               "pc1_rmsd": [nan] * 7 + [1.2] + [nan] * 3 + [0.3]}
    figure = plots.training_figure(metrics)
    panel = [ax for ax in figure.axes
             if ax.get_title() == "change since the previous epoch"][0]
    (corr,) = panel.get_lines()
    assert list(corr.get_xdata()) == [2, 3] and list(corr.get_ydata()) == [0.9, 0.99]
    (rmsd,) = [ax for ax in figure.axes if ax.get_ylabel() == "PC1 path RMSD (A)"][0] \
        .get_lines()
    assert list(rmsd.get_ydata()) == [1.2, 0.3]
    from cryostar_boltz.engine.plots.figure import save_figure
    save_figure(figure, tmp_path / "training.png")
    assert_picture(tmp_path / "training.png")


def test_tables_without_convergence_columns_draw_no_such_panel():
    figure = plots.training_figure({"step": [1, 2], "epoch": [1, 1],
                                    "loss": [0.2, 0.1]})
    assert "change since the previous epoch" not in {ax.get_title()
                                                     for ax in figure.axes}
