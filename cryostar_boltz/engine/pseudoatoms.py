"""Where a residue's density is rendered: at its CA, its centroid, or its
heavy atoms.

The decoder moves one point per residue (CA, or C1' for nucleotides), and
that point is what outputs and restraints use. The published method also
renders the residue's Gaussian there. But a residue's heavy atoms sit on
average about 1.2 A from its CA (side chains, carbonyls), so an image of
real atoms is matched best by a CA trace pulled towards the side chains:
the image loss is then minimised away from the true structure.

``centroid`` rendering removes that bias at no extra cost: each residue's
Gaussian sits at its amplitude-weighted heavy-atom centroid, stored as an
offset in a local frame built from the residue and its two sequence
neighbours, so it follows the backbone as the decoder moves it.

``atoms`` goes one step further: every heavy atom of the reference is
carried rigidly by its residue's local frame and rendered as its own
Gaussian (amplitude = atomic number), which is what a map of real atoms
looks like. It costs one Gaussian per heavy atom instead of one per residue
(about 8 times the projection work for a protein); its Gaussians should
be an atom's width (about 1 A, plus the pixel's), not a residue's.

What no rendering carried by the backbone removes: the sample's side chains
are not where the reference has them (for adenylate kinase's crystal
structure against its MD path, side-chain centroids differ by about 1 A
RMS), so the backbone bends a little to explain them
(``benchmarks/bench_rendering.py`` measures this floor per rendering).
"""
from typing import NamedTuple

import numpy as np
import torch

from .structure import frames as _frames
from .structure.frames import frame_neighbours

MODES = ("ca", "centroid", "atoms")

#: Gaussian width of one atom (Angstrom): thermal motion (B about 80 A^2)
#: and the atom's own scattering profile.
ATOM_SIGMA = 1.0

#: Gaussian width of a residue rendered as one point (Angstrom).
RESIDUE_SIGMA = 2.0


def atom_sigma(apix):
    """Width of an atom on pixels of ``apix`` Angstrom: integrating over a
    square pixel adds its variance, apix^2 / 12, to the atom's."""
    return float(np.sqrt(ATOM_SIGMA ** 2 + apix ** 2 / 12.0))


def default_sigma(mode, apix):
    """Width to render ``mode``'s points with when none is given: an
    atom's for ``atoms``, a residue's otherwise."""
    return atom_sigma(apix) if mode == "atoms" else RESIDUE_SIGMA


def local_frames(coords, a, b, eps=_frames.FRAME_EPS):
    """Orthonormal frames (..., N, 3, 3), columns e1, e2, e3: e1 along
    ``coords[a] - coords``, e2 the part of ``coords[b] - coords``
    orthogonal to it; differentiable on tensors of any leading shape, and
    :func:`cryostar_boltz.engine.structure.frames.local_frames` (the same
    frames, float64) on numpy arrays."""
    if not torch.is_tensor(coords):
        return _frames.local_frames(coords, np.asarray(a), np.asarray(b), eps)
    # index_select: its backward is one index_add, not an accumulating index_put
    u = coords.index_select(-2, a) - coords
    v = coords.index_select(-2, b) - coords
    e1 = u / (u.norm(dim=-1, keepdim=True) + eps)
    v = v - (v * e1).sum(-1, keepdim=True) * e1
    e2 = v / (v.norm(dim=-1, keepdim=True) + eps)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-1)


def residue_centroids(model):
    """Amplitude-weighted heavy-atom centroid of each residue (N, 3); the
    weights sum to the residue's amplitude."""
    atoms = model.atoms
    weight = np.where(atoms.atomic_numbers > 1, atoms.atomic_numbers, 0).astype(np.float64)
    sums = np.stack([np.bincount(atoms.residue_index, weights=weight * atoms.coords[:, k],
                                 minlength=model.n) for k in range(3)], axis=1)
    centroids = model.coords.copy()
    has_atoms = model.amplitudes > 0
    centroids[has_atoms] = sums[has_atoms] / model.amplitudes[has_atoms, None]
    return centroids


class RenderPoints(NamedTuple):
    """Gaussians carried by the residues' local frames: point ``p`` sits at
    ``offsets[p]`` in the frame of residue ``owner[p]`` (spanned with its
    neighbours ``frame_a``, ``frame_b``) and has amplitude ``amplitudes[p]``."""
    mode: str
    frame_a: np.ndarray     # (N,)
    frame_b: np.ndarray     # (N,)
    offsets: np.ndarray     # (P, 3)
    owner: np.ndarray       # (P,)
    amplitudes: np.ndarray  # (P,)


