"""``Particles``: a particle dataset in the engine's conventions.

Every reader (``relion.read_particles_star``, ``cryosparc.read_particles_cs``;
``load_particles`` picks one by suffix) returns one:

* ``rotations`` ``(N, 3, 3)`` are RELION's projection matrices ``A``
  (``x_image = A x_model``) and ``euler`` ``(N, 3)`` their Euler angles
  ``rot, tilt, psi`` in degrees (``engine.geometry``);
* ``shifts`` ``(N, 2)`` are RELION origins in Angstrom
  (``rlnOriginX/YAngst``): the particle centre sits at the box centre minus
  the origin;
* ``ctf`` ``(N, 8)`` has the columns of ``engine.CTF_COLUMNS``; voltage, Cs,
  amplitude contrast and pixel size come from each particle's optics group;
* ``apix`` ``(N,)`` Angstrom per pixel, ``box`` pixels;
* ``images`` read in the engine's sign convention (white particles, the
  CTF of ``docs/conventions.rst``): each stored image multiplied by its
  particle's factor (``ImageStack.factors``: cryoSPARC's ``-blob/sign /
  ctf/scale``, RELION's ``1 / rlnCtfScalefactor``).
"""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .stacks import ImageStack, as_index

__all__ = ["Particles"]


@dataclass(eq=False, repr=False)
class Particles:
    """Particles with their images, poses and CTF in the engine's conventions.

    ``euler``/``rotations``/``shifts`` are None without poses, ``ctf``
    without CTF, ``images`` when loaded with ``require_images=False``.
    ``table`` (the particle columns) and ``optics`` keep the input's own
    metadata for writing subsets; ``raw`` is the .cs structured array.
    """
    path: Path
    images: "ImageStack | None"
    euler: "np.ndarray | None"
    rotations: "np.ndarray | None"
    shifts: "np.ndarray | None"
    ctf: "np.ndarray | None"
    apix: np.ndarray
    box: "int | None"
    optics_group: np.ndarray
    table: dict
    optics: "dict | None"
    source_format: str
    raw: "np.ndarray | None" = None
    datadir: "Path | None" = None
    #: where the pixel size came from (``"particle file"``, or ``"stack
    #: header"`` when the star gives none), for logs.
    apix_source: str = "particle file"

    @property
    def n(self):
        return len(self.apix)

    def __repr__(self):
        return "Particles(%d from %s, box %s, %s%s%s)" % (
            self.n, self.path, self.box, self.source_format,
            ", poses" if self.has_pose else "", ", CTF" if self.has_ctf else "")

    def __len__(self):
        return self.n

    @property
    def has_pose(self):
        return self.rotations is not None

    @property
    def has_ctf(self):
        return self.ctf is not None

    def subset(self, indices):
        """The particles at ``indices`` (ints or a boolean mask), in that order."""
        idx = as_index(indices, self.n)
        pick = (lambda a: None if a is None else a[idx])
        return replace(
            self,
            images=None if self.images is None else self.images.subset(idx),
            euler=pick(self.euler), rotations=pick(self.rotations),
            shifts=pick(self.shifts), ctf=pick(self.ctf), apix=self.apix[idx],
            optics_group=self.optics_group[idx],
            table={k: v[idx] for k, v in self.table.items()}, raw=pick(self.raw))
