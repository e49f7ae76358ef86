"""Particle subsets per cluster, written for re-refinement elsewhere.

Each subset is a RELION 3.1 star (star input keeps every original column
and its optics table, so RELION re-refines it as it would the input) and,
when the particles came from a cryoSPARC ``.cs`` file, the same rows as a
``.cs`` file. Image names point to the original stacks (relative when they
lie below the output folder). Files appear complete or not at all.
"""
from pathlib import Path

import numpy as np

from .particles import write_particles_cs, write_particles_star


def cluster_name(index, k):
    """``cluster_007``: zero-padded like the maps of ``TrainedDensity``
    (at least 3 digits), so a cluster's subset and map share a stem."""
    return "cluster_%0*d" % (max(3, len(str(max(k - 1, 0)))), index)


def write_cluster_subsets(particles, labels, out_dir, k=None):
    """One subset per cluster label 0..k-1 that holds particles; returns,
    per cluster, ``{"cluster", "size", "star"[, "cs"]}`` (file names in
    ``out_dir``)."""
    labels = np.asarray(labels)
    if len(labels) != particles.n:
        raise ValueError("%d labels for %d particles" % (len(labels), particles.n))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    k = int(labels.max()) + 1 if k is None else int(k)
    written = []
    for index in range(k):
        members = np.flatnonzero(labels == index)
        if not len(members):
            continue
        name = cluster_name(index, k)
        entry = {"cluster": index, "size": int(len(members)),
                 "star": write_particles_star(out_dir / (name + ".star"),
                                              particles, members).name}
        if particles.source_format == "cs":
            entry["cs"] = write_particles_cs(out_dir / (name + ".cs"),
                                             particles, members).name
        written.append(entry)
    return written
