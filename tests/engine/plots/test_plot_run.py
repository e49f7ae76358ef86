"""``cryostar-boltz plot`` and :func:`plot_run`: groups, single pictures,
the summary it records, and clear errors."""
import json

import pytest

from cryostar_boltz.engine import plots
from cryostar_boltz.engine.cli import main


def test_plot_command_writes_every_group(run, tmp_path, capsys, assert_picture):
    out = tmp_path / "figs"
    pc1 = run / "analysis" / "pc1.pdb"
    assert main(["plot", "--run", str(run), "--out", str(out),
                 "--what", "training,trajectory,ensemble",
                 "--models", str(pc1)]) == 0
    names = {p.name for p in out.glob("*.png")}
    assert names == {"training.png", "trajectory_pc1.png", "ensemble_pc1.png"}
    for name in names:
        assert_picture(out / name)
    assert (out / "pc1.cxc").is_file()
    printed = capsys.readouterr().out
    assert "training.png" in printed
    assert main(["plot", "--run", str(run), "--out", str(out),
                 "--what", "latent,nonsense"]) == 1
    # the summary names every file written
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pictures"] == {"training": "training.png",
                                   "trajectory_pc1": "trajectory_pc1.png",
                                   "ensemble_pc1": "ensemble_pc1.png"}
    assert summary["scripts"] == {"pc1": {"script": "pc1.cxc",
                                          "models": "pc1_displacement.pdb",
                                          "structures": str(pc1.resolve()),
                                          "maps": []}}


def test_one_picture_per_invocation(run, tmp_path, assert_picture):
    out = tmp_path / "one"
    assert main(["plot", "--run", str(run), "--out", str(out),
                 "--pictures", "prior_energies", "--draw", "50",
                 "--samples", str(run.parent / "gibbs")]) == 0
    assert [p.name for p in out.glob("*.png")] == ["prior_energies.png"]
    assert_picture(out / "prior_energies.png")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pictures"] == {"prior_energies": "prior_energies.png"}
    assert summary["scripts"] == {} and summary["skipped"] == {}


def test_latent_options(run, tmp_path):
    out = tmp_path / "latent"
    assert main(["plot", "--run", str(run), "--out", str(out), "--what", "latent",
                 "--analysis", str(run.parent / "analysis"), "--color-by",
                 "dim,cluster", "--dim", "3", "--kind", "hexbin",
                 "--no-contours"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pictures"]) == {"latent_pca_z3", "latent_pca_cluster"}


def test_ensemble_without_a_run(run, map_files, tmp_path):
    out = tmp_path / "files"
    samples = run.parent / "gibbs" / "samples.pdb"
    argv = ["plot", "--out", str(out), "--models", str(samples)]
    for path in map_files:
        argv += ["--maps", str(path)]
    assert main(argv + ["--what", "ensemble"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pictures"]) == {"ensemble_gibbs_samples", "ensemble_maps"}
    both = summary["scripts"]["gibbs_samples_maps"]
    assert both["script"] == "gibbs_samples_maps.cxc"
    assert both["structures"] == str(samples.resolve())
    assert both["maps"] == [str(p.resolve()) for p in map_files]
    assert summary["scripts"]["maps"]["structures"] is None
    assert (out / "gibbs_samples_maps.cxc").is_file()


def test_errors_are_one_line_naming_the_problem(run, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["plot", "--run", str(run), "--out", str(out), "--pictures",
                 "latent_pca_z9", "--color-by", "dim", "--dim", "9"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("cryostar-boltz plot: error: no picture could be drawn")
    assert "dimensions 1..8" in error
    assert main(["plot", "--run", str(run), "--out", str(out), "--pictures",
                 "nonsense_x"]) == 1
    assert "unknown picture 'nonsense_x'" in capsys.readouterr().err
    assert main(["plot", "--run", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "run folder %s not found" % (tmp_path / "none") in capsys.readouterr().err
    assert main(["plot", "--out", str(out)]) == 1
    assert "give --run" in capsys.readouterr().err


def test_group_of_a_picture():
    assert plots.group_of("prior_occupancy") == "prior"
    assert plots.group_of("training") == "training"
    with pytest.raises(plots.PlotError, match="unknown picture"):
        plots.group_of("movie_pc1")
