"""Engine ensembles -> one file per model for Scipion's atomic-structure
sets, in the ensemble's own format (PDB or mmCIF), and the training form's
structure-format choice."""
import numpy as np
import pytest

pytest.importorskip("pwem")

from Bio.PDB import MMCIFParser  # noqa: E402

from cryostar_boltz import convert  # noqa: E402
from cryostar_boltz.engine.structure import (load_structure, read_models,  # noqa: E402
                                             write_models)
from cryostar_boltz.protocols import CryoStarBoltzProtTrain  # noqa: E402


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
@pytest.mark.parametrize("full_atom", [False, True])
def test_split_models_keeps_the_format_and_every_model(adk_dir, tmp_path, suffix,
                                                       full_atom):
    model = load_structure(adk_dir / "adk_open.pdb")
    coords = model.coords + np.arange(3)[:, None, None]
    ensemble = tmp_path / ("samples" + suffix)
    write_models(ensemble, model, coords, full_atom=full_atom)
    paths = convert.split_models(ensemble, tmp_path / "models")
    assert [p.name for p in paths] == ["samples_%03d%s" % (k, suffix) for k in (1, 2, 3)]
    for k, path in enumerate(paths):
        assert np.abs(read_models(path)[0] - coords[k]).max() < 1e-3
        back = load_structure(path)
        assert back.atoms.n == (model.atoms.n if full_atom else model.n)
        assert np.array_equal(back.chain_ids, model.chain_ids)
    if suffix == ".cif":
        structure = MMCIFParser(QUIET=True).get_structure("x", str(paths[1]))
        assert len(structure) == 1


def test_split_models_refuses_what_it_cannot_split(tmp_path):
    with pytest.raises(convert.ConversionError, match="nothing.cif: no such file"):
        convert.split_models(tmp_path / "nothing.cif", tmp_path / "out")
    (tmp_path / "model.xyz").write_text("ATOM\n")
    with pytest.raises(convert.ConversionError, match="unknown structure format"):
        convert.split_models(tmp_path / "model.xyz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["auto", "pdb", "cif"])
def test_training_form_passes_the_structure_format(name):
    protocol = CryoStarBoltzProtTrain()
    protocol.structureFormat.set(CryoStarBoltzProtTrain._engineChoices[
        "structureFormat"].index(name))
    assert protocol._choice("structureFormat") == name


def test_training_command_line_carries_the_format(monkeypatch, tmp_path):
    from cryostar_boltz.engine.layout import RunLayout
    protocol = CryoStarBoltzProtTrain()
    protocol.structureFormat.set(2)  # cif
    for name, value in (("_starFile", "p.star"), ("_getReferenceFile", "ref.cif"),
                        ("_getMapFile", None), ("_engineDeviceArgs", [])):
        monkeypatch.setattr(protocol, name, lambda v=value: v)
    monkeypatch.setattr(protocol, "_runLayout", lambda: RunLayout(tmp_path / "run"))
    args = [str(a) for a in protocol._trainArgs()]
    assert args[args.index("--format") + 1] == "cif"
