"""How well two half-set runs agree: the same motions and the same states
learned from independent halves of the particles.

Inputs: a run trained with ``--half-sets`` (``RUN``, trained on all
particles, whose cache holds every particle at the training box) and its
two half-set runs ``RUN/half1`` and ``RUN/half2`` (each trained on its
half only). Every particle is encoded by both halves' encoders, and the
two latent spaces are matched through the particles
(:mod:`cryostar_boltz.engine.agreement`):

- paths: PCA of each half's latents of all particles, components matched
  by |correlation| of scores (signs aligned); ``n_points`` points from the
  5th to the 95th percentile of each matched component, decoded by each
  half's decoder; per point the RMSD (Angstrom, coarse points, no
  superposition: both decoders work in the reference's frame) between the
  two halves' structures. ``motion`` is the RMSD between half 1's first
  and last point: the size of the motion the agreement is measured against.
- states: k-means (``k`` clusters) of each half's latents of all
  particles, matched by shared particles; per matched pair the RMSD
  between the structures decoded at each cluster's member nearest its
  centre, and the half-map FSC of the state: the state's particles of
  half-set 1 (as half 1's model labels them) and of half-set 2 (as half
  2's labels them) backprojected from the original images, each alone
  (:func:`cryostar_boltz.engine.halfmaps.reconstruct_halves`); resolutions
  at 0.143 and 0.5 (Angstrom; null when a half has no particle of the
  state).

Written to ``RUN/halves/agreement.json`` (fields in :func:`report`) and
``agreement.png``; :func:`table` prints it.
"""
import numpy as np
import torch

from .agreement import match_clusters, match_components, matched_fraction, path_scores
from .analysis import fit_pca, kmeans, snap_to_members
from .halfmaps import THRESHOLDS, reconstruct_halves
from .io import save_json
from .layout import RunLayout
from .structure.rmsd import ca_rmsd

#: Points decoded along each matched component, clusters of the states.
N_POINTS = 10
N_STATES = 5


def open_particles(particles, datadir, box, run_dir, device="cpu"):
    """The particles of the star or .cs ``particles`` (stacks in ``datadir``
    or beside it) as a ``TrainingData`` at the training ``box`` (None:
    theirs), images open; a downsampled stack is cached under ``run_dir``
    (``RunLayout.cached_particles``), as training caches it."""
    from .training.data import TrainingData
    from .training.distributed import DistContext
    data = TrainingData(particles, datadir, box, run_dir,
                        DistContext(device=torch.device(device)), log=lambda *a: None)
    data.open_images()
    return data


@torch.no_grad()
def encode_all(run, data, batch=512):
    """Posterior means (n, d) and, for a binary latent, codes (n, c) int8 of
    all the particles of ``data`` (a ``TrainingData`` at the run's box,
    images open) through ``run``'s (a ``TrainedRun``) encoder, given what
    it was trained on (``run.encoder_input``: turned and centred by the
    poses, or as recorded)."""
    mus, codes = [], []
    run.vae.eval()
    encoder_input = run.encoder_input(data)
    for start in range(0, data.n, batch):
        idx = np.arange(start, min(data.n, start + batch))
        images = data.load_images(idx).to(run.device)
        mu, _, extra = run.vae.encode(encoder_input(idx, images))
        mus.append(mu.float().cpu().numpy())
        if extra is not None:
            codes.append((extra > 0).to(torch.int8).cpu().numpy())
    return np.concatenate(mus), (np.concatenate(codes) if codes else None)


def _inputs(run, z, code, rows=None):
    """Decoder inputs at latent points ``z``: the particles' own codes
    (``rows``) when the decoder takes one, else the run's nearest particle's."""
    z = np.asarray(z, dtype=np.float32)
    if run.decoder_input_dim == z.shape[1]:
        return z
    if rows is not None and code is not None:
        return np.concatenate([z, code[rows].astype(np.float32)], 1)
    return run.decoder_inputs(z)


def _resolutions(maps):
    return {"resolution_%g" % t: float(maps.resolution(t)) for t in THRESHOLDS}


