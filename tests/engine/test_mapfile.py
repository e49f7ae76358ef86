"""``engine.mapfile``: MRC maps read as [z, y, x] with their place in space,
whatever the header's axis order, start indices and origin; bad headers
refused in one line naming the file and the field."""
import itertools

import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.mapfile import MapError, read_map, read_map_header
from cryostar_boltz.engine.placement import map_box_centre, place_reference
from cryostar_boltz.engine.structure import load_structure

VOXEL = 3.0


def write_map(path, volume_zyx, order=(1, 2, 3), start_xyz=(0, 0, 0),
              origin_xyz=(0.0, 0.0, 0.0), voxel=VOXEL, mode=None):
    """An MRC file holding ``volume_zyx`` with columns, rows and sections
    along the axes ``order`` (MAPC, MAPR, MAPS; 1 = x), the data laid out
    accordingly and every header field set as MRC2014 says."""
    volume_zyx = np.asarray(volume_zyx, np.float32)
    axis_of = {1: 2, 2: 1, 3: 0}                  # x, y, z -> axis of [z, y, x]
    mapc, mapr, maps = order
    data = np.ascontiguousarray(volume_zyx.transpose(
        axis_of[maps], axis_of[mapr], axis_of[mapc]))
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data if mode is None else data.astype(np.complex64))
        h = mrc.header
        h.mapc, h.mapr, h.maps = order
        h.nxstart, h.nystart, h.nzstart = (start_xyz[a - 1] for a in order)
        nz, ny, nx = volume_zyx.shape
        h.mx, h.my, h.mz = nx, ny, nz
        vx, vy, vz = np.broadcast_to(voxel, 3)
        h.cella.x, h.cella.y, h.cella.z = nx * vx, ny * vy, nz * vz
        h.origin.x, h.origin.y, h.origin.z = origin_xyz
    return path


@pytest.mark.parametrize("order", list(itertools.permutations((1, 2, 3))))
def test_every_axis_order_gives_the_same_zyx_data_and_place(tmp_path, order):
    volume = np.random.default_rng(0).normal(size=(4, 6, 8)).astype(np.float32)
    path = write_map(tmp_path / "m.mrc", volume, order, start_xyz=(5, -7, 11))
    m = read_map(path)
    assert m.shape == (4, 6, 8) and m.voxel_size == VOXEL
    np.testing.assert_array_equal(m.data, volume)
    np.testing.assert_allclose(m.origin, np.array([5, -7, 11]) * VOXEL)
    header = read_map_header(path)
    assert header.data is None and header.shape == (4, 6, 8)
    np.testing.assert_allclose(header.origin, m.origin)


def test_a_header_origin_wins_over_start_indices(tmp_path):
    path = write_map(tmp_path / "m.mrc", np.zeros((4, 4, 4)), start_xyz=(1, 2, 3),
                     origin_xyz=(10.0, 20.0, 30.0))
    np.testing.assert_allclose(read_map_header(path).origin, [10.0, 20.0, 30.0])


def test_a_docked_map_in_axis_order_321_with_start_indices_places_the_model(
        adk_dir, tmp_path):
    """The issue's example: the same docked consensus map, written with
    axis order 1,2,3 and origin, and with 3,2,1 and NXSTART..., puts the
    model at the same place (to 0.01 A)."""
    model = load_structure(adk_dir / "adk_closed.pdb")
    box = 64
    start = np.array([-12, 7, -20])                      # voxels, x, y, z
    centre = (start + box // 2) * VOXEL                  # where the box centre is
    docked = model.translated(centre - model.coords.mean(0) + [1.5, -2.0, 0.5])
    volume = np.zeros((box, box, box), np.float32)
    standard = write_map(tmp_path / "standard.mrc", volume,
                         origin_xyz=tuple(start * VOXEL))
    swapped = write_map(tmp_path / "swapped.mrc", volume, order=(3, 2, 1),
                        start_xyz=tuple(start))
    np.testing.assert_allclose(map_box_centre(standard)[0], centre, atol=1e-6)
    np.testing.assert_allclose(map_box_centre(swapped)[0], centre, atol=1e-6)
    a = place_reference(docked, box, VOXEL, standard)
    b = place_reference(docked, box, VOXEL, swapped)
    np.testing.assert_allclose(b.coords, a.coords, atol=0.01)
    np.testing.assert_allclose(a.coords.mean(0), [1.5, -2.0, 0.5], atol=0.01)


def test_a_model_far_from_the_map_is_not_told_to_give_the_map(adk_dir, tmp_path):
    model = load_structure(adk_dir / "adk_closed.pdb")
    path = write_map(tmp_path / "m.mrc", np.zeros((64, 64, 64)),
                     origin_xyz=(500.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="not docked into this map") as err:
        place_reference(model, 64, VOXEL, path)
    assert "--map" not in str(err.value) and "m.mrc" in str(err.value)


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_bad_headers_are_refused_naming_the_file_and_field(tmp_path):
    aniso = write_map(tmp_path / "aniso.mrc", np.zeros((4, 4, 4)), voxel=(1.0, 1.0, 1.5))
    with pytest.raises(MapError, match="aniso.mrc: the voxel size differs between axes"):
        read_map(aniso)
    novoxel = write_map(tmp_path / "novoxel.mrc", np.zeros((4, 4, 4)), voxel=0.0)
    with pytest.raises(MapError, match="novoxel.mrc: the voxel size"):
        read_map_header(novoxel)
    assert read_map(novoxel, require_voxel=False).voxel_size == 0.0
    complex_map = write_map(tmp_path / "fft.mrc", np.zeros((4, 4, 4)), mode="complex")
    with pytest.raises(MapError, match="fft.mrc: MRC mode 4 holds complex values"):
        read_map(complex_map)
    order = write_map(tmp_path / "order.mrc", np.zeros((4, 4, 4)))
    with mrcfile.open(order, "r+", permissive=True) as mrc:
        mrc.header.mapc = 2
    with pytest.raises(MapError, match="order.mrc: MAPC/MAPR/MAPS = 2,2,3"):
        read_map(order)
    nan = np.zeros((4, 4, 4))
    nan[1, 2, 3] = np.nan
    with pytest.raises(MapError, match="nan.mrc: the map holds NaN .* section 1, "
                                       "row 2, column 3"):
        read_map(write_map(tmp_path / "nan.mrc", nan))
    text = tmp_path / "map.txt"
    text.write_text("hello, this is not a map\n" * 100)
    with pytest.raises(MapError, match="map.txt is not an MRC file"):
        read_map_header(text)
    with pytest.raises(MapError, match="not found"):
        read_map(tmp_path / "none.mrc")
