"""RMSD between pseudo-atom sets."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.structure import ca_rmsd


def test_adk_rmsd_and_radius_of_gyration(adk_open, adk_closed):
    rmsd = ca_rmsd(adk_open.coords, adk_closed.coords)
    assert 6.7 < rmsd < 7.1
    assert ca_rmsd(adk_open.coords, adk_closed.coords, superpose=False) > rmsd

    def rg(x):
        return np.sqrt(np.mean(np.sum((x - x.mean(0)) ** 2, axis=1)))
    assert rg(adk_open.coords) == pytest.approx(19.4, abs=0.05)
    assert rg(adk_closed.coords) == pytest.approx(16.4, abs=0.06)


def test_ca_rmsd_is_batched_and_rigid_invariant(adk_open, adk_closed):
    rot = Rotation.from_euler("zyz", [30, 70, -20], degrees=True).as_matrix()
    moved = adk_closed.coords @ rot.T + [10.0, -5.0, 3.0]
    batch = np.stack([adk_closed.coords, moved, adk_open.coords])
    out = ca_rmsd(batch, adk_open.coords)
    assert out.shape == (3,)
    assert out[0] == pytest.approx(out[1], abs=1e-9)
    assert out[2] == pytest.approx(0.0, abs=1e-6)
    mirror = adk_open.coords * [-1.0, 1.0, 1.0]
    assert ca_rmsd(mirror, adk_open.coords) > 1.0  # no reflections
