"""Options derived from the data (training/derived.py): each rule on two data
sizes, explicit values win, the cryostar preset is the published method,
config.json round trips with ``derived``, old configs load, resume and the
half-sets keep the values, and a tiny run logs and saves what it chose."""
import json
import os

import pytest

from cryostar_boltz.engine.cli import command_parser
from cryostar_boltz.engine.training import derived
from cryostar_boltz.engine.training.config import TrainConfig, config_from_args
from cryostar_boltz.engine.training.derived import (AUTO_FIELDS, DataFacts, describe, resolve,
                                                    restate_length)

#: adk (214 residues, 1,656 heavy atoms, one chain): 20,000 particles of
#: 64 px at 2.6 A, and a 731-residue dimer: 200,000 particles of 128 px at 1.3 A.
ADK = DataFacts(particles=20000, box=64, apix=2.6, residues=214, heavy_atoms=1656,
                chains=1)
DIMER = DataFacts(particles=200000, box=128, apix=1.3, residues=731, heavy_atoms=5700,
                  chains=2)
#: The options' values before they were derived: the published CryoSTAR method.
PUBLISHED = {"pseudo_atoms": "ca", "low_pass": 10.0, "batch_size": 64, "lr": 1e-4,
             "lr_schedule": "constant", "epochs": 20, "kl_warmup": 10000,
             "elastic_weight": 1.0, "elastic_weight_final": None, "elastic_keep": 0.99,
             "outlier_z": 0.0, "encoder_input": "raw", "encoder_box": 0,
             "pose_search": "off"}


def resolved(facts, **given):
    cfg = TrainConfig(particles="p.star", reference="r.pdb", **given)
    resolve(cfg, facts)
    return cfg


def test_every_option_is_auto_by_default():
    cfg = TrainConfig()
    assert cfg.preset == "auto" and cfg.derived is None
    assert all(getattr(cfg, name) is None for name in AUTO_FIELDS)


def test_low_pass_is_three_and_a_half_training_pixels_within_nyquist_and_15_A(monkeypatch):
    assert resolved(ADK).low_pass == pytest.approx(9.1)
    assert resolved(DIMER).low_pass == pytest.approx(4.55)
    coarse = DataFacts(1000, 32, 5.0, 214, 1656, 1)
    assert resolved(coarse).low_pass == 15.0               # not 17.5 A
    # a pixel coarser than 7.5 A: Nyquist wins over the 15 A cap
    assert resolved(DataFacts(1000, 12, 8.0, 214, 1656, 1)).low_pass == 16.0
    assert resolved(DataFacts(1000, 12, 8.0, 214, 1656, 1)).derived["low_pass"] == \
        "auto: Nyquist, 2 x the 8.00 A training pixel"
    monkeypatch.setattr(derived, "LOW_PASS_PIXELS", 1.0)  # never beyond Nyquist
    assert resolved(DIMER).low_pass == pytest.approx(2.6)
    assert resolved(ADK).derived["low_pass"] == \
        "auto: Nyquist, 2 x the 2.60 A training pixel"


def test_epochs_make_about_the_target_steps_within_bounds():
    # 20,000 particles at 128: 156 steps an epoch, ceil(4000 / 156) = 26
    adk = resolved(ADK)
    assert (adk.batch_size, adk.epochs) == (128, 26)
    assert "20000 particles at batch 128: 156 steps per epoch, 4056 steps" in \
        adk.derived["epochs"]
    # 200,000 particles: 1,562 steps an epoch, 3 epochs would do: at least 5
    assert resolved(DIMER).epochs == 5
    assert "at least 5" in resolved(DIMER).derived["epochs"]
    # 1,000 particles: 7 steps an epoch, 572 epochs: at most 100
    assert resolved(DataFacts(1000, 64, 2.6, 214, 1656, 1)).epochs == 100
    assert "at most 100" in resolved(DataFacts(1000, 64, 2.6, 214, 1656, 1)).derived["epochs"]
    # 4,000 particles: 31 steps an epoch, 130 epochs: at most 100
    assert resolved(DataFacts(4000, 48, 2.0, 214, 1656, 1)).epochs == 100
    # 6,000 particles: 46 steps an epoch, ceil(4000 / 46) = 87 epochs (at most 100)
    assert resolved(DataFacts(6000, 64, 1.45, 214, 1656, 1)).epochs == 87
    # the epochs follow a batch the user gives: 20,000 / 64 = 312 steps
    assert resolved(ADK, batch_size=64).epochs == 13


