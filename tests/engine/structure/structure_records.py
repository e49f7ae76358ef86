"""Synthetic PDB records for the structure tests (fixed columns)."""
import numpy as np


def atom_line(serial, name, res_name, chain, res_id, xyz, element="",
              icode="", altloc=" ", occupancy=1.0, record="ATOM",
              segid="", pad_name=True):
    """One fixed-column PDB record (names padded as the PDB does)."""
    if pad_name and len(name) < 4:
        name = " " + name
    x, y, z = xyz
    return (f"{record:<6s}{serial:5d} {name:<4s}{altloc}{res_name:>3s} "
            f"{chain:1s}{res_id:4d}{icode:1s}   {x:8.3f}{y:8.3f}{z:8.3f}"
            f"{occupancy:6.2f}{0.0:6.2f}      {segid:<4s}{element:>2s}\n")


def backbone(res_ids, chain="A", start=(0.0, 0.0, 0.0), step=3.8,
             res_name="ALA", elements=True, record="ATOM", first_serial=1,
             hydrogens=False, segid=""):
    """Straight backbone: N, CA, C, O (+CB) per residue, CA-CA = ``step``.

    C(i)-N(i+1) is 1.35 Angstrom, a peptide bond, when ``step`` is 3.8.
    """
    offsets = {"N": (-1.25, 0.5, 0.0), "CA": (0.0, 0.0, 0.0),
               "C": (1.2, 0.5, 0.0), "O": (1.3, 1.7, 0.0),
               "CB": (0.0, -1.0, 1.2)}
    if hydrogens:
        offsets.update({"H": (-1.5, 1.4, 0.0), "HA": (0.0, -0.5, -0.9),
                        "HB1": (0.0, -2.0, 1.0)})
    lines, serial = [], first_serial
    for k, res_id in enumerate(res_ids):
        ca = np.asarray(start) + [k * step, 0.0, 0.0]
        for name, off in offsets.items():
            lines.append(atom_line(serial, name, res_name, chain, res_id,
                                   ca + off, name[0] if elements else "",
                                   record=record, segid=segid))
            serial += 1
    return lines


def write(path, lines):
    path.write_text("".join(lines) + "END\n")
    return path


ALA_HEAVY = 7 + 6 + 6 + 8 + 6  # N CA C O CB


def nucleotide_lines(n, chain, res_name="DA", first_serial=1, res_ids=None):
    """B-DNA-like strand: C1' on a helix (radius 5.86, 36 deg, rise 3.38);
    the O3' of each nucleotide sits 1.6 A from the P of the next one (a
    phosphodiester bond). ``res_ids``: residue numbers (default 1..n)."""
    res_ids = list(range(1, n + 1)) if res_ids is None else list(res_ids)
    offsets = {"P": (2.5, 1.0, -2.0), "O5'": (2.0, 0.5, -1.2),
               "C4'": (1.2, 0.8, -0.5), "O3'": (1.8, -1.0, 0.2),
               "C1'": (0.0, 0.0, 0.0), "N9": (-1.4, 0.2, 0.1),
               "H1'": (0.2, -1.0, -0.3)}
    c1 = [np.array([5.86 * np.cos(np.radians(36.0 * k)),
                    5.86 * np.sin(np.radians(36.0 * k)), 3.38 * k])
          for k in range(n)]
    lines, serial = [], first_serial
    for k in range(n):
        atoms = {name: c1[k] + off for name, off in offsets.items()}
        if k + 1 < n:
            p_next = c1[k + 1] + offsets["P"]
            atoms["O3'"] = p_next + 1.6 * (atoms["C4'"] - p_next) / np.linalg.norm(
                atoms["C4'"] - p_next)
        for name, xyz in atoms.items():
            lines.append(atom_line(serial, name, res_name, chain, res_ids[k],
                                   xyz, name[0]))
            serial += 1
    return lines
