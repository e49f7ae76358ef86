"""Stage-1 networks: image encoder, deformation decoder and the VAE holding them.

The encoder maps a real-space particle image to a Gaussian posterior over the
latent code (optionally with extra logits for a binary latent); the decoder
maps a latent code to one displacement per coarse-grained residue, added to
the reference coordinates (Angstrom, model frame, origin at the box centre).
"""
import math

import numpy as np
import torch
from torch import nn

from .pseudoatoms import RenderPoints, render_positions

DEFAULT_ENCODER_HIDDEN = (512, 256, 128, 64, 32)
DEFAULT_DECODER_HIDDEN = (32, 64, 128, 256, 512)


def mlp(in_dim, hidden):
    """``Linear -> ReLU`` blocks through the ``hidden`` widths (no output layer)."""
    layers = []
    for width in hidden:
        layers += [nn.Linear(in_dim, int(width)), nn.ReLU(inplace=True)]
        in_dim = int(width)
    return nn.Sequential(*layers)


def _check_hidden(hidden, what):
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 1:
        raise ValueError(f"{what}: hidden widths must be positive integers, got {hidden}")
    return hidden


class ImageEncoder(nn.Module):
    """MLP on the flattened real-space image -> posterior mean and log-variance.

    Images have an arbitrary intensity scale, so they are standardised by a
    per-dataset ``(mean, std)`` fixed before training (``set_input_scale`` or
    ``fit_input_scale``; buffers saved with the weights). A per-dataset affine
    map keeps the relative intensities between particles, which a per-image
    standardisation would throw away. The heads are one fused linear layer
    whose output is split into ``mu``, ``logvar`` and, when ``extra_dim > 0``,
    logits of a binary latent.
    """

    def __init__(self, D, latent_dim=8, hidden=DEFAULT_ENCODER_HIDDEN, extra_dim=0):
        super().__init__()
        if int(D) < 2 or int(latent_dim) < 1 or int(extra_dim) < 0:
            raise ValueError(f"ImageEncoder: invalid sizes D={D}, latent_dim={latent_dim}, "
                             f"extra_dim={extra_dim}")
        self.D, self.latent_dim, self.extra_dim = int(D), int(latent_dim), int(extra_dim)
        hidden = _check_hidden(hidden, "ImageEncoder")
        self.body = mlp(self.D * self.D, hidden)
        self.heads = nn.Linear(hidden[-1], 2 * self.latent_dim + self.extra_dim)
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))

    def set_input_scale(self, mean, std):
        """Fix the dataset intensity mean and standard deviation used to standardise inputs."""
        mean, std = float(mean), float(std)
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValueError(f"ImageEncoder: input scale needs a finite mean and a positive std, "
                             f"got mean={mean}, std={std}")
        self.input_mean.fill_(mean)
        self.input_std.fill_(std)

    @torch.no_grad()
    def fit_input_scale(self, images):
        """Set the input scale from a sample of images (N, D, D); returns ``(mean, std)``."""
        images = torch.as_tensor(images, dtype=torch.float64)
        mean, std = images.mean().item(), images.std().item()
        self.set_input_scale(mean, std)
        return mean, std

    def forward(self, images):
        """``images`` (B, D, D) -> ``(mu, logvar, extra or None)``, each (B, ...)."""
        if images.shape[-2:] != (self.D, self.D):
            raise ValueError(f"ImageEncoder: expected images (B, {self.D}, {self.D}), "
                             f"got {tuple(images.shape)}")
        x = (images.flatten(-2) - self.input_mean) / self.input_std
        out = self.heads(self.body(x))
        k = self.latent_dim
        mu, logvar = out[..., :k], out[..., k:2 * k]
        extra = out[..., 2 * k:] if self.extra_dim else None
        return mu, logvar, extra


