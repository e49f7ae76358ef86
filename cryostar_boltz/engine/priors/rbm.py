"""A binary code from an RBM next to the continuous latent (DVAE family;
Rolfe 2017): the continuous latent keeps N(0, I)."""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layout import CODES
from .base import LOG_2PI, seeded_generator
from .boltzmann import BoltzmannPrior, all_binary_states
from .gaussian import kl_to_standard_normal


class RBMPrior(BoltzmannPrior):
    """An RBM over a binary code (``visible_units`` V then ``hidden_units``
    H units, U = V + H) next to the continuous latent z ~ N(0, I).

    RBM energy E(v, h) = -a.v - c.h - v.W h (parameters ``visible_bias``
    a (V,), ``hidden_bias`` c (H,), ``weight`` W (V, H)). The encoder
    outputs ``extra_encoder_dim`` = U logits of a factorial q over the
    code; KL = KL_gaussian + E(q means) + log Z - H(q), exact for the
    multilinear RBM energy; log Z is enumerated over the smaller side up to
    ``exact_max_units`` units. The decoder sees z followed by the code:
    a binary-Concrete relaxation while training (temperature ``tau``;
    ``straight_through`` rounds it in the forward pass; Maddison et al.
    2017) and the posterior mode otherwise.
    """

    name = "rbm"

    def __init__(self, latent_dim, visible_units=8, hidden_units=8, tau=0.5,
                 straight_through=False, init_scale=0.01, exact_max_units=20,
                 num_chains=256, gibbs_steps=1, ais_every=1000, ais_chains=500,
                 ais_betas=1000, seed=0):
        super().__init__(latent_dim, visible_units=visible_units, hidden_units=hidden_units,
                         tau=tau, straight_through=straight_through, init_scale=init_scale,
                         exact_max_units=exact_max_units, num_chains=num_chains,
                         gibbs_steps=gibbs_steps, ais_every=ais_every,
                         ais_chains=ais_chains, ais_betas=ais_betas, seed=seed)
        if visible_units < 1 or hidden_units < 1:
            raise ValueError("rbm prior needs visible_units and hidden_units >= 1")
        self.visible_units, self.hidden_units = int(visible_units), int(hidden_units)
        self.tau = float(tau)
        self.straight_through = bool(straight_through)
        self.exact_max_units = int(exact_max_units)
        generator = seeded_generator(seed)
        self.weight = nn.Parameter(init_scale * torch.randn(visible_units, hidden_units,
                                                            generator=generator))
        self.visible_bias = nn.Parameter(torch.zeros(visible_units))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden_units))
        self._setup_boltzmann(self.binary_dim, num_chains, gibbs_steps, ais_every,
                              ais_chains, ais_betas, seed)

    @property
    def binary_dim(self):
        """U = V + H, the length of the binary code."""
        return self.visible_units + self.hidden_units

    @property
    def extra_encoder_dim(self):
        return self.binary_dim

    def _exact(self):
        return min(self.visible_units, self.hidden_units) <= self.exact_max_units

    def _blocks(self):
        return [(0, self.visible_units), (self.visible_units, self.binary_dim)]

    def _bqm_tensors(self):
        """E(v, h) = -a.v - c.h - v.W h over the joint code (visible first)."""
        nv = self.visible_units
        linear = -torch.cat([self.visible_bias, self.hidden_bias])
        w = self.weight
        top = torch.cat([w.new_zeros(nv, nv), -w], 1)
        bottom = torch.cat([-w.T, w.new_zeros(self.hidden_units, self.hidden_units)], 1)
        return linear, torch.cat([top, bottom], 0), 0.0

    def _energy(self, x):
        """RBM energy of (relaxed) codes x (n, binary_dim); multilinear."""
        v, h = x[:, :self.visible_units], x[:, self.visible_units:]
        return -(v @ self.visible_bias) - (h @ self.hidden_bias) - ((v @ self.weight) * h).sum(-1)

    def _exact_log_z(self):
        """log Z by enumerating the smaller side, the other summed analytically."""
        small, bias_small, bias_large, weight = (
            (self.visible_units, self.visible_bias, self.hidden_bias, self.weight)
            if self.visible_units <= self.hidden_units else
            (self.hidden_units, self.hidden_bias, self.visible_bias, self.weight.T))
        states = all_binary_states(small, weight.dtype, weight.device)
        return torch.logsumexp(states @ bias_small
                               + F.softplus(bias_large + states @ weight).sum(-1), 0)

    def _code_log_z(self):
        return self._bqm_log_z()

    def log_z(self):
        return self._code_log_z() + 0.5 * self.latent_dim * LOG_2PI

    def free_energy(self, z):
        """F of decoder inputs z (n, latent_dim + U): |z_c|^2 / 2 + E(code)."""
        self._check_z(z, self.decoder_input_dim)
        continuous, code = z[:, :self.latent_dim], z[:, self.latent_dim:]
        return 0.5 * continuous.pow(2).sum(-1) + self._energy(code)

    def _check_extra(self, extra, batch):
        if extra is None or extra.shape != (batch, self.binary_dim):
            shape = None if extra is None else tuple(extra.shape)
            raise ValueError(f"rbm prior needs extra logits of shape ({batch}, "
                             f"{self.binary_dim}), got {shape}")

    def kl(self, mu, logvar, extra=None):
        """As the interface, with ``extra`` (B, U) the code's logits; logs
        add ``kl_gaussian``, ``kl_binary`` and ``log_z_binary``."""
        self._check_posterior(mu, logvar)
        self._check_extra(extra, mu.shape[0])
        kl_gaussian = kl_to_standard_normal(mu, logvar).sum(-1)
        q = torch.sigmoid(extra)
        entropy = (q * F.softplus(-extra) + (1.0 - q) * F.softplus(extra)).sum(-1)
        energy = self._energy(q)
        term, log_z = self._log_z_terms()
        kl_binary = energy - entropy + term
        loss = kl_gaussian + kl_binary
        kl_binary_value = (energy - entropy).detach() + log_z
        logs = {"kl": float((kl_gaussian.detach() + kl_binary_value).mean()),
                "kl_gaussian": float(kl_gaussian.detach().mean()),
                "kl_binary": float(kl_binary_value.mean()),
                "log_z": float(log_z + 0.5 * self.latent_dim * LOG_2PI),
                "log_z_binary": float(log_z)}
        return loss, logs

    def decoder_input(self, z, extra=None, training=False):
        """z (B, d) followed by the code (B, U) from the logits ``extra``:
        relaxed while ``training``, the posterior mode (logit > 0) otherwise."""
        self._check_extra(extra, z.shape[0])
        if training:
            u = torch.rand_like(extra).clamp_(1e-6, 1.0 - 1e-6)
            code = torch.sigmoid((extra + torch.log(u) - torch.log1p(-u)) / self.tau)
            if self.straight_through:
                code = (code > 0.5).to(code.dtype) + code - code.detach()
        else:
            code = (extra > 0).to(z.dtype)
        return torch.cat([z, code], -1)

    def sample(self, n, sampler="gibbs", **kw):
        """Codes from the dimod ``sampler`` and z ~ N(0, I); ``info`` adds
        ``binary`` (n, U)."""
        start = time.perf_counter()
        bits, sampleset, name = self._sample_bits(n, sampler, kw)
        with torch.no_grad():
            code = torch.as_tensor(bits, dtype=self.weight.dtype)
            z = torch.randn(len(code), self.latent_dim, dtype=self.weight.dtype,
                            generator=seeded_generator(kw.get("seed")))
            decoder_input = torch.cat([z, code], -1)
            free = self.free_energy(decoder_input.to(self.weight.device)).cpu()
        energies = self.to_bqm().energies((bits, list(range(self.binary_dim))))
        return z, {"sampler": name, "energies": energies, "free_energy": free,
                   "binary": code, "decoder_input": decoder_input,
                   "beta_eff": sampleset.info.get("beta_eff"),
                   "timing": {"sample_seconds": time.perf_counter() - start},
                   "sampleset_info": sampleset.info}

    def basins(self, sampler="sa", num_reads=200, max_basins=None, particles=None, **kw):
        """Local minima of the code's BQM (annealing, ``num_reads`` runs,
        then steepest descent); ``z`` is the prior's mean 0 followed by the
        code. ``particles`` is not used: the particles' codes, not their z,
        decide their basin (:meth:`assign_to_basins`)."""
        rows = self._local_minima(sampler, num_reads, max_basins, kw)
        basins = []
        for bits, energy, count in rows:
            z = np.concatenate([np.zeros(self.latent_dim, dtype=np.float32),
                                bits.astype(np.float32)])
            basins.append({"h": bits.astype(np.int8), "energy": float(energy),
                           "count": int(count), "z": z,
                           "free_energy": float(energy)})
        return basins

    def assign_to_basins(self, z, basins, codes=None):
        """The basin whose code is nearest (Hamming distance) to the
        particle's binary code ``codes`` (n, U) (``layout.CODES`` of a run),
        the lowest-energy basin on ties (``z`` is not used: the code decides)."""
        self._check_basins(basins)
        if codes is None:
            raise ValueError("rbm basins are binary codes: the particles' codes "
                             "(%s in the run folder) are needed to "
                             "assign them" % CODES)
        states = np.stack([b["h"] for b in basins]).astype(np.int64)
        codes = np.asarray(codes, dtype=np.int64)
        hamming = (codes[:, None, :] != states[None]).sum(-1)
        return hamming.argmin(1).astype(np.int64)  # basins are lowest first
