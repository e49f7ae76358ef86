"""Throughput of the whole ``train`` command, as a user runs it.

Runs ``cryostar-boltz train`` (a fresh run folder each time, everything it
does included: start-up and imports, reading the particles, training, the
per-epoch convergence pass, checkpoints, the latents and the analysis) once
per ``--threads`` value, on an idle machine and, with ``--busy``, again
beside a process that spins on one core. Prints one table: particles per
CPU-second and per wall-second (particles x epochs over the command's
CPU-seconds, user + system, and over its wall time), the CPU-seconds split
user / system, the cores it kept busy on average, and the 1-minute load
average before each run (the spinning process included). ``--cryodrgn
PYTHON`` adds the same particles through cryoDRGN's ``train_vae`` (true
poses and CTF, ``benchmarks/cryodrgn_baseline.py``'s settings: zdim 8,
256x3 networks, batch 8; ``--cryodrgn-epochs`` of them, one thread), its
pose and CTF parsing left out of its figures.

The CPU-seconds are the command's own (``os.wait4``), so they do not count
the spinning process. Run it alone on the machine (or under the team's
CPU lock) for figures that mean something::

    python benchmarks/bench_train_throughput.py --data bench_data/adk3k \\
        --out tp_runs --epochs 2 --threads 1,2,0 --busy \\
        --train-args "--pseudo-atoms atoms --batch-size 128 --lr 5e-4" \\
        --cryodrgn cdrgn-venv/bin/python

``--threads 0`` is the engine's automatic choice (the run log says what it
chose and why); the column ``threads`` shows the value given.

``--code old=DIR1,new=DIR2`` runs each row once per source tree (each on
``PYTHONPATH``, alternating, so both meet the same load), and
``--extrapolate N,EPOCHS`` adds the CPU-seconds and particles per
CPU-second the same command would take on N particles for EPOCHS epochs
(default 20,000 x 20): the training steps (the ``particles_per_s`` column
of ``metrics.csv``) scale with particles x epochs, the per-particle scoring
pass (its time in the run log) with particles, the per-epoch convergence
pass with epochs, the rest (start-up, reading, the analysis) not at all.
Each part is taken as CPU-seconds at the run's CPU-per-wall-second ratio::

    python benchmarks/bench_train_throughput.py --data bench_data/adk3k \
        --out tp_runs --epochs 6 --threads 1 --busy \
        --code main=../main,branch=. --extrapolate 20000,20
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The line of the run log that says how many threads a run used.
_THREADS_LINE = re.compile(r"CPU threads: (\d+) per process")
#: The run log's lines with the time of the scoring pass and of each
#: epoch's convergence pass (seconds).
_SCORING_LINE = re.compile(r"latents and per-particle scores of \d+ particles \(([\d.]+) s\)")
_EPOCH_LINE = re.compile(r"^epoch \d+: .*\(\d+ particles, ([\d.]+) s\)$", re.M)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="folder of particles.star and reference.pdb (adk_dataset.py)")
    p.add_argument("--out", type=Path, required=True, help="folder for the runs")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", default="1,0",
                   help="comma-separated --threads values, 0 = auto (default 1,0)")
    p.add_argument("--busy", action="store_true",
                   help="also run each beside a process spinning on one core")
    p.add_argument("--train-args", default="",
                   help="further train options, one string")
    p.add_argument("--cryodrgn", metavar="PYTHON",
                   help="python of a cryoDRGN environment: add its train_vae row")
    p.add_argument("--cryodrgn-epochs", type=int, default=1)
    p.add_argument("--cryodrgn-n", type=int,
                   help="cryoDRGN on the first N particles only (default: all)")
    p.add_argument("--no-train", action="store_true",
                   help="only the cryoDRGN row")
    p.add_argument("--code", default="",
                   help="LABEL=DIR,...: run each train row once per source tree "
                        "(on PYTHONPATH), alternating")
    p.add_argument("--extrapolate", default="20000,20",
                   help="N,EPOCHS: the run's CPU cost scaled to N particles x EPOCHS "
                        "(default 20000,20)")
    return p.parse_args(argv)


def run_measured(cmd, log_path, env=None, cwd=None):
    """Run ``cmd`` (output to ``log_path``, in ``cwd``); ``(wall s, user s,
    system s)`` of the command and its children, from ``os.wait4``."""
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit("%s failed (exit %d): see %s"
                         % (" ".join(cmd[:4]), proc.returncode, log_path))
    return wall, usage.ru_utime, usage.ru_stime


class Spinner:
    """A process spinning on one core while the block runs."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def particle_count(star):
    """Number of particles in ``star``."""
    from cryostar_boltz.engine.particles import load_particles
    return load_particles(star).n


def train_row(args, threads, busy, n, code=None):
    label = "%s%s" % ("auto" if threads == 0 else threads, " busy" if busy else "")
    name = "t%d%s%s" % (threads, "_busy" if busy else "", "_" + code[0] if code else "")
    run = args.out / name
    shutil.rmtree(run, ignore_errors=True)
    cmd = [sys.executable, "-m", "cryostar_boltz.engine.cli", "train",
           "--particles", str(args.data / "particles.star"),
           "--reference", str(args.data / "reference.pdb"), "--out", str(run),
           "--epochs", str(args.epochs), "--threads", str(threads)]
    cmd += shlex.split(args.train_args)
    env = cwd = None
    if code:
        # ``python -m`` puts its working folder first on sys.path: run there
        cwd = str(Path(code[1]).resolve())
        env = dict(os.environ, PYTHONPATH=cwd)
    load = os.getloadavg()[0]
    wall, user, system = run_measured(cmd, args.out / (name + ".log"), env, cwd)
    log = (args.out / (name + ".log")).read_text()
    used = _THREADS_LINE.search(log)
    return dict(what="train" if not code else code[0], threads=label,
                used=used.group(1) if used else "?", n=n * args.epochs, wall=wall,
                user=user, system=system, load=load, parts=run_parts(run, log))


