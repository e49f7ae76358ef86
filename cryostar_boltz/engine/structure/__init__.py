"""The reference atomic model: read, coarse-grain, write ensembles.

One pseudo-atom per polymer residue (the CA of an amino acid, the C1' of a
nucleotide) whose amplitude is the sum of the atomic numbers of the
residue's heavy atoms. The full-atom model of the first MODEL is kept, so
that decoded pseudo-atom positions can be written back as full-atom models
(each residue's atoms carried rigidly by its local frame, as in training).

Modules, one job each:

* :mod:`.files`: formats by suffix, gzip text, :class:`StructureError`.
* :mod:`.elements`: atomic numbers; the element of an atom from its name.
* :mod:`.residues`: which residues are polymer; their pseudo-atom.
* :mod:`.links`: which consecutive residues are bonded (chain breaks).
* :mod:`.model`: :class:`Atoms`, :class:`CoarseModel`, chains and segments.
* :mod:`.reading`: PDB / mmCIF -> CoarseModel through Biopython.
* :mod:`.coordinates`: pseudo-atom coordinates of every model of a file.
* :mod:`.frames`: residue local frames; the full-atom positions they carry.
* :mod:`.formats`: whether a PDB file can hold a model; the output format.
* :mod:`.writing`: multi-model PDB / mmCIF output.
* :mod:`.rmsd`: RMSD between pseudo-atom sets.

Everything here needs numpy and Biopython only (no torch): Scipion's
process may import it.
"""
from .coordinates import read_models
from .elements import ATOMIC_NUMBERS
from .files import CIF_SUFFIXES, PDB_SUFFIXES, StructureError, structure_format
from .formats import FORMAT_CHOICES, FORMATS, output_format, pdb_problem
from .frames import atom_positions, frame_neighbours, local_frames
from .links import BOND_DISTANCE, BREAK_DISTANCE
from .model import Atoms, CoarseModel
from .reading import load_ensemble, load_structure
from .residues import AMINO_ACIDS, NUCLEOTIDES
from .rmsd import ca_rmsd
from .writing import write_models

__all__ = [
    "AMINO_ACIDS", "ATOMIC_NUMBERS", "Atoms", "BOND_DISTANCE",
    "BREAK_DISTANCE", "CIF_SUFFIXES", "CoarseModel", "FORMATS",
    "FORMAT_CHOICES", "NUCLEOTIDES", "PDB_SUFFIXES", "StructureError",
    "atom_positions", "ca_rmsd", "frame_neighbours", "load_ensemble",
    "load_structure", "local_frames", "output_format", "pdb_problem",
    "read_models", "structure_format", "write_models",
]
