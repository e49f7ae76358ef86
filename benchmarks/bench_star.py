"""Reading and writing RELION 3.1 particle stars: our parser against libraries.

Writes a RELION 3.1 particle star (an optics block and a particles block of
the 26 columns of a RELION 3.1 refinement, ``tests/data/real/relion31.star``)
with ``--rows`` particles, then times, for each library, reading it and
writing the same table (median of ``--repeats`` runs, seconds):

* ``ours``: ``cryostar_boltz.engine.particles.star`` (numpy: columns of
  arrays, float64 written in shortest round-trip form);
* ``starfile``: teamtomo's ``starfile`` (pandas DataFrames; written with its
  default ``%.6f`` floats);
* ``emtable``: Scipion's ``emtable`` (rows of namedtuples), reading the
  particles block.

Writing starts from each library's own in-memory table (the conversion from
numpy columns is not timed). A library that is not installed is skipped.

    python benchmarks/bench_star.py [--rows 100000 1000000] [--repeats 3]
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from cryostar_boltz.engine.particles.star import read_star, write_star

LIBRARIES = ("ours", "starfile", "emtable")


def particle_table(n, seed=0):
    """RELION 3.1 blocks of ``n`` particles with realistic values."""
    rng = np.random.default_rng(seed)
    micrograph = rng.integers(1, 2000, n)
    optics = {
        "rlnOpticsGroup": np.array([1]), "rlnOpticsGroupName": np.array(["opticsGroup1"]),
        "rlnAmplitudeContrast": np.array([0.1]), "rlnSphericalAberration": np.array([2.7]),
        "rlnVoltage": np.array([300.0]), "rlnImagePixelSize": np.array([1.06]),
        "rlnMicrographOriginalPixelSize": np.array([0.53]),
        "rlnImageSize": np.array([256]), "rlnImageDimensionality": np.array([2]),
    }
    defocus = rng.uniform(5000, 30000, n)
    particles = {
        "rlnCoordinateX": rng.uniform(0, 4096, n).round(1),
        "rlnCoordinateY": rng.uniform(0, 4096, n).round(1),
        "rlnImageOriginalName": np.array(["%06d@Extract/job012/Movies/mic_%05d.mrcs"
                                          % (i % 300 + 1, m) for i, m in enumerate(micrograph)]),
        "rlnMicrographName": np.array(["MotionCorr/job002/Movies/mic_%05d.mrc" % m
                                       for m in micrograph]),
        "rlnCtfMaxResolution": rng.uniform(2.5, 8.0, n),
        "rlnCtfFigureOfMerit": rng.uniform(0.05, 0.3, n),
        "rlnDefocusU": defocus + 150.0,
        "rlnDefocusV": defocus - 150.0,
        "rlnDefocusAngle": rng.uniform(-180, 180, n),
        "rlnCtfBfactor": np.zeros(n),
        "rlnCtfScalefactor": np.ones(n),
        "rlnPhaseShift": np.zeros(n),
        "rlnAngleRot": rng.uniform(-180, 180, n),
        "rlnAngleTilt": rng.uniform(0, 180, n),
        "rlnAnglePsi": rng.uniform(-180, 180, n),
        "rlnClassNumber": np.ones(n, dtype=np.int64),
        "rlnNormCorrection": rng.uniform(0.8, 1.2, n),
        "rlnLogLikeliContribution": rng.normal(3e5, 1e3, n),
        "rlnMaxValueProbDistribution": rng.uniform(0, 1, n),
        "rlnNrOfSignificantSamples": rng.integers(1, 200, n),
        "rlnOriginXAngst": rng.normal(0, 2, n),
        "rlnOriginYAngst": rng.normal(0, 2, n),
        "rlnGroupNumber": rng.integers(1, 20, n),
        "rlnRandomSubset": np.arange(n) % 2 + 1,
        "rlnOpticsGroup": np.ones(n, dtype=np.int64),
        "rlnImageName": np.array(["%06d@Extract/job012/Movies/mic_%05d.mrcs"
                                  % (i % 300 + 1, m) for i, m in enumerate(micrograph)]),
    }
    return {"optics": optics, "particles": particles}


# ------------------------------------------------------------ per library

def ours(path, blocks, out):
    read = lambda: read_star(path)  # noqa: E731
    write = lambda: write_star(out, blocks)  # noqa: E731
    return read, write


def starfile_lib(path, blocks, out):
    import pandas as pd
    import starfile
    frames = {name: pd.DataFrame(columns) for name, columns in blocks.items()}
    read = lambda: starfile.read(path, always_dict=True)  # noqa: E731
    write = lambda: starfile.write(frames, out)  # noqa: E731
    return read, write


def emtable_lib(path, blocks, out):
    from emtable import Table
    tables = {}
    for name, columns in blocks.items():
        table = Table(columns=list(columns))
        for row in zip(*(c.tolist() for c in columns.values())):
            table.addRow(*row)
        tables[name] = table

    def read():
        return Table(fileName=str(path), tableName="particles")

    def write():
        with open(out, "w") as fh:
            for name, table in tables.items():
                table.writeStar(fh, tableName=name)
    return read, write


SETUP = {"ours": ours, "starfile": starfile_lib, "emtable": emtable_lib}


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES),
                        choices=LIBRARIES)
    args = parser.parse_args()
    print("load average %.1f; median of %d runs, seconds"
          % (os.getloadavg()[0], args.repeats))
    print("%10s  %-9s %9s %9s %10s" % ("rows", "library", "read s", "write s", "file MB"))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            blocks = particle_table(n)
            path = Path(tmp) / ("particles_%d.star" % n)
            write_star(path, blocks)
            for name in args.libraries:
                try:
                    out = Path(tmp) / ("out_%s.star" % name)
                    read, write = SETUP[name](path, blocks, out)
                except ImportError:
                    print("%10d  %-9s %9s %9s %10s" % (n, name, "-", "-", "not installed"))
                    continue
                t_read = median_time(read, args.repeats)
                t_write = median_time(write, args.repeats)
                print("%10d  %-9s %9.2f %9.2f %10.1f" % (
                    n, name, t_read, t_write, out.stat().st_size / 1e6), flush=True)
                out.unlink()


if __name__ == "__main__":
    main()
