"""ChimeraX scripts: maps open as one series at the level given or at
mean + 3 sd; a script needs something to open."""
import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.plots import chimerax


def test_maps_script(map_files):
    text = chimerax.cxc_script(maps=map_files, map_level=0.5)
    assert "vseries true" in text and "volume #1 level 0.5" in text
    level = chimerax.default_map_level(map_files[0])
    assert 0 < level < 1
    data = mrcfile.read(map_files[0]).astype(np.float64)
    assert level == pytest.approx(data.mean() + 3 * data.std())


def test_structures_then_maps_are_numbered_in_order(map_files, tmp_path):
    text = chimerax.cxc_script([tmp_path / "a.pdb"], map_files, map_level=1.0,
                               color_range=(0.0, 2.0))
    assert "color bfactor #1 palette blue:white:red range 0,2" in text
    assert "volume #2 level 1" in text


def test_a_script_needs_structures_or_maps(tmp_path):
    with pytest.raises(ValueError, match="structures or maps"):
        chimerax.cxc_script()
    with pytest.raises(ValueError, match="double quote"):
        chimerax.cxc_script(maps=[tmp_path / 'a"b.mrc'], map_level=1.0)


def test_displacement_models_turn_with_the_backbone(adk_dir, tmp_path):
    """An ensemble whose second model is the reference turned 50 degrees:
    the displacement models carry every atom turned, with the run's
    reference or with the file's first model as the topology."""
    from scipy.spatial.transform import Rotation

    from cryostar_boltz.engine.structure import load_ensemble, load_structure, write_models
    model = load_structure(adk_dir / "adk_open.pdb")
    matrix = Rotation.from_rotvec([0.0, np.radians(50.0), 0.0]).as_matrix()
    centre = model.coords.mean(0)
    turned = (model.coords - centre) @ matrix.T + centre
    ensemble = tmp_path / "pc1.pdb"
    write_models(ensemble, model, np.stack([model.coords, turned]), full_atom=True)
    expected = (model.atoms.coords - centre) @ matrix.T + centre
    for reference in (model, None):
        out, values = chimerax.write_displacement_models(
            ensemble, tmp_path / "pc1_displacement.pdb", model=reference)
        _, atoms = load_ensemble(out)
        # frames rebuilt from CAs written to 1e-3 A
        assert np.abs(atoms[1] - expected).max() < 5e-3
        assert np.abs(atoms[0] - model.atoms.coords).max() < 1e-3
        assert values.shape == (model.n,)
