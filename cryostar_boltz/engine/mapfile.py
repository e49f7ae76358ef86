"""MRC maps (consensus maps, masks, decoded maps) read one way, through mrcfile.

``read_map`` returns a ``MapFile``: the data as ``[z, y, x]`` whatever the
header's axis order, the voxel size (Angstrom, the same along x, y, z) and
the position in Angstrom of voxel ``(0, 0, 0)``. Every header field is
interpreted or refused (``docs/conventions.rst``, "Fields of the input
files"):

* ``MAPC/MAPR/MAPS`` say which of x, y, z the file's columns, rows and
  sections are (MRC2014); the data are transposed to ``[z, y, x]``. A
  header that is not a permutation of 1, 2, 3 is refused.
* ``NXSTART/NYSTART/NZSTART`` are in the file's column/row/section order;
  they are mapped to x, y, z like the sizes.
* Voxel ``(0, 0, 0)`` sits at the header ``ORIGIN`` (x, y, z Angstrom) when
  it is not zero, else at ``NSTART * voxel`` (the convention of ChimeraX,
  RELION and EMDB maps: a zero origin means the start indices place the
  map).
* ``CELLA / MX`` etc. give the voxel size per axis; different sizes
  (anisotropic voxels) and missing ones (zero) are refused.
* Complex modes (3, 4) and multi-volume files are refused.

``MapError`` (a ``ValueError``) names the file and the field in one line.
numpy and mrcfile only.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

__all__ = ["MapFile", "MapError", "read_map", "read_map_header", "axis_order"]

#: MRC modes of complex data (Fourier transforms), which are not maps.
_COMPLEX_MODES = (3, 4)
#: MRC2014 modes (0-4, 6, 12 half floats, 101 packed 4-bit).
_KNOWN_MODES = (0, 1, 2, 3, 4, 6, 12, 101)


class MapError(ValueError):
    """A map file that cannot be used: the message names the file and the
    header field (or the problem) in one line."""


@dataclass(eq=False)
class MapFile:
    """An MRC map in the engine's frame conventions.

    ``data`` float32 ``[z, y, x]`` (None when read with ``header_only``);
    ``shape`` ``(nz, ny, nx)`` voxels; ``voxel_size`` Angstrom (0.0 when
    the header has none and it was not required); ``origin`` ``(3,)``
    x, y, z Angstrom of voxel ``(0, 0, 0)``.
    """
    path: Path
    data: "np.ndarray | None"
    shape: tuple
    voxel_size: float
    origin: np.ndarray

    @property
    def centre(self):
        """x, y, z Angstrom of voxel ``(nx//2, ny//2, nz//2)`` (the box
        centre of the engine's frame for an even cube)."""
        nz, ny, nx = self.shape
        return self.origin + np.array([nx // 2, ny // 2, nz // 2]) * self.voxel_size


def axis_order(header, path):
    """``(mapc, mapr, maps)`` of an mrcfile header; ``MapError`` naming
    ``path`` unless they are a permutation of 1, 2, 3."""
    order = (int(header.mapc), int(header.mapr), int(header.maps))
    if sorted(order) != [1, 2, 3]:
        raise MapError("%s: MAPC/MAPR/MAPS = %d,%d,%d in the MRC header is not an "
                       "axis order (a permutation of 1,2,3)" % ((path,) + order))
    return order


def read_map_header(path, require_voxel=True):
    """``read_map(path, header_only=True)``: shape, voxel size and origin
    without reading the data."""
    return read_map(path, header_only=True, require_voxel=require_voxel)


def read_map(path, header_only=False, require_voxel=True):
    """Read an MRC map as a ``MapFile`` (data ``[z, y, x]`` float32).

    ``require_voxel``: refuse a header without a voxel size. Raises
    ``MapError`` naming the file for a missing file, a file that is not
    MRC, complex data, more than one volume, a bad axis order, anisotropic
    voxels and (with data) NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise MapError("map file %s not found" % path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            opener = mrcfile.open if header_only else mrcfile.mmap
            kwargs = {"header_only": True} if header_only else {}
            with opener(str(path), mode="r", permissive=True, **kwargs) as mrc:
                header = mrc.header
                _check_map_id(header, path)
                mode = int(header.mode)
                if mode in _COMPLEX_MODES:
                    raise MapError("%s: MRC mode %d holds complex values (a Fourier "
                                   "transform), not a map" % (path, mode))
                order = axis_order(header, path)
                data = None
                if not header_only:
                    data = _map_data(mrc, path)
                size_crs = (int(header.nx), int(header.ny), int(header.nz))
                start_crs = (int(header.nxstart), int(header.nystart),
                             int(header.nzstart))
                voxel = np.array([float(mrc.voxel_size.x), float(mrc.voxel_size.y),
                                  float(mrc.voxel_size.z)])
                origin = np.array([float(header.origin.x), float(header.origin.y),
                                   float(header.origin.z)])
    except MapError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise MapError("%s is not a readable MRC file: %s" % (path, err)) from None
    size_xyz, start_xyz = np.zeros(3, np.int64), np.zeros(3, np.float64)
    for k, axis in enumerate(order):
        size_xyz[axis - 1], start_xyz[axis - 1] = size_crs[k], start_crs[k]
    voxel_size = _voxel_size(voxel, path, require_voxel)
    if not np.all(np.isfinite(origin)):
        raise MapError("%s: the ORIGIN in the MRC header is %s, not a position"
                       % (path, origin.tolist()))
    offset = origin if np.any(origin != 0) else start_xyz * voxel_size
    if data is not None:
        # file axes (sections, rows, columns) are (maps, mapr, mapc); want z, y, x
        labels = [order[2], order[1], order[0]]
        data = np.ascontiguousarray(data.transpose([labels.index(a) for a in (3, 2, 1)]))
    shape = (int(size_xyz[2]), int(size_xyz[1]), int(size_xyz[0]))
    return MapFile(path=path, data=data, shape=shape, voxel_size=voxel_size,
                   origin=offset)


def _check_map_id(header, path):
    """An MRC file has 'MAP ' at word 53 (MRC2014) or at least sane sizes."""
    map_id = bytes(header.map)
    sizes = (int(header.nx), int(header.ny), int(header.nz))
    if map_id[:3] != b"MAP" and (int(header.mode) not in _KNOWN_MODES
                                 or not all(0 < s < 1 << 20 for s in sizes)):
        raise MapError("%s is not an MRC file (no MAP id in its header, mode %d, "
                       "sizes %s)" % (path, int(header.mode), list(sizes)))


def _map_data(mrc, path):
    data = mrc.data
    if data is None or data.ndim != 3:
        ndim = None if data is None else data.ndim
        raise MapError("%s: the MRC file holds %s, not one 3D map" % (
            path, "no data" if ndim is None else "%dD data" % ndim))
    data = np.asarray(data, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise MapError("%s: the map holds NaN or infinite values (first at "
                       "section %d, row %d, column %d)" % ((path,) + tuple(bad)))
    return data


def _voxel_size(voxel, path, required):
    if not np.all(np.isfinite(voxel)):
        raise MapError("%s: the voxel size in the MRC header (CELLA/MX) is %s"
                       % (path, voxel.tolist()))
    if not np.all(voxel > 0):
        if required:
            raise MapError("%s: the voxel size in the MRC header (CELLA/MX) is %s: "
                           "set it (e.g. with relion_image_handler --angpix or "
                           "ChimeraX 'volume voxelSize') before using the map"
                           % (path, voxel.tolist()))
        return 0.0
    if np.ptp(voxel) > 1e-4 * voxel.max():
        raise MapError("%s: the voxel size differs between axes %s (CELLA/MX); "
                       "the engine needs cubic voxels: resample the map"
                       % (path, [round(v, 5) for v in voxel.tolist()]))
    return float(voxel[0])
