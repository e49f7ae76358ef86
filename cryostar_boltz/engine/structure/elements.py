"""Chemical elements: atomic numbers, and the element of an atom from its
name where the file's element column is missing or unreliable.

CHARMM files put segment names where the element column belongs, and
older files leave it blank, so the element is derived from the atom name
(PDB convention: the name starts with the element symbol), so that ``CA``
in an amino acid is carbon and ``HG11`` hydrogen. Two-letter elements are
taken from a name only for ions (``ZN`` in residue ``ZN``) or where the
file's element column agrees and the symbol cannot be the start of an
organic atom name (``SE`` of MSE).
"""
from .residues import STANDARD_RESIDUES

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co "
    "Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb "
    "Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re "
    "Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es "
    "Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").upper().split()
#: Upper-case element symbol -> atomic number (IUPAC periodic table;
#: 'X', unknown, -> 0).
ATOMIC_NUMBERS = {s: z for z, s in enumerate(_SYMBOLS, start=1)}
ATOMIC_NUMBERS["X"] = 0

#: Two-letter element symbols that also begin common organic atom names
#: (CA, CD, HG, NE, ...): trusted from a name only for single-atom ions.
_AMBIGUOUS = frozenset(s for s in ATOMIC_NUMBERS
                       if len(s) == 2 and s[0] in "CHNOPS"
                       and s not in ("CL", "SE", "SI"))


def element_of(name, res_name, given, single_atom):
    """Upper-case element symbol of an atom, from its name first.

    ``name``: the atom name ('CA', 'HG11', '1HB'); ``res_name``: its
    residue; ``given``: the file's element column, upper case ('' if
    blank); ``single_atom``: whether the residue has this atom only (an
    ion). Deuterium and tritium count as hydrogen; 'X' when unknown.
    """
    letters = name.upper().lstrip("0123456789")
    if not letters:
        return "X"
    if res_name not in STANDARD_RESIDUES:
        two = letters[:2]
        if len(two) == 2 and two in ATOMIC_NUMBERS:
            if two not in _AMBIGUOUS and given == two:
                return two
            if letters == two and (single_atom or res_name == two):
                return two
    first = letters[0]
    if first in "DT":  # deuterium, tritium
        return "H"
    return first if first in ATOMIC_NUMBERS else "X"