def test_kl_warmup_is_the_published_one_whatever_the_run_length():
    assert resolved(ADK).kl_warmup == 10000
    assert "beta reaches 0.41 of its final value in this run's 4056 steps" in \
        resolved(ADK).derived["kl_warmup"]
    big = DataFacts(2_000_000, 128, 1.3, 731, 5700, 2)                # 15,625 steps an epoch
    assert resolved(big).kl_warmup == 10000
    assert "beta reaches 1 of" in resolved(big).derived["kl_warmup"]
    assert resolved(ADK, kl_warmup=20).kl_warmup == 20                 # given: kept


def test_rendering_batch_rate_and_restraints_on_two_proteins():
    for facts in (ADK, DIMER):
        cfg = resolved(facts)
        assert (cfg.pseudo_atoms, cfg.lr, cfg.lr_schedule) == ("atoms", 5e-4, "cosine")
        assert cfg.elastic_weight == 0.1 and cfg.elastic_keep == 0.8
        assert cfg.elastic_weight_final == 0.01  # exactly: config.json shows 0.01
    assert resolved(DIMER).derived["elastic_keep"] == "auto: for 731 residues in 2 chain(s)"
    # the final weight follows a weight the user gives
    assert resolved(ADK, elastic_weight=2.0).elastic_weight_final == pytest.approx(0.2)


def test_the_encoder_sees_images_aligned_by_their_pose_unless_published():
    cfg = resolved(ADK)
    assert cfg.encoder_input == "aligned"
    assert cfg.derived["encoder_input"] == ("auto: each image turned in-plane and "
                                            "centred by its pose before the encoder")
    assert resolved(ADK, preset="cryostar").encoder_input == "raw"
    with pytest.raises(ValueError, match="encoder_input"):
        TrainConfig(encoder_input="rotated").validate()


def test_the_encoder_box_holds_the_low_pass_band_unless_published():
    # adk at 1.45 A: a 5.075 A low-pass needs 2 x 64 x 1.45 / 5.075 = 36.6
    # pixels: 38, then the next size of factors 2, 3 and 5: 40
    adk = DataFacts(particles=20000, box=64, apix=1.45, residues=214, heavy_atoms=1656,
                    chains=1)
    cfg = resolved(adk)
    assert cfg.low_pass == pytest.approx(5.075) and cfg.encoder_box == 40
    assert cfg.derived["encoder_box"] == (
        "auto: the images Fourier-cropped to 40 px (2.32 A pixels), the smallest fast "
        "box that holds the 5.075 A low-pass band the image loss compares")
    # a low-pass the user gives sets the band: 10 A keeps 2 x 64 x 1.45 / 10
    # = 18.6 pixels: 20
    assert resolved(adk, low_pass=10.0).encoder_box == 20
    # a low-pass at Nyquist needs the whole box: 0
    nyquist = resolved(adk, low_pass=2.9)
    assert nyquist.encoder_box == 0
    assert nyquist.derived["encoder_box"] == ("auto: the whole 64 px box: the 2.9 A "
                                              "low-pass needs all of it")
    # the demo's 48 px of 2.5 A at 6 A: the band needs 42 px; 42, 44 and 46
    # have a prime factor above 5, so the next fast box is the whole box
    demo = resolved(DataFacts(300, 48, 2.5, 214, 1656, 1), low_pass=6.0)
    assert demo.encoder_box == 0
    assert demo.derived["encoder_box"] == ("auto: the whole 48 px box: the 6 A low-pass "
                                           "band needs 42 px, and no fast box lies "
                                           "between")
    assert resolved(adk, preset="cryostar").encoder_box == 0
    assert resolved(adk, encoder_box=64).encoder_box == 64          # given: kept
    for bad in (-2, 33, 1):
        with pytest.raises(ValueError, match="encoder_box"):
            TrainConfig(encoder_box=bad).validate()