def render_points(model, mode):
    """The points ``mode`` renders for the reference ``model``: None for
    ``ca`` (the pseudo-atoms themselves), one per residue at its centroid,
    or one per heavy atom. Points of residues without a frame (segments of
    fewer than three residues, or neighbours on a line through the residue:
    ``structure.frames.spanned_frames``) sit on their CA."""
    if mode not in MODES:
        raise ValueError("pseudo_atoms must be one of %s, got %r" % (MODES, mode))
    if mode == "ca":
        return None
    a, b, valid = frame_neighbours(model.segment_index)
    valid = valid & _frames.spanned_frames(model.coords, a, b)
    if mode == "centroid":
        owner = np.arange(model.n)
        world = residue_centroids(model) - model.coords
        amplitudes = model.amplitudes
    else:
        atoms = model.atoms
        heavy = np.flatnonzero(atoms.atomic_numbers > 1)
        owner = atoms.residue_index[heavy]
        world = atoms.coords[heavy] - model.coords[owner]
        amplitudes = atoms.atomic_numbers[heavy]
    frames = local_frames(model.coords, a, b)
    offsets = np.einsum("pji,pj->pi", frames[owner], world)
    offsets[~valid[owner]] = 0.0
    return RenderPoints(mode, a, b, offsets, owner.astype(np.int64),
                        np.asarray(amplitudes, dtype=np.float64))


def render_positions(coords, a, b, offsets, owner):
    """Positions (..., P, 3) of the points carried by pseudo-atoms at
    ``coords`` (..., N, 3) (see ``RenderPoints``): point ``p`` at
    ``coords[owner[p]] + frames[owner[p]] @ offsets[p]``, differentiable in
    ``coords``."""
    frames = local_frames(coords, a, b)
    lead = coords.shape[:-2]
    flat = (-1,) + tuple(coords.shape[-2:])
    points = _CarriedPoints.apply(coords.reshape(flat), frames.reshape(flat + (3,)),
                                  offsets, owner)
    return points.reshape(lead + points.shape[-2:])


class _CarriedPoints(torch.autograd.Function):
    """``x[m, p] = c[m, o] + F[m, o] @ d[p]`` for the owner ``o = owner[p]``
    of each point, from coordinates ``c`` (M, N, 3), frames ``F`` (M, N, 3,
    3) and offsets ``d`` (P, 3); a (M, P, 3) view.

    The residues' origin and frame columns are packed (N, 4, 3 M), so the
    points' copies are one row gather and three multiply-adds along rows of
    3 M values, and the backward pass one ``index_add_`` of such rows: about
    twice as fast, forward and backward, as gathering (M, P, 3, 3) frames
    and contracting their last axis (``einsum``), whose trailing axes of 3
    do not vectorise.
    """

    @staticmethod
    def forward(ctx, coords, frames, offsets, owner):
        M, N = coords.shape[:2]
        P = owner.shape[0]
        packed = torch.cat([coords.unsqueeze(-1), frames], -1)       # (M, N, 3, 4)
        packed = packed.permute(1, 3, 2, 0).reshape(N, 4, 3 * M)
        offsets = offsets.to(coords.dtype)
        rows = packed.index_select(0, owner)                            # (P, 4, 3 M)
        points = torch.addcmul(rows[:, 0], rows[:, 1], offsets[:, 0:1])
        points.addcmul_(rows[:, 2], offsets[:, 1:2]).addcmul_(rows[:, 3], offsets[:, 2:3])
        ctx.save_for_backward(offsets, owner)
        ctx.N = N
        return points.view(P, 3, M).permute(2, 0, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        offsets, owner = ctx.saved_tensors
        M, P = grad.shape[:2]
        rows = grad.new_empty(P, 4, 3 * M)
        rows[:, 0].view(P, 3, M).copy_(grad.permute(1, 2, 0))
        for k in range(3):
            torch.mul(rows[:, 0], offsets[:, k:k + 1].to(grad.dtype), out=rows[:, k + 1])
        packed = grad.new_zeros(ctx.N, 12 * M).index_add_(0, owner, rows.view(P, -1))
        packed = packed.view(ctx.N, 4, 3, M).permute(3, 0, 2, 1)       # (M, N, 3, 4)
        return packed[..., 0], packed[..., 1:], None, None
