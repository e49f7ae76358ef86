"""Latent-prior benchmark: gaussian, gmm and grbm on discrete states.

Prepare adenylate kinase in three states (closed, mid-path, open; weights
0.5 / 0.3 / 0.2; each a small cloud of the path frames within 2 of its
own), e.g.::

    python benchmarks/adk_dataset.py --three-states --out bench_data/adk_3states

then::

    python benchmarks/bench_priors.py --data bench_data/adk_3states --out bench_priors

trains one run per prior with the same options (``--out/<prior>``, with
the prior's options in the folder name; finished runs are reused,
unfinished ones resumed), then measures each run as below, prints a
markdown table and writes ``--out/report.json``.

Definitions (every threshold uses the superposed RMSD):

* RMSD: CA (pseudo-atom) RMSD after optimal rigid superposition (Kabsch,
  as COV/MAT are usually computed); the box-frame RMSD (no superposition)
  is reported beside it for MAT.
* True states: the three centre frames of the clouds (frames 0, 48 and 97
  of the 98-frame path). ``state_coords`` in the truth holds one structure
  per simulated frame (11 of them); the centres are picked by frame.
* ARI: sklearn ``adjusted_rand_score`` of cluster labels of z (the
  particles' posterior means) against the true macrostate (closed / mid /
  open). Clusterings: ``kmeans`` (k = 3), ``gmm-fit`` (a full-covariance
  Gaussian mixture, k = 3, fitted to z) for every prior, and ``basins``:
  the prior's own states, i.e. the basins of its free energy F(z) (descent
  from 2,000 prior samples and from every particle's z; minima merged when
  the particles' density has no dip of 1 nat between them, or, for groups
  of fewer than 50 particles, when the saddle between them is less than
  1 nat above the higher one; see
  ``cryostar_boltz.engine.priors.landscape``), each particle in the basin
  its z descends into. No number of basins is given: more basins than
  states lowers ARI even when each is pure, so the number of basins and
  the homogeneity (1 = every cluster holds a single true state) are
  reported with it.
* LDA acc.: how separable the states are in z whatever clustering finds
  them: the accuracy of a linear discriminant (sklearn
  ``LinearDiscriminantAnalysis``) predicting each particle's true state
  from z, 5-fold stratified cross-validation. k-means can miss states
  that are separable (its boundaries lie half-way between centres, wherever
  the clusters' spreads differ); this column tells the two apart.
* Basin populations: for each true state (closed / mid / open), the basin
  holding most of its particles, and that basin's population from the
  prior (fraction of the 2,000 prior samples descending into it; the ebm:
  every persistent chain's share of the importance weight) and from
  the particles (fraction of all particles); "-" when two states share a
  basin. The truth is 0.5 / 0.3 / 0.2.
* Prior samples: ``--n-samples`` draws; gaussian N(0, I); gmm ancestral
  (component, then its Gaussian); grbm: hidden states h from the dimod
  sampler (``gibbs``: ``--sweeps`` single-site sweeps at beta 1 from random
  states, one independent chain per sample; ``sa``: simulated annealing
  at the constant beta 1, as many sweeps) then z ~ N(b + W h, sigma^2 I).
  For grbm the sampled h are checked against the exact distribution
  (enumeration): total variation and largest error of a unit's marginal,
  next to the total variation of as many exact samples (the noise floor).
  ``posterior`` decodes the z of ``--n-samples`` random particles instead:
  what the decoder gives on the data's own latents, the ceiling for a prior.
* Decoded with ``TrainedRun.decode`` and compared with the true states:
  COV = fraction of true states with at least one sample within 1.5 A;
  MAT-R (state side) = mean over true states of the smallest RMSD of any
  sample; MAT-P (sample side) = mean over samples of the smallest RMSD to
  any true state.
* in-between = fraction of samples more than 2 A from every true state
  (note: mid and open are 2.8 A apart, so a structure half-way between
  them is within 2 A of both and is not counted).
* unphysical = fraction of samples with a CA-CA distance between
  consecutive residues (the reference's bonds) above 4.5 A, or a clash:
  two CAs that are not consecutive closer than 3.0 A (the true states'
  closest such pair is 4.1 A).
* populations: fraction of the samples within 1.5 A of each true state
  (nearest state), to compare with 0.5 / 0.3 / 0.2.
* ``--refit-steps N`` adds rows ``... refit``: a copy of each gmm / grbm
  prior trained N more steps alone (Adam, lr 0.02, batches of 1024) on the
  frozen posteriors q(z | particle), by the gradient the KL term gives the
  prior during training (maximum likelihood of the prior on posterior
  samples; gmm starts from k-means of z). It separates what the prior
  family can represent from how far training let it follow the encoder.

Runs trained otherwise (``cryostar-boltz train --prior PRIOR ...``, with
each prior's defaults) are measured in place with ``--finished``: put them
in ``--out/<prior>`` and nothing is trained or compared.

Training options shared by all runs go in ``--train-args``; prior options
in ``--priors``, e.g. ``--priors gaussian,gmm:components=3,grbm:hidden=3``
(the same prior may appear with several option sets).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adk_dataset import three_state_frames  # noqa: E402

CENTRE_NAMES = ("closed", "mid", "open")
COV_THRESHOLD = 1.5        # Angstrom
BETWEEN_THRESHOLD = 2.0    # Angstrom
BREAK_DISTANCE = 4.5       # Angstrom, consecutive CA-CA
CLASH_DISTANCE = 3.0       # Angstrom, non-consecutive CA-CA
#: Options that do not change a run: where it was started (``workdir``),
#: the structure format ``auto`` resolves to, and the machine's.
IGNORED_CONFIG = {"device", "threads", "checkpoint_every", "workdir", "format"}


# ------------------------------------------------------------------ truth

def load_truth(data):
    """(true state coordinates (3, N, 3), macrostate label per particle,
    all frame coordinates (F, N, 3)); checks the three-state layout."""
    path = Path(data) / "particles_truth.npz"
    with np.load(path) as npz:
        if "macrostate" not in npz:
            raise ValueError("%s has no macrostate: simulate the data with "
                             "adk_dataset.py --three-states" % path)
        truth = {k: npz[k] for k in ("state", "frame", "macrostate", "state_coords")}
    n_frames = int(truth["frame"].max()) + 1
    frames, _, labels = three_state_frames(n_frames)
    if len(frames) != len(truth["state_coords"]) or \
            not np.array_equal(frames[truth["state"]], truth["frame"]):
        raise ValueError("%s: states do not match the three-state layout of "
                         "adk_dataset.py" % path)
    centres = []
    for label in range(3):
        cloud = np.flatnonzero(labels == label)
        centre_frame = (0, (n_frames - 1) // 2, n_frames - 1)[label]
        centres.append(cloud[frames[cloud] == centre_frame][0])
    return truth["state_coords"][centres], truth["macrostate"], truth["state_coords"]


# ------------------------------------------------------------------ training

def parse_prior_specs(text):
    """``gaussian,gmm:components=3,grbm:hidden=3:learn_sigma=1`` ->
    [(name, [KEY=VALUE, ...]), ...] (a prior may appear with several
    option sets)."""
    specs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, *options = item.split(":")
        bad = [o for o in options if "=" not in o]
        if bad:
            raise ValueError("--priors %r: options must be KEY=VALUE, got %s"
                             % (item, bad))
        specs.append((name, options))
    if not specs:
        raise ValueError("--priors: no prior given")
    return specs


def run_name(prior, options):
    return "-".join([prior] + sorted(options))


def train_config(args, prior, options):
    """The TrainConfig the 'train' command would build for this run."""
    from cryostar_boltz.engine.cli import command_parser
    from cryostar_boltz.engine.training.config import config_from_args
    argv = ["--particles", str(args.data / "particles.star"),
            "--reference", str(args.data / "reference.pdb"), "--out", "unused",
            "--epochs", str(args.epochs), "--batch-size", str(args.batch),
            "--lr", str(args.lr), "--threads", str(args.threads),
            "--device", "cpu", "--prior", prior, *args.train_args.split()]
    for option in options:
        argv += ["--prior-option", option]
    return config_from_args(command_parser("train").parse_args(argv))


def ensure_run(args, prior, options, log=print):
    """Train the run (or reuse / resume it); returns (folder, seconds)."""
    from cryostar_boltz.engine.layout import RunLayout
    from cryostar_boltz.engine.training.config import TrainConfig
    from cryostar_boltz.engine.training.stage1 import run_training
    run = args.out / run_name(prior, options)
    layout = RunLayout(run)
    if args.finished:   # require_finished checked every run first
        log("reusing %s as it was trained" % run)
        return run, None
    cfg = train_config(args, prior, options)
    if layout.config.exists():
        saved = TrainConfig.load(run)
        differ = {k: v for k, v in saved.differences(cfg).items()
                  if k not in IGNORED_CONFIG}
        if differ:
            raise ValueError("%s was trained with other options %s (saved, "
                             "asked): remove it or use another --out"
                             % (run, differ))
        if layout.model.exists():
            log("reusing %s" % run)
            return run, None
    start = time.perf_counter()
    run_training(cfg, run, resume=layout.config.exists(), log=log)
    return run, time.perf_counter() - start


# ------------------------------------------------------------------ metrics

#: Prior samples descended to find the basins and their prior populations.
BASIN_READS = 2000
#: Most basins a prior may report (clusters of the basin clustering).
MAX_BASINS = 64


def cluster_scores(z, labels_true, priors):
    """ARI (and homogeneity, populated clusters) of each clustering of z;
    ``priors`` maps a name to a multi-state prior whose basins cluster z
    (every basin of its free energy, see ``priors.landscape``); for those,
    the populations of the basins that hold each true state too."""
    from sklearn.metrics import adjusted_rand_score, homogeneity_score
    from cryostar_boltz.engine.analysis import cluster_latents
    clusterings = {"kmeans": cluster_latents(z, "kmeans", 3),
                   "gmm-fit": cluster_latents(z, "gmm", 3)}
    for name, prior in priors.items():
        clusterings[name] = cluster_latents(
            z, "basins", min(MAX_BASINS, len(z)), prior=prior,
            basin_options={"seed": 0, "num_reads": BASIN_READS})
    scores = {name: {"ari": float(adjusted_rand_score(labels_true, c.labels)),
                     "homogeneity": float(homogeneity_score(labels_true, c.labels)),
                     "clusters": int(c.k)}
              for name, c in clusterings.items()}
    scores["separability"] = separability(z, labels_true)
    for name in priors:
        scores[name].update(basin_populations(clusterings[name], labels_true))
    return scores


def separability(z, labels_true, folds=5):
    """Cross-validated accuracy (fraction, mean of ``folds`` stratified
    folds, deterministic) of a linear discriminant predicting the true
    state from z (n, d)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    split = StratifiedKFold(folds, shuffle=True, random_state=0)
    return float(cross_val_score(LinearDiscriminantAnalysis(), z, labels_true,
                                 cv=split).mean())


