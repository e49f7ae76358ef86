"""Scipion protocols of cryostar-boltz: train, sample the prior, generate
ensembles and analyze (cluster) a training run."""
from .protocol_base import CryoStarBoltzProtBase
from .protocol_train import CryoStarBoltzProtTrain
from .protocol_sample_prior import CryoStarBoltzProtSamplePrior
from .protocol_generate import CryoStarBoltzProtGenerate
from .protocol_analyze import CryoStarBoltzProtAnalyze

__all__ = ["CryoStarBoltzProtBase", "CryoStarBoltzProtTrain",
           "CryoStarBoltzProtSamplePrior", "CryoStarBoltzProtGenerate",
           "CryoStarBoltzProtAnalyze"]
