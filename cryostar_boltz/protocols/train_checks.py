"""Checks of the training form's inputs, each a list of one-line errors
(empty when fine): the particles, the consensus map's header, and the
reference model, which the engine itself places in the particle box
(``cryostar-boltz place``, run in the engine's environment: Scipion's
process never loads the engine's structure code).
"""
import os

from pwem.constants import ALIGN_PROJ

from .jobs import check_command

#: Map formats whose header the engine reads to place the reference.
MAP_EXTENSIONS = (".mrc", ".map", ".mrcs")


def particle_errors(particles):
    """Poses, CTF, pixel size and square images."""
    errors = []
    if particles.getAlignment() != ALIGN_PROJ:
        errors.append("The particles have no 3D alignment (projection "
                      "poses); run a 3D refinement first.")
    if not particles.hasCTF():
        errors.append("The particles have no CTF; estimate the CTF "
                      "(and refine the particles) first.")
    apix = particles.getSamplingRate()
    if not apix or apix <= 0:
        errors.append("The particles have no sampling rate (pixel size).")
    dim = particles.getDim()
    if not dim or not dim[0] or dim[0] != dim[1]:
        errors.append("The particles must be square images (they are %s)."
                      % (dim,))
    return errors


def option_errors(box, particle_box, density_box, mask_radius, elastic_keep):
    """Training boxes even and no larger than the particles' box (0: the
    particles' box), the mask radius and kept-edge quantile (None: derived)
    in (0, 1]."""
    errors = []
    if box and (box % 2 or box > particle_box or box < 0):
        errors.append("The training box must be an even number of pixels "
                      "up to the particles' box (%d px); it is %d."
                      % (particle_box, box))
    if density_box and density_box % 2:
        errors.append("The stage-2 box must be an even number of pixels.")
    if not 0 < mask_radius <= 1:
        errors.append("The mask radius is a fraction of half the box: "
                      "between 0 and 1.")
    if elastic_keep is not None and not 0 < elastic_keep <= 1:
        errors.append("The kept elastic edges are a quantile: between 0 "
                      "and 1.")
    return errors


def map_errors(map_path, scipion_apix):
    """The consensus map is an MRC file whose header voxel size is the one
    Scipion records (the engine places the model from the header)."""
    from ..convert import map_sampling_rate
    if os.path.splitext(map_path)[1].lower() not in MAP_EXTENSIONS:
        return ["The consensus map must be an MRC file to place the "
                "model (%s is not); convert it or leave the map empty "
                "with a box-centred model." % map_path]
    try:
        voxel = map_sampling_rate(map_path)
    except ValueError as err:
        return [str(err)]
    if scipion_apix and abs(voxel - scipion_apix) > 0.01 * scipion_apix:
        return ["The consensus map's header gives %.4f A/voxel but "
                "Scipion records %.4f A/px: fix the header (the engine "
                "reads it to place the model)." % (voxel, scipion_apix)]
    return []


def reference_errors(path, box, apix, map_path=None):
    """The engine's own check: the model, placed by the map when given, is
    centred on the particle box and fits inside it."""
    if not path or not os.path.isfile(path):
        return ["The reference model file %s does not exist." % path]
    args = ["--reference", path, "--box", box, "--apix", apix]
    if map_path:
        args += ["--map", map_path]
    error = check_command("place", args)
    return [] if error is None else ["Reference model: %s" % error]
