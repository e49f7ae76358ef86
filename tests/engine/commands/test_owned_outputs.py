"""Output folders owned by their run: training into another run's folder is
refused or (--overwrite) replaced wholly; commands continue their own
folder and refuse other outputs; subsets load back from where they are."""
import json
import shutil

import numpy as np
import pytest

from cryostar_boltz.engine.cli import main


def cli(*args):
    return main([str(a) for a in args])


def peptide_bonds(path):
    """C(i)-N(i+1) distances (A) of consecutive residues of each chain of the
    first model of ``path``."""
    from Bio.PDB import PDBParser
    model = next(iter(PDBParser(QUIET=True).get_structure("m", str(path))))
    lengths = []
    for chain in model:
        residues = [r for r in chain if "C" in r and "N" in r]
        for a, b in zip(residues, residues[1:]):
            if b.id[1] == a.id[1] + 1:
                lengths.append(float(np.linalg.norm(a["C"].coord - b["N"].coord)))
    return np.array(lengths)


@pytest.fixture
def other_reference(tiny_dataset, tmp_path):
    """The dataset's reference with every atom moved 1 A: another file."""
    from cryostar_boltz.engine.structure import load_structure, write_models
    ref = load_structure(tiny_dataset.reference)
    path = tmp_path / "other.pdb"
    write_models(path, ref, ref.coords + 1.0, full_atom=True)
    return path


