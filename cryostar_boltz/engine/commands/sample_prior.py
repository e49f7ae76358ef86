"""Sample latents from the trained prior of a run, and list its basins.

Writes to --out (default RUN/prior_samples; RUN/prior_samples_SAMPLER
with --sampler, RUN/prior_basins with --n 0): z.npy (the sampled
decoder inputs: the latent z, followed by the binary code for the rbm
prior), energies.npy (the binary model's energy
of each sample for Boltzmann priors, the free energy F(z) otherwise),
free_energy.npy, states.npy (the sampled binary states, Boltzmann priors),
info.json (prior, sampler and its options, timing, effective inverse
temperature beta_eff for a QPU, log Z when known, energy statistics), and
the decoded samples as samples.pdb (full atom) and samples_coarse.pdb
(.cif for a run that writes mmCIF, or with --format cif).

--basins also lists the prior's distinct states, lowest energy first:
for a continuous latent (gmm, grbm, ebm) the basins of the free energy F(z)
(descent from --basin-reads prior samples, the ebm's persistent chains
with their weights instead, and from the particles' latents,
minima merged when the particles' density has no dip of 1 nat between
them, or, where fewer than 50 particles descend on one side, when the
saddle between them is less than 1 nat above the higher one); for rbm the
local minima of the code's binary model
(annealing, then steepest descent). basins.json (energy, free energy,
count; for continuous priors the prior's and the particles' populations,
the barrier out of the basin and its minima; the bits of h), basins_z.npy
and basins.pdb / basins_coarse.pdb.

Samplers: dimod samplers of the binary model of Boltzmann priors (grbm
and rbm): gibbs (their default), sa, exact, qpu (D-Wave; needs
credentials) or an installed plug-in; exact enumerates every binary state
and is refused above 24 binary variables (use gibbs or sa). Continuous
samplers of the free energy F(z) of every prior with a continuous latent
(gaussian, gmm, grbm with its hidden units summed out, ebm): langevin
(unadjusted, short-run) and mala (Metropolis-adjusted, exact in the limit;
the ebm prior's default); --num-sweeps is their number of steps. Without
--sampler the gaussian and gmm priors are sampled directly. The rbm
prior's binary code refuses continuous samplers.

DIR belongs to these samples (DIR/run.json records the run and the
options): the same command rerun into it writes them again; a folder
holding other engine outputs is refused, or with --overwrite emptied of
them first (a user's other files stay). Every option is checked, and the
samples drawn, before DIR is made.

Examples:

    cryostar-boltz sample-prior --run run1 --n 1000 --sampler gibbs --out s1
    cryostar-boltz sample-prior --run run1 --n 500 --sampler sa \\
        --num-sweeps 1000 --beta 1.0 --seed 3 --out s2
    cryostar-boltz sample-prior --run run1 --n 0 --basins    # run1/prior_basins
    cryostar-boltz sample-prior --run run1 --n 200 --sampler qpu --out qpu
    cryostar-boltz sample-prior --run ebm_run --n 500 --sampler mala \\
        --num-sweeps 1000 --out s3
"""
from pathlib import Path

from .. import layout
from ..structure.formats import FORMAT_CHOICES
from .. import options as opt_type


def add_args(parser):
    parser.add_argument("--run", required=True, help="training run folder")
    parser.add_argument("-n", "--n", type=opt_type.sample_count, default=100,
                        help="number of samples (0: basins only; at most %d; default "
                        "%%(default)s)" % opt_type.MAX_SAMPLES)
    parser.add_argument("--sampler", default=None,
                        help="dimod sampler for Boltzmann priors: gibbs "
                        "(default), sa, exact, qpu or a plug-in name; continuous "
                        "sampler for priors with a continuous latent: langevin "
                        "or mala (the ebm prior's default)")
    parser.add_argument("--num-sweeps", type=opt_type.sweeps,
                        help="sweeps per sample (gibbs, sa; Langevin steps for "
                        "langevin and mala; default: the sampler's own, 100 for "
                        "gibbs, sa and langevin, 1000 for sa-optimise, 500 for mala)")
    parser.add_argument("--beta", type=opt_type.inverse_temperature,
                        help="inverse temperature (default 1: the prior itself; "
                        "1e-6 to 1e6)")
    parser.add_argument("--seed", type=opt_type.seed, default=0,
                        help="random seed (default %(default)s)")
    parser.add_argument("--structures", type=opt_type.nonnegative_int, default=None,
                        help="decode only the first N samples to structures "
                        "(default: all; 0: none; at most %d)" % opt_type.MAX_MODELS)
    parser.add_argument("--basins", action="store_true",
                        help="also list the prior's distinct low-energy states")
    parser.add_argument("--max-basins", type=opt_type.positive_int, default=None,
                        help="keep at most this many basins (lowest first; default: all)")
    parser.add_argument("--basin-reads", type=opt_type.read_count, default=1000,
                        help="prior samples descended to find the basins and "
                        "their populations (annealing runs for rbm; the ebm "
                        "descends its weighted chains instead; at most %d; "
                        "default %%(default)s)" % opt_type.MAX_READS)
    parser.add_argument("-o", "--out", help="output folder (default RUN/prior_samples, "
                        "RUN/prior_samples_SAMPLER with --sampler, RUN/prior_basins "
                        "with --n 0)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                        help="structure files: pdb, cif (mmCIF) or auto "
                        "(default: the run's format, from its config.json)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the engine outputs already in --out")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def request_of(args):
    """The options that decide the outputs (kept in run.json);
    ``basin_reads`` is None where it does not apply
    (:meth:`.layout.RunLayout.basin_reads_used`)."""
    return {"run": str(Path(args.run).absolute()), "n": args.n,
            "sampler": args.sampler, "num_sweeps": args.num_sweeps,
            "beta": args.beta, "seed": args.seed, "structures": args.structures,
            "basins": bool(args.basins), "max_basins": args.max_basins,
            "basin_reads": layout.RunLayout(args.run).basin_reads_used(
                args.basin_reads, bool(args.basins)),
            "format": args.format}


