"""Run options (training/config.py): torch-free import, the JSON round trip,
resume overrides, and the train command's arguments to a TrainConfig."""
import os
import subprocess
import sys

import pytest

from cryostar_boltz.engine.cli import command_parser
from cryostar_boltz.engine.training.config import (RESUME_OPTIONS, DensityConfig,
                                                   TrainConfig, config_from_args,
                                                   parse_prior_options)


def test_config_module_imports_without_torch():
    """Scipion's process reads the defaults from here: a fresh interpreter
    importing it must not load torch (nor the training loop; the rules of
    the derived options, torch-free, come with it)."""
    code = ("import sys\n"
            "import cryostar_boltz.engine.training.config as config\n"
            "assert config.TrainConfig().latent_dim == 8\n"
            "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m == 'torch'\n"
            "    or m.startswith('torch.') or m.startswith('cryostar_boltz.engine.training.'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    line = [l for l in done.stdout.splitlines() if l.startswith("LOADED=")][-1]
    assert line == ("LOADED=cryostar_boltz.engine.training.config,"
                    "cryostar_boltz.engine.training.derived")


def test_saved_config_round_trips_with_tuples(tmp_path):
    cfg = TrainConfig(particles="p.star", reference="r.pdb", encoder_hidden=(64, 32),
                      prior="grbm", prior_options={"hidden_units": 4})
    cfg.save(tmp_path)
    loaded = TrainConfig.load(tmp_path)
    assert loaded == cfg and loaded.encoder_hidden == (64, 32)
    assert loaded.differences(cfg) == {}
    with pytest.raises(FileNotFoundError, match="not a density run folder"):
        DensityConfig.load(tmp_path / "density")
    (tmp_path / "config.json").write_text('{"colour": 1}')
    with pytest.raises(ValueError, match=r"config.json: unknown options \['colour'\]"):
        TrainConfig.load(tmp_path)


def test_resume_changes_only_the_resume_options(tmp_path):
    TrainConfig(particles="p.star", reference="r.pdb", epochs=5).save(tmp_path)
    cfg = TrainConfig.for_resume(tmp_path, {"epochs": 9, "threads": 2})
    assert (cfg.epochs, cfg.threads, cfg.particles) == (9, 2, "p.star")
    assert set(RESUME_OPTIONS) == {"epochs", "device", "threads", "checkpoint_every"}
    with pytest.raises(ValueError, match="lr cannot change"):
        TrainConfig.for_resume(tmp_path, {"lr": 1.0})


def test_train_arguments_give_the_config_with_the_defaults_elsewhere():
    parser = command_parser("train")
    args = parser.parse_args(["--particles", "p.star", "--reference", "r.pdb", "--out", "run",
                              "--prior", "gmm", "--prior-option", "components=3",
                              "--prior-option", "init-spread=0.25", "--low-pass", "6",
                              "--amp"])
    cfg = config_from_args(args)
    assert cfg == TrainConfig(particles="p.star", reference="r.pdb", prior="gmm",
                              prior_options={"components": 3, "init_spread": 0.25},
                              low_pass=6.0, amp=True, workdir=os.getcwd())
    # options left out (None on the command line) keep the config's defaults
    defaults = config_from_args(parser.parse_args(["--particles", "p", "--reference", "r",
                                                   "--out", "o"]))
    assert defaults == TrainConfig(particles="p", reference="r",
                                    workdir=os.getcwd())
    with pytest.raises(ValueError, match="--particles and --reference are required"):
        config_from_args(parser.parse_args(["--out", "o"]))


def test_prior_lr_is_refused_for_the_gaussian_prior():
    """The Gaussian prior has no parameters: --prior-lr with it would be
    ignored, so it is refused; with a learnt prior it is kept."""
    parser = command_parser("train")
    given = ["--particles", "p", "--reference", "r", "--out", "o", "--prior-lr", "0.001"]
    with pytest.raises(ValueError, match="gaussian prior .* has no parameters"):
        config_from_args(parser.parse_args(given))
    assert config_from_args(parser.parse_args(given + ["--prior", "gmm"])).prior_lr == 0.001


def test_prior_options_are_typed_and_checked():
    assert parse_prior_options(["k=3", "tau=0.5", "straight-through=yes"]) == \
        {"k": 3, "tau": 0.5, "straight_through": "yes"}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_prior_options(["hidden"])
    with pytest.raises(ValueError, match=r"unknown TrainConfig options \['colour'\]"):
        TrainConfig.from_options(colour=1)


def test_structure_format_option_and_old_configs_read_as_auto(tmp_path):
    parser = command_parser("train")
    args = parser.parse_args(["--particles", "p", "--reference", "r", "--out", "o",
                              "--format", "cif"])
    assert config_from_args(args).format == "cif"
    assert TrainConfig().format == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "o", "--format", "mol2"])
    # a config.json written before the option existed
    cfg = TrainConfig(particles="p.star", reference="r.pdb")
    cfg.save(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('  "format": "auto",\n', ""))
    assert '"format"' not in path.read_text()
    assert TrainConfig.load(tmp_path).format == "auto"


def test_resume_accepts_an_option_given_again_with_the_runs_own_value(tmp_path):
    from cryostar_boltz.engine.training.derived import DataFacts, resolve
    cfg = TrainConfig(particles="p.star", reference="r.pdb", lr=1e-3)
    resolve(cfg, DataFacts(3000, 64, 1.45, 214, 1656, 1))
    cfg.save(tmp_path)
    low_pass = cfg.low_pass
    # the same values, "auto" for what the run derived, its own preset
    same = {"lr": 1e-3, "low_pass": low_pass, "preset": "auto", "pseudo_atoms": "auto",
            "epochs": cfg.epochs + 9}
    resumed = TrainConfig.for_resume(tmp_path, same)
    assert (resumed.lr, resumed.low_pass, resumed.pseudo_atoms, resumed.epochs) == \
        (1e-3, low_pass, "atoms", cfg.epochs + 9)
    # but never fewer epochs than the run's
    with pytest.raises(ValueError, match="--epochs 4 is fewer than its %d" % cfg.epochs):
        TrainConfig.for_resume(tmp_path, {"epochs": 4})
    # a new value still cannot change, nor can "auto" replace a given value
    for key, value in (("low_pass", low_pass + 1), ("preset", "cryostar"), ("lr", None)):
        with pytest.raises(ValueError, match="%s cannot change" % key.replace("_", "-")):
            TrainConfig.for_resume(tmp_path, {key: value})