def test_a_run_folder_without_checkpoints_is_not_trained_over(
        tiny_run, tiny_dataset, train_options, other_reference, tmp_path, capsys):
    """The example: checkpoints/ deleted, trained again into the same --out
    with another reference: exit 0 and the old reference copy kept, then
    generate wrote 92 of 213 peptide bonds longer than 2 A."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "checkpoints")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    argv = ["train", "--out", run] + train_options(
        tiny_dataset, **{"--reference": other_reference})
    assert cli(*argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "%s holds the train run of " % run in err[0], err
    assert "use --resume to continue it, --overwrite to replace it, or another --out" \
        in err[0]
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before

    (run / "my_notes.txt").write_text("keep")
    old_id = json.loads((run / "run.json").read_text())["id"]
    assert cli(*argv, "--overwrite") == 0
    record = json.loads((run / "run.json").read_text())
    assert record["id"] != old_id and record["inputs"]["reference"] == str(other_reference)
    assert (run / "reference.pdb").read_bytes() == other_reference.read_bytes()
    assert (run / "my_notes.txt").read_text() == "keep"
    # every old output went: the new run made its own analysis and checkpoints
    assert (run / "checkpoints" / "last.pt").is_file()
    assert not [p for p in run.rglob("*") if p.is_file() and p in before
                and p.name not in ("my_notes.txt",) and p.read_bytes() == before[p]
                and p.suffix in (".pt", ".npy")]
    assert cli("generate", "--run", run, "--from", "pca", "--n", 2, "--out",
               tmp_path / "gen") == 0
    bonds = peptide_bonds(tmp_path / "gen" / "pc1.pdb")
    assert len(bonds) == 213 and (bonds > 2.0).sum() == 0


def test_resume_and_overwrite_together_are_refused(tiny_run, capsys):
    assert cli("train", "--resume", "--overwrite", "--out", tiny_run) == 1
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.parametrize("option", [("--format", "cif"), ("--lr", "0.01"),
                                    ("--reference", "other.pdb")])
def test_resume_refuses_options_it_would_ignore(tiny_run, capsys, option):
    """--resume keeps the run's saved options: one it cannot change is
    refused by name, never silently ignored."""
    before = sorted(p.name for p in tiny_run.iterdir())
    assert cli("train", "--resume", "--out", tiny_run, *option) == 1
    err = capsys.readouterr().err
    assert "%s cannot change" % option[0] in err and "Traceback" not in err
    assert sorted(p.name for p in tiny_run.iterdir()) == before


def test_train_density_refuses_a_density_run_it_did_not_make(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    density = run / "density"
    density.mkdir()
    (density / "model.pt").write_text("another decoder")
    assert cli("train-density", "--run", run, "--hidden", 8, "--epochs", 1,
               "--device", "cpu") == 1
    err = capsys.readouterr().err
    assert "density holds outputs of an earlier command (model.pt)" in err
    assert "--resume" in err and "--overwrite" in err
    assert (density / "model.pt").read_text() == "another decoder"


def test_generate_continues_its_own_folder_and_refuses_others(tiny_run, tmp_path, capsys):
    out = tmp_path / "gen"
    assert cli("generate", "--run", tiny_run, "--from", "pca", "--n", 2, "--out", out) == 0
    assert json.loads((out / "run.json").read_text())["command"] == "generate"
    # the same request again: continued
    assert cli("generate", "--run", tiny_run, "--from", "pca", "--n", 2, "--out", out) == 0
    # other options would mix stale models with new ones: refused
    assert cli("generate", "--run", tiny_run, "--from", "pca", "--n", 3, "--out", out) == 1
    assert "holds the generate outputs of" in capsys.readouterr().err
    assert cli("sample-prior", "--run", tiny_run, "--n", 2, "--out", out) == 1
    assert "which a sample-prior never replaces" in capsys.readouterr().err
    # not even with --overwrite: another command's folder is never emptied
    assert cli("sample-prior", "--run", tiny_run, "--n", 2, "--out", out,
               "--overwrite") == 1
    assert "not even with --overwrite" in capsys.readouterr().err
    assert (out / "run.json").exists()
    # --overwrite: the old generation's files go, the new ones come
    assert cli("generate", "--run", tiny_run, "--from", "kmeans", "--k", 2, "--out", out,
               "--overwrite") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["kmeans.pdb", "kmeans_coarse.pdb", "kmeans_z.npy", "run.json",
                     "summary.json"]


def test_sample_prior_into_a_run_folder_is_refused(tiny_run, capsys):
    before = sorted(p.name for p in tiny_run.iterdir())
    assert cli("sample-prior", "--run", tiny_run, "--n", 2, "--out", tiny_run) == 1
    assert "holds the train run of" in capsys.readouterr().err
    assert sorted(p.name for p in tiny_run.iterdir()) == before


def cs_of(particles, path):
    """A cryoSPARC .cs of ``particles`` whose blob/path values are relative
    to the .cs folder, as cryoSPARC writes them (short fixed-width field)."""
    from scipy.spatial.transform import Rotation
    files, idx = zip(*[name.split("@")[::-1] for name in particles.table["rlnImageName"]])
    fields = [("uid", "<u8"), ("blob/path", "S%d" % max(map(len, files))),
              ("blob/idx", "<u4"), ("blob/shape", "<u4", (2,)), ("blob/psize_A", "<f4"),
              ("ctf/accel_kv", "<f4"), ("ctf/cs_mm", "<f4"), ("ctf/amp_contrast", "<f4"),
              ("ctf/df1_A", "<f4"), ("ctf/df2_A", "<f4"), ("ctf/df_angle_rad", "<f4"),
              ("alignments3D/shift", "<f4", (2,)), ("alignments3D/pose", "<f4", (3,))]
    raw = np.zeros(particles.n, dtype=fields)
    raw["uid"] = np.arange(particles.n)
    raw["blob/path"] = [f.encode() for f in files]
    raw["blob/idx"] = np.array(idx, dtype=int) - 1
    raw["blob/shape"] = particles.box
    raw["blob/psize_A"] = particles.apix
    ctf = particles.ctf
    raw["ctf/df1_A"], raw["ctf/df2_A"] = ctf[:, 0], ctf[:, 1]
    raw["ctf/df_angle_rad"] = np.radians(ctf[:, 2])
    raw["ctf/accel_kv"], raw["ctf/cs_mm"], raw["ctf/amp_contrast"] = ctf[:, 3:6].T
    raw["alignments3D/shift"] = particles.shifts / particles.apix[:, None]
    raw["alignments3D/pose"] = Rotation.from_matrix(
        particles.rotations.transpose(0, 2, 1)).as_rotvec()
    with open(path, "wb") as fh:
        np.save(fh, raw)
    return path


@pytest.mark.parametrize("where", ["elsewhere/deep/subsets", "above the stacks"])
def test_subsets_load_back_from_where_they_are_written(tiny_dataset, tmp_path, where):
    """The example: per-cluster .cs subsets kept blob/path values that no
    longer resolved from their folder."""
    from cryostar_boltz.engine.particles import load_particles
    from cryostar_boltz.engine.subsets import write_cluster_subsets
    star = load_particles(tiny_dataset.star)
    data = tiny_dataset.star.parent
    cs = load_particles(cs_of(star, data / "particles.cs"))
    out = tmp_path / where if where.startswith("elsewhere") else data
    labels = np.arange(cs.n) % 3
    written = write_cluster_subsets(cs, labels, out, 3)
    for entry in written:
        members = np.flatnonzero(labels == entry["cluster"])
        for name in (entry["cs"], entry["star"]):
            back = load_particles(out / name)  # no datadir
            np.testing.assert_array_equal(back.images[np.arange(back.n)],
                                          star.images[members])
    paths = np.load(out / written[0]["cs"])["blob/path"]
    if out == data:  # stacks below the subsets' folder: relative names
        assert all(not p.startswith(b"/") for p in paths)
    else:
        assert all(p.startswith(b"/") for p in paths)


@pytest.mark.parametrize("kind", ["star", "cs"])
def test_subsets_of_project_relative_paths_load_back(tiny_dataset, tmp_path, kind):
    """RELION and cryoSPARC name stacks from the project folder, not from
    the particle file's; analyze reads the particles without their images
    (metadata only), and the subsets still name stacks that load."""
    from cryostar_boltz.engine.particles import load_particles, write_particles_star
    from cryostar_boltz.engine.subsets import write_cluster_subsets
    project = tmp_path / "project"
    (project / "Extract").mkdir(parents=True)
    (project / "Refine").mkdir()
    stack = next(tiny_dataset.star.parent.glob("*.mrcs"))
    shutil.copy(stack, project / "Extract" / stack.name)
    shutil.copy(tiny_dataset.star, project / "Extract" / tiny_dataset.star.name)
    original = load_particles(project / "Extract" / tiny_dataset.star.name)
    star = write_particles_star(project / "Refine" / "run_data.star", original)
    star.write_text(star.read_text().replace(str(project) + "/", ""))
    assert "@Extract/%s" % stack.name in star.read_text()
    source = star if kind == "star" else cs_of(load_particles(star),
                                              project / "Refine" / "particles.cs")
    if kind == "cs":  # cryoSPARC's own project-relative paths
        raw = np.load(source)
        assert raw["blob/path"][0] == ("Extract/%s" % stack.name).encode()
    metadata = load_particles(source, require_images=False, require_pose=False,
                              require_ctf=False)
    labels = np.arange(metadata.n) % 2
    out = tmp_path / "elsewhere"
    for entry in write_cluster_subsets(metadata, labels, out, 2):
        members = np.flatnonzero(labels == entry["cluster"])
        for name in [entry["star"]] + ([entry["cs"]] if kind == "cs" else []):
            back = load_particles(out / name)
            np.testing.assert_array_equal(back.images[np.arange(back.n)],
                                          original.images[members])


def test_simulate_owns_its_folder(adk_dir, tiny_run, tmp_path, capsys):
    """simulate continues its own folder with the same options, refuses one
    made with other options or by another command, and replaces it with
    --overwrite (a user's other files stay)."""
    out = tmp_path / "sim"
    argv = ["simulate", "--structures", adk_dir / "adk_closed.pdb", "-n", 4,
            "--box", 16, "--apix", 6.0, "--out", out]
    assert cli(*argv) == 0
    (out / "notes.txt").write_text("mine")
    assert cli(*argv) == 0
    capsys.readouterr()
    assert cli(*argv[:-2], "--seed", 1, "--out", out) == 1
    err = capsys.readouterr().err
    # the one line says which option differs from the folder's
    assert "made with other options (--seed 0 there, 1 now); give --overwrite " \
        "to replace them" in err, err
    assert cli(*argv[:-2], "--seed", 1, "--name", "other", "--out", out,
               "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt", "other.mrcs", "other.star", "other_truth.npz",
        "reference.pdb", "run.json"]
    before = sorted(p.name for p in tiny_run.iterdir())
    assert cli(*argv[:-2], "--out", tiny_run) == 1
    assert "holds the train run" in capsys.readouterr().err
    assert sorted(p.name for p in tiny_run.iterdir()) == before


@pytest.mark.parametrize("command", [
    ["generate", "--run", "RUN", "--from", "pca", "--n", 2],
    ["analyze", "--run", "RUN", "--k", 2],
    ["sample-prior", "--run", "RUN", "--n", 3],
    ["plot", "--run", "RUN", "--what", "training"],
    ["select", "--run", "RUN", "--range", "1:-1000:1000"],
])
def test_overwrite_never_deletes_the_commands_own_inputs(tiny_run, tmp_path, capsys,
                                                         command):
    """--out naming the input run with --overwrite is refused before
    anything is removed."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    argv = [run if a == "RUN" else a for a in command]
    assert cli(*argv, "--out", run, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "an input of this command" in err and "Traceback" not in err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_overwrite_of_a_simulation_holding_the_inputs_is_refused(adk_dir, tmp_path,
                                                                 capsys):
    """train or simulate --overwrite into the simulation folder of their
    particles or structures keeps them."""
    import shutil
    sim = tmp_path / "sim"
    assert cli("simulate", "--structures", adk_dir / "adk_closed.pdb", "-n", 4,
               "--box", 16, "--apix", 6.0, "--out", sim) == 0
    before = sorted(p.name for p in sim.iterdir())
    star, reference = sim / "particles.star", sim / "reference.pdb"
    assert cli("train", "--particles", star, "--reference", reference, "--out", sim,
               "--overwrite", "--epochs", 1) == 1
    assert "an input of this command" in capsys.readouterr().err
    assert cli("simulate", "--structures", reference, "-n", 4, "--box", 16,
               "--out", sim, "--overwrite") == 1
    assert "an input of this command" in capsys.readouterr().err
    # a star elsewhere whose images are the simulation's stack
    elsewhere = tmp_path / "p"
    elsewhere.mkdir()
    text = star.read_text().replace("@particles.mrcs", "@../sim/particles.mrcs")
    (elsewhere / "p.star").write_text(text)
    shutil.copy(reference, elsewhere / "ref.pdb")
    assert cli("train", "--particles", elsewhere / "p.star", "--reference",
               elsewhere / "ref.pdb",
               "--out", sim, "--overwrite", "--epochs", 1) == 1
    assert "which a train never replaces" in capsys.readouterr().err
    assert sorted(p.name for p in sim.iterdir()) == before