class DeformationDecoder(nn.Module):
    """MLP from a latent code to a free displacement per residue, (B, N, 3) Angstrom.

    The output layer starts at zero weights and bias, so a fresh decoder
    outputs exactly zero displacement for every z: the reference structure.
    This replaces the reference-init phase of the published method exactly
    and at no cost; gradients still reach the output layer (its input is the
    non-zero last hidden activation), so training moves away at once.
    """

    def __init__(self, n_residues, input_dim=8, hidden=DEFAULT_DECODER_HIDDEN,
                 moving=None):
        super().__init__()
        if int(n_residues) < 1 or int(input_dim) < 1:
            raise ValueError(f"DeformationDecoder: invalid sizes n_residues={n_residues}, "
                             f"input_dim={input_dim}")
        self.n_residues, self.input_dim = int(n_residues), int(input_dim)
        hidden = _check_hidden(hidden, "DeformationDecoder")
        self.body = mlp(self.input_dim, hidden)
        self.out = nn.Linear(hidden[-1], 3 * self.n_residues)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if moving is not None:
            # (N, 1) 1 where a residue may move, 0 where it stays exactly put
            moving = torch.as_tensor(np.asarray(moving, dtype=np.float32)).reshape(-1, 1)
            if moving.shape[0] != self.n_residues:
                raise ValueError(f"DeformationDecoder: moving must be ({n_residues},), "
                                 f"got {tuple(moving.shape)}")
            self.register_buffer("moving", moving.clone())
        else:
            self.moving = None

    def forward(self, z):
        """``z`` (B, input_dim) -> displacements (B, N, 3); zero for the
        residues that may not move."""
        if z.shape[-1] != self.input_dim:
            raise ValueError(f"DeformationDecoder: expected z (B, {self.input_dim}), "
                             f"got {tuple(z.shape)}")
        out = self.out(self.body(z)).unflatten(-1, (self.n_residues, 3))
        return out if self.moving is None else out * self.moving.to(out.dtype)


