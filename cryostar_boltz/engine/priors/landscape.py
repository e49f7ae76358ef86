"""Basins of a continuous prior's free-energy landscape F(z), p(z) = exp(-F(z)) / Z.

A basin is the set of latents whose steepest descent of F ends in the same
minimum, once minima separated by a low barrier are merged: the states of
the prior, found without a separate clustering. :func:`find_basins`:

1. descent of F (torch autograd) from many starts, prior samples and the
   particles' posterior means: a batched L-BFGS, each start with its own
   curvature history and backtracking (Armijo) line search
   (Nocedal and Wright 2006, algorithms 7.4 and 3.1);
2. end points within :data:`SAME_MINIMUM` (relative to the starts' spread)
   are one minimum; a start that stopped on a saddle or a maximum (no
   gradient to follow) is pushed off and descends again;
3. minima are merged by persistence (a watershed of F): taking saddles
   lowest first, two groups merge when the saddle between them (the
   highest F along a path) is less than ``barrier`` nats above the higher
   of the two groups' lowest minima. A saddle is the lower of the highest
   points of the straight segment and of a string relaxed towards the
   minimum-energy path (the simplified string method, E, Ren and
   Vanden-Eijnden 2007): any path's highest point bounds the saddle from
   above, so a merge is never wrong about the path it saw. Given the
   particles, two groups that both hold at least
   :data:`DIP_MIN_PARTICLES` of them are decided by the particles' own
   density instead: they merge exactly when it has no dip of ``barrier``
   nats between them (:func:`particle_dip`). The fitted F errs both ways
   and the data's dip does not depend on the fit: a prior smoother than
   its data (an ebm after a short fit) shows a shallow shoulder where the
   particles show two states, and a prior rougher than its data shows
   barriers inside one state (diagonal mixture components, or a GRBM's
   components of one shared width, tiling an elongated state that lies
   oblique to the axes: 1.6 to 3.2 nats between components where the
   particles' density dips by at most 0.25 nat, on the 1A28 dimer's
   three states).
   Saddles within :data:`SADDLE_TIE` of the lowest are as low: a group
   whose saddles to several others tie joins the nearest. Given the
   particles, a group left with fewer than :data:`DIP_MIN_PARTICLES` of
   them joins the group its lowest saddle leads to: too few to show a
   state of the data, it is a bump of the fitted F;
4. basins come lowest F first, each with the prior's population (fraction
   of prior samples descending into it) and the particles' population
   (fraction of their posterior means).

The barrier threshold, :data:`BARRIER` = 1 nat (one kT): the density at
the saddle is within a factor e of the shallower basin's deepest point. A
dip smaller than thermal energy is not a state of its own (a mixture
fitted to one elongated cloud gives such dips between its components);
two equal Gaussian states of width s are resolved from 3.7 s apart (the
barrier is about D^2 / 8 s^2 - log 2). On the three-state benchmark the
states' basins are 4 to 11 nats deep once the prior is fitted.

Assigning a latent to a basin (:func:`assign`) is the same descent: the
basin of the minimum nearest its end point.

Works on any prior with ``free_energy(z)`` over the continuous latent
(gmm, grbm, ebm); computations in float64 on a copy of the prior.
"""
import copy
import itertools
import math

import numpy as np
import torch

#: Saddle height (nats) above the higher of two basins' lowest minima below
#: which they merge.
BARRIER = 1.0
#: End points closer than this fraction of the starts' RMS spread are one minimum.
SAME_MINIMUM = 1e-2
#: L-BFGS of the descent: iterations, history, gradient-norm tolerance.
MAX_ITERATIONS = 300
HISTORY = 8
GRADIENT_TOLERANCE = 1e-5
#: Images and relaxation steps of the string between two minima.
STRING_IMAGES = 17
STRING_STEPS = 150
#: Points along the straight segment between two minima.
SEGMENT_POINTS = 33
#: Latents descended per block (bounds memory for millions of particles).
CHUNK = 16384
#: The particles' density dip between two groups of minima
#: (:func:`particle_dip`): points along the line, and the fewest particles a
#: group needs for its dip to count.
DIP_POINTS = 101
DIP_MIN_PARTICLES = 50
#: Saddles within this many nats of each other are as low when a group of
#: minima chooses the group it joins (:func:`merge_minima`).
SADDLE_TIE = 0.1


