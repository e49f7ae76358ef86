"""The FSC curve of a reconstruction: correlation against spatial frequency
(1/Angstrom, resolution labels in Angstrom), with the 0.143 and 0.5
thresholds drawn and their resolutions in the legend."""
import numpy as np

from .figure import new_figure


def fsc_figure(curves, thresholds=(0.143, 0.5), title="Fourier shell correlation"):
    """A figure of FSC ``curves``: ``{label: (frequency (1/A), fsc,
    {threshold: resolution A})}``; each threshold a dashed line."""
    fig = new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    for label, (frequency, curve, res) in curves.items():
        text = ", ".join("%.1f A at %g" % (r, t) for t, r in sorted(res.items())
                         if np.isfinite(r))
        ax.plot(frequency, curve, label="%s (%s)" % (label, text) if text else label)
    for t in thresholds:
        ax.axhline(t, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("spatial frequency (1/A)")
    ax.set_ylabel("FSC")
    ax.set_ylim(-0.1, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    return fig
