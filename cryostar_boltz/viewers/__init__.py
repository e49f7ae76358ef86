"""Scipion viewers of cryostar-boltz.

Each button runs the engine's ``cryostar-boltz plot`` as a job and shows
the PNGs it wrote (ChimeraX scripts through the chimera plugin): Scipion's
process imports no torch and no engine code but its file names.

* :mod:`.folders`: the engine's folders and files behind a Scipion object;
* :mod:`.plot_job`: running the plot command and reading its summary;
* :mod:`.views`: PNG windows, messages, ChimeraX;
* :mod:`.base`: the viewers' base class;
* :mod:`.latent`, :mod:`.prior`, :mod:`.structures`: the viewers.
"""
from .latent import CryoStarBoltzLatentViewer
from .prior import CryoStarBoltzPriorViewer
from .structures import CryoStarBoltzEnsembleViewer, CryoStarBoltzTrajectoryViewer

__all__ = ["CryoStarBoltzLatentViewer", "CryoStarBoltzPriorViewer",
           "CryoStarBoltzTrajectoryViewer", "CryoStarBoltzEnsembleViewer"]
