"""Throughput and accuracy of the Boltzmann samplers on random RBMs.

For RBMs of 10+10, 32+32 and 64+64 units at beta = 1, runs ``gibbs`` (our
torch block-Gibbs) and ``sa`` (dwave-samplers simulated annealing with a
constant schedule) for the same number of chains and sweeps, and prints
spin updates per second and the error of the visible and hidden marginals.

Reference marginals: exact enumeration of the visible layer for 10+10;
beyond that (no enumeration, and a tree decomposition of treewidth 32 is
out of reach) a long Rao-Blackwellised Gibbs run (E[h|v] and E[v|h]
averaged over many chains and sweeps), cross-checked against an
independent long simulated-annealing run whose deviation is printed as
``ref_check``.

Continuous samplers (``--continuous``): ``langevin`` (unadjusted) and
``mala`` (Metropolis-adjusted) on a two-Gaussian mixture in 2 and 8
dimensions whose mean, covariance and log Z are known exactly. Each
repeat draws ``--chains`` independent chains (one sample each); the
effective sample size of a moment f (z_i and z_i^2 of each coordinate)
is Var_exact(f) / (squared error of its sample mean against the exact
value, averaged over repeats), and the table gives the smallest over the
moments, so a biased sampler (langevin: its variance is too large by
about eps / 2) scores low however fast it runs. ESS/s divides it by the
median time of one repeat.

Run on one thread:  python benchmarks/bench_samplers.py [--reads 1000 --sweeps 100]
                    python benchmarks/bench_samplers.py --continuous-only
"""
import argparse
import time

import dimod
import numpy as np
import torch
from scipy.special import expit, logsumexp

from cryostar_boltz.engine.samplers import DenseBQM, get_sampler


def random_rbm(n, seed=0):
    """BINARY BQM of an n+n RBM, E = -a.v - c.h - v.W h, weights ~ 1.6/sqrt(n)."""
    rng = np.random.default_rng(seed)
    scale = 1.6 / np.sqrt(n)
    a, c, w = rng.normal(0, scale, n), rng.normal(0, scale, n), rng.normal(0, scale, (n, n))
    quadratic = np.zeros((2 * n, 2 * n))
    quadratic[:n, n:] = -w
    bqm = dimod.BinaryQuadraticModel(np.concatenate([-a, -c]), quadratic, 0.0, dimod.BINARY)
    return bqm, a, c, w


def enumerated_marginals(a, c, w):
    v = ((np.arange(1 << len(a))[:, None] >> np.arange(len(a))) & 1).astype(float)
    log_p = v @ a + np.logaddexp(0, c + v @ w).sum(1)
    p = np.exp(log_p - logsumexp(log_p))
    return np.concatenate([p @ v, p @ expit(c + v @ w)])


def rao_blackwell(x, a, c, w):
    """Marginals E[v|h], E[h|v] averaged over joint samples x = (v, h)."""
    n = len(a)
    v, h = x[:, :n], x[:, n:]
    return np.concatenate([expit(a + h @ w.T).mean(0), expit(c + v @ w).mean(0)])


