"""Messages about cryoSPARC .cs files: rows counted from 0 like every other
.cs message, and a file that is no .cs named as such."""
import shutil

import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.particles import load_particles
from cryostar_boltz.engine.particles.errors import DataError


def test_a_nan_image_of_a_cs_file_counts_rows_from_0(real_data, tmp_path):
    """The example: the NaN-image message said "particle row 6" where other
    .cs messages count from 0 (row 5)."""
    cs = shutil.copy(real_data / "empiar_10076_7.cs", tmp_path)
    stack = shutil.copy(real_data / "empiar_10076_7.mrc", tmp_path)
    with mrcfile.open(stack, "r+") as mrc:
        data = mrc.data.copy()
        data[5, 3, 4] = np.nan
        mrc.set_data(data)
    p = load_particles(cs, require_pose=False)
    with pytest.raises(DataError) as err:
        p.images[:]
    message = str(err.value)
    assert "empiar_10076_7.mrc: image 6 holds NaN" in message  # MRC images from 1
    assert "(row 5 (from 0) of %s)" % cs in message


@pytest.mark.parametrize("content, words", [
    (b"this is not a cs file\n", "is not a cryoSPARC .cs file (not a numpy record array"),
    (b"", "is not a cryoSPARC .cs file (it is empty)"),
])
def test_a_file_that_is_no_cs_is_named(tmp_path, content, words):
    """The example: garbage.cs said "Cannot load file containing pickled data"."""
    path = tmp_path / "garbage.cs"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_particles(path, require_pose=False)
    assert str(err.value).startswith(str(path)) and words in str(err.value)
    assert "pickled" not in str(err.value)