class Landscape:
    """F(z) of a prior as a float64 function with its gradient.

    ``prior``: anything with ``free_energy(z (n, d)) -> (n,)`` and
    ``latent_dim``; a float64 copy is used, the prior is left untouched."""

    def __init__(self, prior):
        model = copy.deepcopy(prior).double().eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.model = model
        self.latent_dim = int(prior.latent_dim)
        try:
            self.device = next(iter(model.parameters())).device
        except StopIteration:
            self.device = torch.device("cpu")

    def tensor(self, z):
        z = z.detach() if torch.is_tensor(z) else torch.as_tensor(np.asarray(z))
        return z.to(device=self.device, dtype=torch.float64)

    def value(self, z):
        """F (n,) of latents z (n, d), no gradient."""
        with torch.no_grad():
            return self.model.free_energy(z)

    def value_and_grad(self, z):
        """(F (n,), dF/dz (n, d)) of latents z (n, d)."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            free = self.model.free_energy(z)
            grad, = torch.autograd.grad(free.sum(), z)
        return free.detach(), grad


# ------------------------------------------------------------------ descent

def descend(landscape, z, max_iterations=MAX_ITERATIONS, tolerance=GRADIENT_TOLERANCE):
    """End points of the descent of F from each start z (n, d), and their F.

    Batched L-BFGS (each start has its own history of ``HISTORY`` pairs)
    with a backtracking line search; a start stops when its gradient norm
    falls below ``tolerance`` or its step stalls. Returns float64 tensors
    (n, d) and (n,)."""
    z = landscape.tensor(z)
    ends, values = [], []
    for start in range(0, len(z), CHUNK):
        end, value = _lbfgs(landscape, z[start:start + CHUNK].clone(), max_iterations,
                            tolerance)
        ends.append(end)
        values.append(value)
    if not ends:
        return z.reshape(0, landscape.latent_dim), z.new_zeros(0)
    return torch.cat(ends), torch.cat(values)


def _lbfgs(landscape, z, max_iterations, tolerance):
    n, d = z.shape
    f, g = landscape.value_and_grad(z)
    s_hist = z.new_zeros(n, HISTORY, d)
    y_hist = z.new_zeros(n, HISTORY, d)
    rho = z.new_zeros(n, HISTORY)            # 0: empty slot
    slot = 0
    active = torch.isfinite(f) & (g.norm(dim=1) > tolerance)
    for _ in range(max_iterations):
        idx = torch.nonzero(active).squeeze(1)
        if len(idx) == 0:
            break
        direction = _two_loop(g[idx], s_hist[idx], y_hist[idx], rho[idx], slot)
        slope = (direction * g[idx]).sum(1)
        bad = ~(slope < 0)
        if bad.any():                         # not a descent direction: plain gradient
            direction[bad] = -g[idx][bad]
            slope[bad] = -(g[idx][bad] ** 2).sum(1)
        # first steps have no curvature: at most one unit of z
        fresh = rho[idx].abs().sum(1) == 0
        scale = torch.where(fresh, 1.0 / direction.norm(dim=1).clamp(min=1.0),
                            torch.ones_like(slope))
        step = scale
        accepted = torch.zeros(len(idx), dtype=torch.bool, device=z.device)
        new_z, new_f = z[idx].clone(), f[idx].clone()
        for _ in range(30):
            todo = ~accepted
            if not todo.any():
                break
            trial = z[idx][todo] + step[todo, None] * direction[todo]
            value = landscape.value(trial)
            ok = torch.isfinite(value) & (value <= f[idx][todo] + 1e-4 * step[todo]
                                          * slope[todo])
            where = torch.nonzero(todo).squeeze(1)
            new_z[where[ok]] = trial[ok]
            new_f[where[ok]] = value[ok]
            accepted[where[ok]] = True
            step[where[~ok]] *= 0.5
        moved = idx[accepted]
        if len(moved):
            f_new, g_new = landscape.value_and_grad(new_z[accepted])
            s = new_z[accepted] - z[moved]
            y = g_new - g[moved]
            sy = (s * y).sum(1)
            keep = sy > 1e-12 * (s.norm(dim=1) * y.norm(dim=1)).clamp(min=1e-300)
            rows = moved[keep]
            s_hist[rows, slot] = s[keep]
            y_hist[rows, slot] = y[keep]
            rho[rows, slot] = 1.0 / sy[keep]
            # rows that skip the update keep an empty slot here
            skipped = moved[~keep]
            rho[skipped, slot] = 0.0
            others = torch.ones(n, dtype=torch.bool, device=z.device)
            others[moved] = False
            rho[others, slot] = 0.0
            z[moved], f[moved], g[moved] = new_z[accepted], f_new, g_new
            stalled = s.norm(dim=1) <= 1e-12 * (1.0 + z[moved].norm(dim=1))
            active[moved[stalled]] = False
        else:
            others = torch.ones(n, dtype=torch.bool, device=z.device)
            rho[others, slot] = 0.0
        active[idx[~accepted]] = False       # no decrease found: at a minimum
        active &= g.norm(dim=1) > tolerance
        slot = (slot + 1) % HISTORY
    return z, f


def _two_loop(g, s_hist, y_hist, rho, slot):
    """L-BFGS direction -H g from the stored pairs (newest = slot - 1)."""
    q = g.clone()
    alphas = []
    order = [(slot - 1 - k) % HISTORY for k in range(HISTORY)]
    for j in order:
        alpha = rho[:, j] * (s_hist[:, j] * q).sum(1)
        q = q - alpha[:, None] * y_hist[:, j]
        alphas.append(alpha)
    newest = order[0]
    yy = (y_hist[:, newest] ** 2).sum(1)
    gamma = torch.where((rho[:, newest] > 0) & (yy > 0),
                        1.0 / (rho[:, newest] * yy).clamp(min=1e-300), torch.ones_like(yy))
    r = gamma[:, None] * q
    for j, alpha in zip(reversed(order), reversed(alphas)):
        beta = rho[:, j] * (y_hist[:, j] * r).sum(1)
        r = r + (alpha - beta)[:, None] * s_hist[:, j]
    return -r


# ------------------------------------------------------------------ minima

def distinct_minima(ends, values, tolerance):
    """Group end points (n, d) within ``tolerance`` of each other, lowest F
    first: (minima (m, d), their F (m,), group of each end point (n,))."""
    order = torch.argsort(values)
    minima, labels = [], torch.full((len(ends),), -1, dtype=torch.long,
                                    device=ends.device)
    for i in order.tolist():
        if labels[i] >= 0:
            continue
        near = ((ends - ends[i]) ** 2).sum(1) <= tolerance ** 2
        labels[near & (labels < 0)] = len(minima)
        minima.append(i)
    index = torch.as_tensor(minima, dtype=torch.long, device=ends.device)
    return ends[index], values[index], labels


def leave_saddles(landscape, minima, values, labels, step, rounds=3):
    """Stationary points that are not minima (a start on a saddle or a
    maximum has no gradient to follow) pushed off: F is tried at ``step``
    along each axis both ways and along random directions; a point with a
    lower neighbour descends again from the lowest one. Returns the
    minima, their F and the end points' labels, regrouped."""
    d = minima.shape[1]
    generator = torch.Generator().manual_seed(0)
    random = torch.randn(2 * d, d, generator=generator, dtype=minima.dtype)
    directions = torch.cat([torch.eye(d, dtype=minima.dtype), -torch.eye(d, dtype=minima.dtype),
                            random / random.norm(dim=1, keepdim=True)]).to(minima.device)
    for _ in range(rounds):
        trial = minima[:, None] + step * directions[None]
        free = landscape.value(trial.reshape(-1, d)).reshape(len(minima), -1)
        lowest, best = free.min(1)
        lower = lowest < values - 1e-12 * (1.0 + values.abs())
        if not lower.any():
            break
        new_ends, new_values = descend(landscape, trial[lower, best[lower]])
        minima, values = minima.clone(), values.clone()
        minima[lower], values[lower] = new_ends, new_values
        minima, values, regroup = distinct_minima(minima, values, step)
        labels = regroup.to(labels.device)[labels]
    return minima, values, labels