def report(run_dir, source=None, device="cpu", n_points=N_POINTS, k=N_STATES, seed=0,
           log=print):
    """Compute and write the agreement of ``run_dir``'s two half-set runs
    (``source``: where the split came from, recorded); returns the dict
    written to ``agreement.json``::

        half_sets: where the split came from; counts: [n1, n2]
        n_particles, latent_dim, n_points, k
        components: per matched component {half1, half2 (1-based),
            correlation (signed, of the scores over all particles),
            rmsd [per point, A], rmsd_mean, rmsd_max, motion (A)}
        clusters: {matched_fraction (0..1: particles both halves put in
            matched clusters), states: per half-1 cluster {half1, half2,
            shared, sizes, jaccard, rmsd (A), particles [in half-set 1,
            in half-set 2], resolution_0.143, resolution_0.5 (A or null)}}
    """
    from .particles import load_particles
    from .runs import TrainedRun
    from .training.config import TrainConfig, input_path
    layout = RunLayout(run_dir)
    cfg = TrainConfig.load(run_dir)
    split = np.load(layout.half_split)
    runs = [TrainedRun(layout.half_run(h).root, device) for h in (1, 2)]
    data = open_particles(input_path(cfg, "particles"), input_path(cfg, "datadir"),
                          cfg.box, layout.root, device)
    n = data.n
    encoded = [encode_all(run, data) for run in runs]
    z1, z2 = encoded[0][0], encoded[1][0]
    out = {"half_sets": source,
           "counts": [int((split == 1).sum()), int((split == 2).sum())],
           "n_particles": int(n), "latent_dim": int(z1.shape[1]),
           "n_points": int(n_points), "k": int(min(k, n))}
    # ------------------------------------------------------------ paths
    pcas = [fit_pca(z, 3) for z in (z1, z2)]
    scores = [p.transform(z) for p, z in zip(pcas, (z1, z2))]
    components = []
    for match in match_components(scores[0], scores[1]):
        i, j = match.first, match.second
        points = []
        for half, comp, sign in ((0, i, 1), (1, j, match.sign)):
            values = path_scores(scores[half][:, comp], n_points=n_points, sign=sign)
            points.append(pcas[half].mean_ + values[:, None] * pcas[half].components_[comp])
        coords = [run.decode(_inputs(run, p, None)) for run, p in zip(runs, points)]
        rmsd = ca_rmsd(coords[0], coords[1], superpose=False)
        motion = float(ca_rmsd(coords[0][0], coords[0][-1], superpose=False))
        components.append({"half1": i + 1, "half2": j + 1,
                           "correlation": match.correlation,
                           "rmsd": [float(v) for v in rmsd],
                           "rmsd_mean": float(rmsd.mean()), "rmsd_max": float(rmsd.max()),
                           "motion": motion})
    out["components"] = components
    # ------------------------------------------------------------ states
    k = out["k"]
    labels, centres = [], []
    for z in (z1, z2):
        lab, cen, _ = kmeans(z, k, seed=seed)
        labels.append(lab)
        centres.append(snap_to_members(z, lab, cen))
    particles = load_particles(input_path(cfg, "particles"),
                               datadir=input_path(cfg, "datadir"))
    apix0 = float(np.unique(np.round(particles.apix, 5))[0])
    states = []
    matches = match_clusters(labels[0], labels[1], k, k)
    for m in matches:
        rows = [centres[0][m.first], centres[1][m.second]]
        coords = [run.decode(_inputs(run, enc[0][[r]], enc[1], [r]))
                  for run, enc, r in zip(runs, encoded, rows)]
        one = np.flatnonzero((split == 1) & (labels[0] == m.first))
        two = np.flatnonzero((split == 2) & (labels[1] == m.second))
        state = {"half1": m.first, "half2": m.second, "shared": m.shared,
                 "sizes": list(m.sizes), "jaccard": m.jaccard,
                 "rmsd": float(ca_rmsd(coords[0][0], coords[1][0], superpose=False)),
                 "particles": [int(len(one)), int(len(two))]}
        if len(one) and len(two):
            maps = reconstruct_halves(particles.images, particles.rotations,
                                      particles.shifts, particles.ctf, apix0,
                                      np.concatenate([one, two]), split, device=device)
            state.update(_resolutions(maps))
        else:
            state.update({"resolution_%g" % t: None for t in THRESHOLDS})
        states.append(state)
    out["clusters"] = {"matched_fraction": matched_fraction(matches, n), "states": states}
    layout.halves.mkdir(parents=True, exist_ok=True)
    save_json(layout.agreement, out)
    _plot(out, layout.agreement_plot)
    log(table(out))
    return out


def table(out):
    """The agreement as text: one line per matched component and state."""
    lines = ["half-set agreement (%d + %d particles; split: %s)"
             % (out["counts"][0], out["counts"][1], out["half_sets"]),
             "  path      corr   RMSD mean/max (A)   motion (A)"]
    for c in out["components"]:
        lines.append("  PC%d~PC%d  %+.2f   %6.2f / %6.2f     %6.2f"
                     % (c["half1"], c["half2"], c["correlation"], c["rmsd_mean"],
                        c["rmsd_max"], c["motion"]))
    clusters = out["clusters"]
    lines.append("  states: %.0f%% of the particles in matched clusters"
                 % (100 * clusters["matched_fraction"]))
    lines.append("  state  jaccard  RMSD (A)  particles  FSC 0.143 / 0.5 (A)")
    for s in clusters["states"]:
        res = ("%.1f / %.1f" % (s["resolution_0.143"], s["resolution_0.5"])
               if s["resolution_0.143"] is not None else "-")
        lines.append("  %d~%d    %5.2f   %7.2f   %4d+%-4d  %s"
                     % (s["half1"], s["half2"], s["jaccard"], s["rmsd"],
                        s["particles"][0], s["particles"][1], res))
    return "\n".join(lines)


def _plot(out, path):
    from .plots.figure import new_figure, save_figure
    fig = new_figure(8.0, 3.5)
    ax1, ax2 = fig.subplots(1, 2)
    for c in out["components"]:
        ax1.plot(np.arange(len(c["rmsd"])), c["rmsd"], marker="o",
                 label="PC%d~PC%d (motion %.1f A)" % (c["half1"], c["half2"], c["motion"]))
    ax1.set_xlabel("point along the path")
    ax1.set_ylabel("RMSD half 1 vs half 2 (A)")
    ax1.legend(fontsize=8)
    states = out["clusters"]["states"]
    ax2.bar(np.arange(len(states)), [s["rmsd"] for s in states])
    ax2.set_xticks(np.arange(len(states)),
                   ["%d~%d" % (s["half1"], s["half2"]) for s in states])
    ax2.set_xlabel("matched state (half 1 ~ half 2)")
    ax2.set_ylabel("RMSD (A)")
    save_figure(fig, path)
