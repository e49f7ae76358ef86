"""Scipion viewers of cryostar-boltz."""
from .viewers import (CryoStarBoltzEnsembleViewer, CryoStarBoltzLatentViewer,
                      CryoStarBoltzPriorViewer, CryoStarBoltzTrajectoryViewer)

__all__ = ["CryoStarBoltzLatentViewer", "CryoStarBoltzPriorViewer",
           "CryoStarBoltzTrajectoryViewer", "CryoStarBoltzEnsembleViewer"]
