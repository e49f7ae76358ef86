"""STAR files: our reader and writer on real and hand-written files."""
import os

import numpy as np
import pytest

from cryostar_boltz.engine.particles import DataError, read_star, write_star


def test_read_star_types(real_data):
    blocks = read_star(real_data / "relion31.6opticsgroups.star")
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnOpticsGroup"].dtype == np.int64
    assert optics["rlnVoltage"].dtype == np.float64
    assert optics["rlnOddZernike"].dtype.kind == "U"
    assert particles["rlnImageName"][0] == "3@Polish/job520/Micrographs/0003_shiny.mrcs"
    assert len(particles["rlnDefocusU"]) == 139


def test_star_round_trip(real_data, tmp_path):
    blocks = read_star(real_data / "relion31.6opticsgroups.star")
    blocks["particles"]["rlnComment"] = np.array(["a b"] + ["x"] * 138)
    write_star(tmp_path / "copy.star", blocks)
    text = (tmp_path / "copy.star").read_text()
    assert "# version 30001" in text
    again = read_star(tmp_path / "copy.star")
    assert list(again) == list(blocks)
    for name, block in blocks.items():
        assert list(again[name]) == list(block)
        for column, values in block.items():
            assert again[name][column].dtype == values.dtype
            np.testing.assert_array_equal(again[name][column], values)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_read_star_loops_pairs_quotes_and_mixed_columns(tmp_path):
    star = tmp_path / "mixed.star"
    star.write_text("# version 30001\ndata_general\n_rlnImageSize 64\n_rlnName 'two words'\n\n"
                    "data_particles\nloop_\n_rlnA #1\n_rlnB #2\n1 x\n2.5 y\nnan z\n"
                    "loop_\n_rlnC\n1\nabc\n\n# version 30001\n")
    blocks = read_star(star)
    assert blocks["general"]["rlnImageSize"].tolist() == [64]
    assert blocks["general"]["rlnName"].tolist() == ["two words"]
    particles = blocks["particles"]
    np.testing.assert_array_equal(particles["rlnA"], [1.0, 2.5, np.nan])
    assert particles["rlnB"].tolist() == ["x", "y", "z"]
    assert particles["rlnC"].tolist() == ["1", "abc"]


def test_read_star_malformed(tmp_path):
    bad = tmp_path / "bad.star"
    bad.write_text("data_particles\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3\n")
    with pytest.raises(DataError, match="bad.star.*3 values"):
        read_star(bad)
    with pytest.raises(DataError, match="missing.star"):
        read_star(tmp_path / "missing.star")


@pytest.mark.parametrize("name, blocks, rows", [
    ("empiar_10076_7.star", [""], 7),                     # RELION 3.0, no optics
    ("relion31.star", ["optics", "particles"], 5),
    ("relion31.v2.star", ["particles", "optics"], 5),
    ("relion31.6opticsgroups.star", ["optics", "particles"], 139),
    ("relion5.star", ["optics", "particles"], 17),
    ("trpv1_small_stack.star", ["optics", "particles"], 10),
])
def test_reads_every_real_star(real_data, name, blocks, rows):
    star = read_star(real_data / name)
    assert list(star) == blocks
    table = star[blocks[0] if name.startswith("empiar") else "particles"]
    assert {len(column) for column in table.values()} == {rows}
