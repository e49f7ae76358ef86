"""Which consecutive residues of a model are bonded: chain breaks come
from the chain id, the polymer type and the bond geometry, never from the
residue numbering (antibody or alignment numbering skips numbers along a
continuous chain; a removed loop may leave consecutive numbers).

Two residues that follow each other in the file are bonded when they share
a chain and a polymer type (protein or nucleic acid) and

* their backbone bond is there: C(i)-N(i+1) shorter than
  :data:`BOND_DISTANCE` ``["protein"]`` (2.01 A), O3'(i)-P(i+1) shorter
  than ``["nucleic"]`` (2.4 A); these are 1.5 times the ideal 1.341 and
  1.6 A, the test of gemmi's ``are_connected`` (``gemmi/polyheur.hpp``);
* or, when either of those atoms is missing (CA-only or C1'-only models),
  their pseudo-atoms are closer than :data:`BREAK_DISTANCE`: CA-CA
  4.5 A (3.8 trans, 2.9 cis), C1'-C1' 8.0 A (about 4.9 in B-DNA, 5.4 in
  A-RNA, with room for unstacked steps).

Everything that needs chain continuity (segments, continuity restraints,
local frames of rendered points, polymer membership of modified residues)
uses :func:`bonded` or :func:`backbone_bond` here.
"""
import numpy as np

#: Longest backbone bond (Angstrom) between consecutive residues:
#: C-N (protein) and O3'-P (nucleic acid); gemmi's are_connected.
BOND_DISTANCE = {"protein": 1.341 * 1.5, "nucleic": 1.6 * 1.5}
#: Longest pseudo-atom step (Angstrom) between bonded residues when the
#: backbone bond atoms are missing: CA-CA (protein), C1'-C1' (nucleic).
BREAK_DISTANCE = {"protein": 4.5, "nucleic": 8.0}

_BOND_ATOMS = {"protein": (("C", "N"),),
               "nucleic": (("O3'", "P"), ("O3*", "P"))}


def _kind(residue):
    return "nucleic" if residue.nucleic else "protein"


def backbone_bond(a, b):
    """Whether residue ``b`` follows ``a`` through a peptide (C-N) or
    phosphodiester (O3'-P) bond shorter than :data:`BOND_DISTANCE`: True,
    False, or None when either atom is missing. ``a`` and ``b`` are
    :class:`~.residues.Residue`; the kind is ``a``'s."""
    for end, start in _BOND_ATOMS[_kind(a)]:
        x, y = a.atom(end), b.atom(start)
        if x is not None and y is not None:
            return float(np.linalg.norm(x - y)) < BOND_DISTANCE[_kind(a)]
    return None


def bonded(a, b):
    """Whether residue ``b`` continues the chain of residue ``a`` (see the
    module's rules): same chain, same polymer type, and a backbone bond,
    or, without the bond's atoms, pseudo-atoms closer than
    :data:`BREAK_DISTANCE`."""
    if a.chain != b.chain or a.nucleic != b.nucleic:
        return False
    bond = backbone_bond(a, b)
    if bond is not None:
        return bond
    step = np.linalg.norm(a.coords[a.centre] - b.coords[b.centre])
    return float(step) < BREAK_DISTANCE[_kind(a)]


def segment_index(residues):
    """(N,) int64 segment of each residue (a list of
    :class:`~.residues.Residue` in file order): a new segment starts
    wherever :func:`bonded` is false."""
    if not residues:
        return np.zeros(0, dtype=np.int64)
    new = [not bonded(a, b) for a, b in zip(residues[:-1], residues[1:])]
    return np.concatenate([[0], np.cumsum(new)]).astype(np.int64)
