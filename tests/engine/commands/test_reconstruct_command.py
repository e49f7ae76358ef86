"""``cryostar-boltz reconstruct``: half-maps, map and FSC of particle subsets
of a tiny run, from its original particles."""
import json

import numpy as np
import pytest

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.mapfile import read_map

N, BOX, APIX = 64, 32, 3.2  # the tiny dataset of conftest.py


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_all_particles_give_half_maps_map_and_fsc(tiny_run, tmp_path, capsys):
    out = tmp_path / "all"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--batch-size", "32"]) == 0
    printed = capsys.readouterr().out
    assert "at 0.143" in printed and "at 0.5" in printed
    for name in ("half1.mrc", "half2.mrc", "map.mrc", "fsc.csv", "fsc.png",
                 "indices.npy", "summary.json"):
        assert (out / name).is_file(), name
    full = read_map(out / "map.mrc")
    assert full.shape == (BOX,) * 3 and full.voxel_size == pytest.approx(APIX)
    # the run was trained without --map: voxel D//2 at the box centre
    assert np.allclose(full.centre, 0.0, atol=1e-3)
    summary = _summary(out)
    assert summary["n_selected"] == N and sum(summary["half_counts"]) == N
    assert summary["half_sets"] == "rlnRandomSubset"  # the simulator writes it
    table = np.loadtxt(out / "fsc.csv", delimiter=",", skiprows=1)
    assert (out / "fsc.csv").read_text().startswith("resolution_A,fsc\n")
    assert table.shape == (BOX // 2, 2)
    assert table[0, 0] == pytest.approx(BOX * APIX, rel=1e-3)  # first shell
    assert np.all(np.diff(table[:, 0]) < 0)
    # two halves of one noisy dataset agree at low resolution
    assert table[0, 1] > 0.8
    assert summary["resolution_0.143"] >= 2 * APIX
    assert summary["resolution_0.143"] <= summary["resolution_0.5"]
    assert np.array_equal(np.load(out / "indices.npy"), np.arange(N))


def test_subsets_by_indices_clusters_and_pc_bins(tiny_run, tmp_path):
    rows = np.array([1, 5, 7, 9, 20, 33, 40, 41, 50, 60])
    np.save(tmp_path / "rows.npy", rows)
    out = tmp_path / "rows"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--indices", str(tmp_path / "rows.npy")]) == 0
    assert np.array_equal(np.load(out / "indices.npy"), rows)
    assert _summary(out)["n_selected"] == len(rows)
    # the run's own k-means clusters
    labels = np.load(next((tiny_run / "analysis").glob("kmeans*")) / "labels.npy")
    out = tmp_path / "c0"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--clusters", "0"]) == 0
    assert np.array_equal(np.load(out / "indices.npy"), np.flatnonzero(labels == 0))
    # bins along PC1 partition the particles
    picked = []
    for i in range(2):
        out = tmp_path / ("bin%d" % i)
        assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                     "--pc", "1", "--bin", "%d/2" % i]) == 0
        picked.append(np.load(out / "indices.npy"))
    assert np.array_equal(np.sort(np.concatenate(picked)), np.arange(N))


@pytest.mark.parametrize("argv, message", [
    (["--pc", "1"], "--pc and --bin go together"),
    (["--pc", "1", "--bin", "3/3"], "--bin '3/3'"),
    (["--indices", "missing.npy"], "--indices missing.npy: file not found"),
    (["--clusters", "x"], "--clusters 'x'"),
    (["--deform-to", "nowhere"], "--deform-to nowhere"),
])
def test_bad_subsets_are_refused_before_anything_is_written(
        tiny_run, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "refused"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out)] + argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_rows_out_of_range_are_refused(tiny_run, tmp_path, capsys):
    np.save(tmp_path / "rows.npy", np.array([0, N]))
    out = tmp_path / "refused"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--indices", str(tmp_path / "rows.npy")]) == 1
    assert "row 1 is %d, outside 0..%d" % (N, N - 1) in capsys.readouterr().err
    assert not out.exists()


def test_deform_to_reference_writes_a_corrected_map(tiny_run, tmp_path):
    out = tmp_path / "deformed"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--deform-to", "reference", "--batch-size", "64"]) == 0
    summary = _summary(out)
    assert summary["deform_to"]["target"] == "reference"
    assert summary["deform_to"]["sigma"] == 6.0
    full = read_map(out / "map.mrc")
    assert full.shape == (BOX,) * 3 and np.isfinite(full.data).all()
    assert float(np.abs(full.data).max()) > 0


