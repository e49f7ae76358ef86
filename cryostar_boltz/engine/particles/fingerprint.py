"""Which particles, in which order: the fingerprint a training run records
(``layout.PARTICLE_FINGERPRINT``) and the check that a particle file given
later is the one its latents (``z.npy``, row for row) belong to.

The fingerprint is the particle count and a SHA-256 of the ordered image
identifiers: RELION's ``rlnImageName`` (``index@stack``) or cryoSPARC's
``blob/idx`` and ``blob/path``, with the stack reduced to its base name so
that a moved project (or one re-exported with other folders) still
matches, while a reordered, different or re-extracted set does not.
"""
import hashlib
from pathlib import Path, PurePosixPath

import numpy as np

from ..io import read_json, save_json

__all__ = ["particle_fingerprint", "save_fingerprint", "check_fingerprint",
           "load_run_particles"]


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _basename(path):
    return PurePosixPath(_text(path).strip().replace("\\", "/")).name


def image_identifiers(particles):
    """The ordered ``index@stack-basename`` identifiers (0-based index, the
    same for a star and a .cs of one particle set) of ``particles``
    (a ``Particles``), or None when the table names no images."""
    table = particles.table or {}
    if "rlnImageName" in table:
        out = []
        for name in table["rlnImageName"]:
            index, sep, stack = _text(name).strip().partition("@")
            # 0-based, as cryoSPARC's blob/idx: one particle set exported
            # as a star or as a .cs has one fingerprint
            out.append("%d@%s" % (int(index) - 1, _basename(stack)) if sep
                       else "0@%s" % _basename(index))
        return out
    if "blob/path" in table and "blob/idx" in table:
        return ["%d@%s" % (int(i), _basename(p))
                for i, p in zip(np.asarray(table["blob/idx"]), table["blob/path"])]
    return None


def particle_fingerprint(particles):
    """``{"count": n, "images_sha256": hex or None}`` of ``particles``."""
    names = image_identifiers(particles)
    digest = None
    if names is not None:
        digest = hashlib.sha256("\n".join(names).encode()).hexdigest()
    return {"count": int(particles.n), "images_sha256": digest}


def save_fingerprint(path, particles):
    """Write the fingerprint of ``particles`` to ``path`` (JSON)."""
    return save_json(path, particle_fingerprint(particles))


def check_fingerprint(particles, fingerprint_path, latents_path, run_dir, source):
    """ValueError (one line) unless ``particles`` (loaded from ``source``,
    e.g. ``--particles X``) are the ones run ``run_dir`` was trained on:
    the fingerprint at ``fingerprint_path`` when the run has one, else
    (runs made before fingerprints) the row count of ``latents_path``."""
    saved = read_json(fingerprint_path)
    if saved is None:
        n = len(np.load(latents_path, mmap_mode="r"))
        if particles.n != n:
            raise ValueError("%s holds %d particles but %s has %d latents: not "
                             "the particles this run was trained on"
                             % (source, particles.n, latents_path, n))
        return
    if particles.n != saved.get("count"):
        raise ValueError("%s: not the particles run %s was trained on (%d "
                         "particles, the run has %s)"
                         % (source, run_dir, particles.n, saved.get("count")))
    digest = particle_fingerprint(particles)["images_sha256"]
    if saved.get("images_sha256") and digest != saved["images_sha256"]:
        raise ValueError("%s: not the particles run %s was trained on (same "
                         "count, different order or images)" % (source, run_dir))


def load_run_particles(layout, config, particles=None, datadir=None, require=False):
    """The particles of the run of ``layout`` (``config``: its
    ``TrainConfig``; ``require``: poses, CTF and images required), from
    ``particles`` or the config's file (relative paths against the
    recorded working directory; ValueError naming ``config.json`` and
    saying to pass --particles for old runs that did not record it),
    checked against the run's fingerprint (:func:`check_fingerprint`)."""
    from ..training.config import input_path
    from .load import load_particles
    if particles:
        path, source = Path(particles), "--particles %s" % particles
    else:
        path = input_path(config, "particles", layout.config, required=True)
        source = "%s (the particles of %s)" % (path, layout.config)
    if not path.is_file():
        raise FileNotFoundError("particle file %s (from %s) not found%s" % (
            path, "--particles" if particles else layout.config,
            "" if particles else ": pass --particles"))
    if datadir is None and not particles and config.datadir:
        saved = input_path(config, "datadir", layout.config)
        if saved.is_dir():
            datadir = saved
    loaded = load_particles(path, datadir=datadir, require_pose=require, require_ctf=require,
                  require_images=require)
    check_fingerprint(loaded, layout.particle_fingerprint, layout.latents,
                      layout.root, source)
    return loaded
