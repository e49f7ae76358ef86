"""Selecting particles in the latent space (engine/selection.py and the
``select`` command): polygons on the PCA plane and UMAP, latent ranges,
clusters; subsets that keep every original column and load back."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cryostar_boltz.engine import layout
from cryostar_boltz.engine.cli import main as cli
from cryostar_boltz.engine.particles import load_particles, read_star
from cryostar_boltz.engine.selection import (RunLatents, inside_polygon,
                                             parse_labels, parse_range,
                                             read_polygon, select_particles)
from cryostar_boltz.engine.training.config import TrainConfig

#: Latents of the 7 real particles (empiar_10076_7): 2-D, spread on a line
#: along x (so PC1 is x) with a small y.
Z = np.array([[-3.0, 0.1], [-2.0, -0.1], [-1.0, 0.2], [0.0, -0.2],
              [1.0, 0.1], [2.0, -0.1], [3.0, 0.0]], dtype=np.float32)


def fake_run(root, particles, datadir=None, z=Z):
    """A finished run folder as the selection reads it: config.json, z.npy
    and model.pt (selection never opens the model)."""
    run = root / "run"
    run.mkdir(parents=True)
    TrainConfig(particles=str(particles), reference="ref.pdb",
                datadir=None if datadir is None else str(datadir)).save(run)
    np.save(run / layout.LATENTS, z)
    (run / layout.MODEL).write_bytes(b"")
    return run


@pytest.fixture
def star_run(tmp_path, real_data):
    return fake_run(tmp_path, real_data / "empiar_10076_7.star")


@pytest.fixture
def cs_run(tmp_path, real_data):
    return fake_run(tmp_path, real_data / "empiar_10076_7.cs", datadir=real_data)


def pca_x(run):
    return RunLatents(run).plane("pca")[:, 0]


# ------------------------------------------------------------ pieces

def test_polygon_inside_counts_the_edges_either_way_round():
    square = [[0, 0], [1, 0], [1, 1], [0, 1]]
    points = [[0.5, 0.5], [1.0, 0.5], [1.5, 0.5], [0, 0]]
    assert inside_polygon(points, square).tolist() == [True, True, False, True]
    assert inside_polygon(points, square[::-1]).tolist() == [True, True, False, True]


def test_polygon_files_json_and_text(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(
        {"space": "umap", "vertices": [[0, 0], [2, 0], [1, 3]]}))
    vertices, space = read_polygon(tmp_path / "a.json")
    assert space == "umap" and vertices.tolist() == [[0, 0], [2, 0], [1, 3]]
    (tmp_path / "b.txt").write_text("# x y\n0 0\n2,0\n1 3  # apex\n")
    vertices, space = read_polygon(tmp_path / "b.txt")
    assert space is None and vertices.tolist() == [[0, 0], [2, 0], [1, 3]]


@pytest.mark.parametrize("text, message", [
    ("[[0, 0], [1, 1]]", "at least 3 vertices"),
    ("[[0, 0, 1], [1, 1, 1], [2, 0, 0]]", "pairs"),
    ("0 0\n1 x\n", "neither JSON"),
    ("[[0, 0], [1, NaN], [2, 0]]", "finite"),
])
def test_bad_polygon_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_polygon(path)
    assert str(path) in str(err.value)


def test_ranges_and_labels_parse():
    assert str(parse_range("2:-0.5:1")) == "z2:-0.5:1"
    r = parse_range("pc1:0:")
    assert (r.kind, r.dim, r.lo, r.hi) == ("pc", 1, 0.0, np.inf)
    assert parse_labels("0,2-4") == [0, 2, 3, 4]
    for bad in ("1:2", "0:1:2", "1:3:2", "x:1:2"):
        with pytest.raises(ValueError, match="--range"):
            parse_range(bad)
    with pytest.raises(ValueError, match="--clusters"):
        parse_labels("a")


# ------------------------------------------------------------ selections

def test_polygon_on_the_pca_plane(star_run):
    latents = RunLatents(star_run)
    x = pca_x(star_run)
    # a box around the three particles with the largest PC1
    lo = np.sort(x)[-3] - 0.5
    box = [[lo, -5], [10, -5], [10, 5], [lo, 5]]
    picked = select_particles(latents, box, "pca")
    assert picked.indices.tolist() == sorted(np.argsort(x)[-3:].tolist())
    assert picked.criteria[0]["inside"] == 3


def test_ranges_intersect_and_invert(star_run):
    latents = RunLatents(star_run)
    both = select_particles(latents, ranges=[parse_range("1:-2.5:2.5"),
                                             parse_range("z2:0:")])
    assert both.indices.tolist() == [2, 4]   # x in [-2.5, 2.5] and y >= 0
    rest = select_particles(latents, ranges=[parse_range("1:-2.5:2.5"),
                                             parse_range("z2:0:")], invert=True)
    assert rest.indices.tolist() == [0, 1, 3, 5, 6]


def test_clusters_of_an_analysis_folder(star_run, tmp_path):
    analysis = tmp_path / "analysis_basins"
    analysis.mkdir()
    np.save(analysis / layout.LABELS, np.array([0, 0, 1, 1, 2, 2, 2]))
    picked = select_particles(RunLatents(star_run, analysis), clusters=[2, 0])
    assert picked.indices.tolist() == [0, 1, 4, 5, 6]
    with pytest.raises(ValueError, match="no cluster 5 in .*analysis_basins"):
        select_particles(RunLatents(star_run, analysis), clusters=[5])


def test_inverted_clusters_keep_out_what_the_analysis_left_out(star_run, tmp_path):
    analysis = tmp_path / "analysis_kmeans2"
    analysis.mkdir()
    # particles 3 and 6 were junk: the analysis labelled them -1
    np.save(analysis / layout.LABELS, np.array([0, 0, 1, -1, 1, 0, -1]))
    latents = RunLatents(star_run, analysis)
    picked = select_particles(latents, clusters=[0], invert=True)
    assert picked.indices.tolist() == [2, 4]
    assert {"left out by the analysis": 2, "analysis": str(analysis)} in picked.criteria
    # with no unlabelled particle, nothing is said
    np.save(analysis / layout.LABELS, np.array([0, 0, 1, 1, 1, 0, 0]))
    picked = select_particles(RunLatents(star_run, analysis), clusters=[0], invert=True)
    assert picked.indices.tolist() == [2, 3, 4]
    assert picked.criteria[-1] == {"invert": True}


def test_exclusion_inverted_alone_selects_what_it_leaves_out(star_run):
    junk = np.array([False, True, False, False, False, True, False])
    exclude = ({"label": "junk score > 2"}, junk)
    only_junk = select_particles(RunLatents(star_run), invert=True, exclude=exclude)
    assert only_junk.indices.tolist() == [1, 5]
    assert select_particles(RunLatents(star_run), exclude=exclude).indices.tolist() == \
        [0, 2, 3, 4, 6]
    # with another criterion, invert applies to it and the junk stays out
    picked = select_particles(RunLatents(star_run), ranges=[parse_range("pc1:0:")],
                              invert=True, exclude=exclude)
    assert not set(picked.indices.tolist()) & {1, 5}
    assert only_junk.criteria == [{"only the particles left out by": "junk score > 2",
                                   "inside": 2, "invert": True}]
    with pytest.raises(ValueError, match=r"--invert: only the particles left out by "
                                         r"junk score > 2 \(0\)"):
        select_particles(RunLatents(star_run), invert=True,
                         exclude=({"label": "junk score > 2"}, np.zeros(7, bool)))


def test_umap_polygon_uses_the_saved_embedding(star_run, tmp_path):
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    umap = np.stack([np.arange(7.0), np.zeros(7)], 1)
    np.save(analysis / layout.UMAP, umap)
    triangle = [[-0.5, -1], [2.5, -1], [1, 4]]
    picked = select_particles(RunLatents(star_run, analysis), triangle, "umap")
    assert picked.indices.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="no umap.npy .* analyze --run .* --umap"):
        select_particles(RunLatents(star_run), triangle, "umap")


# ------------------------------------------------------------ command

def test_select_command_writes_a_star_subset_with_every_column(star_run, tmp_path,
                                                               real_data):
    polygon = tmp_path / "lasso.json"
    polygon.write_text(json.dumps({"space": "pca", "vertices":
                                   [[-1.5, -9], [9, -9], [9, 9], [-1.5, 9]]}))
    out = tmp_path / "picked"
    assert cli(["select", "--run", str(star_run), "--out", str(out),
                "--polygon", str(polygon)]) == 0
    x = pca_x(star_run)
    expected = np.flatnonzero(x >= -1.5)
    assert np.load(out / "indices.npy").tolist() == expected.tolist()
    original = read_star(real_data / "empiar_10076_7.star")[""]
    written = read_star(out / "particles.star")
    block = written.get("particles", written.get(""))
    assert set(original) <= set(block)
    for column in original:
        if column != "rlnImageName":
            assert list(np.asarray(block[column])) == \
                list(np.asarray(original[column])[expected])
    again = load_particles(out / "particles.star", require_pose=False)
    assert again.n == len(expected)
    whole = load_particles(real_data / "empiar_10076_7.star", require_pose=False)
    np.testing.assert_array_equal(again.images[:], whole.images[expected])
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_selected"], summary["n_particles"]) == (len(expected), 7)
    assert not (out / "particles.cs").exists()


def test_select_command_writes_cs_for_cs_input(cs_run, tmp_path, real_data):
    out = tmp_path / "picked"
    assert cli(["select", "--run", str(cs_run), "--out", str(out),
                "--range", "1::0"]) == 0
    rows = [0, 1, 2, 3]
    raw = np.load(real_data / "empiar_10076_7.cs")
    subset = np.load(out / "particles.cs")
    assert subset.dtype.names == raw.dtype.names
    for name in raw.dtype.names:  # every column kept; paths from the subset's folder
        if name != "blob/path":
            np.testing.assert_array_equal(subset[name], raw[rows][name])
    stacks = {(out / p.decode()).resolve() for p in subset["blob/path"]}
    assert stacks == {(real_data / "empiar_10076_7.mrc").resolve()}
    original = load_particles(real_data / "empiar_10076_7.cs", require_pose=False)
    for again in (load_particles(out / "particles.cs", require_pose=False),
                  load_particles(out / "particles.star", require_pose=False)):
        assert again.n == 4
        np.testing.assert_array_equal(again.images[np.arange(4)],
                                      original.images[np.arange(4)])
    np.testing.assert_array_equal(np.load(out / "indices.npy"), rows)


@pytest.mark.parametrize("args, message", [
    ([], "nothing to select by: give --polygon, --range, --clusters or --exclude-junk"),
    (["--range", "3:0:1"], "--range z3:0:1: the run has latent dimensions 1..2"),
    (["--range", "1:10:20"], "no particle meets --range z1:10:20 (0 inside)"),
    (["--clusters", "1"], "--clusters: no labels.npy in"),
    (["--space", "umap", "--polygon", "POLY"], "--space umap: no umap.npy"),
    (["--polygon", "missing.json"], "--polygon missing.json: file not found"),
])
def test_bad_selections_are_refused_before_the_folder_exists(star_run, tmp_path,
                                                             args, message):
    (tmp_path / "poly.txt").write_text("0 0\n1 0\n0 1\n")
    args = [str(tmp_path / "poly.txt") if a == "POLY" else a for a in args]
    out = tmp_path / "never"
    done = subprocess.run([sys.executable, "-m", "cryostar_boltz.engine.cli",
                           "select", "--run", str(star_run), "--out", str(out)]
                          + args, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cryostar-boltz select: error: ")
    assert message in lines[0]
    assert not out.exists()


def test_unfinished_run_is_refused(tmp_path, real_data):
    run = fake_run(tmp_path, real_data / "empiar_10076_7.star")
    (run / layout.MODEL).unlink()
    with pytest.raises(FileNotFoundError, match="--run .*: not a finished training run"):
        RunLatents(run)
