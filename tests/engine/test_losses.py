"""Tests of cryostar_boltz.engine.losses: image, restraints, KL."""
import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from cryostar_boltz.engine.losses import (StructuralRestraints, beta_schedule, correlation_loss,
                                          gaussian_kl, pair_distances)


def disk(D, radius):
    axis = torch.arange(D) - D // 2
    return axis[:, None] ** 2 + axis[None, :] ** 2 <= radius ** 2


def chain_structure(n_per_chain=(30, 25), seed=0):
    """Random-walk chains (3.8 A steps) packed in a small box; consecutive bonds."""
    rng = np.random.default_rng(seed)
    coords, chains, bonds, start = [], [], [], 0
    for c, n in enumerate(n_per_chain):
        steps = rng.normal(size=(n, 3))
        steps *= 3.8 / np.linalg.norm(steps, axis=1, keepdims=True)
        steps[n // 2] *= 5.0 / 3.8     # one stretched bond, inside the clash range
        coords.append(np.cumsum(steps, axis=0) + rng.normal(scale=4.0, size=3))
        chains += [c] * n
        bonds += [(start + i, start + i + 1) for i in range(n - 1)]
        start += n
    return np.concatenate(coords), np.array(chains), np.array(bonds)


def adk_ca(adk_dir):
    """CA coordinates of the closed adenylate kinase (one chain, consecutive residues)."""
    lines = [ln for ln in (adk_dir / "adk_closed.pdb").read_text().splitlines()
             if ln.startswith("ATOM") and ln[12:16].strip() == "CA"]
    coords = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])] for ln in lines])
    n = len(coords)
    return coords, np.zeros(n, dtype=int), np.column_stack([np.arange(n - 1), np.arange(1, n)])


def brute_pairs(coords, chains, bonds, lo, hi, same_chain):
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    i, j = np.triu_indices(len(coords), k=1)
    sel = (d[i, j] >= lo) & (d[i, j] <= hi)
    if same_chain:
        sel &= chains[i] == chains[j]
    bonded = {tuple(sorted(b)) for b in bonds.tolist()}
    return {(a, b) for a, b in zip(i[sel].tolist(), j[sel].tolist()) if (a, b) not in bonded}


def as_set(pairs):
    return {tuple(sorted(p)) for p in pairs.tolist()}


# ------------------------------------------------------------------ correlation

def test_correlation_of_an_image_with_itself():
    D = 32
    mask = disk(D, 0.9375 * D / 2)
    g = torch.randn(3, D, D, generator=torch.Generator().manual_seed(0))
    n = mask.sum().item()
    values = g[:, mask].double()
    expected = -(values ** 2).sum(1) / ((values.std(1) + 1e-5) ** 2) / n
    loss = correlation_loss(g, g, mask)
    assert loss.shape == (3,)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)
    centred = g - g[:, mask].mean(1)[:, None, None]
    assert correlation_loss(centred, centred, mask).numpy() == pytest.approx(-(n - 1) / n, rel=1e-4)


