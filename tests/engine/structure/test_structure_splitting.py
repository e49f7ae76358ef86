"""One text per model of a multi-model PDB / mmCIF file."""
import numpy as np
import pytest

from cryostar_boltz.engine.structure import StructureError, read_models, write_models
from cryostar_boltz.engine.structure.splitting import model_texts


@pytest.mark.parametrize("suffix", [".pdb", ".cif", ".cif.gz"])
def test_each_model_alone_reads_back(adk_open, tmp_path, suffix):
    coords = adk_open.coords + np.arange(4)[:, None, None] * 0.5
    path = tmp_path / ("ens" + suffix)
    write_models(path, adk_open, coords, full_atom=True)
    texts = model_texts(path)
    assert len(texts) == 4
    plain = suffix.replace(".gz", "")
    for k, text in enumerate(texts):
        one = tmp_path / ("one%d%s" % (k, plain))
        one.write_text(text)
        assert np.abs(read_models(one) - coords[k]).max() < 1e-3


def test_rows_spanning_lines_are_refused(tmp_path):
    path = tmp_path / "odd.cif"
    path.write_text("data_x\nloop_\n_atom_site.id\n_atom_site.label_atom_id\n"
                    "_atom_site.pdbx_PDB_model_num\n1\nCA 1\n")
    with pytest.raises(StructureError, match="odd.cif: _atom_site rows span lines"):
        model_texts(path)
