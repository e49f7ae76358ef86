"""Scipion protocols of cryostar-boltz: train, sample the prior, generate
ensembles, analyze (cluster) a training run, select particles in its latent
space and reconstruct particle subsets."""
from .protocol_base import CryoStarBoltzProtBase
from .protocol_train import CryoStarBoltzProtTrain
from .protocol_sample_prior import CryoStarBoltzProtSamplePrior
from .protocol_generate import CryoStarBoltzProtGenerate
from .protocol_analyze import CryoStarBoltzProtAnalyze
from .protocol_select import CryoStarBoltzProtSelect
from .protocol_reconstruct import CryoStarBoltzProtReconstruct

__all__ = ["CryoStarBoltzProtBase", "CryoStarBoltzProtTrain",
           "CryoStarBoltzProtSamplePrior", "CryoStarBoltzProtGenerate",
           "CryoStarBoltzProtAnalyze", "CryoStarBoltzProtSelect",
           "CryoStarBoltzProtReconstruct"]