def reparameterize(mu, logvar):
    """A sample ``mu + exp(logvar / 2) * eps`` differentiable in both arguments."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def reference_init(decoder, input_dim, steps, tol=1e-3, batch_size=256, lr=1e-3,
                   generator=None):
    """Train ``decoder`` towards zero displacement; returns the final mean squared displacement.

    For a decoder whose weights did not come from ``DeformationDecoder``'s zero
    initialisation. Latents are drawn from the prior N(0, I); the loss is the
    mean over batch, residues and the three axes of the squared displacement
    (the published criterion), and training stops once the mean of the last
    20 losses is below ``tol`` or after ``steps`` steps. The returned value is
    measured on a fresh batch without gradients.
    """
    if int(input_dim) < 1 or int(steps) < 0 or tol <= 0:
        raise ValueError(f"reference_init: invalid input_dim={input_dim}, steps={steps}, tol={tol}")
    param = next(decoder.parameters())
    kwargs = dict(device=param.device, dtype=param.dtype, generator=generator)
    optimiser = torch.optim.Adam(decoder.parameters(), lr=lr)
    recent = []
    was_training = decoder.training
    decoder.train()
    for _ in range(int(steps)):
        z = torch.randn(batch_size, int(input_dim), **kwargs)
        loss = decoder(z).square().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        recent = (recent + [loss.item()])[-20:]
        if sum(recent) / len(recent) < tol:
            break
    decoder.train(was_training)
    with torch.no_grad():
        z = torch.randn(batch_size, int(input_dim), **kwargs)
        return decoder(z).square().mean().item()


class StructureVAE(nn.Module):
    """Encoder + deformation decoder + the coarse reference model they deform.

    Holds the reference coordinates (N, 3) and amplitudes (N,) as buffers and
    the Gaussian width ``sigma`` (Angstrom): a constant, or per-residue
    learnable values (stored as a log so they stay positive). ``config`` is a
    plain dict of the sizes and options; ``from_config(config)`` rebuilds the
    module with placeholder buffers for ``load_state_dict`` to fill, so a
    checkpoint is ``{"config": vae.config, "state_dict": vae.state_dict()}``.

    ``decoder_input_dim`` (default ``latent_dim``) lets a prior feed the
    decoder something other than the Gaussian latent alone, e.g. the latent
    joined with a relaxed binary code.

    ``moving`` (N,) bool: the residues the decoder may move (the others
    stay exactly at the reference; default all); ``domain_labels`` (N,)
    int: rigid-domain motion (``domain_decoder.RigidDomainDecoder``), the
    domain 0..K-1 of each residue, -1 for none; default: a free
    displacement per residue.

    ``render_points`` (``pseudoatoms.render_points`` of the reference)
    renders Gaussians carried by the residues' local frames instead of one
    at each pseudo-atom: each residue's centroid, or every heavy atom
    (``render_coords``, ``render_amplitudes``; a learnable width is the
    width of the residue that carries the point).

    ``encoder_box`` (px, even, at most ``D``; None or 0: ``D``): the box of
    the images the encoder takes (``training.encoder_input`` Fourier-crops
    them to it); runs saved before the option read as ``D``.
    """

    def __init__(self, D, ref_coords, amplitudes, latent_dim=8,
                 encoder_hidden=DEFAULT_ENCODER_HIDDEN, decoder_hidden=DEFAULT_DECODER_HIDDEN,
                 extra_dim=0, sigma=2.0, learn_sigma=False, decoder_input_dim=None,
                 render_points=None, moving=None, domain_labels=None, encoder_box=None):
        super().__init__()
        ref_coords = torch.as_tensor(ref_coords, dtype=torch.float32)
        amplitudes = torch.as_tensor(amplitudes, dtype=torch.float32)
        if ref_coords.ndim != 2 or ref_coords.shape[1] != 3 or ref_coords.shape[0] < 1:
            raise ValueError(f"StructureVAE: reference coordinates must be (N, 3), "
                             f"got {tuple(ref_coords.shape)}")
        n = ref_coords.shape[0]
        if amplitudes.shape != (n,):
            raise ValueError(f"StructureVAE: amplitudes must be ({n},), "
                             f"got {tuple(amplitudes.shape)}")
        if not float(sigma) > 0:
            raise ValueError(f"StructureVAE: sigma must be positive, got {sigma}")
        decoder_input_dim = int(latent_dim if decoder_input_dim is None else decoder_input_dim)
        encoder_box = int(encoder_box or D)
        if encoder_box != int(D) and not (2 <= encoder_box < int(D) and encoder_box % 2 == 0):
            raise ValueError(f"StructureVAE: the encoder box must be even, 2 to {D} px, "
                             f"got {encoder_box}")
        self._config = dict(D=int(D), encoder_box=encoder_box, n_residues=n,
                            latent_dim=int(latent_dim),
                            decoder_input_dim=decoder_input_dim,
                            encoder_hidden=[int(h) for h in encoder_hidden],
                            decoder_hidden=[int(h) for h in decoder_hidden],
                            extra_dim=int(extra_dim), sigma=float(sigma),
                            learn_sigma=bool(learn_sigma),
                            pseudo_atoms="ca" if render_points is None else render_points.mode,
                            n_points=0 if render_points is None else len(render_points.owner))
        self.encoder = ImageEncoder(encoder_box, latent_dim, encoder_hidden, extra_dim)
        if domain_labels is None:
            self.decoder = DeformationDecoder(n, decoder_input_dim, decoder_hidden, moving)
        else:
            from .domain_decoder import RigidDomainDecoder
            labels = np.asarray(domain_labels, dtype=np.int64)
            if moving is not None:
                labels = np.where(np.asarray(moving, dtype=bool), labels, -1)
            self.decoder = RigidDomainDecoder(ref_coords, labels, decoder_input_dim,
                                              decoder_hidden)
            self._config.update(motion="domains", n_domains=self.decoder.n_domains)
        if moving is not None:
            self._config["held"] = True
        self.register_buffer("ref_coords", ref_coords.clone())
        self.register_buffer("amplitudes", amplitudes.clone())
        if learn_sigma:
            self.log_sigma = nn.Parameter(torch.full((n,), math.log(float(sigma))))
        if render_points is not None:
            self._register_points(render_points, n)

    def _register_points(self, points, n):
        frame_a, frame_b, offsets, owner, amplitudes = (
            torch.as_tensor(np.asarray(x)) for x in points[1:])
        p = owner.shape[0]
        if frame_a.shape != (n,) or frame_b.shape != (n,) or offsets.shape != (p, 3) \
                or amplitudes.shape != (p,):
            raise ValueError(f"StructureVAE: render points need frames ({n},), offsets "
                             f"(P, 3), owners (P,) and amplitudes (P,), got "
                             f"{[tuple(x.shape) for x in (frame_a, frame_b, offsets, owner, amplitudes)]}")
        self.register_buffer("frame_a", frame_a.long().clone())
        self.register_buffer("frame_b", frame_b.long().clone())
        self.register_buffer("point_offsets", offsets.float().clone())
        self.register_buffer("point_owner", owner.long().clone())
        self.register_buffer("point_amplitudes", amplitudes.float().clone())

    @property
    def config(self):
        """Sizes and options needed to rebuild this module (a JSON-serialisable dict)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    @classmethod
    def from_config(cls, config):
        """An untrained module of the shape ``config`` describes (load the state dict next)."""
        config = dict(config)
        try:
            n = int(config.pop("n_residues"))
            D = config.pop("D")
        except KeyError as missing:
            raise ValueError(f"StructureVAE config lacks {missing}") from None
        mode = config.pop("pseudo_atoms", "ca")
        p = int(config.pop("n_points", 0))
        # absent from runs trained before --move and --motion: free, all move
        motion, k = config.pop("motion", "free"), int(config.pop("n_domains", 0))
        if config.pop("held", False):
            config["moving"] = np.ones(n, bool)
        if motion == "domains":
            # every label a domain: the buffers come from the state dict
            config["domain_labels"] = np.arange(n) % k
        elif motion != "free":
            raise ValueError(f"StructureVAE config: unknown motion {motion!r}")
        points = None
        if mode != "ca":
            points = RenderPoints(mode, np.zeros(n, np.int64), np.zeros(n, np.int64),
                                  np.zeros((p, 3)), np.zeros(p, np.int64), np.ones(p))
        return cls(D, torch.zeros(n, 3), torch.ones(n), render_points=points, **config)

    @property
    def sigma(self):
        """Gaussian width: a float, or a (N,) tensor when learnable."""
        if self._config["learn_sigma"]:
            sigma = self.log_sigma.exp()
            return sigma if self._config["n_points"] == 0 else sigma[self.point_owner]
        return self._config["sigma"]

    def render_coords(self, coords):
        """Where the Gaussians of pseudo-atoms at ``coords`` (..., N, 3) are
        rendered: the coordinates themselves, or the render points
        (..., P, 3) they carry."""
        if self._config["n_points"] == 0:
            return coords
        return render_positions(coords, self.frame_a, self.frame_b,
                                self.point_offsets, self.point_owner)

    @property
    def render_amplitudes(self):
        """Amplitudes of the Gaussians ``render_coords`` places."""
        if self._config["n_points"] == 0:
            return self.amplitudes
        return self.point_amplitudes

    def encode(self, images):
        """``images`` (B, D, D) -> ``(mu, logvar, extra or None)``."""
        return self.encoder(images)

    def decode(self, z):
        """``z`` (B, decoder_input_dim) -> coordinates (B, N, 3) = reference + displacement."""
        return self.ref_coords + self.decoder(z)

    def forward(self, images, sample=None):
        """``images`` -> ``(coords, mu, logvar, extra)``.

        The decoded latent is a reparameterised posterior sample when
        ``sample`` is true (default: in training mode) and the posterior
        mean otherwise. Only for a decoder fed by the latent alone; with
        another ``decoder_input_dim`` the prior builds the decoder input.
        """
        if self._config["decoder_input_dim"] != self._config["latent_dim"]:
            raise ValueError("StructureVAE.forward: the decoder takes "
                             f"{self._config['decoder_input_dim']} inputs, not the latent; "
                             "call encode() and decode() with the prior's decoder input")
        mu, logvar, extra = self.encode(images)
        sample = self.training if sample is None else sample
        z = reparameterize(mu, logvar) if sample else mu
        return self.decode(z), mu, logvar, extra
