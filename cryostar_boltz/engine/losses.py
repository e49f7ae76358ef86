"""Stage-1 losses: image correlation, structural restraints, KL and its schedule.

Structural restraints compare pair distances of the deformed coarse model
with the same pairs in the reference model (targets are reference
distances, never ideal ones). Pairs are found once, with a k-d tree, and
kept as index lists, so memory grows with the number of neighbours, not
with N^2.
"""
import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from .priors.gaussian import kl_to_standard_normal


# ---------------------------------------------------------------- image loss

def correlation_loss(pred, obs, mask=None, eps=1e-5, std_region="mask"):
    """Per-image ``-sum(p g) / ((std g + eps)(std p + eps)) / N_masked``, shape (B,).

    ``pred`` and ``obs`` are (B, D, D) real-space images, both already
    low-passed; ``mask`` a (D, D) boolean (or 0/1) region, ``None`` for the
    whole box, or (B, D, D) weights in [0, 1] per image (a focus mask's
    projection, ``focus_mask.FocusMask``; ``N_masked`` is then each
    image's sum of weights). Sums run over the masked pixels and, with
    ``std_region="mask"``, so do the standard deviations (unbiased). Images
    are not centred, as in the published loss, so for ``p = g`` the value is
    ``-sum(g^2) / (N_masked (std g + eps)^2)``: about ``-(N-1)/N`` for an
    image of zero mean inside the mask.

    The loss is invariant to a positive scaling of either image (up to
    ``eps``), so predicted and observed intensities need no common scale.
    ``std_region="box"`` takes the standard deviations over the whole
    zero-filled box instead, as the reference implementation does; that
    multiplies the loss by about ``D^2 / N_masked`` (1.45 for the default
    mask), which matters when reusing its loss weights.
    """
    if pred.shape != obs.shape or pred.ndim < 2:
        raise ValueError(f"correlation_loss: pred {tuple(pred.shape)} and obs "
                         f"{tuple(obs.shape)} must be images of one shape")
    if mask is not None and tuple(mask.shape) not in (tuple(pred.shape[-2:]),
                                                      tuple(pred.shape)):
        raise ValueError(f"correlation_loss: mask {tuple(mask.shape)} does not fit images "
                         f"{tuple(pred.shape)}")
    images_shape = pred.shape
    pred, obs = pred.float().flatten(-2), obs.float().flatten(-2)
    if mask is None:
        weight = torch.ones(pred.shape[-1], device=pred.device)
    elif tuple(mask.shape) == tuple(images_shape[-2:]):
        weight = mask.to(device=pred.device, dtype=pred.dtype).flatten()
    else:
        if std_region != "mask":
            raise ValueError("correlation_loss: per-image weights need std_region='mask'")
        return _weighted_correlation_loss(pred, obs, mask.to(pred.device, pred.dtype)
                                          .flatten(-2), eps)
    n_masked = weight.sum()
    pred, obs = pred * weight, obs * weight
    dots = (pred * obs).sum(-1)
    if std_region == "mask":
        std_p, std_g = _masked_std(pred, weight, n_masked), _masked_std(obs, weight, n_masked)
    elif std_region == "box":
        std_p, std_g = pred.std(-1), obs.std(-1)
    else:
        raise ValueError("correlation_loss: std_region must be 'mask' or 'box', "
                         f"got {std_region!r}")
    return -dots / ((std_g + eps) * (std_p + eps)) / n_masked


def _masked_std(x, weight, n):
    """Unbiased std of the masked pixels of ``x`` (already zero outside), two-pass."""
    mean = x.sum(-1, keepdim=True) / n
    centred = (x - mean) * weight
    return torch.sqrt(centred.square().sum(-1) / (n - 1))


def _weighted_correlation_loss(pred, obs, weight, eps):
    """``correlation_loss`` with weights (B, P) in [0, 1] per image: sums
    and (unbiased, two-pass) standard deviations weighted by ``w``, ``N``
    the sum of the weights; for 0/1 weights the same value as the mask
    path."""
    n = weight.sum(-1)
    dots = (weight * pred * obs).sum(-1)

    def std(x):
        mean = (weight * x).sum(-1, keepdim=True) / n[..., None]
        return torch.sqrt((weight * (x - mean).square()).sum(-1) / (n - 1))
    return -dots / ((std(obs) + eps) * (std(pred) + eps)) / n


