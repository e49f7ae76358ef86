"""Multi-model structure files: the engine's reader and writer against the
libraries'.

The engine writes ensembles of up to about 1,000 models of 3,341 atoms
(sample-prior ensembles, full atom) and reads their pseudo-atoms back for
plots. This script times, for M models of the bundled full-atom
adenylate kinase (``engine/data/adk/adk_open.pdb``, 214 residues, 3,341
atoms), in PDB and mmCIF:

* write: ``structure.write_models(full_atom=True)`` against Biopython
  (``PDBIO``: coordinates set on one Model and saved once per model into
  one file, MODEL records added, its fastest multi-model use; ``MMCIFIO``:
  a Structure of M Models, each a copy of the reference with the new
  coordinates, saved once; building the Structure is timed with it);
* read: ``structure.read_models`` (CA coordinates of every model) against
  Biopython (``PDBParser`` / ``MMCIF2Dict``, the CA rows picked out of the
  result), all reading the file our writer made.

The MiB column is the size of the file written (for reads, ours).

With ``--gemmi`` the same is timed for gemmi (``read_structure``; models
cloned and their positions set atom by atom, then ``write_pdb`` /
``make_mmcif_document().write_file``), when gemmi is importable.

Each figure is the median of ``--repeats`` runs, in wall-clock and in CPU
seconds of this process (the CPU figure holds on a loaded machine); a
library run longer than ``--long`` CPU seconds is not repeated; the last
column is the CPU time over ours. Example::

    python benchmarks/bench_structure_io.py --models 100 1000 --repeats 3
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cryostar_boltz.engine.resources import adk_dir
from cryostar_boltz.engine.structure import (atom_positions, load_structure, read_models,
                                             write_models)


def _timed(fn, repeats, long):
    """Median wall and CPU times (s) of ``fn()`` over up to ``repeats`` runs,
    and the number of runs (a run longer than ``long`` CPU seconds ends the
    series)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if cpu[-1] > long:
            break
    return statistics.median(wall), statistics.median(cpu), len(wall)


# ----------------------------------------------------------------- Biopython

def _bio_reference(pdb):
    from Bio.PDB import PDBParser
    return PDBParser(QUIET=True).get_structure("ref", str(pdb))[0]


def bio_write_pdb(path, model, atoms_xyz):
    from Bio.PDB import PDBIO
    io = PDBIO()
    io.set_structure(model)  # a copy, made once
    atoms = list(io.structure.get_atoms())
    with open(path, "w") as fh:
        for m, xyz in enumerate(atoms_xyz):
            for atom, x in zip(atoms, xyz):
                atom.coord = x
            fh.write(f"MODEL     {m + 1:4d}\n")
            io.save(fh, write_end=False, preserve_atom_numbering=True)
            fh.write("ENDMDL\n")
        fh.write("END\n")


def bio_write_cif(path, model, atoms_xyz):
    from Bio.PDB import MMCIFIO
    from Bio.PDB.Structure import Structure
    structure = Structure("ensemble")
    for m, xyz in enumerate(atoms_xyz):
        copy = model.copy()
        copy.id, copy.serial_num = m, m + 1
        for atom, x in zip(copy.get_atoms(), xyz):
            atom.coord = x
        structure.add(copy)
    io = MMCIFIO()
    io.set_structure(structure)
    io.save(str(path))


def bio_read_pdb(path):
    from Bio.PDB import PDBParser
    structure = PDBParser(QUIET=True).get_structure("x", str(path))
    return np.array([[a.coord for a in model.get_atoms() if a.get_id() == "CA"]
                     for model in structure])


def bio_read_cif(path):
    from Bio.PDB.MMCIF2Dict import MMCIF2Dict
    table = MMCIF2Dict(str(path))
    name = np.array(table["_atom_site.label_atom_id"])
    keep = name == "CA"
    xyz = np.column_stack([np.array(table[f"_atom_site.Cartn_{k}"])[keep]
                           .astype(float) for k in "xyz"])
    model = np.array(table["_atom_site.pdbx_PDB_model_num"])[keep]
    return xyz.reshape(len(set(model.tolist())), -1, 3)


# ---------------------------------------------------------------------- gemmi

