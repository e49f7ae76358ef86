"""Output folders owned by their run: claim (changes nothing), prepare
(replace, record), and no skeleton left by a failed command."""
import json

import pytest

from cryostar_boltz.engine import outputs


def run_folder(path, reference="a.pdb"):
    """A finished-looking training run folder made by ``prepare``."""
    outputs.prepare(path, "train", {}, {"particles": "p.star", "reference": reference})
    (path / "config.json").write_text("{}")
    (path / "model.pt").write_text("x")
    (path / "reference.pdb").write_text(reference)
    (path / "analysis").mkdir()
    (path / "analysis" / "pc1.pdb").write_text("x")
    return path


def test_a_new_or_empty_folder_is_new(tmp_path):
    assert outputs.claim(tmp_path / "absent", "train", {}) == outputs.NEW
    assert outputs.claim(tmp_path, "generate", {"n": 1}) == outputs.NEW
    assert not (tmp_path / "absent").exists()


def test_a_folder_of_another_run_is_refused_with_what_it_holds(tmp_path):
    run = run_folder(tmp_path / "run")
    with pytest.raises(ValueError) as err:
        outputs.claim(run, "train", {})
    message = str(err.value)
    assert message.startswith("%s holds the train run of " % run)
    assert "reference a.pdb" in message and "--resume" in message
    assert "--overwrite" in message and "another --out" in message
    assert outputs.claim(run, "train", {}, resume=True) == outputs.CONTINUE
    assert outputs.claim(run, "train", {}, overwrite=True) == outputs.REPLACE


def test_a_run_without_checkpoints_is_still_a_run(tmp_path):
    """The example: checkpoints/ deleted to save space, the rest is there."""
    run = run_folder(tmp_path / "run")
    assert not (run / "checkpoints").exists()
    with pytest.raises(ValueError, match="holds the train run"):
        outputs.claim(run, "train", {})


def test_engine_outputs_without_a_record_are_refused(tmp_path):
    (tmp_path / "z.npy").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"outputs of an earlier command \(z.npy\)"):
        outputs.claim(tmp_path, "sample-prior", {})


def test_a_users_files_alone_do_not_make_a_folder_taken(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert outputs.claim(tmp_path, "generate", {}) == outputs.NEW


def test_the_same_request_continues_another_is_refused(tmp_path):
    outputs.prepare(tmp_path, "generate", {"n": 3, "name": "pc1"})
    assert outputs.claim(tmp_path, "generate", {"n": 3, "name": "pc1"}) == outputs.CONTINUE
    with pytest.raises(ValueError, match="holds the generate outputs of"):
        outputs.claim(tmp_path, "generate", {"n": 4, "name": "pc1"})
    with pytest.raises(ValueError, match="holds the generate outputs of"):
        outputs.claim(tmp_path, "analyze", {})
    # plot redraws into its own folder whatever the options
    outputs.prepare(tmp_path / "plots", "plot", {})
    assert outputs.claim(tmp_path / "plots", "plot", {"x": 1}) == outputs.CONTINUE


def test_overwrite_removes_the_known_outputs_and_only_those(tmp_path):
    run = run_folder(tmp_path / "run")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_text("x")
    (run / "analysis_kmeans10").mkdir()
    (run / "my_notes.txt").write_text("keep me")
    action = outputs.claim(run, "train", {}, overwrite=True)
    record = outputs.prepare(run, "train", {}, {"reference": "b.pdb"}, action)
    assert sorted(p.name for p in run.iterdir()) == ["my_notes.txt", "run.json"]
    assert json.loads((run / "run.json").read_text())["id"] == record["id"]


def test_overwrite_of_a_generation_removes_its_named_files(tmp_path):
    outputs.prepare(tmp_path, "generate", {"name": "pc1"})
    for name in ("pc1.pdb", "pc1_coarse.pdb", "pc1_z.npy", "pc1_000.mrc",
                 "summary.json", "other.pdb"):
        (tmp_path / name).write_text("x")
    action = outputs.claim(tmp_path, "generate", {"name": "x"}, overwrite=True)
    outputs.prepare(tmp_path, "generate", {"name": "x"}, action=action)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pdb", "run.json"]


def test_a_file_is_not_an_output_folder(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        outputs.claim(path, "plot", {})


def test_a_failed_command_leaves_no_skeleton(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        with outputs.created_folder(out):
            outputs.prepare(out, "generate", {})
            raise ValueError("refused")
    assert not out.exists()
    # a folder that existed before is left as it was
    out.mkdir()
    with pytest.raises(ValueError):
        with outputs.created_folder(out):
            raise ValueError("refused")
    assert out.is_dir()
    # a training run is removed while it has no checkpoint
    run = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with outputs.created_folder(run, outputs.no_checkpoint):
            outputs.prepare(run, "train", {})
            (run / "config.json").write_text("{}")
            (run / "checkpoints").mkdir()
            raise RuntimeError("killed")
    assert not run.exists()


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    import os
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        with pytest.raises(OSError, match="cannot write .*ro/out .output folder of generate.: "
                                          "Permission denied"):
            outputs.prepare(parent / "out", "generate", {})
    finally:
        parent.chmod(0o700)


def test_a_plot_folder_from_before_records_is_drawn_into_again(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "training.png").write_text("x")
    assert outputs.claim(tmp_path, "plot", {}) == outputs.CONTINUE
    (tmp_path / "labels.npy").write_text("x")  # an analysis is not a plot folder
    with pytest.raises(ValueError, match="outputs of an earlier command"):
        outputs.claim(tmp_path, "plot", {})


def test_a_refusal_removes_a_new_folder_an_interruption_keeps_it(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        with outputs.created_folder(out, refusals=(ValueError,)):
            outputs.prepare(out, "sample-prior", {})
            (out / "z.npy").write_text("x")
            raise ValueError("the structures cannot be written")
    assert not out.exists()
    with pytest.raises(KeyboardInterrupt):
        with outputs.created_folder(out, refusals=(ValueError,)):
            outputs.prepare(out, "generate", {})
            (out / "pc1_000.mrc").write_text("x")
            raise KeyboardInterrupt
    assert (out / "pc1_000.mrc").exists()


def test_resume_of_another_commands_folder_is_refused(tmp_path):
    outputs.prepare(tmp_path, "generate", {})
    with pytest.raises(ValueError, match="holds the generate outputs of .*, not a train "
                                         "run to resume"):
        outputs.claim(tmp_path, "train", {}, resume=True)


def test_overwrite_without_a_record_keeps_files_any_user_might_name(tmp_path):
    (tmp_path / "z.npy").write_text("x")
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "figure.png").write_text("mine")
    action = outputs.claim(tmp_path, "generate", {"name": "pc1"}, overwrite=True)
    outputs.prepare(tmp_path, "generate", {"name": "pc1"}, action=action)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "run.json"]
