"""cryoDRGN on a simulated dataset: time per epoch and |Spearman| of z.

The side-by-side baseline of the stage-1 benchmark: the same particles
(``adk_dataset.py``) through cryoDRGN's ``train_vae`` with the true poses
and CTF. After each epoch cryoDRGN writes ``z.EPOCH.pkl``; this script
takes PC1 of z and reports |Spearman| against the true frame index, with
the epoch's training time and the wall time since the start of training.

cryoDRGN runs from its own environment (it pins other numpy/torch
releases): give its interpreter with ``--cryodrgn-python`` or put its
``cryodrgn`` executable on PATH.

Conventions (checked against this engine's simulator): cryoDRGN's
``parse_pose_star`` gives rotation matrices equal to RELION's ``A`` and
the same origins, and cryoDRGN's CTF has the opposite sign of RELION's, so
particles with RELION's sign (white) need cryoDRGN's default data
inversion: ``--uninvert-data`` must NOT be given. A back-projection of
noiseless simulated particles with these settings correlates at 0.99 with
the atomic model's density.

Examples::

    # pipeline check: 2,000 particles, 2 epochs
    python benchmarks/cryodrgn_baseline.py --star adk_sim/particles.star \\
        --out drgn_small --n 2000 --epochs 2 \\
        --cryodrgn-python ~/cdrgn-venv/bin/python

    # the benchmark: all particles, zdim 8, 256x3 networks, 2 threads
    python benchmarks/cryodrgn_baseline.py --star adk_sim/particles.star \\
        --out drgn_full --epochs 5 --target 0.9

    # the table of a finished (or running) run again
    python benchmarks/cryodrgn_baseline.py --star adk_sim/particles.star \\
        --out drgn_full --evaluate-only
"""
import argparse
import io
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

_EPOCH_LINE = re.compile(
    r"=====> Epoch: (\d+) .*Finished in (\d+):(\d+):(\d+(?:\.\d+)?)")
_Z_FILE = re.compile(r"z\.(\d+)\.pkl$")


class BaselineError(ValueError):
    """Missing input or a cryoDRGN step that failed."""


# --------------------------------------------------------------- cryoDRGN

def cryodrgn_command(python=None):
    """The command line that starts cryoDRGN's CLI."""
    if python:
        exe = Path(python).parent / "cryodrgn"
        if exe.exists():
            return [str(exe)]
        return [str(python), "-c", "import sys; from cryodrgn.command_line "
                "import main_commands; sys.exit(main_commands())"]
    exe = shutil.which("cryodrgn")
    if exe is None:
        raise BaselineError("cryodrgn is not on PATH: give --cryodrgn-python")
    return [exe]


def _run(cmd, log_path, env):
    with open(log_path, "a") as log:
        log.write("$ %s\n" % " ".join(cmd))
        log.flush()
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env=env)
    if done.returncode:
        raise BaselineError("%s failed (exit %d): see %s"
                            % (cmd[1] if len(cmd) > 1 else cmd[0],
                               done.returncode, log_path))


def thread_env(threads):
    """Environment limiting torch / BLAS to ``threads`` threads."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    return env


def prepare_inputs(drgn, star, out, box, apix, n_subset, env):
    """Poses, CTF and (for a subset) the particle indices, in ``out``."""
    log = out / "commands.log"
    pose, ctf = out / "pose.pkl", out / "ctf.pkl"
    _run(drgn + ["parse_pose_star", str(star), "-o", str(pose), "-D",
                 str(box), "--Apix", str(apix)], log, env)
    _run(drgn + ["parse_ctf_star", str(star), "-o", str(ctf), "-D", str(box),
                 "--Apix", str(apix)], log, env)
    ind = None
    if n_subset:
        ind = out / "ind.pkl"
        with open(ind, "wb") as fh:
            pickle.dump(np.arange(n_subset), fh)
    return pose, ctf, ind


def train(drgn, star, pose, ctf, ind, out, args, env):
    """Run ``train_vae``; record its start time for wall-clock figures."""
    cmd = drgn + ["train_vae", str(star), "--datadir", str(star.parent),
                  "--poses", str(pose), "--ctf",
                  str(ctf), "--zdim", str(args.zdim), "-n", str(args.epochs),
                  "--enc-layers", str(args.layers), "--enc-dim",
                  str(args.dim), "--dec-layers", str(args.layers),
                  "--dec-dim", str(args.dim), "-b", str(args.batch_size),
                  "--seed", str(args.seed), "--max-threads",
                  str(args.threads), "--no-analysis", "-o",
                  str(out / "train")]
    if ind is not None:
        cmd += ["--ind", str(ind)]
    timing = {"start": time.time(), "command": cmd,
              "model": _model_label(args), "load_before": os.getloadavg()}
    (out / "timing.json").write_text(json.dumps(timing))
    cpu_before = _children_cpu_seconds()
    _run(cmd, out / "commands.log", env)
    timing.update(wall_s=time.time() - timing["start"],
                  cpu_s=_children_cpu_seconds() - cpu_before,
                  load_after=os.getloadavg())
    (out / "timing.json").write_text(json.dumps(timing))
    return timing


def _model_label(args):
    return "zdim %d, %dx%d, batch %d, %d threads" % (
        args.zdim, args.layers, args.dim, args.batch_size, args.threads)


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------- evaluation

def load_z(path, python=None):
    """z (N, zdim) from a cryoDRGN ``z.N.pkl`` (pickled numpy array).

    cryoDRGN's environment may hold another numpy major release whose
    pickles this one cannot read; then its own interpreter converts it.
    """
    try:
        with open(path, "rb") as fh:
            return np.asarray(pickle.load(fh))
    except (ModuleNotFoundError, AttributeError, ImportError):
        if not python:
            raise
    code = ("import pickle, sys, numpy; numpy.save(sys.stdout.buffer, "
            "numpy.asarray(pickle.load(open(sys.argv[1], 'rb'))))")
    raw = subprocess.run([str(python), "-c", code, str(path)],
                         capture_output=True, check=True).stdout
    return np.load(io.BytesIO(raw))


def pc1_spearman(z, frame):
    """|Spearman| between the first principal component of z and frame."""
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pc1 = centred @ vt[0]
    return abs(spearmanr(pc1, frame).statistic)


def epoch_times(log_path):
    """{epoch: training seconds} from cryoDRGN's log."""
    times = {}
    if not log_path.exists():
        return times
    for match in _EPOCH_LINE.finditer(log_path.read_text()):
        h, m, s = int(match[2]), int(match[3]), float(match[4])
        times[int(match[1])] = 3600 * h + 60 * m + s
    return times