def gemmi_write(path, reference, atoms_xyz):
    import gemmi
    structure = gemmi.read_structure(str(reference))
    template = structure[0].clone()
    del structure[0]
    for m, xyz in enumerate(atoms_xyz):
        model = template.clone()
        model.num = m + 1
        atoms = [a for chain in model for res in chain for a in res]
        for atom, x in zip(atoms, xyz.tolist()):
            atom.pos = gemmi.Position(*x)
        structure.add_model(model)
    if str(path).endswith(".pdb"):
        structure.write_pdb(str(path))
    else:
        structure.setup_entities()
        structure.make_mmcif_document().write_file(str(path))


def gemmi_read(path):
    import gemmi
    structure = gemmi.read_structure(str(path))
    return np.array([[a.pos.tolist() for chain in model for res in chain
                      for a in res if a.name == "CA"] for model in structure])


# ----------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long", type=float, default=30.0,
                        help="a library run longer than this (CPU s) is not repeated")
    parser.add_argument("--gemmi", action="store_true",
                        help="time gemmi too (when importable)")
    parser.add_argument("--tmp", default=None, help="folder for the files")
    args = parser.parse_args(argv)

    reference = adk_dir() / "adk_open.pdb"
    coarse = load_structure(reference)
    bio_model = _bio_reference(reference)
    libraries = {"biopython": (
        {"pdb": lambda p, x: bio_write_pdb(p, bio_model, x),
         "cif": lambda p, x: bio_write_cif(p, bio_model, x)},
        {"pdb": bio_read_pdb, "cif": bio_read_cif})}
    if args.gemmi:
        try:
            import gemmi  # noqa: F401
            libraries["gemmi"] = (
                {"pdb": lambda p, x: gemmi_write(p, reference, x),
                 "cif": lambda p, x: gemmi_write(p, reference, x)},
                {"pdb": gemmi_read, "cif": gemmi_read})
        except ImportError:
            print("gemmi is not importable: left out", file=sys.stderr)

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        for n_models in args.models:
            coords = coarse.coords + rng.normal(scale=0.5,
                                                size=(n_models, coarse.n, 3))
            atoms_xyz = atom_positions(coarse, coords).astype(np.float32)
            for kind in ("pdb", "cif"):
                ours = tmp / f"ours.{kind}"
                t, c, k = _timed(lambda: write_models(ours, coarse, coords,
                                                   full_atom=True),
                              args.repeats, float("inf"))
                size = os.path.getsize(ours) / 2 ** 20
                rows.append((n_models, kind, "write", "ours", t, c, k, size))
                t, c, k = _timed(lambda: read_models(ours), args.repeats,
                              float("inf"))
                rows.append((n_models, kind, "read", "ours", t, c, k, size))
                ours_size = size
                expected = read_models(ours)
                for name, (writers, readers) in libraries.items():
                    theirs = tmp / f"{name}.{kind}"
                    t, c, k = _timed(lambda: writers[kind](theirs, atoms_xyz),
                                  args.repeats, args.long)
                    size = os.path.getsize(theirs) / 2 ** 20
                    rows.append((n_models, kind, "write", name, t, c, k, size))
                    t, c, k = _timed(lambda: readers[kind](ours), args.repeats,
                                  args.long)
                    rows.append((n_models, kind, "read", name, t, c, k, ours_size))
                    got = readers[kind](ours)
                    assert np.abs(got - expected).max() < 1e-3, name
                    theirs.unlink()
                ours.unlink()
                for row in rows[-2 - 2 * len(libraries):]:
                    print(_format(row), flush=True)
    print()
    print(f"{'models':>6s} {'format':>6s} {'op':>5s} {'who':>9s} "
          f"{'wall s':>8s} {'CPU s':>8s} {'runs':>4s} {'MiB':>6s} {'x ours':>7s}")
    ours = {(r[0], r[1], r[2]): r[5] for r in rows if r[3] == "ours"}
    for row in rows:
        print(_format(row, ours[row[:3]]))


def _format(row, ours=None):
    n_models, kind, op, who, wall, cpu, k, size = row
    ratio = f"{cpu / ours:7.1f}" if ours else ""
    return (f"{n_models:6d} {kind:>6s} {op:>5s} {who:>9s} {wall:8.2f} "
            f"{cpu:8.2f} {k:4d} {size:6.1f} {ratio}")


if __name__ == "__main__":
    main()
