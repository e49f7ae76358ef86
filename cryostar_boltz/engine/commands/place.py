"""Place a reference model in the particle box and check that it fits.

The engine works in the particle box frame, origin at the box centre. A
reference model is either centred on the box already, or docked into the
consensus map of the particles: give that map (--map) and its header
(origin, voxel size, box) places the model. The placed model must be
centred on the box (within a quarter of its width) and every residue must
lie inside it; training refuses a model that is not (the same check).

Prints the shift applied (Angstrom, model frame -> box frame) and the
placed model's extent; --out also writes the placed model (PDB or mmCIF,
by its suffix; full atom). Exits 1 with one line naming the file and the
problem when the model cannot be read or does not fit.

Examples:

    cryostar-boltz place --reference model.pdb --box 256 --apix 1.06
    cryostar-boltz place --reference model.cif --map consensus.mrc \\
        --box 256 --apix 1.06 --out placed.pdb
"""
from pathlib import Path

from .. import options as opt_type

#: Suffixes --out may take (the structure writers' formats).
MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz",
                  ".cif.gz", ".mmcif.gz")


def add_args(parser):
    parser.add_argument("--reference", required=True,
                        help="reference atomic model (PDB/mmCIF)")
    parser.add_argument("--box", type=opt_type.even_box, required=True,
                        help="particle box (pixels, before any downsampling)")
    parser.add_argument("--apix", type=opt_type.pixel_size, required=True,
                        help="particle pixel size (Angstrom)")
    parser.add_argument("--map", help="consensus map (MRC) the reference is "
                        "docked into; its header places the model")
    parser.add_argument("-o", "--out", help="write the placed model here")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def check_out(out):
    """ValueError unless ``out`` (or None) can take the placed model: a
    known structure suffix, not a folder, in an existing folder."""
    if out is None:
        return
    out = Path(out)
    if not str(out).lower().endswith(MODEL_SUFFIXES):
        raise ValueError("--out %s: a model file ends in %s" % (out, ", ".join(MODEL_SUFFIXES)))
    if out.is_dir():
        raise ValueError("--out %s is a folder; give a file name" % out)
    if not out.parent.absolute().is_dir():
        raise FileNotFoundError("--out %s: folder %s not found" % (out, out.parent))


def main(args):
    import numpy as np

    from ..placement import place_reference
    from ..structure import (StructureError, load_structure, pdb_problem,
                             structure_format, write_models)
    check_out(args.out)
    path = Path(args.reference)
    model = load_structure(path)
    if args.out and structure_format(args.out) == "pdb":  # refused first
        problem = pdb_problem(model)
        if problem:
            raise StructureError("%s: %s; give --out a .cif name" % (path, problem))
    placed = place_reference(model, args.box, args.apix, args.map, source=path.name)
    shift = placed.coords.mean(0) - model.coords.mean(0)
    coords = placed.coords
    radius = float(np.linalg.norm(coords, axis=1).max())
    size = coords.max(0) - coords.min(0)
    print("%s: %d residues placed in a %d px box of %.3f A (%.1f A wide)"
          % (path.name, model.n, args.box, args.apix, args.box * args.apix))
    print("shift applied: %.2f %.2f %.2f A" % tuple(shift))
    print("extent: %.1f x %.1f x %.1f A; centre %.1f A from the box centre; "
          "residues reach %.1f A of the %.1f A the box holds"
          % (*size, float(np.linalg.norm(coords.mean(0))), radius,
             (args.box // 2) * args.apix))
    if args.out:
        write_models(args.out, placed, placed.coords, full_atom=True)
        print("placed model: %s" % args.out)