def test_correlation_is_scale_invariant_and_ignores_pixels_outside_the_mask():
    D = 24
    gen = torch.Generator().manual_seed(1)
    mask = disk(D, 10)
    p, g = torch.randn(2, D, D, generator=gen), torch.randn(2, D, D, generator=gen)
    base = correlation_loss(p, g, mask)
    torch.testing.assert_close(correlation_loss(p * 37.0, g, mask), base, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(correlation_loss(p, g * 0.2, mask), base, rtol=1e-3, atol=1e-6)
    outside = p.clone()
    outside[:, ~mask] = 1e3
    torch.testing.assert_close(correlation_loss(outside, g, mask), base)
    assert (correlation_loss(p, p, mask) < base).all()


def test_correlation_box_std_matches_the_reference_formula():
    D = 16
    gen = torch.Generator().manual_seed(2)
    mask = disk(D, 7)
    p, g = torch.randn(2, D, D, generator=gen), torch.randn(2, D, D, generator=gen)
    pm, gm = (p * mask).flatten(1), (g * mask).flatten(1)
    expected = -(pm * gm).sum(1) / (gm.std(1) + 1e-5) / (pm.std(1) + 1e-5) / mask.sum()
    torch.testing.assert_close(correlation_loss(p, g, mask, std_region="box"), expected)
    with pytest.raises(ValueError):
        correlation_loss(p, g, mask, std_region="ring")
    with pytest.raises(ValueError):
        correlation_loss(p, g, disk(D + 2, 7))


# ------------------------------------------------------------------- restraints

def test_pair_lists_match_brute_force_on_random_chains():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    elastic = brute_pairs(coords, chains, bonds, 0.0, 12.0, same_chain=True)
    clash = brute_pairs(coords, chains, bonds, 4.0, 10.0, same_chain=False)
    assert as_set(restraints.elastic_pairs.numpy()) == elastic
    assert as_set(restraints.clash_pairs.numpy()) == clash
    assert len(bonds) == restraints.counts()["continuity"]
    assert (restraints.bond_ref > 4.0).sum() == 2
    assert restraints.counts() == {"continuity": len(bonds), "elastic": len(elastic),
                                   "clash": len(clash)}
    # inter-chain pairs exist in the clash list but never in the elastic network
    cross = chains[restraints.clash_pairs[:, 0]] != chains[restraints.clash_pairs[:, 1]]
    assert cross.any()
    np.testing.assert_allclose(restraints.elastic_ref.numpy(),
                               np.linalg.norm(coords[restraints.elastic_pairs[:, 0]]
                                              - coords[restraints.elastic_pairs[:, 1]], axis=1),
                               rtol=1e-6)


def test_pair_lists_match_brute_force_on_adenylate_kinase(adk_dir):
    coords, chains, bonds = adk_ca(adk_dir)
    assert len(coords) == 214
    restraints = StructuralRestraints(coords, chains, bonds, elastic_cutoff=12.0)
    assert as_set(restraints.elastic_pairs.numpy()) == brute_pairs(coords, chains, bonds,
                                                                   0.0, 12.0, True)
    assert as_set(restraints.clash_pairs.numpy()) == brute_pairs(coords, chains, bonds,
                                                                 4.0, 10.0, False)


def test_continuity_is_zero_at_reference_and_grows_when_a_residue_moves():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    ref = torch.as_tensor(coords, dtype=torch.float32)[None].repeat(2, 1, 1)
    assert restraints.continuity(ref).item() == pytest.approx(0.0, abs=1e-8)
    moved = ref.clone()
    moved[1, 10] += torch.tensor([5.0, 0.0, 0.0])
    changed = [torch.linalg.norm(moved[1, 10] - moved[1, k])
               - torch.linalg.norm(ref[1, 10] - ref[1, k]) for k in (9, 11)]
    expected = sum(c ** 2 for c in changed) / (2 * len(bonds))
    assert expected > 1e-2
    assert restraints.continuity(moved).item() == pytest.approx(expected.item(), rel=1e-4)


def test_clash_is_zero_at_reference_and_positive_when_residues_are_pushed_together():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    ref = torch.as_tensor(coords, dtype=torch.float32)[None]
    assert restraints.clash(ref).item() == 0.0
    i, j = restraints.clash_pairs[0].tolist()
    pushed = ref.clone()
    direction = (pushed[0, j] - pushed[0, i]) / torch.linalg.norm(pushed[0, j] - pushed[0, i])
    pushed[0, j] = pushed[0, i] + 1.5 * direction
    d = pair_distances(pushed, restraints.clash_pairs)[0]
    close = d < 4.0
    assert close.any()
    expected = ((4.0 - d[close]) ** 2).mean()
    torch.testing.assert_close(restraints.clash(pushed), expected)
    assert restraints.clash(pushed).item() >= (4.0 - 1.5) ** 2 / close.sum().item()


def moving_batch(coords, B=64, seed=3):
    """A batch where each residue jitters with its own amplitude, so edges differ in variance."""
    gen = torch.Generator().manual_seed(seed)
    ref = torch.as_tensor(coords, dtype=torch.float32)
    scale = torch.rand(len(coords), 1, generator=gen) * 2.0
    return ref + torch.randn(B, *ref.shape, generator=gen) * scale


@pytest.mark.parametrize("quantile", [0.99, 0.8, 0.5])
def test_pruning_drops_exactly_the_top_variance_edges_per_chain(quantile):
    coords, chains, bonds = chain_structure((40, 35, 5))
    restraints = StructuralRestraints(coords, chains, bonds, quantile=quantile)
    batch = moving_batch(coords)
    err = (pair_distances(batch, restraints.elastic_pairs) - restraints.elastic_ref).double()
    var = err.var(0).numpy()
    edge_chain = chains[restraints.elastic_pairs[:, 0].numpy()]
    expected_keep = np.zeros(len(var), dtype=bool)
    for c in np.unique(edge_chain):
        sel = edge_chain == c
        v = var[sel]
        n_keep = int(np.floor(quantile * (len(v) - 1))) + 1   # distinct variances
        order = np.argsort(v)
        keep_c = np.zeros(len(v), dtype=bool)
        keep_c[order[:n_keep]] = True
        assert np.array_equal(keep_c, v <= np.quantile(v, quantile))
        expected_keep[sel] = keep_c
    keep = restraints._keep_mask(err, quantile, None).numpy()
    assert np.array_equal(keep, expected_keep)

    loss, kept = restraints.elastic(batch)
    sq = err.square().numpy()
    assert loss.item() == pytest.approx(sq[:, expected_keep].mean(), rel=1e-5)
    assert kept.item() == pytest.approx(expected_keep.mean())


def test_pruning_keeps_everything_at_quantile_one_and_on_a_single_sample():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    batch = moving_batch(coords, B=16)
    assert restraints.elastic(batch, quantile=1.0)[1].item() == 1.0
    assert restraints.elastic(batch[:1])[1].item() == 1.0
    ref = torch.as_tensor(coords, dtype=torch.float32)[None]
    assert restraints.elastic(ref)[0].item() == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError):
        restraints.elastic(batch, quantile=1.5)


