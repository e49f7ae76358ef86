"""Copy a training run folder so that training the copy further leaves the
original as it was (what continuing a training protocol does).

Large files the engine writes once and never changes (the downsampled
particle cache, per-epoch weights) are hard-linked; everything else is
copied. The folder names come from ``cryostar_boltz.engine.layout``.
"""
import os
import shutil
from pathlib import Path

from ..engine import layout

#: Run entries a continued run does not take over: the density decoder was
#: trained on the previous latents, which further training changes.
NOT_CONTINUED = (layout.DENSITY,)
#: File names of per-epoch checkpoints start so (``epoch_0001.pt``).
_EPOCH_PREFIX = layout.EPOCH_CHECKPOINT.partition("%")[0]


def is_immutable(path):
    """Whether the run file at ``path`` (relative to the run folder) is
    written once and never changed: the particle cache and the per-epoch
    weights."""
    parts = Path(path).parts
    return layout.CACHE in parts or (len(parts) > 1 and parts[-2] == layout.CHECKPOINTS
                                     and parts[-1].startswith(_EPOCH_PREFIX))


def link_tree(source, target, skip=()):
    """Copy the run folder ``source`` to ``target``: hard links for the
    files :func:`is_immutable` accepts (copies where links fail), real
    copies for the rest; top-level entries named in ``skip`` are left out."""
    def copy(src, dst):
        if is_immutable(os.path.relpath(src, source)):
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)
    shutil.copytree(source, target, copy_function=copy, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if n in skip
                                                  and os.path.samefile(folder, source)])


def copy_run(source, target):
    """Make ``target`` a copy of the run folder ``source`` (without the
    entries of :data:`NOT_CONTINUED`) that appears complete or not at all;
    an existing ``target`` (a resumed step) is kept as it is."""
    if os.path.isdir(target):
        return
    partial = str(target) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    link_tree(source, partial, skip=NOT_CONTINUED)
    os.rename(partial, target)
