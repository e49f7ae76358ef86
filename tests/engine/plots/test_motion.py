"""RMSF and displacement on coordinates whose answer is known."""
import numpy as np

from cryostar_boltz.engine import plots


def test_motion_measures_on_known_coordinates():
    base = np.zeros((3, 4, 3))
    base[:, 3, 0] = [0.0, 1.0, 2.0]  # residue 4 moves 1 A per model
    np.testing.assert_allclose(plots.displacement(base), [0, 0, 0, 2.0])
    np.testing.assert_allclose(plots.rmsf(base), [0, 0, 0, np.sqrt(2 / 3)])