def test_the_encoder_widths_are_the_published_ones_unless_given():
    for preset in ("auto", "cryostar"):
        cfg = resolved(ADK, preset=preset)
        assert cfg.encoder_hidden == (512, 256, 128, 64, 32)
        assert "encoder_hidden" not in cfg.derived
    assert resolved(ADK, encoder_hidden="64,32").encoder_hidden == (64, 32)
    for bad in ("64,0", "64,x", ""):
        with pytest.raises(ValueError, match="encoder.hidden"):
            TrainConfig(encoder_hidden=bad).validate()


@pytest.mark.parametrize("name, before", [("encoder_input", "raw"),   # raw images
                                          ("encoder_box", 0),          # the whole box
                                          ("pose_search", "off")])     # no search
def test_a_config_saved_before_an_encoder_option_reads_as_the_runs_then(
        tmp_path, name, before):
    resolved(ADK).save(tmp_path)
    path = tmp_path / "config.json"
    values = json.loads(path.read_text())
    del values[name]  # a run made before the option
    path.write_text(json.dumps(values))
    assert getattr(TrainConfig.load(tmp_path), name) == before


def test_explicit_values_win_and_are_not_listed_as_derived():
    given = dict(low_pass=7.0, pseudo_atoms="ca", batch_size=32, lr=1e-3, epochs=3,
                 kl_warmup=20, elastic_weight=1.0, elastic_weight_final=1.0,
                 elastic_keep=0.99, lr_schedule="cosine", outlier_z=2.5,
                 encoder_input="raw", encoder_box=48, pose_search="off")
    for preset in ("auto", "cryostar"):
        cfg = resolved(ADK, preset=preset, **given)
        assert {k: getattr(cfg, k) for k in given} == given
        assert cfg.derived == {}


def test_the_flagged_particles_poses_are_searched_where_a_latent_can_use_them():
    cfg = resolved(ADK)
    assert cfg.pose_search == "flagged"
    assert cfg.derived["pose_search"] == (
        "auto: the particles whose junk score lies above 2 get a searched pose, and "
        "their latent from it where it fits better")
    raw = resolved(ADK, encoder_input="raw")          # a pose does not change its input
    assert raw.pose_search == "off" and "as recorded" in raw.derived["pose_search"]
    unscreened = resolved(ADK, outlier_z=0.0)          # nothing is flagged
    assert unscreened.pose_search == "off"
    assert unscreened.derived["pose_search"] == (
        "auto: no pose screen (--outlier-z 0) flags particles")
    assert resolved(ADK, pose_search="off").pose_search == "off"   # given: kept
    with pytest.raises(ValueError, match="pose.search"):
        TrainConfig(pose_search="all").validate()


def test_preset_cryostar_is_the_published_method_field_by_field():
    cfg = TrainConfig(particles="p.star", reference="r.pdb", preset="cryostar")
    resolve(cfg)  # needs no data
    assert {k: getattr(cfg, k) for k in AUTO_FIELDS} == PUBLISHED
    assert derived.PUBLISHED == PUBLISHED
    assert set(cfg.derived) == set(AUTO_FIELDS)
    assert cfg.derived["low_pass"] == "cryostar: the published value"
    # a value given still wins over the preset
    assert resolved(None, preset="cryostar", epochs=7).epochs == 7
    with pytest.raises(ValueError, match=r"preset \(--preset\) must be one of auto, "
                                         r"cryostar, got 'best'"):
        TrainConfig(preset="best")


