"""Small priors away from their symmetric start, for every family's tests."""
import pytest

from cryostar_boltz.engine.priors import build_prior
from cryostar_boltz.engine.priors.testing import perturb

#: Options that keep each family small enough to enumerate.
SMALL = {"gaussian": {}, "gmm": {"components": 3}, "grbm": {"hidden_units": 5},
         "rbm": {"visible_units": 3, "hidden_units": 4},
         "ebm": {"energy_width": 16, "num_chains": 64, "langevin_steps": 5}}


@pytest.fixture
def perturbed():
    """``perturbed(name, latent_dim=2, seed=0, **options)``: a small prior
    whose parameters are moved away from their (symmetric) init."""
    def make(name, latent_dim=2, seed=0, **options):
        return perturb(build_prior(name, latent_dim, **{**SMALL[name], **options}), seed=seed)
    return make
