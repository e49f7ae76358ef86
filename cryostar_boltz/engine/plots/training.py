"""The training curves: every loss term of ``metrics.csv`` against the
step, the KL weight, the learning rate, the throughput and, per epoch, how
much the latent embedding and the PC1 motion still change. Name:
``training``."""
import math

import numpy as np

from ..layout import LATENT_CORR, PC1_RMSD
from ..training.derived import counted

from .figure import PlotError, new_figure, save_if, smooth
from .pictures import RunPictures

#: (metrics column, panel title) of the loss terms, in panel order.
TRAINING_TERMS = (("loss", "total loss"), ("image", "image (-correlation)"),
                  ("continuity", "continuity"), ("elastic", "elastic network"),
                  ("clash", "clash"), ("kl", "KL"))
#: Extra KL columns of priors with a continuous and a binary part.
EXTRA_TERMS = ("kl_gaussian", "kl_binary")


def training_figure(metrics, title="Training"):
    """Every loss term of ``metrics`` ({column: values per step}, as
    :func:`cryostar_boltz.engine.training.progress.read_metrics` returns) against the
    step, raw (thin) and smoothed over 1/40 of the steps (thick), epoch
    boundaries dotted; the KL weight and learning rate, and the throughput,
    in the next panels; the convergence of a stage-1 run (latent
    correlation and PC1-path RMSD with the previous epoch, against the
    epoch) in the last. PlotError when the table is empty."""
    if not metrics or "step" not in metrics:
        raise PlotError("training picture: the metrics table is empty")
    step = np.asarray(metrics["step"], dtype=np.float64)
    epoch = np.asarray(metrics.get("epoch", np.ones_like(step)))
    window = max(1, len(step) // 40)
    boundaries = step[1:][np.diff(epoch) > 0] - 0.5
    panels = [(k, label) for k, label in TRAINING_TERMS if k in metrics]
    panels += [(k, k.replace("_", " ")) for k in EXTRA_TERMS if k in metrics]
    convergence = LATENT_CORR in metrics or PC1_RMSD in metrics
    rows = math.ceil((len(panels) + 2 + convergence) / 3)
    fig = new_figure(11, 2.5 * rows)
    axes = fig.subplots(rows, 3).ravel()
    for ax, (key, label) in zip(axes, panels):
        values = np.asarray(metrics[key], dtype=np.float64)
        ax.plot(step, values, lw=0.6, color="tab:blue", alpha=0.45)
        ax.plot(step, smooth(values, window), lw=1.8, color="tab:blue")
        _epoch_lines(ax, boundaries)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    used = len(panels)
    ax = axes[used]
    if "beta" in metrics:
        ax.plot(step, metrics["beta"], color="tab:orange", label="KL weight beta")
    if "lr" in metrics:
        twin = ax.twinx()
        twin.plot(step, metrics["lr"], color="tab:green", ls="--",
                  label="learning rate")
        twin.set_ylabel("learning rate", color="tab:green")
    ax.set_ylabel("beta", color="tab:orange")
    ax.set_title("KL weight and learning rate")
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if used + 1 < len(axes) and "particles_per_s" in metrics:
        ax = axes[used + 1]
        ax.plot(step, metrics["particles_per_s"], lw=0.8, color="tab:gray")
        ax.set_title("throughput")
        ax.set_ylabel("particles / s")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        used += 1
    if convergence:
        _convergence_panel(axes[used + 1], metrics, epoch)
        used += 1
    for ax in axes[used + 1:]:
        ax.set_visible(False)
    skipped = int(np.nansum(metrics.get("skipped", [0])))
    fig.suptitle("%s: %s, %s%s" % (
        title, counted(len(step), "step"),
        counted(int(np.nanmax(epoch)) if len(epoch) else 0, "epoch"),
        ", %d %s skipped (non-finite)" % (skipped, "batch" if skipped == 1 else "batches")
        if skipped else ""))
    return fig


def _convergence_panel(ax, metrics, epoch):
    """Latent correlation (left axis) and PC1-path RMSD (right axis) with
    the previous epoch, one point per epoch (the epochs' last rows)."""
    corr = np.asarray(metrics.get(LATENT_CORR, np.full(len(epoch), np.nan)), float)
    rmsd = np.asarray(metrics.get(PC1_RMSD, np.full(len(epoch), np.nan)), float)
    ax.set_title("change since the previous epoch")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    shown = np.isfinite(corr) | np.isfinite(rmsd)
    if not shown.any():
        ax.text(0.5, 0.5, "measured from epoch 2 on", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        return
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    x = epoch[shown]
    ax.plot(x, corr[shown], "o-", color="tab:purple", ms=3, label="latent correlation")
    ax.set_ylabel("latent correlation", color="tab:purple")
    twin = ax.twinx()
    twin.plot(x, rmsd[shown], "s--", color="tab:red", ms=3, label="PC1 path RMSD")
    twin.set_ylabel("PC1 path RMSD (A)", color="tab:red")


def _epoch_lines(ax, boundaries):
    if 0 < len(boundaries) <= 50:
        for b in boundaries:
            ax.axvline(b, color="0.6", lw=0.6, ls=":")


def training_plots(run_dir, out_dir=None, pictures=None):
    """``{"training": Figure}`` of the run's metrics table (also
    ``out_dir/training.png`` when ``out_dir`` is given)."""
    pics = pictures or RunPictures(run_dir)
    figures = {"training": training_figure(pics.metrics(), "Training of %s"
                                           % pics.run_dir.name)}
    return save_if(figures, out_dir)
