"""Sample latents from the trained prior of a run, and list its basins.

Writes to DIR: z.npy (the sampled decoder inputs: the latent z, followed by
the binary code for the rbm prior), energies.npy (the binary model's energy
of each sample for Boltzmann priors, the free energy F(z) otherwise),
free_energy.npy, states.npy (the sampled binary states, Boltzmann priors),
info.json (prior, sampler and its options, timing, effective inverse
temperature beta_eff for a QPU, log Z when known, energy statistics), and
the decoded samples as samples.pdb (full atom) and samples_coarse.pdb.

--basins also lists the prior's distinct low-energy states (annealing to
low temperature, then steepest descent): basins.json (bits, energy, how
often annealing found it, free energy of the latent at its centre),
basins_z.npy and basins.pdb / basins_coarse.pdb, lowest energy first.

Samplers (Boltzmann priors grbm and rbm): gibbs (default), sa, exact, qpu
(D-Wave; needs credentials) or an installed plug-in. The gaussian and gmm
priors are sampled directly and have no sampler.

Examples:

    cryostar-boltz sample-prior --run run1 --n 1000 --sampler gibbs --out s1
    cryostar-boltz sample-prior --run run1 --n 500 --sampler sa \\
        --num-sweeps 1000 --beta 1.0 --seed 3 --out s2
    cryostar-boltz sample-prior --run run1 --n 0 --basins --out basins
    cryostar-boltz sample-prior --run run1 --n 200 --sampler qpu --out qpu
"""
import time
from pathlib import Path

import numpy as np
import torch

DIRECT = "direct"


def add_args(parser):
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("-n", "--n", type=int, default=100,
                        help="number of samples (0: basins only; default "
                        "%(default)s)")
    parser.add_argument("--sampler", default=None,
                        help="dimod sampler for Boltzmann priors: gibbs "
                        "(default), sa, exact, qpu or a plug-in name")
    parser.add_argument("--num-sweeps", type=int,
                        help="sweeps per sample (gibbs, sa)")
    parser.add_argument("--beta", type=float,
                        help="inverse temperature (default 1: the prior itself)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (default %(default)s)")
    parser.add_argument("--structures", type=int, default=None,
                        help="decode only the first N samples to structures "
                        "(default: all; 0: none)")
    parser.add_argument("--basins", action="store_true",
                        help="also list the prior's distinct low-energy states")
    parser.add_argument("--max-basins", type=int, default=None,
                        help="keep at most this many basins (lowest first)")
    parser.add_argument("--basin-reads", type=int, default=200,
                        help="annealing runs used to find the basins")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def sampler_options(sampler, requested):
    """(options the dimod ``sampler`` accepts, names it does not)."""
    accepted = getattr(sampler, "parameters", {}) or {}
    given = {k: v for k, v in requested.items() if v is not None}
    return ({k: v for k, v in given.items() if k in accepted},
            sorted(k for k in given if k not in accepted))


def draw_samples(prior, n, sampler=None, seed=0, num_sweeps=None, beta=None,
                 log=print):
    """``n`` samples of ``prior``: a dict of arrays (``z``, ``energies``,
    ``free_energy``, ``states``) and a JSON-ready ``info`` dict."""
    if n < 1:
        raise ValueError("--n must be at least 1, got %d" % n)
    requested = {"seed": seed, "num_sweeps": num_sweeps, "beta": beta}
    if prior.to_bqm() is None:
        if sampler not in (None, DIRECT):
            log("note: the %s prior is sampled directly; --sampler %s ignored"
                % (prior.name, sampler))
        ignored = sorted(k for k in ("num_sweeps", "beta") if requested[k] is not None)
        name, options = DIRECT, {"seed": seed}
        kw = options
    else:
        from ..samplers import get_sampler
        name = sampler or "gibbs"
        dimod_sampler = get_sampler(name)  # qpu without credentials: clear error
        options, ignored = sampler_options(dimod_sampler, requested)
        kw = dict(options, sampler=dimod_sampler)
    if ignored:
        log("note: sampler %s takes no %s; ignored" % (name, ", ".join(
            "--" + k.replace("_", "-") for k in ignored)))
    start = time.perf_counter()
    with torch.no_grad():
        z, info = prior.sample(n, **kw)
    elapsed = time.perf_counter() - start
    decoder_input = _numpy(info["decoder_input"]).astype(np.float32)
    free = _numpy(info["free_energy"]).astype(np.float64)
    energies = info.get("energies")
    states = info.get("hidden", info.get("binary"))
    arrays = {"z": decoder_input, "free_energy": free,
              "energies": free if energies is None else np.asarray(energies, np.float64)}
    if states is not None:
        arrays["states"] = _numpy(states).astype(np.int8)
    sampleset_info = dict(info.get("sampleset_info") or {})
    facts = {"prior": prior.name, "prior_options": prior.config(),
             "sampler": name, "options": options, "ignored_options": ignored,
             "n": int(n), "latent_dim": int(prior.latent_dim),
             "decoder_input_dim": int(decoder_input.shape[1]),
             "energy": ("free energy F(z)" if energies is None else
                        "energy of the binary quadratic model (dimod convention)"),
             "beta": sampleset_info.get("beta", beta if beta is not None else 1.0),
             "beta_eff": info.get("beta_eff"),
             "timing": dict(info.get("timing") or {}, total_seconds=elapsed),
             "log_z": _log_z(prior),
             "energy_mean": float(arrays["energies"].mean()),
             "energy_std": float(arrays["energies"].std()),
             "sampleset_info": {k: v for k, v in sampleset_info.items()
                                if k != "timing"}}
    return arrays, facts