def basin_populations(clustering, labels_true, states=3):
    """For each true state, the basin holding most of its particles and that
    basin's prior and particle populations (None for a state whose basin
    also holds most of another state: two states in one basin)."""
    basins = clustering.details["basins"]
    counts = np.zeros((states, len(basins)), dtype=np.int64)
    np.add.at(counts, (labels_true, clustering.labels), 1)
    chosen = counts.argmax(1)
    shared = [int((chosen == b).sum()) > 1 for b in chosen]
    prior = [None if shared[k] else basins[b].get("prior_population")
             for k, b in enumerate(chosen)]
    particles = [None if shared[k] else basins[b].get("particle_population")
                 for k, b in enumerate(chosen)]
    return {"basins": len(basins), "state_basin": chosen.tolist(),
            "prior_populations": prior, "particle_populations": particles,
            "basin_details": basins}


def refit_prior(run, steps, lr=None, batch=1024, seed=0):
    """A copy of the run's prior trained alone, on the frozen posteriors of
    the particles, by the KL's own gradient (maximum likelihood of the
    prior on posterior samples) at the prior's own fit rate (``lr`` None);
    gmm starts from k-means of z. Shows what the prior family can do when
    it is given time to follow the encoder."""
    import copy

    from cryostar_boltz.engine.priors import fit_to_posteriors
    prior = copy.deepcopy(run.prior)
    fit_to_posteriors(prior, run.latents(), np.load(run.layout.latent_logvar), steps,
                      lr=lr, batch=batch, seed=seed)
    return prior.eval()


