"""Polymer residues: which residues the coarse model keeps, and the atom
that stands for each of them (its pseudo-atom).

One pseudo-atom per polymer residue: the carbon CA of an amino acid, the
C1' (or old-style C1*) atom of a nucleotide. Residues of standard names in
ATOM records are polymer; other residues (HETATM modified residues such as
MSE, or non-standard names) only when bonded to a neighbour of the same
chain and kind by a peptide (C-N) or phosphodiester (O3'-P) bond
(:func:`.links.backbone_bond`). Waters,
ions and ligands, bonded to nothing, are dropped.
"""
import dataclasses

import numpy as np

from .links import backbone_bond

AMINO_ACIDS = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP "
    "TYR VAL PYL HSD HSE HSP HID HIE HIP CYX CYM ASH GLH LYN".split())
NUCLEOTIDES = frozenset(
    "A C G U T I N DA DC DG DT DU DI DN ADE CYT GUA THY URA "
    "RA RC RG RU RA5 RC5 RG5 RU5 RA3 RC3 RG3 RU3 "
    "DA5 DC5 DG5 DT5 DA3 DC3 DG3 DT3".split())
#: Residue names of the standard polymer (PDB, CHARMM and AMBER spellings).
STANDARD_RESIDUES = AMINO_ACIDS | NUCLEOTIDES

NUCLEIC_CENTRE = ("C1'", "C1*")


@dataclasses.dataclass(eq=False)
class Residue:
    """One residue of a structure file that has a pseudo-atom.

    ``coords`` is (k, 3) float64 in Angstrom, one row per atom (alternate
    locations already resolved); ``names`` and ``elements`` (upper-case
    symbols) are per atom; ``centre`` is the row of the pseudo-atom.
    ``chain`` is the chain id, or the segment id when the chain id is blank.
    """
    coords: np.ndarray
    names: list
    elements: list
    occupancy: list
    bfactors: list
    serials: list
    centre: int
    nucleic: bool
    chain: str
    res_id: int
    icode: str
    res_name: str
    hetero: bool
    segid: str

    @property
    def standard(self):
        """A standard polymer residue in an ATOM record."""
        return not self.hetero and self.res_name in STANDARD_RESIDUES

    def atom(self, name):
        """(3,) coordinates of the atom called ``name``, or None."""
        try:
            return self.coords[self.names.index(name)]
        except ValueError:
            return None


def centre_atom(names, elements):
    """``(row, is_nucleic)`` of the pseudo-atom among a residue's atoms:
    a CA that is carbon (not calcium), else a C1'/C1*; None without one."""
    for i, (name, element) in enumerate(zip(names, elements)):
        if name == "CA" and element == "C":
            return i, False
    for i, name in enumerate(names):
        if name in NUCLEIC_CENTRE:
            return i, True
    return None


def polymer_residues(residues):
    """The residues of the polymer, in order: standard ones, and the others
    that are linked to a neighbour of the same chain and kind."""
    def linked(a, b):
        return (a.chain == b.chain and a.nucleic == b.nucleic
                and bool(backbone_bond(a, b)))

    keep = []
    for i, res in enumerate(residues):
        if res.standard:
            keep.append(res)
            continue
        prev = residues[i - 1] if i > 0 else None
        nxt = residues[i + 1] if i + 1 < len(residues) else None
        if ((prev is not None and prev.chain == res.chain
             and prev.nucleic == res.nucleic and linked(prev, res))
                or (nxt is not None and nxt.chain == res.chain
                    and nxt.nucleic == res.nucleic and linked(res, nxt))):
            keep.append(res)
    return keep