def long_gibbs_reference(bqm, a, c, w, chains, sweeps, seed):
    """Rao-Blackwellised marginals of a long torch Gibbs run (after burn-in)."""
    model = DenseBQM.from_bqm(bqm, dtype=torch.float64)
    order = np.array(model.labels)
    generator = torch.Generator().manual_seed(seed)
    x = model.random_states(chains, generator=generator)
    model.sweep(x, num_sweeps=sweeps // 5, generator=generator)
    total = np.zeros(len(order))
    for _ in range(10):
        model.sweep(x, num_sweeps=sweeps // 10, generator=generator)
        states = np.empty_like(x.numpy())
        states[:, order] = x.numpy()
        total += rao_blackwell(states, a, c, w)
    return total / 10


def long_sa_reference(bqm, a, c, w, reads, sweeps, seed):
    result = get_sampler("sa").sample(bqm, num_reads=reads, num_sweeps=sweeps, seed=seed)
    x = result.record.sample[:, [result.variables.index(i) for i in range(len(bqm))]]
    return rao_blackwell(x.astype(float), a, c, w)


def timed_sample(name, bqm, reads, sweeps, repeats):
    sampler = get_sampler(name)
    best, result = np.inf, None
    for repeat in range(repeats):
        start = time.perf_counter()
        result = sampler.sample(bqm, num_reads=reads, num_sweeps=sweeps, seed=repeat)
        best = min(best, time.perf_counter() - start)
    x = result.record.sample[:, [result.variables.index(i) for i in range(len(bqm))]]
    return best, x.astype(float).mean(0)


def two_gaussian_energy(d):
    """EnergyModel of a two-Gaussian mixture in d dimensions (weights 0.6 /
    0.4, means -1.1 / +1.1 on the first axis, scales 0.6 / 0.8), and the
    exact values and variances of the moments z_i, z_i^2 (2d,)."""
    import math

    from cryostar_boltz.engine.samplers import EnergyModel
    w = torch.tensor([0.6, 0.4], dtype=torch.float64)
    m = torch.zeros(2, d, dtype=torch.float64)
    m[0, 0], m[1, 0] = -1.1, 1.1
    s = torch.tensor([0.6, 0.8], dtype=torch.float64)

    def free(z):
        diff = (z[:, None, :] - m) / s[:, None]
        return -torch.logsumexp(torch.log(w) - 0.5 * diff.pow(2).sum(-1) - d * torch.log(s)
                                - 0.5 * d * math.log(2 * math.pi), -1)

    s2 = s[:, None] ** 2
    mean = (w[:, None] * m).sum(0)
    second = (w[:, None] * (s2 + m ** 2)).sum(0)
    fourth = (w[:, None] * (m ** 4 + 6 * m ** 2 * s2 + 3 * s2 ** 2)).sum(0)
    values = torch.cat([mean, second])
    variances = torch.cat([second - mean ** 2, fourth - second ** 2])
    return EnergyModel(free, d), values.numpy(), variances.numpy()


def continuous_rows(chains, repeats):
    """(dimension, sampler, settings, seconds, ESS, ESS/s) rows."""
    rows = []
    for d in (2, 8):
        model, exact, var = two_gaussian_energy(d)
        for name, options in (("langevin", {"num_sweeps": 100, "step_size": 0.05}),
                              ("langevin", {"num_sweeps": 400, "step_size": 0.0125}),
                              ("mala", {"num_sweeps": 200}), ("mala", {"num_sweeps": 500})):
            sampler = get_sampler(name)
            errors, seconds = [], []
            for repeat in range(repeats):
                start = time.perf_counter()
                result = sampler.sample(model, num_reads=chains, seed=repeat, **options)
                seconds.append(time.perf_counter() - start)
                z = result.record.sample
                errors.append((np.concatenate([z.mean(0), (z ** 2).mean(0)]) - exact) ** 2)
            ess = float(np.min(var / np.mean(errors, 0)))
            median = float(np.median(seconds))
            setting = ", ".join("%s %s" % (k.replace("num_", ""), v) for k, v in options.items())
            rows.append((d, name, setting, median, ess, ess / median))
    return rows


def print_continuous(chains, repeats):
    print(f"\ncontinuous samplers: {chains} chains from N(0, I), {repeats} repeats; ESS: "
          "the smallest over the moments z_i, z_i^2 against their exact values "
          "(independent chains: ESS <= chains, up to noise)")
    header = f"{'d':>3} {'sampler':>9} {'settings':>24} {'s (median)':>11} {'ESS':>8} {'ESS/s':>9}"
    print(header)
    print("-" * len(header))
    for d, name, setting, seconds, ess, rate in continuous_rows(chains, repeats):
        print(f"{d:>3} {name:>9} {setting:>24} {seconds:11.3f} {ess:8.0f} {rate:9.0f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 32, 64])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chains", type=int, default=1000,
                        help="chains of the continuous samplers")
    parser.add_argument("--continuous-repeats", type=int, default=8)
    parser.add_argument("--continuous-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.continuous_only:
        print_continuous(args.chains, args.continuous_repeats)
        return
    print(f"{args.reads} chains x {args.sweeps} sweeps, beta = 1, one thread; errors are "
          "max (mean) |marginal - reference|")
    header = (f"{'RBM':>7} {'sampler':>7} {'ms':>8} {'Mupd/s':>8} {'speed-up':>8} "
              f"{'visible err':>14} {'hidden err':>14}  reference")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        bqm, a, c, w = random_rbm(n, seed=n)
        if n <= 20:
            reference, label = enumerated_marginals(a, c, w), "exact enumeration"
        else:
            reference = long_gibbs_reference(bqm, a, c, w, 20000, 1000, seed=123)
            check = long_sa_reference(bqm, a, c, w, 2000, 1000, seed=321)
            label = (f"long Gibbs run (20000x1000, RB); ref_check vs long SA "
                     f"{np.abs(check - reference).max():.4f}")
        rows = {}
        for name in ("sa", "gibbs"):
            seconds, est = timed_sample(name, bqm, args.reads, args.sweeps, args.repeats)
            rows[name] = (seconds, np.abs(est - reference))
        for name in ("sa", "gibbs"):
            seconds, err = rows[name]
            rate = args.reads * args.sweeps * 2 * n / seconds / 1e6
            speedup = rows["sa"][0] / seconds
            print(f"{f'{n}+{n}':>7} {name:>7} {1e3 * seconds:8.1f} {rate:8.1f} {speedup:8.2f}x "
                  f"{err[:n].max():7.4f} ({err[:n].mean():.4f}) "
                  f"{err[n:].max():7.4f} ({err[n:].mean():.4f})  {label if name == 'sa' else ''}")
    print_continuous(args.chains, args.continuous_repeats)


if __name__ == "__main__":
    main()
