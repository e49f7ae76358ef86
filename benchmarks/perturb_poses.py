"""A simulated dataset with the pose errors of a real consensus refinement.

A refinement of a flexible particle gives poses a few degrees off, origins
off by about an Angstrom, and some junk particles whose poses mean nothing.
This script copies a simulated dataset (``adk_dataset.py``,
``cryostar-boltz simulate``) with its star's poses perturbed that way:

* every rotation ``A`` (RELION's, ``engine.geometry``) becomes
  ``E @ A``, ``E`` a rotation about a uniformly random axis whose angle has
  RMS ``--rot-error`` degrees (``E``'s rotation vector is an isotropic 3-D
  Gaussian with ``rot_error / sqrt(3)`` degrees per component, so the angle
  follows a Maxwell distribution);
* every origin (``rlnOriginXAngst``, ``rlnOriginYAngst``) moves by a 2-D
  Gaussian whose *total* RMS over the two components is ``--shift-error``
  Angstrom (``shift_error / sqrt(2)`` per component);
* a fraction ``--junk`` of the particles (exactly ``round(junk x N)``,
  drawn at random) get a uniformly random rotation (Haar measure) and an
  origin uniform in the square of half-width ``--junk-shift`` Angstrom
  (5 by default): the junk.

Reads ``DATA/particles.star``, ``DATA/particles_truth.npz`` and
``DATA/reference.*``; writes into ``--out`` the perturbed
``particles.star`` (read and written with the engine's own star reader and
writer: every other block and column is kept), ``reference.*`` (copied),
symbolic links to the image stacks (the images are not copied) and
``particles_truth.npz``: the input's truth plus ``junk`` ((N,) bool),
``rotation_error_deg`` ((N,) angle between the star's rotation and the
true one, degrees) and ``shift_error_A`` ((N,) length of the origin error,
Angstrom), and the options used (``rot_error``, ``shift_error``,
``junk_fraction``, ``junk_shift``, ``perturb_seed``). The true poses stay
in the truth's ``euler`` and ``shifts``.

Example (the stage-1 pose-error dataset)::

    python benchmarks/perturb_poses.py --data bench_data/adk_path \\
        --out bench_data/adk_path_poses --rot-error 3 --shift-error 1 --junk 0.05
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.geometry import euler_to_matrix, matrix_to_euler
from cryostar_boltz.engine.io import save_npz
from cryostar_boltz.engine.particles import read_star, write_star
from cryostar_boltz.engine.particles.relion import split_image_names

STAR = "particles.star"
TRUTH = "particles_truth.npz"
EULER_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
ORIGIN_COLUMNS = ("rlnOriginXAngst", "rlnOriginYAngst")
#: Half-width (Angstrom) of the square the junk particles' origins are drawn in.
JUNK_SHIFT = 5.0


def rotation_angle_deg(a, b):
    """(N,) angle in degrees of the rotation taking each ``b`` to ``a``
    ((N, 3, 3) each): ``arccos((trace(a b^T) - 1) / 2)``."""
    trace = np.einsum("nij,nij->n", a, b)
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def perturb(euler, origins, rot_error, shift_error, junk, rng, junk_shift=JUNK_SHIFT):
    """Perturbed poses of N particles and what was done to them.

    ``euler`` (N, 3) degrees (RELION ZYZ), ``origins`` (N, 2) Angstrom;
    ``rot_error`` (degrees) and ``shift_error`` (Angstrom) are the RMS of
    the rotation angle and of the origin error's length; ``junk`` the
    fraction given random poses. Returns a dict of ``euler``, ``origins``,
    ``junk`` ((N,) bool), ``rotation_error_deg`` and ``shift_error_A``
    ((N,) each)."""
    n = len(euler)
    a = euler_to_matrix(euler)
    rotvec = rng.normal(0.0, np.radians(rot_error) / np.sqrt(3.0), size=(n, 3))
    # E acts on the image frame: x_image = E A x_model
    error = Rotation.from_rotvec(rotvec).as_matrix()
    new = np.einsum("nij,njk->nik", error, a)
    moved = origins + rng.normal(0.0, shift_error / np.sqrt(2.0), size=(n, 2))
    is_junk = np.zeros(n, bool)
    is_junk[rng.choice(n, int(round(junk * n)), replace=False)] = True
    count = int(is_junk.sum())
    if count:
        new[is_junk] = np.swapaxes(
            Rotation.random(count, random_state=rng).as_matrix(), -1, -2)
        moved[is_junk] = rng.uniform(-junk_shift, junk_shift, size=(count, 2))
    return {"euler": matrix_to_euler(new), "origins": moved, "junk": is_junk,
            "rotation_error_deg": rotation_angle_deg(new, a),
            "shift_error_A": np.linalg.norm(moved - origins, axis=1)}


def particle_block(blocks, path):
    """The name of the star's particle table (``particles``, or a RELION
    3.0 file's one loop)."""
    if "particles" in blocks:
        return "particles"
    loops = [name for name, cols in blocks.items() if all(c in cols for c in EULER_COLUMNS)]
    if len(loops) != 1:
        raise ValueError("%s: no particle table with %s" % (path, ", ".join(EULER_COLUMNS)))
    return loops[0]