def test_each_derived_option_is_one_log_line_with_its_reason():
    lines = describe(resolved(DataFacts(20000, 64, 1.3, 214, 1656, 1), epochs=3))
    assert lines[1] == ("low_pass = 4.55 A (auto: 3.5 x the 1.30 A training pixel "
                        "(0.571 of the Nyquist frequency))")
    assert lines[0] == "pseudo_atoms = atoms (auto: every heavy atom rendered (1656 Gaussians))"
    # an option given is listed as such, in its place
    assert [line.split(" = ")[0] for line in lines] == list(AUTO_FIELDS)
    assert "epochs = 3 (given)" in lines
    assert sum(line.endswith("(given)") for line in lines) == 1


def test_resolving_again_changes_nothing():
    cfg = resolved(ADK)
    before = dict(vars(cfg))
    resolve(cfg, DIMER)  # another data set: a resolved run keeps its values
    assert vars(cfg) == before


def test_config_round_trip_keeps_the_values_and_why(tmp_path):
    cfg = resolved(ADK)
    cfg.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["preset"] == "auto" and saved["low_pass"] == pytest.approx(9.1)
    assert set(saved["derived"]) == set(AUTO_FIELDS)
    loaded = TrainConfig.load(tmp_path)
    assert loaded == cfg and loaded.derived == cfg.derived


def test_options_left_unset_match_what_a_run_derived():
    run = resolved(ADK, epochs=3)
    asked = TrainConfig(particles="p.star", reference="r.pdb", epochs=3)
    assert run.differences(asked) == {} == asked.differences(run)
    asked.low_pass = 7.0
    assert run.differences(asked) == {"low_pass": (pytest.approx(9.1), 7.0)}
    assert run.differences(resolved(ADK, epochs=4)) == {
        "epochs": (3, 4),
        "derived": (run.derived, resolved(ADK, epochs=4).derived)}


def test_an_old_config_loads_with_its_values_and_nothing_derived(tmp_path):
    old = TrainConfig(**PUBLISHED)
    old.save(tmp_path)
    path = tmp_path / "config.json"
    values = json.loads(path.read_text())
    del values["derived"], values["preset"]  # written before they existed
    path.write_text(json.dumps(values))
    loaded = TrainConfig.load(tmp_path)
    assert loaded.derived == {} and loaded.preset == "auto"
    resolve(loaded, ADK)  # never re-derived: a constant elastic weight stays constant
    assert {k: getattr(loaded, k) for k in AUTO_FIELDS} == PUBLISHED


def test_resume_keeps_the_saved_values(tmp_path):
    resolved(ADK).save(tmp_path)
    same = TrainConfig.for_resume(tmp_path, {"epochs": 26})
    assert same.derived["epochs"].startswith("auto: 20000 particles")
    cfg = TrainConfig.for_resume(tmp_path, {"epochs": 50})
    resolve(cfg, DIMER)
    assert cfg.epochs == 50 and cfg.low_pass == pytest.approx(9.1)
    # --epochs 50 is given now: no line says it was derived, and the
    # warm-up's says how far it gets in the run's new length
    assert "epochs" not in cfg.derived and "lr" in cfg.derived
    # the saved JSON sorts its keys; the log lines keep the order of a new run
    fresh = describe(resolved(ADK))
    assert [line.split(" = ")[0] for line in describe(same)] \
        == [line.split(" = ")[0] for line in fresh] == list(AUTO_FIELDS)
    restate_length(cfg, ADK.particles)
    assert cfg.derived["kl_warmup"] == ("auto: the published 10000 steps; beta reaches "
                                        "0.78 of its final value in this run's 7800 steps")