def draw(run, prior, sampler, n, sweeps, seed):
    """(decoder inputs (n, d), facts) from ``prior`` (or the posterior)."""
    from cryostar_boltz.engine.sampling import draw_samples
    if sampler == "posterior":
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(run.latents()), size=min(n, len(run.latents())),
                         replace=False)
        return run.particle_decoder_inputs(np.sort(idx)), {}
    arrays, info = draw_samples(prior, n, None if sampler == "direct" else sampler,
                                seed=seed, num_sweeps=sweeps if sampler != "direct"
                                else None, log=lambda *a: None)
    facts = {"sample_seconds": info["timing"]["total_seconds"]}
    if "states" in arrays and prior.to_bqm() is not None:
        facts.update(mixing(prior, arrays["states"], seed))
    return arrays["z"], facts


def mixing(prior, states, seed):
    """Sampled binary states against the exact Boltzmann distribution."""
    from cryostar_boltz.engine.samplers import ExactSampler, exact_distribution
    bqm = prior.to_bqm()
    if len(bqm) > 16:
        return {}
    _, marginals, (all_states, probs) = exact_distribution(bqm)
    exact = ExactSampler().sample(bqm, num_reads=len(states), seed=seed)
    exact_states = exact.record.sample[:, [exact.variables.index(v) for v in range(len(bqm))]]
    exact_states = np.repeat(exact_states, exact.record.num_occurrences, axis=0)
    weights = 1 << np.arange(len(bqm))      # state -> integer code
    exact_p = np.zeros(len(probs))
    exact_p[all_states.astype(np.int64) @ weights] = probs

    def tv(samples):
        counts = np.bincount(samples.astype(np.int64) @ weights, minlength=len(probs))
        return 0.5 * float(np.abs(counts / len(samples) - exact_p).sum())

    target = np.array([marginals[v] for v in range(len(bqm))])
    return {"tv_to_exact": tv(states), "tv_exact_floor": tv(exact_states),
            "max_marginal_error": float(np.abs(states.mean(0) - target).max()),
            "modes_p_above_1pct": int((probs > 0.01).sum())}