def segment_saddles(landscape, a, b, points=SEGMENT_POINTS):
    """Highest F (P,) along the straight segments from a (P, d) to b (P, d)."""
    t = torch.linspace(0.0, 1.0, points, dtype=a.dtype, device=a.device)
    path = a[:, None] + t[None, :, None] * (b - a)[:, None]
    free = torch.cat([landscape.value(block) for block in
                      path.reshape(-1, a.shape[1]).split(CHUNK)])
    return free.reshape(len(a), points).max(1).values


def string_saddles(landscape, a, b, images=STRING_IMAGES, steps=STRING_STEPS):
    """Highest F (P,) along strings from a (P, d) to b (P, d) relaxed towards
    the minimum-energy path: each image moves down the gradient (at most a
    shrinking fraction of the segment's length per step), then the images
    are redistributed at equal arc length. Evaluated at 4 points per
    interval of the final string."""
    t = torch.linspace(0.0, 1.0, images, dtype=a.dtype, device=a.device)
    path = a[:, None] + t[None, :, None] * (b - a)[:, None]           # (P, M, d)
    length = (b - a).norm(dim=1).clamp(min=1e-12)
    d = a.shape[1]
    for k in range(steps):
        inner = path[:, 1:-1].reshape(-1, d)
        _, grad = landscape.value_and_grad(inner)
        grad = grad.reshape(len(a), images - 2, d)
        largest = grad.norm(dim=2).max(1).values.clamp(min=1e-12)
        move = (0.5 / images) * length * (1.0 - k / steps)
        path[:, 1:-1] -= grad * (move / largest)[:, None, None]
        path = _equal_arc_length(path, t)
    fine = torch.linspace(0.0, 1.0, 4 * (images - 1) + 1, dtype=a.dtype, device=a.device)
    dense = _interpolate(path, t, fine)
    free = landscape.value(dense.reshape(-1, d)).reshape(len(a), -1)
    return free.max(1).values


