"""The method: numpy, torch and dimod only, never pyworkflow or pwem.

Everything under this folder runs without Scipion, in the plugin's
interpreter or in an environment of its own; the Scipion side reaches it
through its command line (``cryostar-boltz``) and reads the files it writes
(their names: :mod:`cryostar_boltz.engine.layout`).

Conventions shared by every module (one convention, tested by round trips):

* Lengths in Angstrom; coordinates in the model frame, origin at the box
  centre. Pixel ``i`` of a box of ``D`` pixels sits at ``(i - D//2) * apix``.
* Images are arrays ``[..., y, x]``; volumes ``[z, y, x]``.
* Poses are RELION's: rotation ``A`` (``x_image = A @ x_model``) built from
  Euler angles ``rot, tilt, psi`` (ZYZ, degrees) and an in-plane origin
  ``(ox, oy)`` in Angstrom (``rlnOriginX/YAngst``): the particle's centre
  sits at the box centre minus the origin.
* CTF parameters per particle, columns of ``CTF_COLUMNS``; the CTF has
  RELION's sign (particles with positive density appear white).
"""

__version__ = "0.1.0"

#: Column order of per-particle CTF parameter arrays everywhere in the engine.
CTF_COLUMNS = ("defocus_u", "defocus_v", "defocus_angle", "voltage",
               "cs", "amplitude_contrast", "phase_shift", "bfactor")