def _numpy(value):
    return value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)


def _log_z(prior):
    try:
        with torch.no_grad():
            log_z = prior.log_z()
    except (ValueError, RuntimeError):
        return None
    return None if log_z is None else float(log_z.detach())


def basin_table(prior, max_basins=None, num_reads=200, seed=0):
    """The prior's basins as (JSON-ready list, (M, decoder inputs) array)."""
    if prior.name == "gaussian":
        raise ValueError("the gaussian prior has a single basin (z = 0): "
                         "--basins needs a multi-basin prior (gmm, grbm, rbm)")
    if max_basins is not None and max_basins < 1:
        raise ValueError("--max-basins must be at least 1, got %d" % max_basins)
    options = {} if prior.to_bqm() is None else {"seed": seed}
    with torch.no_grad():
        basins = prior.basins(num_reads=num_reads, max_basins=max_basins, **options)
    table = []
    for i, b in enumerate(basins):
        row = {"basin": i, "energy": float(b["energy"]),
               "free_energy": float(b["free_energy"]), "count": b["count"]}
        if b.get("h") is not None:
            row["h"] = np.asarray(b["h"]).astype(int).tolist()
        if "component" in b:
            row["component"] = int(b["component"])
        table.append(row)
    z = np.stack([np.asarray(b["z"], dtype=np.float32) for b in basins])
    return table, z


def main(args):
    from ..runs import TrainedRun, save_array, save_json
    if args.n < 0:
        raise ValueError("--n must be >= 0, got %d" % args.n)
    if args.n == 0 and not args.basins:
        raise ValueError("--n 0 writes nothing: ask for samples or --basins")
    run = TrainedRun(args.run, args.device)
    prior = run.prior
    if args.basins and prior.name == "gaussian":
        basin_table(prior)  # refuse before any work
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.n:
        arrays, facts = draw_samples(prior, args.n, args.sampler, args.seed,
                                     args.num_sweeps, args.beta)
        for key, array in arrays.items():
            save_array(out / (key + ".npy"), array)
        count = len(arrays["z"]) if args.structures is None else min(
            max(args.structures, 0), len(arrays["z"]))
        if count:
            full, coarse = run.write_structures(out / "samples", arrays["z"][:count])
            facts["structures"] = {"count": count, "pdb": full.name,
                                   "coarse_pdb": coarse.name}
        facts["run"] = str(run.run_dir)
        save_json(out / "info.json", facts)
        print("%d samples from the %s prior (%s, %.2f s): %s"
              % (args.n, prior.name, facts["sampler"],
                 facts["timing"]["total_seconds"], out))
    if args.basins:
        table, z = basin_table(prior, args.max_basins, args.basin_reads, args.seed)
        save_array(out / "basins_z.npy", z)
        full, coarse = run.write_structures(out / "basins", z)
        save_json(out / "basins.json", {"prior": prior.name, "basins": table,
                                        "pdb": full.name, "coarse_pdb": coarse.name})
        print("%d basins, energies %s: %s" % (len(table), ", ".join(
            "%.3g" % row["energy"] for row in table[:10]), out / "basins.json"))