# ------------------------------------------------------- structural restraints

def pair_distances(coords, pairs):
    """Distances (B, P) between the residues of ``pairs`` (P, 2) in ``coords`` (B, N, 3).

    The square root is taken of a value clamped at 1e-12 so that gradients
    stay finite when two residues coincide (such a pair passes no gradient).
    """
    batch_shape = coords.shape[:-2]
    d = _pair_columns(coords, pairs)                           # (P, M)
    return d.t().reshape(batch_shape + (pairs.shape[0],))


def _pair_columns(coords, pairs):
    """Distances (P, M) of ``pairs`` in ``coords`` (..., N, 3), the M
    structures of the batch along the columns: the restraints reduce them
    in this layout (pair-major, as ``_PairDistances`` computes them), so no
    step transposes a (P, M) array or its gradient."""
    flat = coords.reshape((-1,) + tuple(coords.shape[-2:]))
    return _PairDistances.apply(flat, pairs)


class _PairDistances(torch.autograd.Function):
    """``d[p, m] = |x[m, i_p] - x[m, j_p]|`` (P, M) for coordinates (M, N, 3).

    Residues are laid out (N, 3 M), so the pairs' ends are two gathers of
    whole rows and the backward pass one ``index_add_`` of rows: several
    times faster on a CPU than gathering along the residue axis (and its
    scatter-add) with autograd's square, sum, clamp and root on top.
    """

    @staticmethod
    def forward(ctx, coords, pairs):
        M, N = coords.shape[:2]
        rows = coords.permute(1, 2, 0).reshape(N, 3 * M)
        diff = (rows.index_select(0, pairs[:, 0]) - rows.index_select(0, pairs[:, 1])
                ).view(-1, 3, M)                               # (P, 3, M)
        squared = diff.square().sum(1)
        d = squared.clamp_min(1e-12).sqrt_()
        ctx.save_for_backward(pairs, diff, d, squared >= 1e-12)
        ctx.N = N
        return d

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        pairs, diff, d, live = ctx.saved_tensors
        P, _, M = diff.shape
        scale = grad.div(d).mul_(live)                             # (P, M)
        step = diff.mul(scale.unsqueeze(1)).view(P, 3 * M)
        rows = diff.new_zeros(ctx.N, 3 * M).index_add_(0, pairs[:, 0], step)
        rows.index_add_(0, pairs[:, 1], step, alpha=-1)
        return rows.view(ctx.N, 3, M).permute(2, 0, 1), None


def _pair_keys(pairs, n):
    """Unordered pair (i, j) -> one integer ``min * n + max``."""
    pairs = np.sort(pairs, axis=1)
    return pairs[:, 0].astype(np.int64) * n + pairs[:, 1]


def _without(pairs, excluded, n):
    """``pairs`` minus those in ``excluded`` (either orientation)."""
    if len(pairs) == 0 or len(excluded) == 0:
        return pairs
    return pairs[~np.isin(_pair_keys(pairs, n), _pair_keys(excluded, n))]


def _pairs_within(coords, cutoff):
    """All pairs i < j with distance <= cutoff, (P, 2) int64, sorted."""
    pairs = cKDTree(coords).query_pairs(float(cutoff), output_type="ndarray")
    pairs = pairs.astype(np.int64).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _distances(coords, pairs):
    return np.linalg.norm(coords[pairs[:, 0]] - coords[pairs[:, 1]], axis=1)


