"""Option checks shared by every command and config file."""
import argparse

import pytest

from cryostar_boltz.engine import options
from cryostar_boltz.engine.training.config import DensityConfig, TrainConfig


@pytest.mark.parametrize("rule, value, expected", [
    (options.positive_int, "3", 3), (options.nonnegative_int, "0", 0),
    (options.positive_float, "0.5", 0.5), (options.fraction, "1", 1.0),
    (options.even_box, "64", 64), (options.seed, "7", 7),
    (options.finite_float, "-2", -2.0),
])
def test_values_in_range_are_converted(rule, value, expected):
    assert rule(value) == expected


@pytest.mark.parametrize("rule, value, words", [
    (options.positive_int, "0", "must be an integer >= 1, got 0"),
    (options.positive_int, "-3", "must be an integer >= 1, got -3"),
    (options.positive_int, "2.5", "must be an integer"),
    (options.nonnegative_int, "-1", ">= 0, got -1"),
    (options.positive_float, "0", "must be a number > 0, got 0"),
    (options.positive_float, "nan", "finite"),
    (options.positive_float, "inf", "finite"),
    (options.fraction, "1.5", "(0, 1]"),
    (options.fraction, "0", "(0, 1]"),
    (options.even_box, "0", "even number of pixels >= 2, got 0"),
    (options.even_box, "33", "even number"),
    (options.seed, "-1", "[0, 2^32)"),
])
def test_values_out_of_range_are_refused(rule, value, words):
    with pytest.raises(ValueError, match=None) as err:
        rule(value)
    assert words in str(err.value)
    assert isinstance(err.value, argparse.ArgumentTypeError)


def test_an_argparse_type_names_the_option(capsys):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--epochs", type=options.positive_int)
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", "0"])
    assert "argument --epochs: must be an integer >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("field, value, words", [
    ("epochs", 0, "epochs (--epochs) must be an integer >= 1, got 0"),
    ("epochs", -3, "epochs (--epochs) must be an integer >= 1, got -3"),
    ("batch_size", 0, "batch_size (--batch-size)"),
    ("lr", float("nan"), "lr (--lr) must be a finite number"),
    ("box", 0, "box (--box) must be an even number of pixels"),
    ("mask_radius", 2.0, "mask_radius (--mask-radius) must be a fraction"),
    ("elastic_keep", 0.0, "elastic_keep"),
    ("seed", -1, "seed (--seed)"),
    ("pseudo_atoms", "cb", "pseudo_atoms (--pseudo-atoms) must be one of ca"),
    ("device", "gpu", "device (--device)"),
    ("kl_warmup", -1, "kl_warmup"),
])
def test_train_config_refuses_values_out_of_range(field, value, words):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    assert words in str(err.value)


def test_density_config_refuses_values_out_of_range():
    with pytest.raises(ValueError, match=r"hidden \(--hidden\) must be an integer >= 1"):
        DensityConfig(hidden=0)


def test_a_config_file_edited_out_of_range_names_the_file(tmp_path):
    TrainConfig(epochs=20).save(tmp_path)  # a run's saved epochs
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"epochs": 20', '"epochs": 0'))
    with pytest.raises(ValueError, match=r"config.json: epochs \(--epochs\) must be"):
        TrainConfig.load(tmp_path)


def test_a_corrupt_config_file_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text('{"epochs": 3,')
    with pytest.raises(ValueError, match=r"config.json is not valid JSON"):
        TrainConfig.load(tmp_path)


def test_resume_overrides_are_checked(tmp_path):
    TrainConfig().save(tmp_path)
    with pytest.raises(ValueError, match=r"epochs \(--epochs\) must be an integer >= 1"):
        TrainConfig.for_resume(tmp_path, {"epochs": 0})


def test_config_modes_are_the_renderings():
    from cryostar_boltz.engine.pseudoatoms import MODES
    from cryostar_boltz.engine.training.config import PSEUDO_ATOM_MODES
    assert PSEUDO_ATOM_MODES == MODES
