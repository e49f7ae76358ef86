"""Residue local frames, and the full-atom models they carry.

Training renders a residue's heavy atoms rigidly carried by the residue's
local frame (:mod:`cryostar_boltz.engine.pseudoatoms`): an atom sits at
``c_i + F_i @ d``, with ``c_i`` the residue's pseudo-atom (CA, or C1' for
a nucleotide), ``d`` the atom's fixed offset in the frame and ``F_i`` the
orthonormal frame spanned by ``c_i`` and two pseudo-atoms of the same
segment (:func:`frame_neighbours`). Written full-atom models follow the
same frames (:func:`atom_positions`), so when a domain turns its side
chains and carbonyls turn with it.

numpy only (no torch): Scipion's process may import this module; the
tensor version of :func:`local_frames` lives in ``pseudoatoms``.
"""
import numpy as np

#: Added to the lengths the frame axes are divided by (Angstrom), as in
#: training (``pseudoatoms.local_frames``).
FRAME_EPS = 1e-6

#: A residue's frame is spanned when the vector to its first neighbour and
#: the part of the vector to its second orthogonal to it are both at least
#: this long (Angstrom); else (coincident or collinear pseudo-atoms) its
#: atoms are translated with the pseudo-atom.
MIN_SPAN = 1e-3


def frame_neighbours(segment_index):
    """Two residues of the same segment that, with residue ``i``, span its
    local frame: ``(i-1, i+1)`` inside a segment, ``(i+1, i+2)`` at its
    start and ``(i-1, i-2)`` at its end.

    ``segment_index`` (N,) int (``CoarseModel.segment_index``). Returns
    ``(a, b, valid)``, each (N,); ``valid`` is false in segments of fewer
    than three residues (then ``a = b = i``).
    """
    segment_index = np.asarray(segment_index)
    n = len(segment_index)
    i = np.arange(n)
    a, b = i - 1, i + 1

    def same(j):
        return (j >= 0) & (j < n) & (segment_index[np.clip(j, 0, n - 1)] == segment_index)

    start, end = ~same(i - 1), ~same(i + 1)
    a = np.where(start, i + 1, a)
    b = np.where(start, i + 2, b)
    a = np.where(end & ~start, i - 1, a)
    b = np.where(end & ~start, i - 2, b)
    valid = same(a) & same(b)
    a = np.where(valid, a, i)
    b = np.where(valid, b, i)
    return a.astype(np.int64), b.astype(np.int64), valid


def _frames(coords, a, b, eps=FRAME_EPS):
    """(frames (..., N, 3, 3), spanned (..., N) bool) of ``local_frames``."""
    coords = np.asarray(coords, dtype=np.float64)
    u = coords[..., a, :] - coords
    v = coords[..., b, :] - coords
    u_len = np.linalg.norm(u, axis=-1, keepdims=True)
    e1 = u / (u_len + eps)
    v = v - (v * e1).sum(-1, keepdims=True) * e1
    v_len = np.linalg.norm(v, axis=-1, keepdims=True)
    e2 = v / (v_len + eps)
    e3 = np.cross(e1, e2)
    spanned = (u_len[..., 0] >= MIN_SPAN) & (v_len[..., 0] >= MIN_SPAN)
    return np.stack([e1, e2, e3], axis=-1), spanned


def local_frames(coords, a, b, eps=FRAME_EPS):
    """Orthonormal frames (..., N, 3, 3; to about ``eps`` over the
    pseudo-atom spacing) of pseudo-atoms ``coords``
    (..., N, 3), Angstrom; columns e1, e2, e3: e1 along ``coords[a] -
    coords``, e2 the part of ``coords[b] - coords`` orthogonal to it
    (Gram-Schmidt), e3 = e1 x e2. ``a``, ``b`` (N,) from
    :func:`frame_neighbours`. Lengths are divided with ``eps`` added, as
    training does; a frame that is not spanned (:func:`spanned_frames`)
    is not orthonormal (columns of length near zero)."""
    return _frames(coords, a, b, eps)[0]


def spanned_frames(coords, a, b):
    """(..., N) bool: whether each residue's frame is spanned by
    ``coords`` (..., N, 3): its two neighbours are not on a line through
    it (:data:`MIN_SPAN`)."""
    return _frames(coords, a, b)[1]


def _carried_offsets(model):
    """How ``model``'s atoms ride on its residues' frames: ``(a, b, frames,
    offsets, residual)``: frame neighbours (N,), the frames at the
    reference (N, 3, 3), each atom of ``model.atoms`` in its residue's
    frame (A, 3; zero for residues not carried: segments of fewer than
    three residues, frames not spanned) and what ``c + F @ offsets``
    misses of the file's atom at the reference (A, 3, Angstrom: a few
    1e-6 from :data:`FRAME_EPS`; the whole offset from the pseudo-atom for
    residues not carried)."""
    a, b, valid = frame_neighbours(model.segment_index)
    frames, spanned = _frames(model.coords, a, b)
    carried = valid & spanned
    owner = model.atoms.residue_index
    world = model.atoms.coords - model.coords[owner]
    offsets = np.einsum("aji,aj->ai", frames[owner], world)
    offsets[~carried[owner]] = 0.0
    residual = world - np.einsum("aij,aj->ai", frames[owner], offsets)
    return a, b, frames, offsets, residual


def atom_positions(model, coords, chunk=64):
    """Full-atom positions for pseudo-atoms at ``coords``, as in training.

    ``model``: the reference :class:`~.model.CoarseModel`; ``coords``
    (M, N, 3) or (N, 3), Angstrom, residues in ``model``'s order. Returns
    (M, A, 3) or (A, 3) float64 positions of ``model.atoms`` (hydrogens
    included): each atom of residue ``i`` at ``coords[i] + F_i @ d``, F_i
    the residue's frame (:func:`local_frames`) at ``coords`` and ``d`` the
    atom's offset in its frame at the reference (``pseudoatoms``
    renders heavy atoms the same way), plus the few 1e-6 A the reference's
    frames (divided with :data:`FRAME_EPS` added) miss of the file's atom,
    so that ``coords = model.coords`` gives the file's atoms exactly. Atoms
    of residues in segments of fewer than three residues, or whose frame
    is not spanned (:func:`spanned_frames`, in the reference or in that
    model), move with their pseudo-atom only. A rigid motion of all
    pseudo-atoms moves every carried atom by that motion (to about 1e-5
    A). ValueError for ``coords`` of another shape.
    """
    coords = np.asarray(coords, dtype=np.float64)
    single = coords.ndim == 2
    if single:
        coords = coords[None]
    if coords.ndim != 3 or coords.shape[1:] != (model.n, 3):
        raise ValueError(f"coords must have shape (M, {model.n}, 3) or "
                         f"({model.n}, 3), not {coords.shape}")
    a, b, reference, offsets, residual = _carried_offsets(model)
    owner = model.atoms.residue_index
    out = np.empty((len(coords), model.atoms.n, 3))
    for start in range(0, len(coords), chunk):
        block = coords[start:start + chunk]
        frames, spanned = _frames(block, a, b)
        # a frame that collapses in a model: its residue is translated
        frames = np.where(spanned[..., None, None], frames, reference)
        moved = block[:, owner] + residual
        for k in range(3):
            moved += frames[..., k][:, owner] * offsets[:, k, None]
        out[start:start + chunk] = moved
    return out[0] if single else out