def check_inputs(data, out, rot_error, shift_error, junk, junk_shift):
    """The input star, truth and reference; ValueError (one line naming
    the file or option) before anything is written."""
    data, out = Path(data), Path(out)
    for value, name in ((rot_error, "--rot-error"), (shift_error, "--shift-error"),
                        (junk_shift, "--junk-shift")):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError("%s %g: must be a finite number >= 0" % (name, value))
    if not 0 <= junk < 1:
        raise ValueError("--junk %g: must be a fraction in [0, 1)" % junk)
    star, truth = data / STAR, data / TRUTH
    for path in (star, truth):
        if not path.is_file():
            raise ValueError("--data %s: no %s (a simulated dataset holds %s, %s "
                             "and reference.*)" % (data, path.name, STAR, TRUTH))
    references = sorted(data.glob("reference.*"))
    if not references:
        raise ValueError("--data %s: no reference.* (the simulated dataset's "
                         "reference model)" % data)
    if out.resolve() == data.resolve():
        raise ValueError("--out %s: must differ from --data" % out)
    if out.exists() and any(out.iterdir()):
        raise ValueError("--out %s: exists and is not empty" % out)
    return star, truth, references


def perturb_dataset(data, out, rot_error=3.0, shift_error=1.0, junk=0.05, seed=0,
                    junk_shift=JUNK_SHIFT):
    """Write the perturbed copy of the dataset ``data`` into ``out``
    (module docstring); returns the new truth as a dict of arrays."""
    star, truth_path, references = check_inputs(data, out, rot_error, shift_error,
                                                 junk, junk_shift)
    data, out = Path(data), Path(out)
    blocks = read_star(star)
    name = particle_block(blocks, star)
    table = blocks[name]
    missing = [c for c in EULER_COLUMNS + ORIGIN_COLUMNS if c not in table]
    if missing:
        raise ValueError("%s: no column %s in data_%s" % (star, ", ".join(missing), name))
    euler = np.stack([np.asarray(table[c], np.float64) for c in EULER_COLUMNS], 1)
    origins = np.stack([np.asarray(table[c], np.float64) for c in ORIGIN_COLUMNS], 1)
    with np.load(truth_path) as stored:
        truth = {key: stored[key] for key in stored.files}
    if "state" in truth and len(truth["state"]) != len(euler):
        raise ValueError("%s: %d particles, %s: %d" % (star, len(euler), truth_path,
                                                       len(truth["state"])))
    stacks = [stack for stack in split_image_names(table["rlnImageName"], star)[0]
              if not Path(stack).is_absolute()]  # absolute names need no link
    for stack in stacks:
        if not (data / stack).is_file():
            raise ValueError("%s: image stack %s not found beside it" % (star, stack))
    result = perturb(euler, origins, rot_error, shift_error, junk,
                     np.random.default_rng(seed), junk_shift)
    out.mkdir(parents=True, exist_ok=True)
    for stack in stacks:
        target = (data / stack).resolve()
        link = out / stack
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(target, link)
    for reference in references:
        shutil.copyfile(reference, out / reference.name)
    for column, values in zip(EULER_COLUMNS, result["euler"].T):
        table[column] = values
    for column, values in zip(ORIGIN_COLUMNS, result["origins"].T):
        table[column] = values
    write_star(out / STAR, blocks)
    truth.update(junk=result["junk"], rotation_error_deg=result["rotation_error_deg"],
                 shift_error_A=result["shift_error_A"], rot_error=np.float64(rot_error),
                 shift_error=np.float64(shift_error), junk_fraction=np.float64(junk),
                 junk_shift=np.float64(junk_shift), perturb_seed=np.int64(seed))
    save_npz(out / TRUTH, **truth)
    return truth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="simulated dataset folder")
    parser.add_argument("--out", required=True, help="folder of the perturbed copy")
    parser.add_argument("--rot-error", type=float, default=3.0,
                        help="RMS rotation error, degrees (default %(default)s)")
    parser.add_argument("--shift-error", type=float, default=1.0,
                        help="RMS length of the 2-D origin error, Angstrom "
                        "(default %(default)s)")
    parser.add_argument("--junk", type=float, default=0.05,
                        help="fraction of particles given random poses "
                        "(default %(default)s)")
    parser.add_argument("--junk-shift", type=float, default=JUNK_SHIFT,
                        help="half-width of the junk origins' square, Angstrom "
                        "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        truth = perturb_dataset(args.data, args.out, args.rot_error, args.shift_error,
                                args.junk, args.seed, args.junk_shift)
    except ValueError as err:
        print("perturb_poses: %s" % err, file=sys.stderr)
        return 2
    good = ~truth["junk"]
    rot = truth["rotation_error_deg"][good]
    shift = truth["shift_error_A"][good]
    print("%d particles, %d junk; others: rotation error RMS %.3f deg (median %.3f), "
          "origin error RMS %.3f A (median %.3f)"
          % (len(good), int(truth["junk"].sum()), np.sqrt(np.mean(rot ** 2)),
             np.median(rot), np.sqrt(np.mean(shift ** 2)), np.median(shift)))
    print("written: %s" % (Path(args.out) / STAR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
