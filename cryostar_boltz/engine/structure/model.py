"""The coarse-grained model: one pseudo-atom per polymer residue, its
amplitudes, chains and segments, and the full-atom model it came from.

A pseudo-atom's amplitude is the sum of the atomic numbers of its
residue's heavy atoms. Chains (the chain id, or the segment id when the
chain id is blank) are split into segments where consecutive residues are
not bonded (:mod:`.links`: from the polymer type and the bond geometry,
never from the residue numbers); consecutive pseudo-atoms of one segment
are bonded.
"""
import dataclasses

import numpy as np

from .elements import ATOMIC_NUMBERS
from .links import segment_index as _segment_index

@dataclasses.dataclass(eq=False, repr=False)
class Atoms:
    """Full-atom table of the first model (polymer residues only).

    ``residue_index[i]`` is the pseudo-atom that atom ``i`` moves with.
    Blank insertion codes, alternate locations and segment ids are ''.
    """
    coords: np.ndarray          # (A, 3) float64, Angstrom
    names: np.ndarray           # (A,) str, stripped ('CA', "C1'", 'HG11')
    elements: np.ndarray        # (A,) str, upper-case symbol, corrected
    atomic_numbers: np.ndarray  # (A,) int
    residue_index: np.ndarray   # (A,) int
    res_names: np.ndarray       # (A,) str
    chain_ids: np.ndarray       # (A,) str (chain id, or segid if blank)
    res_ids: np.ndarray         # (A,) int
    icodes: np.ndarray          # (A,) str
    hetero: np.ndarray          # (A,) bool, HETATM record
    occupancy: np.ndarray       # (A,) float64
    bfactors: np.ndarray        # (A,) float64
    serials: np.ndarray         # (A,) int, serial numbers in the source file
    segids: np.ndarray          # (A,) str

    @property
    def n(self):
        return len(self.coords)

    def __repr__(self):
        return f"Atoms(n={self.n})"


@dataclasses.dataclass(eq=False, repr=False)
class CoarseModel:
    """One pseudo-atom per polymer residue, plus the full-atom model.

    ``amplitudes`` sums the atomic numbers of each residue's HEAVY atoms
    only: a file with hydrogens and the same file without them give the
    same model. ``bonds`` joins consecutive pseudo-atoms of one segment
    (a chain split at its breaks). ``atom_index[i]`` is the row of
    pseudo-atom ``i`` (its CA or C1') in ``atoms``.
    """
    coords: np.ndarray          # (N, 3) float64, Angstrom
    amplitudes: np.ndarray      # (N,) float64
    chain_ids: np.ndarray       # (N,) str
    res_ids: np.ndarray         # (N,) int
    icodes: np.ndarray          # (N,) str
    res_names: np.ndarray       # (N,) str
    is_nucleic: np.ndarray      # (N,) bool
    bonds: np.ndarray           # (M, 2) int
    segment_index: np.ndarray   # (N,) int
    chain_index: np.ndarray     # (N,) int
    atom_index: np.ndarray      # (N,) int
    atoms: Atoms
    source: str

    @property
    def n(self):
        return len(self.coords)

    def __repr__(self):
        n_chains = len(np.unique(self.chain_index))
        n_segments = len(np.unique(self.segment_index))
        return (f"CoarseModel(n={self.n}, chains={n_chains}, "
                f"segments={n_segments}, atoms={self.atoms.n}, "
                f"source={self.source!r})")

    def centre(self):
        """Amplitude-weighted centre (Angstrom), what the images see."""
        return np.average(self.coords, axis=0, weights=self.amplitudes)

    def translated(self, vector):
        """A copy with pseudo-atoms and atoms moved by ``vector``."""
        vector = np.asarray(vector, dtype=np.float64).reshape(3)
        atoms = dataclasses.replace(self.atoms, coords=self.atoms.coords + vector)
        return dataclasses.replace(self, coords=self.coords + vector, atoms=atoms)

    def heavy_atoms(self):
        """(coords (A', 3), atomic_numbers (A',)) of the non-hydrogen atoms."""
        keep = self.atoms.atomic_numbers > 1
        return self.atoms.coords[keep], self.atoms.atomic_numbers[keep]


def coarse_model(residues, source):
    """The CoarseModel of polymer residues (a list of
    :class:`~.residues.Residue`, in file order, at least one); ``source``
    is the file it was read from."""
    n_atoms = [len(r.names) for r in residues]
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]]).astype(np.int64)
    names = np.array([n for r in residues for n in r.names], dtype=str)
    elements = np.array([e for r in residues for e in r.elements], dtype=str)
    z = np.array([ATOMIC_NUMBERS[e] for e in elements], dtype=np.int64)
    residue_index = np.repeat(np.arange(len(residues)), n_atoms)

    def per_atom(key, dtype=None):
        return np.repeat(np.array([getattr(r, key) for r in residues],
                                  dtype=dtype), n_atoms)

    def flat(key, dtype):
        return np.array([v for r in residues for v in getattr(r, key)], dtype)

    atoms = Atoms(
        coords=np.concatenate([r.coords for r in residues]).reshape(-1, 3)
        .astype(np.float64),
        names=names, elements=elements, atomic_numbers=z,
        residue_index=residue_index,
        res_names=per_atom("res_name", str), chain_ids=per_atom("chain", str),
        res_ids=per_atom("res_id", np.int64), icodes=per_atom("icode", str),
        hetero=per_atom("hetero", bool),
        occupancy=flat("occupancy", np.float64),
        bfactors=flat("bfactors", np.float64),
        serials=flat("serials", np.int64),
        segids=per_atom("segid", str))

    atom_index = offsets + np.array([r.centre for r in residues], np.int64)
    heavy = np.where(z > 1, z, 0).astype(np.float64)
    amplitudes = np.bincount(residue_index, weights=heavy,
                             minlength=len(residues))
    chain_ids = np.array([r.chain for r in residues], dtype=str)
    _, first = np.unique(chain_ids, return_index=True)
    order = {chain_ids[i]: k for k, i in enumerate(np.sort(first))}
    chain_index = np.array([order[c] for c in chain_ids], dtype=np.int64)
    coords = atoms.coords[atom_index]
    res_ids = np.array([r.res_id for r in residues], dtype=np.int64)
    is_nucleic = np.array([r.nucleic for r in residues], dtype=bool)
    segment_index = _segment_index(residues)
    i = np.flatnonzero(segment_index[1:] == segment_index[:-1])
    return CoarseModel(
        coords=coords, amplitudes=amplitudes, chain_ids=chain_ids,
        res_ids=res_ids,
        icodes=np.array([r.icode for r in residues], dtype=str),
        res_names=np.array([r.res_name for r in residues], dtype=str),
        is_nucleic=is_nucleic,
        bonds=np.stack([i, i + 1], axis=1).astype(np.int64),
        segment_index=segment_index, chain_index=chain_index,
        atom_index=atom_index, atoms=atoms, source=str(source))
