"""Training: the epoch loop both stages share, stage 1 (the structure-guided
VAE), stage 2 (the density decoder), their options, data-parallel context
and progress.

Modules: ``config`` (every option dataclass; torch-free, so Scipion's
process may read the defaults), ``loop`` (``EpochTrainer``: epochs,
checkpoints, resume, guarded update), ``data`` (``TrainingData``),
``stage1`` (``Stage1Trainer``, ``run_training``, ``resume_config``),
``stage2`` (``Stage2Trainer``, ``run_density_training``,
``resume_density_config``), ``convergence`` (how much each epoch still
changed the latents and the PC1 motion; torch-free), ``halfsets``
(``train --half-sets``: the split, one run per half-set and their
agreement report; its checks torch-free), ``distributed``,
``progress`` and ``threads`` (what ``--threads 0`` picks; torch-free).

This file imports nothing, so ``import
cryostar_boltz.engine.training.config`` stays free of torch.
"""
