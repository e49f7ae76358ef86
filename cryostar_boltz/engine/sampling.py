"""Samples and basins of a trained latent prior, as arrays and JSON-ready
facts: what ``sample-prior``, ``generate`` and the prior pictures share.

Samplers are chosen by name (:func:`cryostar_boltz.engine.samplers.get_sampler`):
Boltzmann priors (grbm, rbm) through a dimod sampler (gibbs by default);
every prior with a continuous latent (gaussian, gmm, grbm with its hidden
units summed out, ebm) through a continuous sampler, ``langevin`` or
``mala``, run on its free energy F(z). Without a sampler named, each prior
uses its ``default_sampler``: the gaussian and gmm priors are sampled
directly (sampler name :data:`DIRECT`), the ebm prior with mala.
"""
import time

import numpy as np
import torch

#: Sampler name recorded for priors sampled without a dimod sampler.
DIRECT = "direct"


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
        raise ValueError("the number of samples must be at least 1, got %d" % n)
    check_sampler_options(seed, num_sweeps, beta)
    requested = {"seed": seed, "num_sweeps": num_sweeps, "beta": beta}
    from .samplers import CONTINUOUS_SAMPLERS, get_sampler, is_continuous
    name = sampler or prior.default_sampler
    if name == DIRECT:
        if prior.default_sampler != DIRECT:
            raise ValueError("--sampler %s: the %s prior is not sampled directly; choose "
                             "a sampler or leave --sampler out (%s)"
                             % (DIRECT, prior.name, prior.default_sampler))
        _refuse_options(requested, ("num_sweeps", "beta"),
                        "the %s prior is sampled directly" % prior.name)
        ignored = []
        name, options = DIRECT, {"seed": seed}
        kw = options
    else:
        if name not in CONTINUOUS_SAMPLERS and prior.to_bqm() is None:
            why = ("is sampled directly" if prior.default_sampler == DIRECT
                   else "has a continuous latent")
            raise ValueError("--sampler %s: the %s prior %s (it has no binary model "
                             "for a dimod sampler); leave --sampler out or choose a "
                             "continuous sampler (%s)"
                             % (name, prior.name, why, ", ".join(CONTINUOUS_SAMPLERS)))
        check_sampler_size(name, prior.to_bqm())
        chosen = get_sampler(name)  # qpu without credentials: clear error
        if is_continuous(chosen) and prior.extra_encoder_dim:
            raise ValueError("--sampler %s: the %s prior's code is binary; continuous "
                             "samplers (%s) do not apply: use a dimod sampler (gibbs, "
                             "sa, exact, qpu)" % (name, prior.name,
                                                  ", ".join(CONTINUOUS_SAMPLERS)))
        options, ignored = sampler_options(chosen, requested)
        # --num-sweeps and --beta have no default: given, they must apply;
        # --seed always has a value (0): recorded as ignored, not refused
        _refuse_options(requested, [k for k in ignored if k != "seed"],
                        "sampler %s does not take it" % name)
        kw = dict(options, sampler=chosen)
    if ignored:
        log("note: sampler %s takes no %s; ignored" % (name, ", ".join(ignored)))
    start = time.perf_counter()
    with torch.no_grad():
        if kw.get("sampler") is not None and is_continuous(kw["sampler"]):
            z, info = prior.sample_continuous(n, **kw)
        else:
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


def _refuse_options(requested, names, why):
    """ValueError naming the first of ``names`` given in ``requested``."""
    for key in names:
        if requested.get(key) is not None:
            raise ValueError("--%s %s: %s; leave it out"
                             % (key.replace("_", "-"), requested[key], why))


def check_sampler_options(seed=None, num_sweeps=None, beta=None, num_reads=None):
    """ValueError naming the option (``--num-sweeps must be an integer >=
    1, got 0``) for sampler options out of range, before any sampler sees
    them."""
    from .options import check, inverse_temperature, positive_int, sweeps
    from .options import seed as seed_rule
    check("--seed", seed, seed_rule, optional=True)
    check("--num-sweeps", num_sweeps, sweeps, optional=True)
    check("--beta", beta, inverse_temperature, optional=True)
    check("--num-reads", num_reads, positive_int, optional=True)


def check_sampler_size(name, bqm):
    """ValueError for the ``exact`` sampler on a model of more binary
    variables than it enumerates (``samplers.exact.MAX_ENUMERATE``)."""
    from .samplers.exact import MAX_ENUMERATE
    if name == "exact" and bqm is not None and len(bqm) > MAX_ENUMERATE:
        raise ValueError(
            "--sampler exact enumerates all 2^N states of the prior's binary "
            "units: this prior has N = %d (at most %d); use --sampler gibbs "
            "or sa" % (len(bqm), MAX_ENUMERATE))


def _numpy(value):
    return value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)


def _log_z(prior):
    try:
        with torch.no_grad():
            log_z = prior.log_z()
    except (ValueError, RuntimeError):
        return None
    return None if log_z is None else float(log_z.detach())


def basin_table(prior, max_basins=None, num_reads=1000, seed=0, particles=None):
    """The prior's basins as (JSON-ready list, (M, decoder inputs) array),
    lowest free energy first.

    ``num_reads``: prior samples descended (continuous priors: gmm, grbm,
    ebm), or annealing runs (rbm); ``particles`` (N, latent_dim): the
    particles' posterior means, which also start descents and give each
    basin's ``particle_population``. Rows: ``basin``, ``energy``,
    ``free_energy``, ``count``, and where the prior gives them
    ``prior_population``, ``particle_population``, ``exit_barrier``
    (nats), ``minima`` (the minima merged into it), ``h`` (bits),
    ``components`` (gmm)."""
    if prior.name == "gaussian":
        raise ValueError("the gaussian prior has a single basin (z = 0): "
                         "basins need a multi-basin prior (gmm, grbm, rbm or ebm)")
    if max_basins is not None and max_basins < 1:
        raise ValueError("the number of basins must be at least 1, got %d"
                         % max_basins)
    check_sampler_options(seed=seed, num_reads=num_reads)
    with torch.no_grad():
        basins = prior.basins(num_reads=num_reads, max_basins=max_basins, seed=seed,
                              particles=particles)
    table = [basin_record(b, i) for i, b in enumerate(basins)]
    z = np.stack([np.asarray(b["z"], dtype=np.float32) for b in basins])
    return table, z


def basin_record(basin, index):
    """One basin of ``prior.basins()`` as a JSON-ready row numbered ``index``."""
    row = {"basin": int(index), "energy": float(basin["energy"]),
           "free_energy": float(basin["free_energy"]), "count": basin["count"]}
    for key in ("prior_population", "particle_population", "exit_barrier"):
        if basin.get(key) is not None:
            row[key] = float(basin[key])
    if basin.get("minima") is not None:
        row["minima"] = np.asarray(basin["minima"], dtype=np.float64).tolist()
    if basin.get("h") is not None:
        row["h"] = np.asarray(basin["h"]).astype(int).tolist()
    if basin.get("components") is not None:
        row["components"] = [int(c) for c in basin["components"]]
    return row
