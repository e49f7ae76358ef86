"""Where a residue's density is rendered: at its CA, or at its centroid.

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
(about 8 times the projection work for a protein).
"""
import numpy as np
import torch

MODES = ("ca", "centroid", "atoms")


def frame_neighbours(segment_index):
    """Two residues of the same segment that, with residue ``i``, span its
    local frame: ``(i-1, i+1)`` inside a segment, ``(i+1, i+2)`` at its
    start and ``(i-1, i-2)`` at its end.

    Returns ``(a, b, valid)``; ``valid`` is false in segments of fewer
    than three residues, which are rendered at their CA.
    """
    segment_index = np.asarray(segment_index)
    n = len(segment_index)
    i = np.arange(n)
    a, b = i - 1, i + 1
    same = lambda j: (j >= 0) & (j < n) & (segment_index[np.clip(j, 0, n - 1)] == segment_index)
    start, end = ~same(i - 1), ~same(i + 1)
    a = np.where(start, i + 1, a)
    b = np.where(start, i + 2, b)
    a = np.where(end & ~start, i - 1, a)
    b = np.where(end & ~start, i - 2, b)
    valid = same(a) & same(b)
    a = np.where(valid, a, i)
    b = np.where(valid, b, i)
    return a.astype(np.int64), b.astype(np.int64), valid


def local_frames(coords, a, b, eps=1e-6):
    """Orthonormal frames (..., N, 3, 3), columns e1, e2, e3: e1 along
    ``coords[a] - coords``, e2 the part of ``coords[b] - coords``
    orthogonal to it; works on numpy arrays and (differentiably) on
    tensors of any leading shape."""
    if not torch.is_tensor(coords):
        return local_frames(torch.as_tensor(coords, dtype=torch.float64),
                            torch.as_tensor(a), torch.as_tensor(b), eps).numpy()
    u = coords[..., a, :] - coords
    v = coords[..., b, :] - coords
    e1 = u / (u.norm(dim=-1, keepdim=True) + eps)
    v = v - (v * e1).sum(-1, keepdim=True) * e1
    e2 = v / (v.norm(dim=-1, keepdim=True) + eps)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-1)


def residue_centroids(model):
    """Amplitude-weighted heavy-atom centroid of each residue (N, 3)."""
    atoms = model.atoms
    weight = np.where(atoms.atomic_numbers > 1, atoms.atomic_numbers, 0).astype(np.float64)
    total = np.bincount(atoms.residue_index, weights=weight, minlength=model.n)
    sums = np.stack([np.bincount(atoms.residue_index, weights=weight * atoms.coords[:, k],
                                 minlength=model.n) for k in range(3)], axis=1)
    centroids = model.coords.copy()
    has_atoms = total > 0
    centroids[has_atoms] = sums[has_atoms] / total[has_atoms, None]
    return centroids


def centroid_offsets(model):
    """``(a, b, offsets)``: the frame neighbours of every pseudo-atom and its
    centroid's offset (N, 3) in its local frame, from the reference model."""
    a, b, valid = frame_neighbours(model.segment_index)
    frames = local_frames(model.coords, a, b)
    world = residue_centroids(model) - model.coords
    offsets = np.einsum("nji,nj->ni", frames, world)
    offsets[~valid] = 0.0
    return a, b, offsets


def atom_offsets(model):
    """``(a, b, offsets (A, 3), owner (A,), atomic numbers (A,))``: every heavy
    atom's offset from its residue's pseudo-atom, in the residue's local
    frame, and the residue that carries it. Atoms of residues without a
    frame (segments of fewer than three residues) collapse onto their CA."""
    a, b, valid = frame_neighbours(model.segment_index)
    frames = local_frames(model.coords, a, b)
    atoms = model.atoms
    heavy = np.flatnonzero(atoms.atomic_numbers > 1)
    owner = atoms.residue_index[heavy]
    world = atoms.coords[heavy] - model.coords[owner]
    offsets = np.einsum("aji,aj->ai", frames[owner], world)
    offsets[~valid[owner]] = 0.0
    return a, b, offsets, owner.astype(np.int64), atoms.atomic_numbers[heavy].astype(np.float64)


def render_positions(coords, a, b, offsets, owner=None):
    """Rendered positions of pseudo-atoms at ``coords`` (..., N, 3): one per
    residue (``offsets`` (N, 3)), or one per atom of residue ``owner``
    (``offsets`` (A, 3)), carried by the residues' local frames."""
    frames = local_frames(coords, a, b)
    if owner is not None:
        frames, coords = frames[..., owner, :, :], coords[..., owner, :]
    return coords + torch.einsum("...nij,nj->...ni", frames, offsets)
