"""The Gaussian-Bernoulli RBM prior over the continuous latent.

Energy (the method's GRBM, sigma shared by all dimensions):
E(z, h) = |z - b|^2 / (2 sigma^2) - c.h - z.W h / sigma^2, so that
F(z) = |z - b|^2 / (2 sigma^2) - sum_j softplus(c_j + (W^T z)_j / sigma^2)
and p(z) is a mixture of 2^H Gaussians N(b + W h, sigma^2 I). Integrating
z out leaves a BINARY model of h (:meth:`GRBMPrior.to_bqm`) with energy
-log p(h) + const, which is what dimod samplers work on. Basins are those
of F(z) (:mod:`.landscape`), each with its most probable h.

``sigma`` is learnt with the other parameters by default
(``learn_sigma``), starting at 1 (so training starts close to N(0, I)). Held
at 1 (``learn_sigma=False``), the components are wider than the states
the encoder would separate, and the KL pulls the states together: on the
three-state benchmark (states 2.7 to 5.8 apart in z once sigma is learnt,
which settles near 0.4) the fixed sigma left k-means on z at ARI 0.46 and
two basins for three states, against 0.97 and three basins learnt. The
final fit to the posteriors (:func:`~.fit.fit_to_posteriors`) fits sigma
even when it was held in training (:meth:`GRBMPrior.fit_parameters`).
The initial W is small (``init_scale``) and b = -W 1 / 2 centres the
mixture, so training starts close to N(0, (1 + H init_scale^2 / 4) I).
"""
import time

import torch
import torch.nn.functional as F
from torch import nn

from .base import LOG_2PI, gaussian_entropy, reparameterise, seeded_generator
from .boltzmann import BoltzmannPrior, all_binary_states