class StructuralRestraints(nn.Module):
    """Continuity, elastic-network and clash restraints built once from the reference.

    Pairs (index tensors, moved with ``.to(device)``):

    * continuity: the given ``bonds`` (consecutive residues of one chain),
      target = reference distance;
    * elastic network: same-chain pairs with reference distance
      <= ``elastic_cutoff`` (12 Angstrom), minus the bonds; with
      ``elastic_tolerance`` > 0 an edge costs nothing within that many
      Angstrom of its reference length (a flat-bottomed well), so thermal
      differences from the reference are not pulled back;
    * clash: pairs of any chains with reference distance in ``clash_range``
      ([4, 10] Angstrom, inclusive), minus the bonds. Chains are not
      separated, because residues of two chains can clash as well as two of
      one chain (the reference implementation does the same).

    ``forward(coords)`` returns all three losses in a dict. The pair lists
    are buffers (they follow ``.to(device)``) but not part of the state dict:
    they are rebuilt from the reference model.
    """

    def __init__(self, ref_coords, chain_index, bonds, elastic_cutoff=12.0,
                 clash_range=(4.0, 10.0), quantile=0.99, prune_statistic="error",
                 elastic_tolerance=0.0):
        super().__init__()
        if not float(elastic_tolerance) >= 0:
            raise ValueError("StructuralRestraints: elastic_tolerance must be >= 0, "
                             f"got {elastic_tolerance}")
        self.elastic_tolerance = float(elastic_tolerance)
        coords = np.asarray(ref_coords, dtype=np.float64)
        chain_index = np.asarray(chain_index)
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        n = self._check_inputs(coords, chain_index, bonds)
        if prune_statistic not in ("error", "squared_error"):
            raise ValueError("StructuralRestraints: prune_statistic must be 'error' or "
                             f"'squared_error', got {prune_statistic!r}")
        lo, hi = (float(v) for v in clash_range)
        if not 0 <= lo <= hi or elastic_cutoff <= 0:
            raise ValueError(f"StructuralRestraints: invalid elastic_cutoff={elastic_cutoff} "
                             f"or clash_range={clash_range}")
        self.elastic_cutoff, self.clash_range = float(elastic_cutoff), (lo, hi)
        self.quantile, self.prune_statistic = _check_quantile(quantile), prune_statistic

        near = _pairs_within(coords, max(float(elastic_cutoff), hi))
        dist = _distances(coords, near)
        chain_ids, chain_of = np.unique(chain_index, return_inverse=True)
        same_chain = chain_of[near[:, 0]] == chain_of[near[:, 1]]
        elastic = _without(near[same_chain & (dist <= elastic_cutoff)], bonds, n)
        clash = _without(near[(dist >= lo) & (dist <= hi)], bonds, n)

        self._register_pairs("bond", bonds, coords)
        self._register_pairs("elastic", elastic, coords)
        self._register_pairs("clash", clash, coords)
        self.register_buffer("all_pairs", torch.cat([self.bond_pairs, self.elastic_pairs,
                                                     self.clash_pairs]), persistent=False)
        self.split_sizes = (len(bonds), len(elastic), len(clash))
        # edges grouped by chain for the per-chain pruning quantile
        edge_chain = chain_of[elastic[:, 0]]
        present, edge_group, counts = np.unique(edge_chain, return_inverse=True, return_counts=True)
        edge_group = torch.as_tensor(edge_group.reshape(-1), dtype=torch.long)
        self.register_buffer("elastic_group", edge_group, persistent=False)
        self.register_buffer("group_counts", torch.as_tensor(counts, dtype=torch.long),
                             persistent=False)
        self.group_chains = chain_ids[present].tolist()

    @classmethod
    def from_coarse_model(cls, model, **kwargs):
        """Build from any object with ``coords``, ``chain_index`` and ``bonds``."""
        return cls(model.coords, model.chain_index, model.bonds, **kwargs)

    @staticmethod
    def _check_inputs(coords, chain_index, bonds):
        if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) < 1:
            raise ValueError(f"StructuralRestraints: reference coordinates must be (N, 3), "
                             f"got {coords.shape}")
        if not np.isfinite(coords).all():
            raise ValueError("StructuralRestraints: reference coordinates are not all finite")
        n = len(coords)
        if chain_index.shape != (n,):
            raise ValueError(f"StructuralRestraints: chain_index must be ({n},), "
                             f"got {chain_index.shape}")
        if len(bonds):
            if bonds.min() < 0 or bonds.max() >= n or (bonds[:, 0] == bonds[:, 1]).any():
                raise ValueError(f"StructuralRestraints: bonds must join two distinct residues "
                                 f"among 0..{n - 1}")
            if (chain_index[bonds[:, 0]] != chain_index[bonds[:, 1]]).any():
                raise ValueError("StructuralRestraints: a bond joins residues of two chains")
        return n

    def _register_pairs(self, name, pairs, coords):
        pairs = torch.as_tensor(pairs, dtype=torch.long).reshape(-1, 2)
        ref = torch.as_tensor(_distances(coords, pairs.numpy()), dtype=torch.float32)
        self.register_buffer(f"{name}_pairs", pairs, persistent=False)
        self.register_buffer(f"{name}_ref", ref, persistent=False)

    def counts(self):
        """Numbers of continuity, elastic and clash pairs."""
        return {"continuity": len(self.bond_pairs), "elastic": len(self.elastic_pairs),
                "clash": len(self.clash_pairs)}

    # ----------------------------------------------------------------- losses

    def continuity(self, coords):
        """Mean over batch and bonds of ``(d - d_ref)^2`` for consecutive residues."""
        return self._continuity(_pair_columns(coords.float(), self.bond_pairs))

    def elastic(self, coords, quantile=None, reduce_fn=None):
        """Elastic-network loss with per-chain pruning: ``(loss, kept_fraction)``.

        Per edge, the error ``d - d_ref`` (or its square, with
        ``prune_statistic="squared_error"`` as in the reference code) has a
        variance over the batch; within each chain the edges whose variance
        is above the chain's ``quantile`` of variances (linear interpolation,
        as ``torch.quantile``) are dropped, freeing genuinely moving edges.
        The loss is the mean of ``(d - d_ref)^2`` over batch and kept edges
        (of ``(|d - d_ref| - tolerance)^2`` beyond the tolerance, if any).

        ``reduce_fn`` turns per-rank sums into global ones for a variance over
        the global batch: it receives a float64 tensor (3, E) of
        ``[count, sum, sum of squares]`` over the local batch and must return
        the same sums over all ranks, e.g.
        ``lambda t: (torch.distributed.all_reduce(t), t)[1]``.
        """
        d = _pair_columns(coords.float(), self.elastic_pairs)
        return self._elastic(d, quantile, reduce_fn)

    def clash(self, coords, threshold=None):
        """Mean of ``(threshold - d)^2`` over the (batch, pair) entries closer than
        ``threshold`` (default: the lower end of ``clash_range``); 0 when none is."""
        return self._clash(_pair_columns(coords.float(), self.clash_pairs), threshold)

    def forward(self, coords, quantile=None, reduce_fn=None, clash_threshold=None):
        """All restraints from one distance computation: dict of ``continuity``,
        ``elastic``, ``elastic_kept`` (fraction of edges kept) and ``clash``."""
        d = _pair_columns(coords.float(), self.all_pairs)       # (P, M)
        d_bond, d_elastic, d_clash = d.split(self.split_sizes)
        elastic, kept = self._elastic(d_elastic, quantile, reduce_fn)
        return {"continuity": self._continuity(d_bond), "elastic": elastic,
                "elastic_kept": kept, "clash": self._clash(d_clash, clash_threshold)}

    # The private terms take distances (P, M): pairs along the rows.
    def _continuity(self, d):
        if d.shape[0] == 0:
            return d.sum()
        return (d - self.bond_ref[:, None]).square().mean()

    def _elastic(self, d, quantile, reduce_fn):
        quantile = self.quantile if quantile is None else _check_quantile(quantile)
        if d.shape[0] == 0:
            return d.sum(), d.new_tensor(1.0)
        err = d - self.elastic_ref[:, None]
        if self.elastic_tolerance:
            sq = torch.relu(err.abs() - self.elastic_tolerance).square()
        else:
            sq = err.square()
        stat = err if self.prune_statistic == "error" else sq
        keep = self._keep_mask(stat.detach().t(), quantile, reduce_fn)
        kept = keep.sum()
        return (sq * keep[:, None]).sum() / (kept * sq.shape[1]), kept / keep.numel()

    def _clash(self, d, threshold):
        threshold = self.clash_range[0] if threshold is None else float(threshold)
        penalty = torch.relu(threshold - d).square()
        return penalty.sum() / (d < threshold).sum().clamp_min(1)

    @torch.no_grad()
    def _keep_mask(self, stat, quantile, reduce_fn):
        """Edges to keep, from a per-(sample, edge) statistic (B, E) (a
        transposed view of the edges' (E, B) rows is reduced along them)."""
        stat = stat.reshape(-1, stat.shape[-1]).t().double()       # (E, B)
        sums = torch.stack([torch.full_like(stat[:, 0], stat.shape[1]), stat.sum(1),
                            stat.square().sum(1)])
        if reduce_fn is not None:
            sums = reduce_fn(sums)
        n, s1, s2 = sums[0], sums[1], sums[2]
        var = ((s2 - s1 * s1 / n) / (n - 1)).clamp_min(0)
        var = torch.where(n >= 2, var, torch.zeros_like(var))  # undefined: keep every edge
        return var <= self._chain_thresholds(var, quantile)[self.elastic_group]

    def _chain_thresholds(self, var, quantile):
        """Per chain, the largest variance not above the chain's ``quantile``.

        With linear interpolation the quantile lies between the sorted values
        at ``floor(q (n - 1))`` and the next one, so ``var <= quantile`` keeps
        exactly the values up to the first of them: that value is returned.
        Vectorised over chains (one sort, no loop).
        """
        by_var = torch.argsort(var)
        order = by_var[torch.argsort(self.elastic_group[by_var], stable=True)]
        counts = self.group_counts
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.floor(quantile * (counts - 1).double()).long()
        return var[order[starts + rank]]