def structure_scores(coords, states, bonds):
    """COV, MAT, in-between and unphysical fractions of decoded structures."""
    from cryostar_boltz.engine.structure import ca_rmsd
    fit = ca_rmsd(coords[:, None], states[None])                 # (M, 3)
    box = ca_rmsd(coords[:, None], states[None], superpose=False)
    nearest = fit.min(1)
    close = nearest <= COV_THRESHOLD
    populations = np.bincount(fit.argmin(1)[close], minlength=3) / len(coords)
    broken, clashing = physical_checks(coords, bonds)
    return {"cov": float(np.mean(fit.min(0) <= COV_THRESHOLD)),
            "mat_r": float(fit.min(0).mean()), "mat_r_box": float(box.min(0).mean()),
            "mat_p": float(nearest.mean()), "mat_p_box": float(box.min(1).mean()),
            "min_rmsd_per_state": fit.min(0).tolist(),
            "in_between": float(np.mean(nearest > BETWEEN_THRESHOLD)),
            "unphysical": float(np.mean(broken | clashing)),
            "chain_breaks": float(np.mean(broken)), "clashes": float(np.mean(clashing)),
            "populations": populations.tolist()}


def physical_checks(coords, bonds, chunk=256):
    """Per structure: (a bond longer than BREAK_DISTANCE, a clash)."""
    i, j = bonds[:, 0], bonds[:, 1]
    broken = np.linalg.norm(coords[:, i] - coords[:, j], axis=-1).max(1) > BREAK_DISTANCE
    n = coords.shape[1]
    pairs = np.ones((n, n), dtype=bool)
    pairs[np.tril_indices(n)] = False
    pairs[i, j] = pairs[j, i] = False
    a, b = np.nonzero(pairs)
    clashing = np.empty(len(coords), dtype=bool)
    for start in range(0, len(coords), chunk):
        block = coords[start:start + chunk]
        d = np.linalg.norm(block[:, a] - block[:, b], axis=-1)
        clashing[start:start + chunk] = d.min(1) < CLASH_DISTANCE
    return broken, clashing