def test_pruning_over_a_global_batch_through_reduce_fn():
    """Two 'ranks' holding half a batch each prune exactly like one rank with all of it."""
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds, quantile=0.8)
    batch = moving_batch(coords, B=32)
    first, second = batch[:16], batch[16:]
    err = lambda b: pair_distances(b, restraints.elastic_pairs) - restraints.elastic_ref
    stats = err(second).double()
    other = torch.stack([torch.full_like(stats[0], 16), stats.sum(0), stats.square().sum(0)])
    keep_global = restraints._keep_mask(err(batch), 0.8, None)
    keep_split = restraints._keep_mask(err(first), 0.8, lambda sums: sums + other)
    assert torch.equal(keep_split, keep_global)
    assert not torch.equal(restraints._keep_mask(err(first), 0.8, None), keep_global)


def test_squared_error_statistic_prunes_on_squared_error_variance():
    coords, chains, bonds = chain_structure((50,))
    restraints = StructuralRestraints(coords, chains, bonds, quantile=0.8,
                                      prune_statistic="squared_error")
    batch = moving_batch(coords) + 3.0 * torch.rand(1, len(coords), 1)
    sq = (pair_distances(batch, restraints.elastic_pairs) - restraints.elastic_ref).square()
    var = sq.double().var(0).numpy()
    expected = var <= np.quantile(var, 0.8)
    loss, kept = restraints.elastic(batch)
    assert kept.item() == pytest.approx(expected.mean())
    assert loss.item() == pytest.approx(sq.numpy()[:, expected].mean(), rel=1e-5)


def test_restraint_gradients_are_finite_even_for_coincident_residues():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    batch = moving_batch(coords, B=8)
    i, j = restraints.clash_pairs[0].tolist()
    k, m = restraints.elastic_pairs[0].tolist()
    batch[:, j] = batch[:, i]
    batch[:, m] = batch[:, k]
    batch.requires_grad_(True)
    out = restraints(batch)
    total = out["continuity"] + out["elastic"] + out["clash"]
    total.backward()
    assert torch.isfinite(total) and out["clash"].item() > 0
    assert torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0


def test_restraints_reject_bad_input():
    coords, chains, bonds = chain_structure()
    with pytest.raises(ValueError, match="two chains"):
        StructuralRestraints(coords, chains, np.array([[29, 30]]))
    with pytest.raises(ValueError, match="chain_index"):
        StructuralRestraints(coords, chains[:-1], bonds)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        StructuralRestraints(coords[:, :2], chains, bonds)
    with pytest.raises(ValueError, match="bonds"):
        StructuralRestraints(coords, chains, np.array([[0, len(coords)]]))