def test_half_sets_take_the_values_derived_for_all_particles(tmp_path):
    """Both halves train alike (gold-standard half-sets): the full set's
    values; each reason says so, and what the value gives on the half."""
    from cryostar_boltz.engine.training.halfsets import half_config
    parent = resolved(ADK)
    parent.save(tmp_path)
    for cfg in (parent, TrainConfig(particles="p.star", reference="r.pdb")):
        half = half_config(cfg, tmp_path, 1, 10000)
        assert half.seed == 1 and set(half.derived) == set(parent.derived)
        assert {k: getattr(half, k) for k in AUTO_FIELDS} == \
            {k: getattr(parent, k) for k in AUTO_FIELDS}
        for name, reason in half.derived.items():
            assert reason.startswith("as the full set, so that both halves train alike "
                                     "(the full set's reason: %s)" % parent.derived[name])
    assert half.derived["epochs"].endswith(
        "; this half: 10000 particles at batch 128: 78 steps per epoch, 2028 steps in all")
    assert half.derived["kl_warmup"].endswith(
        "; this half: beta reaches 0.2 of its final value in the half's 2028 steps")
    assert half.derived["batch_size"].endswith("; this half: 10000 particles: 78 steps "
                                               "per epoch")
    assert half.derived["lr"] == ("as the full set, so that both halves train alike "
                                  "(the full set's reason: auto: the recommended AdamW "
                                  "rate)")


def test_a_half_of_32_particles_says_so_not_all_64(tmp_path):
    """The tester's case: the batch line of a half of 32 said "all 64"."""
    from cryostar_boltz.engine.training.halfsets import half_config
    parent = resolved(DataFacts(64, 32, 3.2, 214, 1656, 1))
    assert parent.derived["batch_size"].endswith("each step takes all 64 particles")
    half = half_config(parent, tmp_path, 2, 32)
    assert half.batch_size == 128 and half.epochs == parent.epochs == 100
    assert half.derived["batch_size"] == (
        "as the full set, so that both halves train alike (the full set's reason: auto: "
        "the recommended batch; each step takes all 64 particles); this half: each step "
        "takes all 32 particles")
    assert "batch_size = 128 (%s)" % half.derived["batch_size"] in describe(half)
    # resumed with another --epochs: the half's warm-up clause follows
    half.epochs = 50
    restate_length(half, 32)
    assert half.derived["kl_warmup"].endswith(
        "(the full set's reason: auto: the published 10000 steps; beta reaches 0.01 of "
        "its final value in this run's 100 steps); this half: beta reaches 0.005 of its "
        "final value in the half's 50 steps")


def test_a_resumed_halfs_quoted_full_set_reason_follows_the_new_length(tmp_path):
    """--resume --half-sets --epochs 50: the full set's warm-up clause the
    half quotes follows the new length too (64 particles: 1 step per
    epoch), as the half's own does."""
    from cryostar_boltz.engine.training.halfsets import half_config
    parent = resolved(DataFacts(64, 32, 3.2, 214, 1656, 1))
    half = half_config(parent, tmp_path, 2, 32)
    half.epochs = 50
    restate_length(half, 32, full_particles=64)
    assert half.derived["kl_warmup"] == (
        "as the full set, so that both halves train alike (the full set's reason: auto: "
        "the published 10000 steps; beta reaches 0.005 of its final value in this run's "
        "50 steps); this half: beta reaches 0.005 of its final value in the half's 50 "
        "steps")
    # a full run's own reason has one clause, its own
    parent.epochs = 50
    restate_length(parent, 64, full_particles=64)
    assert parent.derived["kl_warmup"] == ("auto: the published 10000 steps; beta "
                                           "reaches 0.005 of its final value in this "
                                           "run's 50 steps")