def _equal_arc_length(path, t):
    steps = (path[:, 1:] - path[:, :-1]).norm(dim=2)
    arc = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(1)], 1)
    arc = arc / arc[:, -1:].clamp(min=1e-300)
    return _interpolate(path, arc, t, per_path=True)


def _interpolate(path, at, where, per_path=False):
    """Linear interpolation of ``path`` (P, M, d) given at parameters ``at``
    ((M,) or (P, M) with per_path) to parameters ``where`` (K,)."""
    count, m, d = path.shape
    at = at if per_path else at.expand(count, m)
    where = where.expand(count, -1).contiguous()
    upper = torch.searchsorted(at.contiguous(), where).clamp(1, m - 1)
    lower = upper - 1
    a0 = torch.gather(at, 1, lower)
    a1 = torch.gather(at, 1, upper)
    w = ((where - a0) / (a1 - a0).clamp(min=1e-300)).clamp(0.0, 1.0)
    p0 = torch.gather(path, 1, lower[..., None].expand(-1, -1, d))
    p1 = torch.gather(path, 1, upper[..., None].expand(-1, -1, d))
    return p0 + w[..., None] * (p1 - p0)


def particle_dip(a, b):
    """Depth (nats) of the dip in the particles' density between two groups
    of latents a (na, d) and b (nb, d): their projections on the line
    through the two groups' means, a 1-D Gaussian kernel density of both
    (Silverman's bandwidth, 0.9 n^-1/5 times the groups' pooled spread
    along the line, so the gap between the groups does not widen it), on
    :data:`DIP_POINTS` points from one mean to the other; the depth is
    log(lower of the highest densities on either side of the lowest point
    / density at the lowest point), 0 when the lowest point is an end (one
    mode). A projection integrates the other directions, so the dip is at
    most that of the density in d dimensions. 0 when a group has fewer
    than :data:`DIP_MIN_PARTICLES` latents or the means coincide."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(len(a), len(b)) < DIP_MIN_PARTICLES:
        return 0.0
    axis = b.mean(0) - a.mean(0)
    length = float(np.linalg.norm(axis))
    if length <= 1e-12:
        return 0.0
    pa, pb = a @ (axis / length), b @ (axis / length)
    pooled = math.sqrt((pa.var() * len(pa) + pb.var() * len(pb)) / (len(pa) + len(pb)))
    if pooled <= 1e-12:
        return 0.0
    both = np.concatenate([pa, pb])
    width = 0.9 * pooled * len(both) ** -0.2
    grid = np.linspace(pa.mean(), pb.mean(), DIP_POINTS)
    density = np.zeros(DIP_POINTS)
    for block in np.array_split(both, max(1, len(both) // 4096)):
        density += np.exp(-0.5 * ((grid[:, None] - block[None]) / width) ** 2).sum(1)
    low = int(np.argmin(density))
    if low in (0, DIP_POINTS - 1):
        return 0.0
    peak = min(density[:low].max(), density[low + 1:].max())
    return float(np.log(peak / max(density[low], 1e-300)))


def merge_minima(landscape, minima, values, barrier=BARRIER, particles=None,
                 particle_minimum=None):
    """Group minima (m, d) (F values (m,), lowest first) into basins by
    persistence (the watershed of F): saddles are taken lowest first, and
    the saddle between two groups merges them when it is less than
    ``barrier`` nats above the higher of the two groups' lowest minima.
    (Comparing single minima would let a shallow minimum in a low-density
    region, a little below the saddles to every state around it, bridge
    them all into one basin.) Saddles: the lower of the straight segment's
    highest point and the relaxed string's, for every pair of minima (the
    :data:`NEIGHBOURS` nearest of each beyond :data:`ALL_PAIRS` minima).

    With ``particles`` (N, d), the particles' posterior means, and
    ``particle_minimum`` (N,), the minimum each descends into, two groups
    that both hold at least :data:`DIP_MIN_PARTICLES` particles merge
    exactly when the particles' own density has no dip of ``barrier``
    nats between them (:func:`particle_dip`), whatever F's saddle; F's
    saddle decides for the other pairs. The fitted prior errs both ways,
    and a dip measured on the data does not depend on how sharp the fit
    is: it may smooth over a barrier the data show (on the adk
    three-state benchmark an ebm fit left mid and open 0.5 nat apart in F
    where the particles' density between them falls 2 nats), or put
    barriers inside one state (on the 1A28 dimer's three states, a gmm
    fitted to a run's latents tiles the elongated closed state with
    diagonal components whose saddles are 1.6 to 2.4 nats above their
    minima where the particles' density dips by at most 0.25 nat: four
    basins for one state).

    A group joins, among the groups its saddles within :data:`SADDLE_TIE`
    nats of the lowest lead to, the one with the nearest minimum: a
    minimum on a plateau (a wide, light mixture component that catches
    outliers) has saddles of the same height towards every basin around
    it, and which one a string finds lower by a hundredth of a nat is
    chance (on the dimer, 31 closed particles joined the open basin, 16
    apart, rather than the closed one, 4 apart).

    Returns (group of each minimum (m,), numbered lowest first; lowest
    saddle between groups (G, G), inf on the diagonal and between groups
    with no saddle measured)."""
    m = len(minima)
    pairs = _pairs(minima)
    saddles = torch.zeros(0, dtype=torch.float64)
    if pairs:
        i, j = (torch.as_tensor(x, device=minima.device) for x in zip(*pairs))
        saddles = torch.minimum(segment_saddles(landscape, minima[i], minima[j]),
                                string_saddles(landscape, minima[i], minima[j])).cpu()
    parent = list(range(m))            # the root of a group is its lowest minimum

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    depth = [float(v) for v in values]
    heights = saddles.tolist()
    owner = None                       # the group of each particle
    if particles is not None:
        particles = np.asarray(particles, dtype=np.float64)
        owner = np.asarray(particle_minimum).copy()

    dips = {}                          # (group, group) -> particles' dip

    def height(e):
        """Barrier (nats) between the groups saddle e joins: the particles'
        dip when both hold enough of them, else F's saddle above them."""
        a, b = sorted((root(pairs[e][0]), root(pairs[e][1])))
        if owner is not None:
            if (a, b) not in dips:
                ours, theirs = particles[owner == a], particles[owner == b]
                enough = min(len(ours), len(theirs)) >= DIP_MIN_PARTICLES
                dips[a, b] = particle_dip(ours, theirs) if enough else None
            if dips[a, b] is not None:
                return dips[a, b]
        return heights[e] - max(depth[a], depth[b])

    def joins(e, high):
        """(distance between the minima, deeper group) when saddle e merges
        group ``high`` into a group at least as deep, else None."""
        c, d = root(pairs[e][0]), root(pairs[e][1])
        if high not in (c, d) or c == d:
            return None
        other = d if c == high else c
        if depth[other] > depth[high] or height(e) >= barrier:
            return None
        return float((minima[pairs[e][0]] - minima[pairs[e][1]]).norm()), other

    order = sorted(range(len(pairs)), key=heights.__getitem__)
    for rank, e in enumerate(order):
        a, b = root(pairs[e][0]), root(pairs[e][1])
        if a == b or height(e) >= barrier:
            continue
        high = a if depth[a] > depth[b] else b
        # saddles within SADDLE_TIE of this one are as low: the shallower
        # group joins the nearest of the groups they lead to
        tied = itertools.takewhile(lambda f: heights[f] <= heights[e] + SADDLE_TIE,
                                   order[rank:])
        low = min(j for j in (joins(f, high) for f in tied) if j)[1]
        parent[high] = low
        if owner is not None:
            owner[owner == high] = low
            dips = {pair: dip for pair, dip in dips.items()
                    if high not in pair and low not in pair}
    if owner is not None:
        _absorb_sparse_groups(root, parent, pairs, heights, depth, owner)
    final = sorted({root(k) for k in range(m)}, key=lambda k: depth[k])
    group = torch.as_tensor([final.index(root(k)) for k in range(m)], dtype=torch.long)
    between = torch.full((len(final), len(final)), float("inf"), dtype=torch.float64)
    for (a, b), saddle in zip(pairs, saddles.tolist()):
        ga, gb = int(group[a]), int(group[b])
        if ga != gb and saddle < between[ga, gb]:
            between[ga, gb] = between[gb, ga] = saddle
    return group, between


def _absorb_sparse_groups(root, parent, pairs, heights, depth, owner):
    """Groups holding fewer than :data:`DIP_MIN_PARTICLES` particles join
    the group their lowest saddle leads to, sparsest first, as long as
    another group holds that many: too few particles to show a state of the
    data (their density dip cannot be measured), they are bumps of the fitted
    F (on the 1A28 dimer's three states an ebm kept five basins of 2 to 30
    of 4,000 particles beside the three states). Updates ``parent`` and
    ``owner`` in place."""
    while True:
        groups = {root(k) for k in range(len(parent))}
        counts = {g: int((owner == g).sum()) for g in groups}
        sparse = sorted((g for g in groups if counts[g] < DIP_MIN_PARTICLES),
                        key=lambda g: (counts[g], -depth[g]))
        if not sparse or max(counts.values()) < DIP_MIN_PARTICLES:
            return
        for g in sparse:
            exits = [(heights[e] - depth[g], other) for e, (a, b) in enumerate(pairs)
                     for mine, other in ((root(a), root(b)), (root(b), root(a)))
                     if mine == g and other != g]
            if exits:
                other = min(exits)[1]
                # the root of a group stays its lowest minimum
                high, low = (g, other) if depth[g] >= depth[other] else (other, g)
                parent[high] = low
                owner[owner == high] = low
                break
        else:
            return


#: Up to this many minima every pair's saddle is measured; beyond, each
#: minimum's NEIGHBOURS nearest.
ALL_PAIRS = 40
NEIGHBOURS = 8


def _pairs(minima):
    m = len(minima)
    if m <= ALL_PAIRS:
        return [(i, j) for i in range(m) for j in range(i + 1, m)]
    distance = torch.cdist(minima, minima)
    distance.fill_diagonal_(float("inf"))
    nearest = distance.topk(NEIGHBOURS, largest=False).indices.tolist()
    return sorted({(min(i, j), max(i, j)) for i in range(m) for j in nearest[i]})


# ------------------------------------------------------------------ basins

def find_basins(prior, prior_samples, particles=None, extra_starts=None,
                barrier=BARRIER, max_basins=None, prior_weights=None):
    """The basins of ``prior``'s free energy, lowest F first.

    ``prior_samples`` (n, d): latents drawn from the prior (their descent
    gives each basin's prior population); ``particles`` (N, d) or None:
    the particles' posterior means (their descent gives the particles'
    population); ``extra_starts`` (k, d) or None: more starts (e.g. the
    mixture's component means) that count in no population;
    ``prior_weights`` (n,) or None: importance weights of the prior samples
    (normalised here), each basin's prior population then their share of
    the weight (None: equal weights).

    Returns a list of dicts: ``z`` (d,) the basin's minimum that most of
    its particles descend into (without particles: its lowest minimum),
    ``free_energy`` (F there, nats), ``minima`` (m, d) every minimum merged
    into it, ``count`` (prior samples descending into it),
    ``prior_population`` (their fraction, or their share of
    ``prior_weights``), ``particle_population`` (fraction of the
    particles, None without them), ``exit_barrier``
    (nats from its minimum to the lowest saddle towards another basin,
    below ``barrier`` for a basin the particles' density dip kept apart;
    None for a single basin; the minima merged into it may have saddles
    above ``barrier`` between them where the particles show no dip). ``max_basins`` keeps the lowest ones.
    Minima are merged as :func:`merge_minima`, by the particles' dip
    between groups holding enough of them when ``particles`` are given.
    Raises ValueError when no start is given, a start is not (n, d), or
    ``prior_weights`` is not (n,), finite, non-negative with a positive sum."""
    landscape = Landscape(prior)
    weights = _normalised_weights(prior_weights, prior_samples)
    parts = {"prior samples": prior_samples, "particles": particles,
             "extra starts": extra_starts}
    starts = []
    for name, value in parts.items():
        if value is None:
            starts.append(None)
            continue
        value = landscape.tensor(value)
        if value.dim() != 2 or value.shape[1] != landscape.latent_dim:
            raise ValueError("basins of the %s prior: %s must be (n, %d), got %s"
                             % (getattr(prior, "name", "?"), name, landscape.latent_dim,
                                tuple(value.shape)))
        starts.append(value)
    every = torch.cat([s for s in starts if s is not None])
    if len(every) == 0:
        raise ValueError("basins need at least one start (prior samples or particles)")
    ends, values = descend(landscape, every)
    spread = float(every.std(0).pow(2).sum().sqrt()) if len(every) > 1 else 1.0
    tolerance = SAME_MINIMUM * max(spread, 1e-6)
    minima, minima_f, labels = distinct_minima(ends, values, tolerance)
    minima, minima_f, labels = leave_saddles(landscape, minima, minima_f, labels, tolerance)
    sizes = [0 if s is None else len(s) for s in starts]
    particle_minimum = labels[sizes[0]:sizes[0] + sizes[1]].cpu().numpy()
    group, between = merge_minima(
        landscape, minima, minima_f, barrier,
        particles=starts[1].cpu().numpy() if sizes[1] else None,
        particle_minimum=particle_minimum if sizes[1] else None)
    basin_of_end = group[labels.cpu()]
    prior_labels = basin_of_end[:sizes[0]]
    particle_labels = basin_of_end[sizes[0]:sizes[0] + sizes[1]]
    basins = []
    owned = (np.bincount(particle_minimum, minlength=len(minima)) if sizes[1]
             else np.zeros(len(minima), dtype=np.int64))
    for b in range(int(group.max()) + 1):
        members = torch.nonzero(group == b).squeeze(1)
        lowest = int(members[torch.argmin(minima_f[members.to(minima_f.device)])])
        if owned[members.numpy()].max() > 0:
            # where the particles are: a sparse group merged into a state,
            # deeper but nearly empty, does not stand for it
            lowest = int(members[int(np.argmax(owned[members.numpy()]))])
        count = int((prior_labels == b).sum())
        population = (count / max(sizes[0], 1) if weights is None
                      else float(weights[(prior_labels == b).cpu().numpy()].sum()))
        basins.append({
            "z": minima[lowest].cpu().numpy(), "free_energy": float(minima_f[lowest]),
            "minima": minima[members.to(minima.device)].cpu().numpy(),
            "count": count, "prior_population": population,
            "particle_population": (float((particle_labels == b).float().mean())
                                    if sizes[1] else None),
            "exit_barrier": (float(between[b].min()) - float(minima_f[lowest])
                             if torch.isfinite(between[b].min()) else None)})
    basins.sort(key=lambda basin: basin["free_energy"])
    return basins[:max_basins]


def _normalised_weights(weights, samples):
    """``weights`` (n,) of the n prior ``samples`` as a float64 array summing
    to 1 (None stays None); ValueError when they cannot weigh them."""
    if weights is None:
        return None
    weights = np.asarray(weights.detach().cpu() if torch.is_tensor(weights) else weights,
                         dtype=np.float64)
    count = 0 if samples is None else len(samples)
    if weights.shape != (count,) or not np.isfinite(weights).all() \
            or (weights < 0).any() or not weights.sum() > 0:
        raise ValueError("basins: prior_weights must be (%d,), finite, non-negative and "
                         "not all zero, got shape %s" % (count, weights.shape))
    return weights / weights.sum()


def assign(prior, z, basins):
    """The basin (index into ``basins``) of each latent z (n, d): the basin
    holding the minimum nearest the end of z's descent of F; (n,) int64."""
    landscape = Landscape(prior)
    points = [np.atleast_2d(np.asarray(b.get("minima", b["z"])))[:, :landscape.latent_dim]
              for b in basins]
    minima = landscape.tensor(np.concatenate(points))
    owner = torch.as_tensor(np.repeat(np.arange(len(points)), [len(p) for p in points]))
    labels = np.empty(len(z), dtype=np.int64)
    for start in range(0, len(z), CHUNK):
        ends, _ = descend(landscape, np.asarray(z[start:start + CHUNK]))
        d2 = torch.cdist(ends, minima.to(ends.device))
        labels[start:start + CHUNK] = owner[d2.argmin(1).cpu()].numpy()
    return labels
