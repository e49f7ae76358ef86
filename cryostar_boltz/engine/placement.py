"""Place the reference model in the particle box frame.

The engine works in the box frame: origin at the box centre (pixel D//2).
A reference is either given already centred on the box, or in the frame of
the consensus map it was docked into: the map's header then says where the
box centre is (``mapfile.read_map``: voxel ``i`` sits at ``origin + i *
voxel`` along each axis, with ``origin = nstart * voxel`` when the header
origin is zero, as ChimeraX and RELION read it; axis order MAPC/MAPR/MAPS
interpreted).
"""
import numpy as np

from .mapfile import read_map_header


def map_box_centre(map_path):
    """(centre x, y, z in Angstrom, box in voxels, voxel size in Angstrom)
    of a consensus map: the centre is voxel ``(D//2, D//2, D//2)``, placed
    by ``mapfile.read_map`` (axis order, start indices and origin
    interpreted). ``MapError`` (a ValueError) naming the file for a file
    that is not an MRC map, a header without a voxel size, or a map that
    is not a cube."""
    header = read_map_header(map_path)
    if len(set(header.shape)) != 1:
        nz, ny, nx = header.shape
        raise ValueError("%s: the map is %d x %d x %d voxels (x, y, z), not a "
                         "cube like a consensus map of particles"
                         % (map_path, nx, ny, nz))
    return header.centre, int(header.shape[0]), header.voxel_size


def place_reference(model, box, apix, map_path=None, source="reference"):
    """Return the model moved into the box frame, refusing one that does not fit.

    ``box`` and ``apix`` are those of the particles (before downsampling).
    """
    if map_path is not None:
        centre, map_box, voxel = map_box_centre(map_path)
        width, particle_width = map_box * voxel, box * apix
        if abs(width - particle_width) > 0.02 * particle_width:
            raise ValueError(
                "%s is %d voxels of %.3f A (%.1f A wide) but the particles are "
                "%d px of %.3f A (%.1f A): the map must be the consensus map "
                "of these particles" % (map_path, map_box, voxel, width, box,
                                        apix, particle_width))
        model = model.translated(-centre)
    check_fits(model.coords, box, apix, source, map_path)
    return model


def check_fits(coords, box, apix, source="reference", map_path=None):
    """Refuse a model that is not centred on the box or sticks out of it
    (``map_path``: the map that placed it, named in the message)."""
    half = (box // 2) * apix
    centre = coords.mean(axis=0)
    radius = np.linalg.norm(coords - 0.0, axis=1).max()
    if np.linalg.norm(centre) > 0.25 * box * apix and map_path is not None:
        raise ValueError(
            "%s: placed by the header of %s, the model's centre is %.1f A from "
            "the map's centre (the box is %.1f A wide): the model is not docked "
            "into this map" % (source, map_path, np.linalg.norm(centre), box * apix))
    if np.linalg.norm(centre) > 0.25 * box * apix:
        raise ValueError(
            "%s: the model's centre is %.1f A from the box centre (the box is "
            "%.1f A wide): give the consensus map it was docked into (--map) "
            "or a model centred on the box" % (source, np.linalg.norm(centre),
                                               box * apix))
    if radius > half:
        raise ValueError(
            "%s: residues reach %.1f A from the box centre but the box only "
            "holds %.1f A (%d px at %.3f A): the model does not fit the box"
            % (source, radius, half, box, apix))
