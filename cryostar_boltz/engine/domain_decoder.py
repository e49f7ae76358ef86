"""Rigid-domain decoder: one rigid transform per domain of the reference.

The latent code goes through an MLP like the free decoder's to 9 numbers
per domain ``k``: a rotation ``R_k`` in the 6-D
representation of Zhou et al. (CVPR 2019: two 3-vectors orthonormalised
by Gram-Schmidt, continuous over all rotations, unlike quaternions or
Euler angles) and a translation ``t_k`` (Angstrom). Residue ``i`` of
domain ``k`` moves to ``R_k (x_i - c_k) + c_k + t_k``, ``c_k`` the
domain's centroid in the reference, so rotation and translation do not
trade off; residues in no domain (held by ``--move``) stay where the
reference has them. The output layer starts at zero weights with the bias
of the identity, so a fresh decoder outputs the reference exactly, as the
free decoder does. The transforms are composed in float32 even under
autocast (bfloat16 rotations would move a residue 40 Angstrom from its
centroid by 0.3 Angstrom).

Its output is a displacement per residue (B, N, 3), like
``models.DeformationDecoder``'s, so restraints, rendering and every
reader of a run treat both alike; the continuity and elastic restraints
between residues of different domains hold the hinges.
"""
import torch
from torch import nn

#: The 6-D representation of the identity rotation (first two columns).
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def rotation_from_6d(values):
    """(..., 6) -> (..., 3, 3) rotation matrices whose first two columns
    are the Gram-Schmidt orthonormalisation of the two 3-vectors."""
    a, b = values[..., :3], values[..., 3:]
    e1 = nn.functional.normalize(a, dim=-1)
    e2 = nn.functional.normalize(b - (e1 * b).sum(-1, keepdim=True) * e1, dim=-1)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-1)


class RigidDomainDecoder(nn.Module):
    """MLP from a latent code to one rigid transform per domain, returned
    as displacements (B, N, 3) Angstrom of the ``N`` residues.

    ``ref_coords`` (N, 3) Angstrom, ``labels`` (N,) int: the domain
    (0..K-1) of each residue, -1 for residues that stay put. ``hidden``:
    widths of the MLP (the free decoder's).
    """

    def __init__(self, ref_coords, labels, input_dim=8, hidden=(32, 64, 128, 256, 512)):
        super().__init__()
        from .models import _check_hidden, mlp
        ref_coords = torch.as_tensor(ref_coords, dtype=torch.float32)
        labels = torch.as_tensor(labels, dtype=torch.long)
        n = ref_coords.shape[0]
        if labels.shape != (n,) or int(input_dim) < 1:
            raise ValueError(f"RigidDomainDecoder: labels must be ({n},) and input_dim "
                             f">= 1, got {tuple(labels.shape)} and {input_dim}")
        self.n_residues, self.input_dim = n, int(input_dim)
        self.n_domains = int(labels.max()) + 1 if (labels >= 0).any() else 0
        if self.n_domains < 1:
            raise ValueError("RigidDomainDecoder: no residue is in a domain")
        hidden = _check_hidden(hidden, "RigidDomainDecoder")
        self.body = mlp(self.input_dim, hidden)
        self.out = nn.Linear(hidden[-1], 9 * self.n_domains)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.zero_()
            self.out.bias.view(self.n_domains, 9)[:, :6] = torch.tensor(IDENTITY_6D)
        active = labels >= 0
        safe = labels.clamp(min=0)
        centroids = torch.zeros(self.n_domains, 3)
        centroids.index_add_(0, safe[active], ref_coords[active])
        counts = torch.bincount(safe[active], minlength=self.n_domains).clamp(min=1)
        centroids /= counts[:, None]
        self.register_buffer("labels", safe.clone())
        self.register_buffer("active", active.float()[:, None])
        self.register_buffer("offsets", (ref_coords - centroids[safe]) * self.active)

    def transforms(self, z):
        """``z`` (B, input_dim) -> rotations (B, K, 3, 3) and translations
        (B, K, 3) Angstrom, float32."""
        if z.shape[-1] != self.input_dim:
            raise ValueError(f"RigidDomainDecoder: expected z (B, {self.input_dim}), "
                             f"got {tuple(z.shape)}")
        raw = self.out(self.body(z))
        with torch.autocast(device_type=raw.device.type, enabled=False):
            raw = raw.float().unflatten(-1, (self.n_domains, 9))
            return rotation_from_6d(raw[..., :6]), raw[..., 6:]

    def forward(self, z):
        """``z`` (B, input_dim) -> displacements (B, N, 3): ``R_k (x - c_k)
        + t_k - (x - c_k)`` for residues of domain ``k``, 0 for the rest."""
        rotations, translations = self.transforms(z)
        with torch.autocast(device_type=rotations.device.type, enabled=False):
            r = rotations[:, self.labels]                       # (B, N, 3, 3)
            moved = torch.einsum("bnij,nj->bni", r, self.offsets)
            return (moved - self.offsets + translations[:, self.labels]) * self.active