def test_from_coarse_model_uses_its_fields():
    coords, chains, bonds = chain_structure()

    class Coarse:
        pass

    model = Coarse()
    model.coords, model.chain_index, model.bonds = coords, chains, bonds
    restraints = StructuralRestraints.from_coarse_model(model, elastic_cutoff=8.0)
    assert restraints.counts()["elastic"] == len(brute_pairs(coords, chains, bonds, 0, 8.0, True))


# ---------------------------------------------------------------------------- KL

def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(10, 8, generator=gen), torch.randn(10, 8, generator=gen)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(8), torch.ones(8)), 1)
    torch.testing.assert_close(gaussian_kl(mu, logvar, free_bits=0.0), kl_divergence(q, p))
    torch.testing.assert_close(gaussian_kl(mu, logvar, free_bits=0.0, reduction="mean"),
                               kl_divergence(q, p) / 8)


def test_free_bits_clamp_the_batch_mean_per_dimension():
    mu = torch.zeros(6, 3)
    mu[:, 0] = torch.linspace(2.0, 4.0, 6)     # mean KL about 5.9 nats: above the floor
    mu[:, 1] = torch.linspace(-1.0, 1.0, 6)    # below 3 nats
    mu.requires_grad_(True)
    logvar = torch.zeros(6, 3, requires_grad=True)
    plain = 0.5 * mu.detach() ** 2
    kl = gaussian_kl(mu, logvar, free_bits=3.0)
    expected_mean = plain[:, 0].mean() + 3.0 + 3.0
    assert kl.mean().item() == pytest.approx(expected_mean.item(), rel=1e-6)
    torch.testing.assert_close(kl, plain[:, 0] + 6.0)
    kl.sum().backward()
    assert (mu.grad[:, 0] != 0).all()
    assert (mu.grad[:, 1:] == 0).all() and (logvar.grad[:, 1:] == 0).all()


def test_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


def test_beta_schedule_rises_linearly_then_stays():
    assert beta_schedule(0) == 0.0
    assert beta_schedule(5000) == pytest.approx(0.25)
    assert beta_schedule(10000) == pytest.approx(0.5)
    assert beta_schedule(50000) == pytest.approx(0.5)
    assert beta_schedule(7, warmup_steps=0, beta_max=0.1) == pytest.approx(0.1)


def test_all_losses_have_finite_gradients():
    D = 16
    gen = torch.Generator().manual_seed(5)
    pred = torch.randn(4, D, D, generator=gen, requires_grad=True)
    obs = torch.randn(4, D, D, generator=gen)
    mu = torch.randn(4, 8, generator=gen, requires_grad=True)
    logvar = torch.randn(4, 8, generator=gen, requires_grad=True)
    total = correlation_loss(pred, obs, disk(D, 7)).mean() + gaussian_kl(mu, logvar).mean()
    total.backward()
    for tensor in (pred, mu, logvar):
        assert torch.isfinite(tensor.grad).all()
    assert pred.grad.abs().sum() > 0


def test_forward_equals_the_separate_restraints():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds, quantile=0.8)
    batch = moving_batch(coords, B=8)
    out = restraints(batch, clash_threshold=4.5)
    torch.testing.assert_close(out["continuity"], restraints.continuity(batch))
    loss, kept = restraints.elastic(batch)
    torch.testing.assert_close(out["elastic"], loss)
    torch.testing.assert_close(out["elastic_kept"], kept)
    torch.testing.assert_close(out["clash"], restraints.clash(batch, threshold=4.5))


def test_restraints_without_any_pairs_are_zero():
    coords = np.array([[0.0, 0, 0], [50.0, 0, 0], [0, 50.0, 0]])
    restraints = StructuralRestraints(coords, np.arange(3), np.zeros((0, 2), dtype=int))
    assert restraints.counts() == {"continuity": 0, "elastic": 0, "clash": 0}
    batch = torch.as_tensor(coords, dtype=torch.float32)[None].requires_grad_(True)
    out = restraints(batch)
    total = out["continuity"] + out["elastic"] + out["clash"]
    assert total.item() == 0.0 and out["elastic_kept"].item() == 1.0
    total.backward()
    assert torch.count_nonzero(batch.grad) == 0


def test_pair_lists_stay_out_of_the_state_dict():
    coords, chains, bonds = chain_structure()
    restraints = StructuralRestraints(coords, chains, bonds)
    assert restraints.state_dict() == {}
    assert any(name == "elastic_pairs" for name, _ in restraints.named_buffers())


