"""Place the reference model in the particle box frame.

The engine works in the box frame: origin at the box centre (pixel D//2).
A reference is either given already centred on the box, or in the frame of
the consensus map it was docked into: the map's origin, voxel size and box
then say where the box centre is (the convention of ChimeraX and RELION:
voxel ``i`` sits at ``origin + i * voxel`` along each axis, with
``origin = nstart * voxel`` when the header origin is zero).
"""
from pathlib import Path

import mrcfile
import numpy as np


def map_box_centre(map_path):
    """(centre xyz in Angstrom, box, voxel size) of a consensus map."""
    map_path = Path(map_path)
    try:
        with mrcfile.open(str(map_path), header_only=True, permissive=True) as mrc:
            header = mrc.header
            voxel = np.array([float(mrc.voxel_size.x), float(mrc.voxel_size.y),
                              float(mrc.voxel_size.z)])
            shape = np.array([int(header.nx), int(header.ny), int(header.nz)])
            origin = np.array([float(header.origin.x), float(header.origin.y),
                               float(header.origin.z)])
            start = np.array([int(header.nxstart), int(header.nystart),
                              int(header.nzstart)], dtype=np.float64)
    except (OSError, ValueError) as err:
        raise ValueError("%s: cannot read the map header: %s" % (map_path, err))
    if not np.all(voxel > 0):
        raise ValueError("%s: the voxel size in the header is %s: set it "
                         "before using the map to place the model"
                         % (map_path, voxel.tolist()))
    if len(set(shape.tolist())) != 1:
        raise ValueError("%s: the map is %s voxels, not a cube"
                         % (map_path, shape.tolist()))
    offset = origin if np.any(origin != 0) else start * voxel
    centre = offset + (shape // 2) * voxel
    return centre, int(shape[0]), float(voxel[0])


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
    check_fits(model.coords, box, apix, source)
    return model


def check_fits(coords, box, apix, source="reference"):
    """Refuse a model that is not centred on the box or sticks out of it."""
    half = (box // 2) * apix
    centre = coords.mean(axis=0)
    radius = np.linalg.norm(coords - 0.0, axis=1).max()
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
