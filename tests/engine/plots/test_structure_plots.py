"""Trajectory and ensemble pictures of a real run's decoded models, with
the ChimeraX scripts and displacement models of each ensemble."""
import numpy as np
import pytest

from cryostar_boltz.engine import plots
from cryostar_boltz.engine.structure import atom_positions, load_ensemble, read_models


def test_trajectory_pictures_of_the_pc_paths(pictures, run, tmp_path, assert_picture):
    figures = plots.trajectory_plots(None, None, pictures=pictures)
    assert set(figures) == {"trajectory_pc1", "trajectory_pc2", "trajectory_pc3"}
    assert_picture(plots.save_figure(figures["trajectory_pc1"], tmp_path / "t.png"))
    rmsd_axes = figures["trajectory_pc1"].axes[0]
    assert rmsd_axes.get_xlabel() == "PC1 coordinate"
    # a sample-prior ensemble: numbered models
    figures = plots.trajectory_plots(None, None, [run.parent / "gibbs" / "samples.pdb"],
                                     pictures=pictures)
    assert figures["trajectory_samples"].axes[0].get_xlabel() == "model"


def test_trajectory_of_files_without_a_run(run):
    figures = plots.trajectory_plots(None, None, [run / "analysis" / "pc1.pdb"])
    left = figures["trajectory_pc1"].axes[0]
    assert left.get_xlabel() == "model"
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert not any("reference" in t for t in labels)
    with pytest.raises(plots.PlotError, match="run folder or model files"):
        plots.trajectory_plots(None, None)
    with pytest.raises(FileNotFoundError, match="not found: .*missing.pdb"):
        plots.trajectory_plots(None, None, [run / "missing.pdb"])


def test_ensemble_pictures_and_chimerax_session(pictures, run, tmp_path, assert_picture):
    pc1 = run / "analysis" / "pc1.pdb"
    figures = plots.ensemble_plots(None, tmp_path, [pc1], pictures=pictures,
                                   script_dir=tmp_path / "cx")
    assert_picture(tmp_path / "ensemble_pc1.png")
    cxc = (tmp_path / "cx" / "pc1.cxc").read_text()
    pdb = tmp_path / "cx" / "pc1_displacement.pdb"
    assert 'open "%s" coordsets true' % pdb.resolve() in cxc
    assert "color bfactor #1 palette blue:white:red range 0," in cxc
    # the B-factor column holds each residue's RMSF, in every model
    coords = read_models(pc1)
    expected = plots.rmsf(coords)
    ca = [line for line in pdb.read_text().splitlines()
          if line.startswith("ATOM") and line[12:16].strip() == "CA"]
    bfactors = np.array([float(line[60:66]) for line in ca]).reshape(len(coords), -1)
    np.testing.assert_allclose(bfactors, np.tile(expected, (len(coords), 1)), atol=0.006)
    assert np.allclose(read_models(pdb), coords, atol=1e-3)
    assert "ensemble_pc1" in figures
    # the run's full-atom models and their displacement copies: every atom
    # carried by its residue's frame (frames rebuilt from CAs written to 1e-3 A)
    expected = atom_positions(pictures.reference_or_none(), coords)
    for path in (pc1, pdb):
        assert np.abs(load_ensemble(path)[1] - expected).max() < 5e-3


def test_default_ensembles_are_the_pc_paths_and_centres(pictures):
    names = set(plots.ensemble_plots(None, None, pictures=pictures))
    assert {"ensemble_pc1", "ensemble_pc2", "ensemble_pc3"} <= names
    assert any(n.startswith("ensemble_kmeans") and n.endswith("_centers")
               for n in names)


def test_ensemble_with_maps_writes_one_script_for_both(run, map_files, tmp_path,
                                                       assert_picture):
    samples = run.parent / "gibbs" / "samples.pdb"
    figures = plots.ensemble_plots(None, tmp_path, [samples], map_files,
                                   script_dir=tmp_path)
    assert set(figures) == {"ensemble_gibbs_samples", "ensemble_maps"}
    assert_picture(tmp_path / "ensemble_maps.png", min_colours=10)
    scripts = plots.ensemble_scripts(None, tmp_path, [samples], map_files)
    assert set(scripts) == {"gibbs_samples", "gibbs_samples_maps", "maps"}
    both = scripts["gibbs_samples_maps"]["script"].read_text()
    assert 'open "%s" coordsets true' % (tmp_path / "gibbs_samples_displacement.pdb") in both
    assert "vseries true" in both and str(map_files[2]) in both
    assert scripts["maps"]["models"] is None
    # only the maps picture: no structure drawn, no run needed
    only = plots.ensemble_plots(None, None, None, map_files, only={"ensemble_maps"})
    assert set(only) == {"ensemble_maps"}


def test_ensemble_traces_break_between_segments_not_by_distance():
    # two chains whose ends touch (3.8 A apart): separate traces when the
    # reference's segments are given; a 6 A step inside one segment is drawn
    coords = np.zeros((2, 6, 3))
    coords[:, :, 0] = [0.0, 3.8, 7.6, 11.4, 17.4, 21.2]
    coords[1] += 0.5
    segments = np.array([0, 0, 0, 1, 1, 1])

    def step_lengths(fig):
        return sorted(round(float(np.linalg.norm(s[1] - s[0])), 1)
                      for s in fig.axes[0].collections[0].get_segments())

    # 5 steps; the one between the segments (3.8 A) is left out
    assert step_lengths(plots.ensemble_figure(coords, segment_index=segments)) == [
        3.8, 3.8, 3.8, 6.0]
    # without segments: the 6 A step breaks the trace instead
    assert step_lengths(plots.ensemble_figure(coords)) == [3.8] * 4