def test_the_command_line_leaves_auto_options_unset():
    parser = command_parser("train")
    base = ["--particles", "p", "--reference", "r", "--out", "o"]
    cfg = config_from_args(parser.parse_args(base + ["--pseudo-atoms", "auto",
                                                     "--lr-schedule", "auto"]))
    assert cfg == TrainConfig(particles="p", reference="r", workdir=os.getcwd())
    cfg = config_from_args(parser.parse_args(base + ["--preset", "cryostar",
                                                     "--pseudo-atoms", "centroid"]))
    assert (cfg.preset, cfg.pseudo_atoms, cfg.low_pass) == ("cryostar", "centroid", None)


def test_resume_refuses_another_preset(tmp_path, capsys):
    from cryostar_boltz.engine.cli import main
    resolved(ADK).save(tmp_path)
    assert main(["train", "--resume", "--out", str(tmp_path), "--preset", "cryostar"]) != 0
    assert "--preset cannot change" in capsys.readouterr().err


def test_train_help_says_how_each_auto_option_is_chosen(capsys):
    from cryostar_boltz.engine.cli import main
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default auto: 3.5 x the training pixel size, at most 15 A but at least " \
           "2 pixels (Nyquist); published (--preset cryostar): 10.0" in text
    assert text.count("default auto:") == len(AUTO_FIELDS)


def test_a_tiny_run_logs_and_saves_what_it_derived(tmp_path, adk_dir):
    """Box 32 at 3.2 A, 48 particles, one epoch: every option but the epochs
    derived, logged with its reason and saved in config.json; a resume
    keeps them."""
    from cryostar_boltz.engine.simulate import simulate_dataset
    from cryostar_boltz.engine.training.stage1 import resume_config, run_training
    data = simulate_dataset([adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"],
                            tmp_path / "sim", 48, 32, 3.2, snr=1.0, seed=3)
    lines = []
    cfg = TrainConfig(particles=str(data.star), reference=str(data.reference), epochs=1,
                      threads=1, device="cpu")
    run = run_training(cfg, tmp_path / "run", log=lines.append)
    saved = TrainConfig.load(run)
    assert set(saved.derived) == set(AUTO_FIELDS) - {"epochs"}
    assert saved.low_pass == pytest.approx(11.2) and saved.pseudo_atoms == "atoms"
    assert saved.batch_size == 128 and saved.kl_warmup == 10000
    assert "low_pass = 11.2 A (auto: 3.5 x the 3.20 A training pixel " \
           "(0.571 of the Nyquist frequency))" in lines
    # 2 x 32 x 3.2 / 11.2 = 18.3 pixels hold the band: 20 px
    assert saved.encoder_box == 20
    assert "encoder_box = 20 px (auto: the images Fourier-cropped to 20 px (5.12 A " \
           "pixels), the smallest fast box that holds the 11.2 A low-pass band the " \
           "image loss compares)" in lines
    from cryostar_boltz.engine.runs import TrainedRun
    assert TrainedRun(run).vae.encoder.D == 20
    again = resume_config(run, {"epochs": 2})
    run_training(again, run, resume=True, log=lambda *a: None)
    resumed = TrainConfig.load(run).derived
    # the same reasons; the warm-up's says how far it gets in the longer run
    assert resumed.pop("kl_warmup") == ("auto: the published 10000 steps; beta reaches "
                                        "0.0002 of its final value in this run's 2 steps")
    assert resumed == {k: v for k, v in saved.derived.items() if k != "kl_warmup"}
    assert TrainConfig.load(run).low_pass == saved.low_pass


def test_batch_line_says_a_small_set_trains_whole():
    small = resolved(DataFacts(50, 64, 1.45, 214, 1656, 1))
    assert small.batch_size == 128
    assert small.derived["batch_size"] == ("auto: the recommended batch; each step "
                                           "takes all 50 particles")
    assert resolved(ADK).derived["batch_size"] == "auto: the recommended batch"


def test_a_run_of_one_step_per_epoch_says_step():
    cfg = resolved(DataFacts(100, 64, 1.45, 214, 1656, 1))
    assert "1 step per epoch, 100 steps in all" in cfg.derived["epochs"]