def particle_accuracy(run, truth_all, state):
    """Median superposed CA RMSD of the particles' decoded z to their own
    simulated frame (is the decoder any good?)."""
    from cryostar_boltz.engine.structure import ca_rmsd
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(state), size=min(2000, len(state)), replace=False))
    decoded = run.decode(run.particle_decoder_inputs(idx))
    return float(np.median(ca_rmsd(decoded, truth_all[state[idx]])))


def evaluate(run_dir, args, states, truth_all, truth, log=print):
    from cryostar_boltz.engine.runs import TrainedRun
    run = TrainedRun(run_dir)
    prior = run.prior
    priors = {} if prior.name == "gaussian" else {"prior": prior}
    if priors and args.refit_steps:
        priors["prior-refit"] = refit_prior(run, args.refit_steps, seed=args.seed)
    result = {"run": str(run_dir), "prior": prior.name, "prior_options": prior.config(),
              "clustering": cluster_scores(run.latents(), truth["macrostate"], priors),
              "particle_median_rmsd": particle_accuracy(run, truth_all, truth["state"]),
              "samples": {}}
    samplers = ["direct"] if prior.to_bqm() is None else args.grbm_samplers
    draws = [(s, prior, s) for s in samplers] + [("posterior", prior, "posterior")]
    if "prior-refit" in priors:
        draws += [(s + " refit", priors["prior-refit"], s) for s in samplers]
    for label, source, sampler in draws:
        inputs, facts = draw(run, source, sampler, args.n_samples, args.sweeps, args.seed)
        scores = structure_scores(run.decode(inputs), states, run.reference.bonds)
        scores.update(facts)
        result["samples"][label] = scores
        log("%s / %s: %s" % (prior.name, label, json.dumps(
            {k: round(v, 3) for k, v in scores.items() if isinstance(v, float)})))
    return result


# ------------------------------------------------------------------ report

def _populations(values):
    if not values or any(v is None for v in values):
        return "-"
    return "/".join("%.2f" % v for v in values)