def evaluate(out, frame, python=None):
    """Rows (epoch, train s, wall s, |Spearman|, particles/s) of a run."""
    train_dir = out / "train"
    z_files = sorted((p for p in train_dir.glob("z.*.pkl")
                      if _Z_FILE.search(p.name)),
                     key=lambda p: int(_Z_FILE.search(p.name)[1]))
    timing = json.loads((out / "timing.json").read_text())
    times = epoch_times(train_dir / "run.log")
    rows = []
    for path in z_files:
        epoch = int(_Z_FILE.search(path.name)[1])
        z = load_z(path, python)
        seconds = times.get(epoch, float("nan"))
        rows.append({"epoch": epoch, "n": len(z), "train_s": seconds,
                     "wall_s": path.stat().st_mtime - timing["start"],
                     "spearman": pc1_spearman(z, frame[:len(z)]),
                     "particles_per_s": len(z) / seconds})
    return rows


def print_table(rows, n, target=None):
    print("%5s %10s %10s %11s %12s" % ("epoch", "train s", "wall s",
                                       "|Spearman|", "particles/s"))
    for r in rows:
        print("%5d %10.1f %10.1f %11.3f %12.1f"
              % (r["epoch"], r["train_s"], r["wall_s"], r["spearman"],
                 r["particles_per_s"]))
    if target is not None:
        hit = next((r for r in rows if r["spearman"] >= target), None)
        if hit:
            print("|Spearman| >= %.3f after epoch %d: %.1f s wall (%d "
                  "particles)" % (target, hit["epoch"], hit["wall_s"], n))
        else:
            print("|Spearman| >= %.3f not reached" % target)


# ------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--star", type=Path, required=True,
                        help="simulated particles (RELION 3.1 star)")
    parser.add_argument("--truth", type=Path,
                        help="ground truth (default: STAR's NAME_truth.npz)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cryodrgn-python", type=Path,
                        help="python of cryoDRGN's environment (default: "
                             "cryodrgn on PATH)")
    parser.add_argument("--n", type=int,
                        help="train on the first N particles only")
    parser.add_argument("--zdim", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=3,
                        help="hidden layers of encoder and decoder")
    parser.add_argument("--dim", type=int, default=256,
                        help="hidden width of encoder and decoder "
                             "(cryoDRGN's default is 1024)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="cryoDRGN's default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float,
                        help="report the wall time to this |Spearman|")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only print the table of an existing run")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    star = args.star.resolve()
    truth_path = args.truth or star.with_name(star.stem + "_truth.npz")
    if not star.exists() or not truth_path.exists():
        raise BaselineError("need %s and %s" % (star, truth_path))
    with np.load(truth_path) as truth:
        frame = truth["frame"] if "frame" in truth else truth["state"]
        box, apix = int(truth["box"]), float(truth["apix"])
    n = args.n or len(frame)
    out = args.out.resolve()

    if not args.evaluate_only:
        out.mkdir(parents=True, exist_ok=True)
        drgn = cryodrgn_command(args.cryodrgn_python)
        env = thread_env(args.threads)
        t0 = time.perf_counter()
        pose, ctf, ind = prepare_inputs(drgn, star, out, box, apix, args.n,
                                        env)
        print("parsed poses and CTF in %.1f s" % (time.perf_counter() - t0))
        timing = train(drgn, star, pose, ctf, ind, out, args, env)
        print("train_vae: %.0f s wall, %.0f s CPU (%.2f cores busy on "
              "average); load average %.1f before, %.1f after"
              % (timing["wall_s"], timing["cpu_s"],
                 timing["cpu_s"] / timing["wall_s"],
                 timing["load_before"][1], timing["load_after"][1]))
    rows = evaluate(out, frame, args.cryodrgn_python)
    timing = json.loads((out / "timing.json").read_text())
    n = rows[0]["n"] if rows else n
    print("cryoDRGN train_vae: %d particles, %d px, %s"
          % (n, box, timing.get("model", _model_label(args))))
    print_table(rows, n, args.target)
    (out / "table.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