def test_particles_nearest_a_prior_basin(tiny_run, tmp_path, capsys):
    from cryostar_boltz.engine.analysis import cluster_latents
    from cryostar_boltz.engine.runs import TrainedRun
    run = TrainedRun(tiny_run)
    labels = cluster_latents(run.latents(), "basins", 10, 0, run.prior).labels
    out = tmp_path / "basin0"
    code = main(["reconstruct", "--run", str(tiny_run), "--out", str(out),
                 "--basin", "0"])
    if np.bincount(labels)[0] < 2 or len(set(np.arange(N)[labels == 0] % 2)) < 2:
        pytest.skip("basin 0 lacks a particle in a half-set")
    assert code == 0
    assert np.array_equal(np.load(out / "indices.npy"), np.flatnonzero(labels == 0))
    capsys.readouterr()
    k = int(labels.max()) + 1
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(tmp_path / "no"),
                 "--basin", str(k + 20), "--max-basins", "10"]) == 1
    assert "--basin %d: the prior has" % (k + 20) in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_map_takes_the_consensus_maps_voxel_size_and_origin(
        tiny_dataset, train_options, tmp_path):
    """A run whose reference is docked in a consensus map (--map): the
    reconstruction lies on that map's grid, over the docked model."""
    import mrcfile

    from cryostar_boltz.engine.structure import load_structure, write_models
    shift = np.array([120.0, -40.0, 75.5])
    model = load_structure(tiny_dataset.reference)
    docked = tmp_path / "docked.pdb"
    write_models(docked, model, model.coords + shift, full_atom=True)
    consensus = tmp_path / "consensus.mrc"
    with mrcfile.new(consensus) as mrc:
        mrc.set_data(np.zeros((BOX,) * 3, np.float32))
        mrc.voxel_size = APIX
        origin = shift - (BOX // 2) * APIX
        mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = origin
    run = tmp_path / "run"
    assert main(["train", "--out", str(run)] + train_options(
        tiny_dataset, **{"--reference": docked, "--map": consensus})) == 0
    out = tmp_path / "rec"
    assert main(["reconstruct", "--run", str(run), "--out", str(out)]) == 0
    written = read_map(out / "map.mrc")
    assert written.voxel_size == pytest.approx(APIX)
    np.testing.assert_allclose(written.origin, origin, atol=1e-3)
    np.testing.assert_allclose(read_map(out / "half1.mrc").origin, origin, atol=1e-3)
    # the density sits on the docked model: its centre of mass near the
    # model's centre in the consensus map's frame
    data = np.clip(written.data, 0, None)
    zyx = np.indices(data.shape).reshape(3, -1)
    com = (zyx * data.ravel()).sum(1) / data.sum()
    com_xyz = origin + com[::-1] * APIX
    assert np.linalg.norm(com_xyz - (model.coords.mean(0) + shift)) < 3 * APIX


def test_deform_to_a_latent_point_or_a_basin(tiny_run, tmp_path, capsys):
    point = np.load(tiny_run / "z.npy")[:1]
    np.save(tmp_path / "point.npy", point)
    out = tmp_path / "to_z"
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(out), "--indices",
                 str(_rows(tmp_path)),
                 "--deform-to", "z", str(tmp_path / "point.npy")]) == 0
    target = _summary(out)["deform_to"]
    assert target["target"] == "z"
    np.testing.assert_allclose(target["value"], point[0], rtol=1e-6)
    np.save(tmp_path / "two.npy", np.load(tiny_run / "z.npy")[:2])
    capsys.readouterr()
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(tmp_path / "no"),
                 "--deform-to", "z", str(tmp_path / "two.npy")]) == 1
    assert "holds 2 latent points; give one" in capsys.readouterr().err
    assert main(["reconstruct", "--run", str(tiny_run), "--out", str(tmp_path / "no"),
                 "--deform-to", "basin", "999"]) == 1
    assert "--deform-to basin 999: the prior has" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def _rows(folder):
    path = folder / "first16.npy"
    np.save(path, np.arange(16))
    return path