def run_parts(run, log):
    """Wall seconds of a run's training steps, scoring pass and convergence
    passes (from ``metrics.csv`` and the run log); None where absent."""
    metrics = run / "metrics.csv"
    scoring = _SCORING_LINE.search(log)
    if not metrics.is_file() or not scoring:
        return None
    import csv
    with metrics.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    batch = int(re.search(r"batch (\d+)", log).group(1))
    steps = sum(batch / float(r["particles_per_s"]) for r in rows)
    epochs = [float(v) for v in _EPOCH_LINE.findall(log)]
    return dict(steps=steps, scoring=float(scoring.group(1)), epochs=sum(epochs),
                n_epochs=max(len(epochs), 1))


def extrapolate(row, n, epochs, n_target, epochs_target):
    """CPU-seconds of ``row``'s command at ``n_target`` particles x
    ``epochs_target`` (see the module docstring), or None."""
    parts = row.get("parts")
    if not parts:
        return None
    ratio = (row["user"] + row["system"]) / row["wall"]
    rest = row["wall"] - parts["steps"] - parts["scoring"] - parts["epochs"]
    wall = (parts["steps"] * n_target * epochs_target / (n * epochs)
            + parts["scoring"] * n_target / n
            + parts["epochs"] * epochs_target / parts["n_epochs"] + max(rest, 0.0))
    return wall * ratio

def cryodrgn_row(args, n):
    sys.path.insert(0, str(HERE))
    import numpy as np
    from cryodrgn_baseline import cryodrgn_command, prepare_inputs, thread_env
    with np.load(args.data / "particles_truth.npz") as truth:
        box, apix = int(truth["box"]), float(truth["apix"])
    out = (args.out / "cryodrgn").resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    drgn = cryodrgn_command(args.cryodrgn)
    env = thread_env(1)
    star = (args.data / "particles.star").resolve()
    pose, ctf, ind = prepare_inputs(drgn, star, out, box, apix, args.cryodrgn_n, env)
    cmd = drgn + ["train_vae", str(star), "--datadir", str(star.parent), "--poses",
                  str(pose), "--ctf", str(ctf), "--zdim", "8", "-n",
                  str(args.cryodrgn_epochs), "--enc-layers", "3", "--enc-dim", "256",
                  "--dec-layers", "3", "--dec-dim", "256", "-b", "8", "--seed", "0",
                  "--max-threads", "1", "--no-analysis", "-o", str(out / "train")]
    if ind is not None:
        cmd += ["--ind", str(ind)]
        n = min(n, args.cryodrgn_n)
    load = os.getloadavg()[0]
    wall, user, system = run_measured(cmd, out / "train.log", env)
    return dict(what="cryoDRGN", threads="1", used="1", n=n * args.cryodrgn_epochs,
                wall=wall, user=user, system=system, load=load)


def print_table(rows, args, n):
    target_n, target_epochs = (int(v) for v in args.extrapolate.split(","))
    print("train %s, %d particles, %d epochs (%s)"
          % (args.train_args or "(defaults)", n, args.epochs, args.data))
    print("%-9s %-11s %4s %11s %8s %8s %8s %7s %7s %6s %5s %9s %9s"
          % ("command", "threads", "used", "particles", "wall s", "user s", "sys s",
             "/CPU-s", "/wall-s", "cores", "load", "scoring s",
             "%dk x%d" % (target_n // 1000, target_epochs)))
    for r in rows:
        cpu = r["user"] + r["system"]
        parts = r.get("parts")
        cost = extrapolate(r, n, args.epochs, target_n, target_epochs)
        print("%-9s %-11s %4s %11d %8.1f %8.1f %8.1f %7.0f %7.0f %6.2f %5.2f %9s %9s"
              % (r["what"], r["threads"], r["used"], r["n"], r["wall"], r["user"],
                 r["system"], r["n"] / cpu, r["n"] / r["wall"], cpu / r["wall"],
                 r["load"], "%.1f" % parts["scoring"] if parts else "-",
                 "%.0f/CPU-s" % (target_n * target_epochs / cost) if cost else "-"))


def main(argv=None):
    args = parse_args(argv)
    args.data, args.out = args.data.resolve(), args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    n = particle_count(args.data / "particles.star")
    threads = [int(t) for t in args.threads.split(",")]
    codes = [tuple(c.split("=", 1)) for c in args.code.split(",") if c] or [None]
    rows = []
    for busy in ([] if args.no_train else [False, True] if args.busy else [False]):
        for t in threads:
            for code in codes:
                if busy:
                    with Spinner():
                        rows.append(train_row(args, t, True, n, code))
                else:
                    rows.append(train_row(args, t, False, n, code))
    if args.cryodrgn:
        rows.append(cryodrgn_row(args, n))
    print_table(rows, args, n)


if __name__ == "__main__":
    sys.exit(main())
