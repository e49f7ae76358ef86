"""The maps picture: one projection per map."""
import mrcfile
import pytest

from cryostar_boltz.engine import plots
from cryostar_boltz.engine.plots.maps import MAX_MAPS, read_maps


def test_maps_figure(map_files, tmp_path, assert_picture):
    fig = plots.maps_figure([mrcfile.read(p) for p in map_files],
                            [p.name for p in map_files])
    assert_picture(plots.save_figure(fig, tmp_path / "maps.png"), min_colours=10)
    assert [ax.get_title() for ax in fig.axes] == [p.name for p in map_files]


def test_only_the_first_maps_are_read_and_the_title_says_so(map_files):
    many = list(map_files) * 5
    maps = read_maps(many)
    assert len(maps) == MAX_MAPS and maps[0].shape == (16, 16, 16)
    fig = plots.maps_figure(maps, total=len(many))
    assert "first 12 of 15" in fig.get_suptitle()


def test_missing_map_and_no_maps_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mrc"):
        read_maps([tmp_path / "nothing.mrc"])
    with pytest.raises(plots.PlotError, match="no maps"):
        plots.maps_figure([])