def table(results):
    rows = ["| run | sampler | ARI k-means | LDA acc. | ARI gmm-fit | ARI basins (basins) "
            "| basin pop. prior | basin pop. particles | COV@1.5 | MAT-R | MAT-P "
            "| in-between | unphysical | populations | h TV (floor) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        c = r["clustering"]
        for sampler, s in r["samples"].items():
            key = "prior-refit" if sampler.endswith("refit") else "prior"
            prior_ari = ("%.3f (%d)" % (c[key]["ari"], c[key]["basins"])
                         if key in c else "-")
            pops = [_populations(c[key][k]) if key in c else "-"
                    for k in ("prior_populations", "particle_populations")]
            tv = ("%.3f (%.3f)" % (s["tv_to_exact"], s["tv_exact_floor"])
                  if "tv_to_exact" in s else "-")
            rows.append("| %s | %s | %.3f | %.4f | %.3f | %s | %s | %s | %.2f | %.2f | %.2f "
                        "| %.3f | %.3f | %s | %s |" % (
                            name, sampler, c["kmeans"]["ari"], c["separability"],
                            c["gmm-fit"]["ari"],
                            prior_ari, pops[0], pops[1], s["cov"], s["mat_r"],
                            s["mat_p"], s["in_between"], s["unphysical"],
                            "/".join("%.2f" % p for p in s["populations"]), tv))
    return "\n".join(rows)


def basins_table(rows):
    """Markdown table of (run, prior, clustering scores) rows: k-means ARI,
    the LDA accuracy and, for a multi-basin prior, the basins' ARI, count
    and populations."""
    lines = ["| run | prior | ARI k-means | LDA acc. | ARI basins (basins) "
             "| basin pop. prior | basin pop. particles |",
             "|---|---|---|---|---|---|---|"]
    for name, key, c in rows:
        b = c.get(key)
        lines.append("| %s | %s | %.3f | %.4f | %s | %s | %s |" % (
            name, key, c["kmeans"]["ari"], c["separability"],
            "%.3f (%d)" % (b["ari"], b["basins"]) if b else "-",
            _populations(b["prior_populations"]) if b else "-",
            _populations(b["particle_populations"]) if b else "-"))
    return "\n".join(lines)


def require_finished(args, option):
    """ValueError (one line, naming ``option``) unless every run of
    ``--priors`` in ``--out`` is finished; nothing is measured before."""
    from cryostar_boltz.engine.layout import RunLayout
    for prior, options in args.priors:
        folder = args.out / run_name(prior, options)
        if not RunLayout(folder).model.exists():
            raise ValueError("%s: %s is not a finished run" % (option, folder))


def basins_only(args, labels, log=print):
    """The basin clustering of finished runs again (no training, no
    decoding): rows for the run's prior and, with ``--refit-steps``, its
    refitted copy. ValueError (one line) for a run that is not finished."""
    from cryostar_boltz.engine.runs import TrainedRun
    rows = []
    require_finished(args, "--basins-only")
    for prior, options in args.priors:
        name = run_name(prior, options)
        run = TrainedRun(args.out / name)
        priors = {} if run.prior.name == "gaussian" else {"prior": run.prior.eval()}
        if priors and args.refit_steps:
            priors["prior-refit"] = refit_prior(run, args.refit_steps, seed=args.seed)
        scores = cluster_scores(run.latents(), labels, priors)
        for key in (priors or {"prior": None}):
            rows.append((name, key, scores))
            log(basins_table(rows[-1:]).splitlines()[-1])
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="folder written by adk_dataset.py --three-states")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--priors", default="gaussian,gmm,grbm",
                        help="comma-separated priors, each NAME or "
                             "NAME:KEY=VALUE[:KEY=VALUE...] (prior options, "
                             "e.g. gmm:components=3,grbm:hidden=3); default "
                             "%(default)s")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-args", default="",
                        help="extra options for 'cryostar-boltz train', shared "
                             "by every run")
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--grbm-samplers", default="gibbs,sa",
                        help="dimod samplers for the grbm prior")
    parser.add_argument("--sweeps", type=int, default=1000,
                        help="sweeps per grbm sample (gibbs, sa)")
    parser.add_argument("--refit-steps", type=int, default=0,
                        help="also evaluate a copy of each gmm/grbm prior "
                             "trained this many more steps alone on the "
                             "frozen posteriors (rows '... refit')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finished", action="store_true",
                        help="evaluate the runs already finished in --out as "
                             "they were trained (e.g. by 'cryostar-boltz train' "
                             "with its defaults), without comparing their "
                             "options with these; train none")
    parser.add_argument("--basins-only", action="store_true",
                        help="only the basin clustering of runs already "
                             "finished in --out (k-means ARI, basin ARI and "
                             "populations), with the code of this version")
    args = parser.parse_args(argv)
    args.priors = parse_prior_specs(args.priors)
    args.grbm_samplers = [s for s in args.grbm_samplers.split(",") if s]
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    states, labels, truth_all = load_truth(args.data)
    if args.basins_only:
        rows = basins_only(args, labels)
        print()
        print(basins_table(rows))
        return
    if args.finished:
        require_finished(args, "--finished")
    args.out.mkdir(parents=True, exist_ok=True)
    with np.load(args.data / "particles_truth.npz") as npz:
        truth = {"state": npz["state"], "macrostate": labels}
    results = {}
    for prior, options in args.priors:
        run, took = ensure_run(args, prior, options)
        results[run.name] = evaluate(run, args, states, truth_all, truth)
        results[run.name]["train_seconds"] = took
    print()
    print(table(results))
    report = {"data": str(args.data), "n_samples": args.n_samples,
              "sweeps": args.sweeps, "thresholds": {
                  "cov": COV_THRESHOLD, "in_between": BETWEEN_THRESHOLD,
                  "chain_break": BREAK_DISTANCE, "clash": CLASH_DISTANCE,
                  "rmsd": "CA, superposed"},
              "true_states": list(CENTRE_NAMES), "runs": results}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nreport: %s" % (args.out / "report.json"))


if __name__ == "__main__":
    main()
