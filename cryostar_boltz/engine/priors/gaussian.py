"""The standard normal prior N(0, I): the published CryoSTAR method's."""
import time

import torch

from .base import LOG_2PI, Prior, seeded_generator


def kl_to_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, (B, d) -> (B, d), nats:
    (mu^2 + exp(logvar) - 1 - logvar) / 2 (Kingma and Welling 2014, app. B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class GaussianPrior(Prior):
    """N(0, I) over the continuous latent: analytic KL, F(z) = |z|^2 / 2,
    log Z = d log(2 pi) / 2, a single basin at z = 0."""

    name = "gaussian"

    def kl_per_dim(self, mu, logvar):
        """KL(q || N(0, I)) per latent dimension (B, d), for free bits."""
        return kl_to_standard_normal(mu, logvar)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        loss = self.kl_per_dim(mu, logvar).sum(-1)
        return loss, {"kl": float(loss.detach().mean()), "log_z": float(self.log_z())}

    def free_energy(self, z):
        self._check_z(z)
        return 0.5 * z.pow(2).sum(-1)

    def log_z(self):
        return torch.tensor(0.5 * self.latent_dim * LOG_2PI)

    def sample(self, n, sampler="direct", seed=None, **kw):
        """``n`` independent draws of N(0, I) (``sampler`` is ignored)."""
        start = time.perf_counter()
        z = torch.randn(int(n), self.latent_dim, generator=seeded_generator(seed))
        return z, {"sampler": "direct", "energies": None, "free_energy": self.free_energy(z),
                   "decoder_input": z, "timing": {"sample_seconds": time.perf_counter() - start}}

    def basins(self, sampler=None, num_reads=200, max_basins=None, particles=None, **kw):
        """The single basin z = 0, holding the whole prior and every particle."""
        z = torch.zeros(1, self.latent_dim)
        return [{"h": None, "energy": 0.0, "count": int(num_reads), "z": z[0].numpy(),
                 "free_energy": float(self.free_energy(z)[0]), "prior_population": 1.0,
                 "particle_population": None if particles is None else 1.0}]

    def assign_to_basins(self, z, basins, codes=None):
        """Always a ValueError: one basin gives no clustering."""
        self._check_basins(basins)
        raise ValueError("the %s prior has a single basin: cluster with "
                         "--method kmeans or gmm" % self.name)
