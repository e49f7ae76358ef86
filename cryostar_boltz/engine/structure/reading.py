"""PDB / mmCIF files -> coarse models, through Biopython's parsers
(``Bio.PDB.PDBParser`` and ``MMCIFParser``).

What is read: the first model (every model for :func:`load_ensemble`); for
alternate locations the highest-occupancy one (the first on ties, as
Biopython selects); insertion codes give distinct residues; hybrid-36 and
other unreadable serial numbers read as 0. Only polymer residues are kept
(see :mod:`.residues`), with elements re-derived from atom names (see
:mod:`.elements`). In PDB files whose chain column is blank, each segment
id (columns 73-76, CHARMM) names a chain of its own.
"""
import io
import warnings
from pathlib import Path

import numpy as np

from .elements import element_of
from .files import StructureError, input_format, read_text
from .model import coarse_model
from .residues import Residue, centre_atom, polymer_residues

_RECORDS = ("ATOM  ", "HETATM", "ANISOU")
_FREE_CHAIN_IDS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789")


def _segids_as_chains(text):
    """Give each segment id of blank-chain records its own chain letter.

    Biopython groups residues by chain id only; CHARMM files leave the chain
    blank and name segments in columns 73-76, and two segments numbered
    alike would be merged. Returns (text, {letter: segid}).
    """
    lines = text.splitlines()
    used, segids = set(), []
    for line in lines:
        if line[:6] in _RECORDS and len(line) > 21:
            if line[21] != " ":
                used.add(line[21])
            else:
                segid = line[72:76].strip()
                if segid and segid not in segids:
                    segids.append(segid)
    if not segids:
        return text, {}
    free = [c for c in _FREE_CHAIN_IDS if c not in used]
    if len(free) < len(segids):
        return text, {}
    letter = dict(zip(segids, free))
    out = []
    for line in lines:
        if (line[:6] in _RECORDS and len(line) > 21 and line[21] == " "
                and line[72:76].strip()):
            line = line[:21] + letter[line[72:76].strip()] + line[22:]
        out.append(line)
    return "\n".join(out) + "\n", {v: k for k, v in letter.items()}


def _parse(path):
    """Every model of the file as Bio.PDB Models, and a chain-id map."""
    from Bio.PDB import MMCIFParser, PDBParser

    kind = input_format(path)
    text = read_text(path)
    if not text.strip():
        raise StructureError(f"{path}: contains no atoms (empty file)")
    chain_map = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "pdb":
                text, chain_map = _segids_as_chains(text)
                parser = PDBParser(QUIET=True)
            else:
                parser = MMCIFParser(QUIET=True)
            structure = parser.get_structure(Path(path).stem, io.StringIO(text))
    except Exception as exc:  # Biopython raises many kinds on bad input
        reason = f"missing {exc.args[0]}" if isinstance(exc, KeyError) else exc
        raise StructureError(
            f"{path}: not a readable {kind.upper()} file ({reason})") from exc
    models = list(structure)
    if not models or not any(True for _ in models[0].get_atoms()):
        raise StructureError(f"{path}: contains no atoms")
    return models, chain_map


def _residues(model, chain_map):
    """The residues of a Bio.PDB Model that have a pseudo-atom, in order."""
    element_cache = {}
    residues = []
    for chain in model:
        chain_id = chain.id.strip()
        for residue in chain:
            het_flag, res_id, icode = residue.id
            res_name = residue.get_resname().strip().upper()
            atoms = list(residue.get_atoms())  # selected alternate locations
            names = [a.get_name().strip() for a in atoms]
            elements = []
            for atom, name in zip(atoms, names):
                key = (name, res_name, (atom.element or "").strip().upper(),
                       len(atoms) == 1)
                if key not in element_cache:
                    element_cache[key] = element_of(*key)
                elements.append(element_cache[key])
            centre = centre_atom(names, elements)
            if centre is None:
                continue
            label = chain_map.get(chain.id, chain_id)
            if label in (".", "?"):
                label = ""
            if not label:
                label = residue.segid.strip()
            residues.append(Residue(
                coords=np.array([a.coord for a in atoms], np.float64),
                names=names, elements=elements,
                occupancy=[a.get_occupancy() or 0.0 for a in atoms],
                bfactors=[a.get_bfactor() or 0.0 for a in atoms],
                serials=[a.get_serial_number() or 0 for a in atoms],
                centre=centre[0], nucleic=centre[1], chain=label,
                res_id=int(res_id), icode=icode.strip(), res_name=res_name,
                hetero=het_flag != " ", segid=residue.segid.strip()))
    return residues


def _coarse_model(model, chain_map, path):
    residues = polymer_residues(_residues(model, chain_map))
    if not residues:
        raise StructureError(
            f"{path}: no residue with a CA or C1' atom (amino acids or "
            f"nucleotides are needed for the coarse model)")
    return coarse_model(residues, path)


def load_structure(path):
    """Coarse model (:class:`~.model.CoarseModel`) of the first model of a
    .pdb/.ent/.cif/.mmcif file (optionally .gz).

    Raises StructureError naming the file when it cannot be read, holds no
    atoms, or has no polymer residue with a CA or C1' atom.
    """
    models, chain_map = _parse(path)
    return _coarse_model(models[0], chain_map, path)


def load_ensemble(path):
    """Every model of a multi-model file sharing one topology (a morph, a
    trajectory): ``(CoarseModel of the first model, atom coordinates
    (M, A, 3) in Angstrom, in the order of ``model.atoms``)``.

    StructureError when a model has other atoms than the first."""
    models, chain_map = _parse(path)
    first = _coarse_model(models[0], chain_map, path)
    coords = [first.atoms.coords]
    for k, model in enumerate(models[1:], start=2):
        other = _coarse_model(model, chain_map, path)
        if (other.atoms.n != first.atoms.n
                or not np.array_equal(other.atoms.names, first.atoms.names)):
            raise StructureError(
                f"{path}: model {k} has other atoms than model 1 "
                f"({other.atoms.n} vs {first.atoms.n}); all models must share "
                f"one topology")
        coords.append(other.atoms.coords)
    return first, np.stack(coords)