def test_free_bits_over_a_global_batch_through_reduce_fn():
    """A dimension below the floor locally but above it over the global batch stays active."""
    mu_local = torch.zeros(4, 2)
    mu_other = torch.zeros(4, 2)
    mu_other[:, 0] = 4.0                       # the other rank carries the signal
    logvar = torch.zeros(4, 2)
    other = 0.5 * mu_other.double() ** 2
    reduce_fn = lambda sums: sums + torch.stack([torch.full((2,), 4.0, dtype=torch.float64),
                                                 other.sum(0)])
    local_only = gaussian_kl(mu_local, logvar, free_bits=3.0)
    global_batch = gaussian_kl(mu_local, logvar, free_bits=3.0, reduce_fn=reduce_fn)
    torch.testing.assert_close(local_only, torch.full((4,), 6.0))
    torch.testing.assert_close(global_batch, torch.full((4,), 3.0))


def test_elastic_tolerance_is_a_flat_bottomed_well():
    from cryostar_boltz.engine.losses import StructuralRestraints
    ref = torch.tensor([[0.0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [11.4, 0, 0]])
    bonds = [[0, 1], [1, 2], [2, 3]]
    flat = StructuralRestraints(ref, [0] * 4, bonds, quantile=1.0, elastic_tolerance=0.5)
    plain = StructuralRestraints(ref, [0] * 4, bonds, quantile=1.0)
    stretched = ref.clone()
    stretched[2:, 0] += 0.4                       # edges (0,2), (0,3), (1,3): +0.4 A
    assert flat(stretched[None])["elastic"] == 0
    assert plain(stretched[None])["elastic"] == pytest.approx(0.4 ** 2, rel=1e-4)
    stretched[3, 0] += 0.6                        # (0,3) and (1,3) now +1.0 A
    assert flat(stretched[None])["elastic"] == pytest.approx(2 * 0.5 ** 2 / 3, rel=1e-4)
    with pytest.raises(ValueError, match="elastic_tolerance"):
        StructuralRestraints(ref, [0] * 4, bonds, elastic_tolerance=-1)



@pytest.mark.parametrize("tolerance", [0.0, 0.3])
def test_restraint_values_and_gradients_match_the_per_structure_formulas(tolerance):
    # The restraints reduce their distances pair-major (P, B); values and
    # gradients are those of the formulas on the (B, P) distances.
    coords, chains, bonds = chain_structure((30, 25))
    restraints = StructuralRestraints(coords, chains, bonds, quantile=0.8,
                                      elastic_tolerance=tolerance)
    batch = moving_batch(coords, B=12, seed=5)
    leaf = batch.clone().requires_grad_()
    terms = restraints(leaf)
    (terms["continuity"] + 2 * terms["elastic"] + 3 * terms["clash"]).backward()

    ref = batch.clone().requires_grad_()
    d = lambda pairs: pair_distances(ref, pairs)
    continuity = (d(restraints.bond_pairs) - restraints.bond_ref).square().mean()
    err = d(restraints.elastic_pairs) - restraints.elastic_ref
    sq = torch.relu(err.abs() - tolerance).square()
    var = err.detach().double().var(0)
    keep = torch.zeros_like(var, dtype=torch.bool)
    group = restraints.elastic_group
    for g in range(len(restraints.group_counts)):
        v = var[group == g]
        keep[group == g] = v <= torch.quantile(v, 0.8)
    elastic = (sq * keep).sum() / (keep.sum() * sq.shape[0])
    close = d(restraints.clash_pairs)
    clash = torch.relu(4.0 - close).square().sum() / (close < 4.0).sum().clamp_min(1)
    assert float(clash.detach()) > 0
    (continuity + 2 * elastic + 3 * clash).backward()
    for name, expected in (("continuity", continuity), ("elastic", elastic),
                           ("clash", clash)):
        torch.testing.assert_close(terms[name], expected.detach(), rtol=1e-5, atol=0,
                                   msg=name)
    assert terms["elastic_kept"].item() == pytest.approx(keep.double().mean().item())
    torch.testing.assert_close(leaf.grad, ref.grad, rtol=1e-5,
                               atol=1e-6 * float(ref.grad.abs().max()))
