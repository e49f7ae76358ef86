"""Focus benchmarks: masks, moving-residue selections and rigid domains.

Two tables:

``region``: one region moves and the rest is still. Adenylate kinase's LID
(residues 122-159) swings as a rigid body from where the closed crystal
structure (1AKE) has it to where the open one (4AKE) has it, the rest of
the closed structure held still: the LID's rigid transform between the
two structures (CORE superposed; Kabsch) interpolated along its rotation
axis (``--frames`` states, drawn uniformly). Particles are simulated with
the engine's simulator (``--n``, 64 px, ``--snr``) and trained six ways:
plain, ``--mask`` (the LID's swept volume, 6 Angstrom around its CAs over
the path, soft edge), ``--move 4AKE:122-159``, both, and as two rigid domains
(``--motion domains``, the LID against the rest, given and found). Reported: the
median per-particle CA RMSD (box frame) of the moving region and of the
still region to the truth, and \\|Spearman\\| between PC1 of z and the frame::

    python benchmarks/bench_focus.py region --out bench_runs/focus_region

``motion``: free against rigid-domain motion (``--motion domains``, domains
found automatically) on the adenylate-kinase path (``adk_dataset.py``), on
the first ``--sizes`` particles of each dataset given (``--data``, one per
SNR), each run seeing the same number of particles (``--presentations``:
epochs = presentations / size). Reported: median CA RMSD (box frame) of the
decoded structure to the true frame, \\|Spearman(PC1, frame)\\| and the
median training particles/s::

    python benchmarks/adk_dataset.py --out bench_data/adk_path
    python benchmarks/adk_dataset.py --out bench_data/adk_path_002 --snr 0.02
    python benchmarks/bench_focus.py motion --out bench_runs/focus_motion \\
        --data bench_data/adk_path bench_data/adk_path_002

Each run is reused when its folder holds a finished run.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

LID = (122, 159)
TRAIN = ["--batch-size", "128", "--lr", "5e-4", "--low-pass", "6",
         "--elastic-keep", "0.8", "--elastic-weight", "0.03", "--prior-fit-steps", "100"]


def train(particles, reference, run, epochs, threads, extra=(), datadir=None):
    if (run / "model.pt").exists():
        return
    cmd = [sys.executable, "-m", "cryostar_boltz.engine.cli", "train",
           "--particles", str(particles), "--reference", str(reference),
           "--out", str(run), "--epochs", str(epochs), "--threads", str(threads),
           "--device", "cpu", "--overwrite", *TRAIN, *extra]
    if datadir:
        cmd += ["--datadir", str(datadir)]
    with open(str(run) + ".log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def decoded(run):
    from cryostar_boltz.engine.runs import TrainedRun
    return TrainedRun(run).decode(np.load(run / "z.npy"))


def speed(run):
    from cryostar_boltz.engine.training.progress import read_metrics
    values = np.asarray(read_metrics(run / "metrics.csv")["particles_per_s"], float)
    return float(np.median(values[1:] if len(values) > 1 else values))


def pc1_spearman(run, frame):
    from cryostar_boltz.engine.analysis import fit_pca, spearman_abs
    z = np.load(run / "z.npy")
    return spearman_abs(fit_pca(z, 1).transform(z)[:, 0], frame)


# ------------------------------------------------------------ region
def lid_path(frames):
    """(frames, A, 3) heavy atoms of closed adk with the LID moved along
    its rigid closed -> open path, and the ensemble they belong to."""
    from scipy.spatial.transform import Rotation, Slerp

    from cryostar_boltz.engine.resources import adk_dir
    from cryostar_boltz.engine.simulate import StateEnsemble, ensemble_from_structures
    from cryostar_boltz.engine.structure import load_structure
    closed = ensemble_from_structures([adk_dir() / "adk_closed.pdb"])
    opened = load_structure(adk_dir() / "adk_open.pdb")
    model = closed.model
    lid = (model.res_ids >= LID[0]) & (model.res_ids <= LID[1])
    core = ~lid
    # open superposed on closed by the rest of the protein, then the LID's
    # rigid transform between the two (Kabsch both times)
    a, b = model.coords, opened.coords
    r1, t1 = kabsch(b[core], a[core])
    b = b @ r1.T + t1
    r2, t2 = kabsch(a[lid], b[lid])
    centre = a[lid].mean(0)
    steps = np.linspace(0, 1, frames)
    rotations = Slerp([0, 1], Rotation.from_matrix([np.eye(3), r2]))(steps)
    shift = (r2 @ centre + t2) - centre
    atoms = closed.atom_coords[0]
    moving = lid[model.atoms.residue_index[closed.atom_index]]
    states = np.repeat(atoms[None], frames, axis=0)
    for k, (rot, s) in enumerate(zip(rotations, steps)):
        states[k, moving] = rot.apply(atoms[moving] - centre) + centre + s * shift
    ensemble = StateEnsemble(states, closed.atomic_numbers, model, closed.atom_index)
    return ensemble, lid


def kabsch(x, y):
    """Rotation r and translation t with r x + t closest to y."""
    cx, cy = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - cx).T @ (y - cy))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1, 1, d]) @ u.T
    return r, cy - r @ cx


def swept_mask(path, truth, lid, box, apix, margin=6.0):
    import mrcfile
    from scipy.spatial import cKDTree
    states = np.load(truth)["state_coords"][:, lid].reshape(-1, 3)
    r = (np.arange(box) - box // 2) * apix
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    voxels = np.stack([x, y, z], -1).reshape(-1, 3)
    d, _ = cKDTree(states).query(voxels)
    mask = np.clip((margin + apix - d) / (2 * apix), 0, 1).reshape(box, box, box)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(mask.astype(np.float32))
        mrc.voxel_size = apix
    return path


def region(args):
    from cryostar_boltz.engine.simulate import simulate_dataset
    out = args.out
    data = out / "data"
    ensemble, lid = lid_path(args.frames)
    if not (data / "particles.star").exists():
        simulate_dataset(ensemble, data, args.n, 64, args.apix, snr=args.snr,
                         seed=args.seed)
    truth = data / "particles_truth.npz"
    mask = swept_mask(out / "lid_mask.mrc", truth, lid, 64, args.apix)
    selection = "4AKE:%d-%d" % LID
    variants = [("plain", []), ("mask", ["--mask", str(mask)]),
                ("move", ["--move", selection]),
                ("mask + move", ["--mask", str(mask), "--move", selection]),
                ("domains", ["--motion", "domains", "--domains",
                             "4AKE:1-%d,4AKE:%d-214;%s" % (LID[0] - 1, LID[1] + 1,
                                                            selection)]),
                ("domains found", ["--motion", "domains"])]
    facts = np.load(truth)
    frame, states = facts["state"], facts["state_coords"]
    print("region benchmark: %d particles, %d frames, SNR %g, %d epochs; LID %s "
          "moves (%.1f A RMSD at the path's end), %d residues still"
          % (args.n, args.frames, args.snr, args.epochs, selection,
             np.sqrt(((states[-1, lid] - states[0, lid]) ** 2).sum(-1).mean()),
             int((~lid).sum())))
    print("%-12s %12s %12s %10s %8s" % ("variant", "moving (A)", "still (A)",
                                        "Spearman", "part/s"))
    ref = states[0]
    still = np.sqrt(((ref[None] - states[frame]) ** 2).sum(-1))
    print("%-12s %12.2f %12.2f %10s %8s" % ("reference", np.median(np.sqrt(
        (still[:, lid] ** 2).mean(1))), np.median(np.sqrt((still[:, ~lid] ** 2).mean(1))),
        "-", "-"))
    for name, extra in variants:
        run = out / name.replace(" + ", "_").replace(" ", "_")
        train(data / "particles.star", data / "reference.pdb", run, args.epochs,
              args.threads, extra)
        error = np.sqrt(((decoded(run) - states[frame]) ** 2).sum(-1))
        print("%-12s %12.2f %12.2f %10.3f %8.0f" % (
            name, np.median(np.sqrt((error[:, lid] ** 2).mean(1))),
            np.median(np.sqrt((error[:, ~lid] ** 2).mean(1))),
            pc1_spearman(run, frame), speed(run)), flush=True)


# ------------------------------------------------------------ motion
def subset(data, n, out):
    """The first ``n`` particles of ``data``'s star (images found through
    --datadir) and their true frames."""
    from cryostar_boltz.engine.particles import load_particles
    from cryostar_boltz.engine.particles.relion import write_particles_star
    star = out / ("particles_%d.star" % n)
    if not star.exists():
        out.mkdir(parents=True, exist_ok=True)
        particles = load_particles(data / "particles.star", require_images=False)
        write_particles_star(star, particles, np.arange(n))
    return star


def motion(args):
    print("motion benchmark: free vs rigid domains (found), %d particle "
          "presentations per run, threads %d" % (args.presentations, args.threads))
    print("%-8s %7s %-8s %7s %10s %10s %8s" % ("SNR", "n", "motion", "epochs",
                                               "RMSD (A)", "Spearman", "part/s"))
    for data in args.data:
        facts = np.load(data / "particles_truth.npz")
        snr = float(facts["snr"]) if "snr" in facts else float("nan")
        for n in args.sizes:
            star = subset(data, n, args.out / data.name)
            epochs = max(1, args.presentations // n)
            frame, target = facts["state"][:n], facts["state_coords"][facts["state"][:n]]
            for kind in args.motions:
                # "domains:3": rigid domains, three of them (--num-domains)
                motion_kind, _, count = kind.partition(":")
                extra = ["--motion", motion_kind] + (["--num-domains", count] if count else [])
                run = args.out / data.name / ("%s_%d" % (kind.replace(":", "_"), n))
                train(star, data / "reference.pdb", run, epochs, args.threads,
                      extra, datadir=data)
                rmsd = np.sqrt(((decoded(run) - target) ** 2).sum(-1).mean(-1))
                print("%-8s %7d %-8s %7d %10.2f %10.3f %8.0f" % (
                    "%g" % snr, n, kind, epochs, np.median(rmsd),
                    pc1_spearman(run, frame), speed(run)), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="table", required=True)
    a = sub.add_parser("region")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--n", type=int, default=5000)
    a.add_argument("--frames", type=int, default=20)
    a.add_argument("--snr", type=float, default=0.05)
    a.add_argument("--apix", type=float, default=1.45)
    a.add_argument("--epochs", type=int, default=4)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("motion")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--data", type=Path, nargs="+", required=True)
    b.add_argument("--sizes", type=int, nargs="+", default=[20000, 5000, 2000])
    b.add_argument("--motions", nargs="+", default=["free", "domains"],
                   help="free, domains (count found) or domains:K (K domains)")
    b.add_argument("--presentations", type=int, default=40000)
    b.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    region(args) if args.table == "region" else motion(args)


if __name__ == "__main__":
    main()