class GRBMPrior(BoltzmannPrior):
    """Gaussian-Bernoulli RBM over z with ``hidden_units`` H binary units.

    Parameters: ``weight`` W (d, H), ``visible_bias`` b (d,),
    ``hidden_bias`` c (H,), ``log_sigma`` (a buffer unless ``learn_sigma``).
    KL: analytic entropy of q plus a reparameterised E_q[F(z)]
    (``kl_samples`` draws) plus log Z, exact up to ``exact_max_hidden``
    hidden units (see :class:`~.boltzmann.BoltzmannPrior` beyond).
    """

    name = "grbm"

    def __init__(self, latent_dim, hidden_units=8, learn_sigma=True, init_scale=0.1,
                 kl_samples=1, exact_max_hidden=16, num_chains=256, gibbs_steps=1,
                 ais_every=1000, ais_chains=500, ais_betas=1000, seed=0):
        super().__init__(latent_dim, hidden_units=hidden_units, learn_sigma=learn_sigma,
                         init_scale=init_scale, kl_samples=kl_samples,
                         exact_max_hidden=exact_max_hidden, num_chains=num_chains,
                         gibbs_steps=gibbs_steps, ais_every=ais_every,
                         ais_chains=ais_chains, ais_betas=ais_betas, seed=seed)
        if hidden_units < 1:
            raise ValueError(f"grbm prior needs hidden_units >= 1, got {hidden_units}")
        self.hidden_units = int(hidden_units)
        self.kl_samples = int(kl_samples)
        self.exact_max_hidden = int(exact_max_hidden)
        generator = seeded_generator(seed)
        weight = init_scale * torch.randn(latent_dim, hidden_units, generator=generator)
        self.weight = nn.Parameter(weight)
        self.visible_bias = nn.Parameter(-0.5 * weight.sum(1))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden_units))
        log_sigma = torch.zeros(())
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self._setup_boltzmann(hidden_units, num_chains, gibbs_steps, ais_every,
                              ais_chains, ais_betas, seed)

    def _exact(self):
        return self.hidden_units <= self.exact_max_hidden

    def fit_parameters(self):
        """The parameters and ``log_sigma`` (a buffer when not learnt in
        training: the final fit sets the components' width too)."""
        parameters = list(self.parameters())
        if not isinstance(self.log_sigma, nn.Parameter):
            parameters.append(self.log_sigma)
        return parameters

    def _blocks(self):
        return [(j, j + 1) for j in range(self.hidden_units)]

    def _bqm_tensors(self):
        """Energy of h with z integrated out: -log p(h) up to a constant."""
        inv_var = torch.exp(-2.0 * self.log_sigma)
        w, b = self.weight, self.visible_bias
        gram = (w.T @ w) * inv_var
        linear = -(self.hidden_bias + (b @ w) * inv_var + 0.5 * torch.diagonal(gram))
        coupling = -(gram - torch.diag_embed(torch.diagonal(gram)))
        offset = -0.5 * self.latent_dim * (LOG_2PI + 2.0 * self.log_sigma)
        return linear, coupling, offset

    def _exact_log_z(self):
        states = all_binary_states(self.hidden_units, self.weight.dtype, self.weight.device)
        return torch.logsumexp(self._log_unnormalised(states), 0)

    def log_z(self):
        return self._bqm_log_z()

    def hidden_field(self, z):
        """(..., H) input of each hidden unit at latents z (..., d):
        c + W^T z / sigma^2, so that p(h_j = 1 | z) = sigmoid(field_j).
        Computed in z's dtype (float64 latents give a float64 field)."""
        weight, bias, log_sigma = (t.to(z.dtype) for t in
                                   (self.weight, self.hidden_bias, self.log_sigma))
        return bias + (z @ weight) * torch.exp(-2.0 * log_sigma)

    def hidden_probabilities(self, z):
        """(..., H) probability that each hidden unit is on given z (..., d)."""
        return torch.sigmoid(self.hidden_field(z))

    def free_energy(self, z):
        self._check_z(z)
        inv_var = torch.exp(-2.0 * self.log_sigma)
        quadratic = 0.5 * (z - self.visible_bias).pow(2).sum(-1) * inv_var
        return quadratic - F.softplus(self.hidden_field(z)).sum(-1)

    def kl(self, mu, logvar, extra=None):
        self._check_posterior(mu, logvar)
        z = reparameterise(mu, logvar, self.kl_samples)
        energy = self.free_energy(z.reshape(-1, self.latent_dim)).reshape(z.shape[:2]).mean(0)
        entropy = gaussian_entropy(logvar)
        term, log_z = self._log_z_terms()
        loss = energy - entropy + term
        kl_value = (energy - entropy).detach() + log_z
        logs = {"kl": float(kl_value.mean()), "log_z": float(log_z),
                "prior_energy": float(energy.detach().mean())}
        if not self._exact():
            logs["log_z_error"] = float(self.log_z_error)
        return loss, logs

    def latent_means(self, h):
        """Means b + W h (n, d) of the Gaussian components for hidden states
        h (n, H) (array or tensor)."""
        return self.visible_bias + torch.as_tensor(h, dtype=self.weight.dtype,
                                                   device=self.weight.device) @ self.weight.T

    def sample(self, n, sampler="gibbs", **kw):
        """Hidden states from the dimod ``sampler`` (a name or a
        dimod.Sampler), then z ~ N(b + W h, sigma^2 I); ``info`` adds
        ``hidden`` (n, H)."""
        start = time.perf_counter()
        bits, sampleset, name = self._sample_bits(n, sampler, kw)
        with torch.no_grad():
            generator = seeded_generator(kw.get("seed"))
            h = torch.as_tensor(bits, dtype=self.weight.dtype)
            eps = torch.randn(len(h), self.latent_dim, generator=generator,
                              dtype=self.weight.dtype)
            z = (self.latent_means(h).cpu() + torch.exp(self.log_sigma).cpu() * eps)
            free = self.free_energy(z.to(self.weight.device)).cpu()
        energies = self.to_bqm().energies((bits, list(range(self.hidden_units))))
        return z, {"sampler": name, "energies": energies, "free_energy": free, "hidden": h,
                   "decoder_input": z, "beta_eff": sampleset.info.get("beta_eff"),
                   "timing": {"sample_seconds": time.perf_counter() - start},
                   "sampleset_info": sampleset.info}

    def _basin_samples(self, n, sampler, seed):
        """Prior samples for the basins' populations: hidden states from
        the ``exact`` sampler (enumeration) up to ``exact_max_hidden``
        units, ``gibbs`` beyond (or ``sampler`` when given)."""
        if sampler is None:
            sampler = "exact" if self._exact() else "gibbs"
        return self.sample(n, sampler=sampler, seed=seed)[0]

    def _basin_row(self, basin):
        """Adds ``h``: the most probable hidden state at the basin's z."""
        row = super()._basin_row(basin)
        with torch.no_grad():
            field = self.hidden_field(torch.as_tensor(row["z"], dtype=self.weight.dtype,
                                                      device=self.weight.device)[None])
        row["h"] = (field[0] > 0).to(torch.int8).cpu().numpy()
        return row