def _check_quantile(quantile):
    quantile = float(quantile)
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"elastic-network pruning quantile must be in [0, 1], got {quantile}")
    return quantile


# ------------------------------------------------------------------------ KL

def gaussian_kl(mu, logvar, free_bits=3.0, reduction="sum", reduce_fn=None):
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, shape (B,), with free bits.

    Standard free bits (Kingma et al. 2016): each dimension d costs
    ``max(mean_b KL[b, d], free_bits)`` nats, where the mean runs over the
    batch. A dimension below the floor contributes the constant
    ``free_bits`` to every sample and no gradient; above it, each sample
    contributes its own ``KL[b, d]``. So ``gaussian_kl(...).mean()`` equals
    ``sum_d max(mean_b KL[b, d], free_bits)``. ``free_bits=0`` gives the plain
    analytic KL. ``reduction`` over dimensions: ``"sum"`` (the KL in nats)
    or ``"mean"`` (the reference code's scale: divided by the latent
    dimension; it also clamps each (sample, dimension) entry separately
    rather than the batch mean).

    ``reduce_fn`` makes the batch mean a global one under DDP: it receives a
    float64 tensor (2, latent_dim) of ``[count, sum of KL]`` over the local
    batch and must return the sums over all ranks (an all-reduce).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu {tuple(mu.shape)} and logvar "
                         f"{tuple(logvar.shape)} differ")
    kl = kl_to_standard_normal(mu, logvar)
    if free_bits > 0:
        flat = kl.detach().double().reshape(-1, kl.shape[-1])
        sums = torch.stack([torch.full_like(flat[0], flat.shape[0]), flat.sum(0)])
        if reduce_fn is not None:
            sums = reduce_fn(sums)
        active = sums[1] / sums[0] >= free_bits
        kl = torch.where(active, kl, torch.full_like(kl, float(free_bits)))
    if reduction == "sum":
        return kl.sum(-1)
    if reduction == "mean":
        return kl.mean(-1)
    raise ValueError(f"gaussian_kl: reduction must be 'sum' or 'mean', got {reduction!r}")


def beta_schedule(step, warmup_steps=10000, beta_max=0.5):
    """KL weight rising linearly from 0 at step 0 to ``beta_max`` at ``warmup_steps``."""
    if warmup_steps <= 0:
        return float(beta_max)
    return float(beta_max) * min(max(float(step), 0.0) / warmup_steps, 1.0)
