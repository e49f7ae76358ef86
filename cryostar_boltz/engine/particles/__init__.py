"""Particles: image stacks, RELION stars and cryoSPARC files, in one convention.

``load_particles`` reads a RELION ``.star`` (``relion``) or a cryoSPARC
``.cs`` (``cryosparc``) into ``Particles`` (``dataset``): RELION poses
(``engine.geometry``), origins in Angstrom, CTF in ``engine.CTF_COLUMNS``,
images memory-mapped (``stacks``). ``particle_table`` builds RELION 3.1
particle tables from arrays; ``write_particles_star`` /
``write_particles_cs`` write subsets; ``cache_downsampled`` writes a
Fourier-cropped copy of the images. Every bad input raises ``DataError``
naming the file. numpy, scipy and mrcfile only: no torch.
"""
from .cache import cache_downsampled
from .cryosparc import read_particles_cs, write_particles_cs
from .dataset import Particles
from .errors import DataError
from .load import load_particles
from .relion import particle_table, read_particles_star, write_particles_star
from .stacks import ImageStack, check_box, fourier_crop, write_stack
from .star import read_star, write_star

__all__ = ["DataError", "Particles", "load_particles", "read_particles_star",
           "read_particles_cs", "particle_table", "write_particles_star",
           "write_particles_cs", "ImageStack", "fourier_crop", "write_stack",
           "cache_downsampled", "read_star", "write_star", "check_box"]
