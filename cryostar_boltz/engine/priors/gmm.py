"""A learnable mixture of diagonal Gaussians (VaDE-style; Jiang et al. 2017)."""
import time

import numpy as np
import torch
from torch import nn

from .base import LOG_2PI, Prior, gaussian_entropy, reparameterise, seeded_generator


class GMMPrior(Prior):
    """p(z) = sum_k pi_k N(z; m_k, diag(s_k^2)) over ``components`` K.

    Parameters: ``means`` (K, d), ``log_scales`` (K, d) = log s_k,
    ``logits`` (K,) with pi = softmax(logits). The density is normalised
    (log Z = 0), F(z) = -log p(z). The KL is the analytic entropy of q plus
    a reparameterised Monte-Carlo estimate of E_q[F(z)] with ``kl_samples``
    draws. The means start at ``init_spread`` x N(0, I) (seeded by
    ``seed``). Basins are those of F (components without a barrier between
    them are one state), not the components themselves.
    """

    name = "gmm"

    def __init__(self, latent_dim, components=8, kl_samples=1, init_spread=0.5, seed=0):
        super().__init__(latent_dim, components=components, kl_samples=kl_samples,
                         init_spread=init_spread, seed=seed)
        if components < 1:
            raise ValueError(f"gmm prior needs components >= 1, got {components}")
        generator = seeded_generator(seed)
        self.kl_samples = int(kl_samples)
        self.means = nn.Parameter(init_spread * torch.randn(components, latent_dim,
                                                            generator=generator))
        self.log_scales = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def component_log_density(self, z):
        """(..., K) log pi_k + log N(z; m_k, s_k^2) of latents z (..., d)."""
        diff = (z.unsqueeze(-2) - self.means) * torch.exp(-self.log_scales)
        log_normal = -0.5 * diff.pow(2).sum(-1) - self.log_scales.sum(-1) \
            - 0.5 * self.latent_dim * LOG_2PI
        return torch.log_softmax(self.logits, -1) + log_normal

    def free_energy(self, z):
        self._check_z(z)
        return -torch.logsumexp(self.component_log_density(z), -1)

    def log_z(self):
        return torch.zeros((), dtype=self.means.dtype)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        z = reparameterise(mu, logvar, self.kl_samples)
        energy = -torch.logsumexp(self.component_log_density(z), -1).mean(0)
        loss = energy - gaussian_entropy(logvar)
        return loss, {"kl": float(loss.detach().mean()), "log_z": 0.0,
                      "prior_energy": float(energy.detach().mean())}

    def check_particles(self, n):
        """The components are placed by k-means on the particles' latents:
        at least as many particles as components."""
        k = self.means.shape[0]
        if n < k:
            raise ValueError("--prior gmm: %d components (--prior-option components) "
                             "need at least %d particles to place them, got %d"
                             % (k, k, n))

    def initialise_from(self, z, iterations=20, logvar=None):
        """Place the components by k-means (scikit-learn, seed 0) on latents
        ``z`` (n, d): means at the centres, weights from the cluster sizes
        (plus one), scales from the members' spread, plus their mean
        posterior variance when ``logvar`` (n, d) is given: the spread of
        the posteriors' mixture the prior is then fitted to."""
        from sklearn.cluster import KMeans
        data = np.asarray(z.detach().cpu() if torch.is_tensor(z) else z, dtype=np.float64)
        variance = None
        if logvar is not None:
            variance = np.exp(np.asarray(logvar.detach().cpu() if torch.is_tensor(logvar)
                                         else logvar, dtype=np.float64))
        k = self.means.shape[0]
        fit = KMeans(k, n_init=1, max_iter=iterations, random_state=0).fit(data)
        with torch.no_grad():
            self.means.copy_(torch.as_tensor(fit.cluster_centers_))
            for j in range(k):
                members = fit.labels_ == j
                if members.sum() > 1:
                    spread = data[members].var(0)
                    if variance is not None:
                        spread = spread + variance[members].mean(0)
                    self.log_scales[j].copy_(torch.as_tensor(0.5 * np.log(spread + 1e-6)))
            counts = np.bincount(fit.labels_, minlength=k) + 1.0
            self.logits.copy_(torch.as_tensor(np.log(counts / counts.sum())))

    def sample(self, n, sampler="direct", seed=None, **kw):
        """Ancestral samples (component, then its Gaussian); ``info`` adds
        ``component`` (n,). ``sampler`` is ignored."""
        start = time.perf_counter()
        with torch.no_grad():
            generator = seeded_generator(seed)
            weights = torch.softmax(self.logits.detach().cpu().double(), -1)
            component = torch.multinomial(weights, int(n), replacement=True,
                                          generator=generator)
            eps = torch.randn(int(n), self.latent_dim, generator=generator,
                              dtype=self.means.dtype)
            z = self.means.cpu()[component] + torch.exp(self.log_scales.cpu()[component]) * eps
            free = self.free_energy(z.to(self.means.device)).cpu()
        return z, {"sampler": "direct", "energies": None, "free_energy": free,
                   "component": component, "decoder_input": z,
                   "timing": {"sample_seconds": time.perf_counter() - start}}

    def _basin_starts(self, sampler=None):
        return self.means.detach()

    def basins(self, sampler=None, num_reads=200, max_basins=None, particles=None,
               seed=0, **kw):
        """The basins of F(z) (see :meth:`.base.Prior.basins`): components
        whose density has no barrier between them are one basin. Each adds
        ``components``: the components whose mean descends into it."""
        from .landscape import assign
        rows = super().basins(sampler, num_reads, max_basins, particles, seed, **kw)
        if rows:
            owner = assign(self, self.means.detach(), rows)
            for i, row in enumerate(rows):
                row["components"] = np.flatnonzero(owner == i).tolist()
        return rows
