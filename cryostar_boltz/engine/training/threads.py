"""CPU threads of a training process: what ``--threads 0`` ("auto") picks.

torch's default is one intra-op thread per core, each spinning while it
waits for work. For training steps of batch 64-256 at 64 px most operations
are too small to split well, and when other jobs share the machine the
spinning threads burn CPU that does no work (measured: 3.5 times the
CPU-seconds of one thread for the same epochs with one busy process
beside a two-thread run on two cores, and a longer wall time).

So "auto" gives a process the cores that are free: the cores it may run
on (``os.sched_getaffinity``) shared among the node's training processes
(torchrun's ``LOCAL_WORLD_SIZE``), less the load average of the last
minute (the other jobs' demand, ``os.getloadavg``), at least one and at
most :data:`MAX_AUTO_THREADS`. The engine's entry point also sets
OpenMP's wait policy to passive (:func:`passive_openmp`), so threads that
wait for work sleep instead of spinning.
"""
import math
import os

#: Above this many threads a stage-1 step at batch 128 and 64 px gains
#: almost nothing (its operations are a few MB each).
MAX_AUTO_THREADS = 8


def passive_openmp(environ=os.environ):
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy: OpenMP
    threads (torch's intra-op pool) then sleep while they wait instead of
    spinning. Takes effect only before the OpenMP runtime loads, i.e.
    before torch is imported; returns whether the policy is now passive."""
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"


def available_cores():
    """Cores this process may run on (its CPU affinity, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_threads(processes=1, cores=None, load=None):
    """``(threads, why)`` for one of ``processes`` training processes on
    this node: the free cores (``cores`` less the 1-minute ``load``
    average, both read from the system when None) shared among the
    processes, rounded down, at least 1 and at most
    :data:`MAX_AUTO_THREADS`; ``why`` says so in words for the log."""
    cores = available_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    processes = max(1, int(processes))
    free = max(0.0, cores - float(load))
    threads = int(min(MAX_AUTO_THREADS, max(1, math.floor(free / processes))))
    why = ("%d core(s), load average %.2f: %.1f free, %d process(es) on this node"
           % (cores, load, free, processes))
    return threads, why


def choose_threads(requested, processes=1):
    """``(threads, why)``: ``requested`` when it is set (``--threads N``),
    else :func:`auto_threads`."""
    if requested:
        return int(requested), "--threads %d" % int(requested)
    threads, why = auto_threads(processes)
    return threads, "auto (--threads 0): " + why