def default_out(args):
    """The output folder when --out is not given: inside the run, named
    after what is drawn (as ``analyze`` writes RUN/analysis_METHODK)."""
    if args.n == 0:
        name = "prior_basins"
    else:
        name = "prior_samples" + ("_%s" % args.sampler if args.sampler else "")
    return Path(args.run) / name


def check_inputs(args):
    """Checks that need no torch (options, the run, --out); returns the
    claim action. Writes nothing. Sets ``args.out`` to :func:`default_out`
    when it is not given."""
    from ..outputs import claim, input_paths
    if args.n == 0 and not args.basins:
        raise ValueError("--n 0 writes nothing: ask for samples or --basins")
    if args.out is None:
        args.out = str(default_out(args))
    decoded = args.n if args.structures is None else min(args.n, args.structures)
    if decoded > opt_type.MAX_MODELS:
        raise ValueError("--n %d would decode %d structures (at most %d): give "
                         "--structures N to decode only the first N (0: none)"
                         % (args.n, decoded, opt_type.MAX_MODELS))
    layout.RunLayout(args.run).require_finished()
    return claim(args.out, "sample-prior", request_of(args), overwrite=args.overwrite,
                 keep=input_paths(args))


def main(args):
    from ..outputs import created_folder, prepare
    action = check_inputs(args)
    from ..runs import TrainedRun
    from ..sampling import basin_table, draw_samples
    run = TrainedRun(args.run, args.device)
    fmt = run.structure_format(args.format)  # refuse before any work
    prior = run.prior
    if args.basins and prior.name == "gaussian":
        basin_table(prior)  # refuse before any work
    # sample first: a bad sampler or option fails before the folder is made
    if args.n:
        arrays, facts = draw_samples(prior, args.n, args.sampler, args.seed,
                                     args.num_sweeps, args.beta)
    if args.basins:
        table, z = basin_table(prior, args.max_basins, args.basin_reads, args.seed,
                               particles=run.latents())
    out = Path(args.out)
    with created_folder(out, refusals=(ValueError,)):
        prepare(out, "sample-prior", request_of(args), {"run": args.run}, action)
        write_outputs(args, run, out, arrays if args.n else None,
                      facts if args.n else None, (table, z) if args.basins else None,
                      fmt)


def write_outputs(args, run, out, arrays, facts, basins, fmt):
    """The samples' arrays, structures (in format ``fmt``) and info.json;
    the basins'."""
    from ..io import save_array, save_json
    prior = run.prior
    if arrays is not None:
        for key, array in arrays.items():
            save_array(out / layout.SAMPLE_ARRAYS[key], array)
        count = len(arrays["z"]) if args.structures is None else min(
            args.structures, len(arrays["z"]))
        if count:
            full, coarse = run.write_structures(out / layout.SAMPLES,
                                                arrays["z"][:count], fmt)
            facts["structures"] = {"count": count, "pdb": full.name,
                                   "coarse_pdb": coarse.name, "format": fmt}
        facts["run"] = str(run.run_dir.absolute())
        save_json(out / layout.SAMPLES_INFO, facts)
        print("%d samples from the %s prior (%s, %.2f s): %s"
              % (args.n, prior.name, facts["sampler"],
                 facts["timing"]["total_seconds"], out))
    if basins is not None:
        table, z = basins
        save_array(out / layout.BASIN_POINTS, z)
        full, coarse = run.write_structures(out / layout.BASINS, z, fmt)
        save_json(out / layout.BASINS_INFO, {"prior": prior.name, "basins": table,
                                             "pdb": full.name, "coarse_pdb": coarse.name,
                                             "format": fmt})
        print("%d basin%s, energies %s%s: %s"
              % (len(table), "" if len(table) == 1 else "s",
                 ", ".join("%.3g" % row["energy"] for row in table[:10]),
                 _populations(table[:10]), out / layout.BASINS_INFO))


def _populations(rows):
    """``; populations prior 0.51 / 0.29, particles 0.50 / 0.30`` for the
    rows that carry them (nothing when none does)."""
    parts = []
    for key, name in (("prior_population", "prior"), ("particle_population", "particles")):
        if rows and all(key in row for row in rows):
            parts.append("%s %s" % (name, " / ".join("%.2f" % row[key] for row in rows)))
    return "; populations " + ", ".join(parts) if parts else ""
