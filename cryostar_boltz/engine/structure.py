"""The reference atomic model: read, coarse-grain, write ensembles.

One pseudo-atom per polymer residue: the CA atom of an amino acid, the C1'
atom of a nucleotide. Its amplitude is the sum of the atomic numbers of the
residue's heavy atoms. The full-atom model of the first MODEL is kept, so
that decoded pseudo-atom positions can be written back as full-atom models
(each residue moved rigidly with its pseudo-atom).

What the coarse model keeps (and why):

* Residues with a carbon CA or a C1' atom that belong to the polymer: ATOM
  records of standard residue names, and other residues (HETATM modified
  residues such as MSE, or non-standard names) only when bonded to a
  neighbour by a peptide (C-N) or phosphodiester (O3'-P) bond. Waters,
  ions and ligands, bonded to nothing, are dropped, atoms included: the
  full-atom output is the polymer only.
* The first model of multi-model files; for alternate locations the
  highest-occupancy one (the first on ties); insertion codes give distinct
  residues.
* Elements are re-derived from atom names where the element column is
  missing or unreliable (CHARMM files put segment names there), so that
  ``CA`` in an amino acid is carbon and ``HG11`` hydrogen; two-letter
  elements from names only for ions (``ZN`` in residue ``ZN``).
* Chains (the chain id, or the segment id when the chain id is blank) are
  split into segments at breaks: a residue-number jump other than 0 or +1,
  a change between protein and nucleic acid, or consecutive pseudo-atoms
  farther apart than :data:`BREAK_DISTANCE`.
"""
import dataclasses
import gzip
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

#: Pseudo-atom distance (Angstrom) above which consecutive residues are not
#: bonded. CA-CA is 3.8 (trans) or 2.9 (cis) Angstrom; C1'-C1' is about 4.9
#: in B-DNA and 5.4 in A-RNA, with room left for unstacked steps.
BREAK_DISTANCE = {"protein": 4.5, "nucleic": 8.0}

#: Largest covalent-bond length (Angstrom) accepted as a peptide (C-N) or
#: phosphodiester (O3'-P) link when deciding whether a non-standard residue
#: is part of the polymer (real bonds are 1.33 and 1.61).
LINK_DISTANCE = 2.0

PDB_SUFFIXES = (".pdb", ".ent")
CIF_SUFFIXES = (".cif", ".mmcif")

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co "
    "Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb "
    "Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re "
    "Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es "
    "Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").upper().split()
#: Upper-case element symbol -> atomic number ('X', unknown, -> 0).
ATOMIC_NUMBERS = {s: z for z, s in enumerate(_SYMBOLS, start=1)}
ATOMIC_NUMBERS["X"] = 0

AMINO_ACIDS = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP "
    "TYR VAL PYL HSD HSE HSP HID HIE HIP CYX CYM ASH GLH LYN".split())
NUCLEOTIDES = frozenset(
    "A C G U T I N DA DC DG DT DU DI DN ADE CYT GUA THY URA "
    "RA RC RG RU RA5 RC5 RG5 RU5 RA3 RC3 RG3 RU3 "
    "DA5 DC5 DG5 DT5 DA3 DC3 DG3 DT3".split())
_STANDARD = AMINO_ACIDS | NUCLEOTIDES
#: Two-letter element symbols that also begin common organic atom names
#: (CA, CD, HG, NE, ...): trusted from a name only for single-atom ions.
_AMBIGUOUS = frozenset(s for s in ATOMIC_NUMBERS
                       if len(s) == 2 and s[0] in "CHNOPS"
                       and s not in ("CL", "SE", "SI"))
_NUCLEIC_CENTRE = ("C1'", "C1*")


class StructureError(ValueError):
    """A structure file that cannot be read or holds no usable polymer."""


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


# --------------------------------------------------------------------- reading

def _format_of(path):
    """'pdb' or 'cif' from the suffix, '.gz' allowed."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PDB_SUFFIXES:
        return "pdb"
    if suffix in CIF_SUFFIXES:
        return "cif"
    raise StructureError(
        f"{path}: unknown structure format {suffix!r}; expected one of "
        f"{', '.join(PDB_SUFFIXES + CIF_SUFFIXES)} (optionally .gz)")


def _read_text(path):
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"{path}: no such file")
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise StructureError(f"{path}: cannot read the file ({exc})") from exc


def _segids_as_chains(text):
    """Give each segment id of blank-chain records its own chain letter.

    Biopython groups residues by chain id only; CHARMM files leave the chain
    blank and name segments in columns 73-76, and two segments numbered
    alike would be merged. Returns (text, {letter: segid}).
    """
    lines = text.splitlines()
    records = ("ATOM  ", "HETATM", "ANISOU")
    used, segids = set(), []
    for line in lines:
        if line[:6] in records and len(line) > 21:
            if line[21] != " ":
                used.add(line[21])
            else:
                segid = line[72:76].strip()
                if segid and segid not in segids:
                    segids.append(segid)
    if not segids:
        return text, {}
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            "0123456789" if c not in used]
    if len(free) < len(segids):
        return text, {}
    letter = dict(zip(segids, free))
    out = []
    for line in lines:
        if (line[:6] in records and len(line) > 21 and line[21] == " "
                and line[72:76].strip()):
            line = line[:21] + letter[line[72:76].strip()] + line[22:]
        out.append(line)
    return "\n".join(out) + "\n", {v: k for k, v in letter.items()}


def _parse(path):
    """Every model of the file as Bio.PDB Models, and a chain-id map."""
    from Bio.PDB import MMCIFParser, PDBParser

    kind = _format_of(path)
    text = _read_text(path)
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


def _element(name, res_name, given, single_atom):
    """Upper-case element symbol of an atom, from its name first."""
    letters = name.upper().lstrip("0123456789")
    if not letters:
        return "X"
    if res_name not in _STANDARD:
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


def _centre_atom(names, elements):
    """(index, is_nucleic) of the pseudo-atom of a residue, or None."""
    for i, (name, element) in enumerate(zip(names, elements)):
        if name == "CA" and element == "C":
            return i, False
    for i, name in enumerate(names):
        if name in _NUCLEIC_CENTRE:
            return i, True
    return None


def _collect_residues(model, chain_map):
    """Per candidate residue: its atoms, names, elements and pseudo-atom."""
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
                    element_cache[key] = _element(*key)
                elements.append(element_cache[key])
            centre = _centre_atom(names, elements)
            if centre is None:
                continue
            label = chain_map.get(chain.id, chain_id)
            if label in (".", "?"):
                label = ""
            if not label:
                label = residue.segid.strip()
            residues.append(dict(
                atoms=atoms, names=names, elements=elements, centre=centre[0],
                nucleic=centre[1], chain=label, res_id=int(res_id),
                icode=icode.strip(), res_name=res_name,
                hetero=het_flag != " ", segid=residue.segid.strip(),
                standard=het_flag == " " and res_name in _STANDARD))
    return residues


def _atom_coord(residue, name):
    try:
        return residue["atoms"][residue["names"].index(name)].coord
    except ValueError:
        return None


def _linked(a, b):
    """Whether residue ``b`` follows ``a`` through a peptide or O3'-P bond."""
    pairs = (("O3'", "P"), ("O3*", "P")) if a["nucleic"] else (("C", "N"),)
    for end, start in pairs:
        x, y = _atom_coord(a, end), _atom_coord(b, start)
        if x is not None and y is not None:
            return float(np.linalg.norm(x - y)) <= LINK_DISTANCE
    return False


def _polymer_residues(residues):
    """Drop non-standard residues that are bonded to no neighbour."""
    keep = []
    for i, res in enumerate(residues):
        if res["standard"]:
            keep.append(res)
            continue
        prev = residues[i - 1] if i > 0 else None
        nxt = residues[i + 1] if i + 1 < len(residues) else None
        if ((prev is not None and prev["chain"] == res["chain"]
             and prev["nucleic"] == res["nucleic"] and _linked(prev, res))
                or (nxt is not None and nxt["chain"] == res["chain"]
                    and nxt["nucleic"] == res["nucleic"] and _linked(res, nxt))):
            keep.append(res)
    return keep


def _segments(coords, chain_index, res_ids, is_nucleic):
    """Segment index per pseudo-atom: chains split at breaks."""
    n = len(coords)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    step = np.linalg.norm(np.diff(coords, axis=0), axis=1)
    cutoff = np.where(is_nucleic[1:], BREAK_DISTANCE["nucleic"],
                      BREAK_DISTANCE["protein"])
    jump = np.diff(res_ids)
    new = ((chain_index[1:] != chain_index[:-1])
           | (is_nucleic[1:] != is_nucleic[:-1])
           | ((jump != 0) & (jump != 1))
           | (step > cutoff))
    return np.concatenate([[0], np.cumsum(new)]).astype(np.int64)


def _build(residues, source):
    n_atoms = [len(r["atoms"]) for r in residues]
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]]).astype(np.int64)
    flat = [a for r in residues for a in r["atoms"]]
    names = np.array([n for r in residues for n in r["names"]], dtype=str)
    elements = np.array([e for r in residues for e in r["elements"]], dtype=str)
    z = np.array([ATOMIC_NUMBERS[e] for e in elements], dtype=np.int64)
    residue_index = np.repeat(np.arange(len(residues)), n_atoms)

    def per_atom(key, dtype=None):
        return np.repeat(np.array([r[key] for r in residues], dtype=dtype), n_atoms)

    atoms = Atoms(
        coords=np.array([a.coord for a in flat], dtype=np.float64).reshape(-1, 3),
        names=names, elements=elements, atomic_numbers=z,
        residue_index=residue_index,
        res_names=per_atom("res_name", str), chain_ids=per_atom("chain", str),
        res_ids=per_atom("res_id", np.int64), icodes=per_atom("icode", str),
        hetero=per_atom("hetero", bool),
        occupancy=np.array([a.get_occupancy() or 0.0 for a in flat], np.float64),
        bfactors=np.array([a.get_bfactor() or 0.0 for a in flat], np.float64),
        serials=np.array([a.get_serial_number() or 0 for a in flat], np.int64),
        segids=per_atom("segid", str))

    atom_index = offsets + np.array([r["centre"] for r in residues], np.int64)
    heavy = np.where(z > 1, z, 0).astype(np.float64)
    amplitudes = np.bincount(residue_index, weights=heavy,
                             minlength=len(residues))
    chain_ids = np.array([r["chain"] for r in residues], dtype=str)
    _, first = np.unique(chain_ids, return_index=True)
    order = {chain_ids[i]: k for k, i in enumerate(np.sort(first))}
    chain_index = np.array([order[c] for c in chain_ids], dtype=np.int64)
    coords = atoms.coords[atom_index]
    res_ids = np.array([r["res_id"] for r in residues], dtype=np.int64)
    is_nucleic = np.array([r["nucleic"] for r in residues], dtype=bool)
    segment_index = _segments(coords, chain_index, res_ids, is_nucleic)
    i = np.flatnonzero(segment_index[1:] == segment_index[:-1])
    return CoarseModel(
        coords=coords, amplitudes=amplitudes, chain_ids=chain_ids,
        res_ids=res_ids,
        icodes=np.array([r["icode"] for r in residues], dtype=str),
        res_names=np.array([r["res_name"] for r in residues], dtype=str),
        is_nucleic=is_nucleic,
        bonds=np.stack([i, i + 1], axis=1).astype(np.int64),
        segment_index=segment_index, chain_index=chain_index,
        atom_index=atom_index, atoms=atoms, source=str(source))


def load_structure(path):
    """Coarse model of a .pdb/.ent/.cif/.mmcif file (optionally .gz).

    Raises StructureError naming the file when it cannot be read, holds no
    atoms, or has no polymer residue with a CA or C1' atom.
    """
    models, chain_map = _parse(path)
    return _coarse_model(models[0], chain_map, path)


def _coarse_model(model, chain_map, path):
    residues = _polymer_residues(_collect_residues(model, chain_map))
    if not residues:
        raise StructureError(
            f"{path}: no residue with a CA or C1' atom (amino acids or "
            f"nucleotides are needed for the coarse model)")
    return _build(residues, path)


def load_ensemble(path):
    """Every model of a multi-model file sharing one topology (a morph, a
    trajectory): ``(CoarseModel of the first model, atom coordinates
    (M, A, 3) in the order of ``model.atoms``)``."""
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


# --------------------------------------------------------------------- writing

def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomic(path, chunks):
    """Write an iterable of strings to ``path`` atomically (temp + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    try:
        if path.suffix.lower() == ".gz":
            handle = gzip.open(tmp, "wt", compresslevel=6)
        else:
            handle = open(tmp, "w")
        with handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _output_table(model, full_atom):
    """Rows of ``model.atoms`` to write, and their pseudo-atom index."""
    if full_atom:
        rows = np.arange(model.atoms.n)
    else:
        rows = model.atom_index
    return rows, model.atoms.residue_index[rows]


def _positions(model, coords, rows, residue, full_atom):
    """(M, A, 3) output positions: rigid per-residue displacement."""
    if not full_atom:
        return coords
    shift = coords[:, residue] - model.coords[residue]
    return model.atoms.coords[rows] + shift


def _per_model_bfactors(bfactors, model, rows, residue, n_models):
    """(M, A) B-factor column: given per residue, or the file's."""
    if bfactors is None:
        return np.broadcast_to(model.atoms.bfactors[rows], (n_models, len(rows)))
    values = np.asarray(bfactors, dtype=np.float64)
    if values.shape not in ((model.n,), (n_models, model.n)):
        raise ValueError(f"bfactors must have shape ({model.n},) or "
                         f"({n_models}, {model.n}), not {values.shape}")
    return np.broadcast_to(values, (n_models, model.n))[:, residue]


def _pdb_atom_name(name, element):
    """Atom name in columns 13-16: one-letter elements start at column 14."""
    if len(name) < 4 and len(element) < 2 and not name[:1].isdigit():
        name = " " + name
    return f"{name:<4s}"[:4]


def _pdb_chain_columns(label, segid):
    """(chain column, segid column) for a chain label."""
    if len(label) <= 1:
        return (label or " "), segid
    if len(label) <= 4:
        return " ", label
    raise ValueError(f"chain id {label!r} is too long for PDB; write .cif")


def _pdb_template(model, rows, chain_ends):
    """Per-model %-format string of the ATOM/HETATM records (and TERs)."""
    atoms = model.atoms
    if np.any(atoms.res_ids[rows] > 9999) or np.any(atoms.res_ids[rows] < -999):
        raise ValueError("residue numbers beyond PDB's 4 columns; write .cif")
    parts = []
    for k, row in enumerate(rows):
        name, element = atoms.names[row], atoms.elements[row]
        res_name = atoms.res_names[row]
        if len(res_name) > 3:
            raise ValueError(f"residue name {res_name!r} is too long for PDB; "
                             f"write .cif")
        chain, segid = _pdb_chain_columns(atoms.chain_ids[row], atoms.segids[row])
        record = "HETATM" if atoms.hetero[row] else "ATOM  "
        line = (f"{record}{(k + 1) % 100000:5d} "
                f"{_pdb_atom_name(name, element)} {res_name:>3s} {chain}"
                f"{atoms.res_ids[row]:4d}{(atoms.icodes[row] or ' '):1s}   ")
        parts.append(line.replace("%", "%%") + "%8.3f%8.3f%8.3f%6.2f%6.2f"
                     + f"      {segid:<4s}{element:>2s}  \n".replace("%", "%%"))
        if k in chain_ends:
            parts.append("TER\n")
    return "".join(parts)


def _pdb_chunks(model, positions, occupancy, bfactors, rows):
    chain = model.atoms.chain_ids[rows]
    ends = set(np.flatnonzero(np.r_[chain[1:] != chain[:-1], True]).tolist())
    template = _pdb_template(model, rows, ends)
    if np.any(positions <= -999.9995) or np.any(positions >= 9999.9995):
        raise ValueError("coordinates beyond PDB's 8 columns; write .cif")
    occ = np.clip(occupancy, 0.0, 999.99)
    yield "REMARK   1 MODELS WRITTEN BY CRYOSTAR-BOLTZ\n"
    for m, xyz in enumerate(positions):
        values = np.column_stack([xyz, occ, np.clip(bfactors[m], -99.99, 999.99)])
        yield f"MODEL     {m + 1:4d}\n"
        yield template % tuple(values.ravel().tolist())
        yield "ENDMDL\n"
    yield "END\n"


_CIF_COLUMNS = ("group_PDB", "id", "type_symbol", "label_atom_id",
                "label_alt_id", "label_comp_id", "label_asym_id",
                "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code",
                "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
                "B_iso_or_equiv", "auth_seq_id", "auth_comp_id",
                "auth_asym_id", "auth_atom_id", "pdbx_PDB_model_num")


def _cif_value(text):
    """A CIF token: quoted when it holds quotes or spaces, '.' when empty."""
    if not text:
        return "."
    if "'" in text or " " in text or text[0] in "_#$;[]\"":
        return f'"{text}"' if '"' not in text else f"'{text}'"
    return text


def _cif_chunks(model, positions, occupancy, bfactors, rows, name):
    atoms = model.atoms
    residue = atoms.residue_index[rows]
    # label_seq_id: 1-based position of the residue in its chain
    seq = np.zeros(model.n, dtype=np.int64)
    for c in np.unique(model.chain_index):
        members = np.flatnonzero(model.chain_index == c)
        seq[members] = np.arange(1, len(members) + 1)
    lines = []
    for row, res in zip(rows, residue):
        atom = _cif_value(atoms.names[row])
        comp = _cif_value(atoms.res_names[row])
        chain = _cif_value(atoms.chain_ids[row])
        record = "HETATM" if atoms.hetero[row] else "ATOM"
        head = (f" {atoms.elements[row]} {atom} . {comp} {chain} "
                f"{model.chain_index[res] + 1} {seq[res]} {atoms.icodes[row] or '?'} ")
        tail = f" {atoms.res_ids[row]} {comp} {chain} {atom} "
        lines.append(record + " %d" + head.replace("%", "%%")
                     + "%.3f %.3f %.3f %.2f %.2f" + tail.replace("%", "%%")
                     + "%d\n")
    template = "".join(lines)
    yield f"data_{re.sub(r'[^A-Za-z0-9_.-]', '_', name) or 'model'}\n#\nloop_\n"
    yield "".join(f"_atom_site.{c}\n" for c in _CIF_COLUMNS)
    n = len(rows)
    values = np.empty((n, 7), dtype=np.float64)
    values[:, 4] = occupancy
    for m, xyz in enumerate(positions):
        values[:, 0] = np.arange(m * n + 1, (m + 1) * n + 1)
        values[:, 1:4] = xyz
        values[:, 5] = bfactors[m]
        values[:, 6] = m + 1
        yield template % tuple(values.ravel().tolist())
    yield "#\n"


def write_models(path, model, coords, full_atom=False, bfactors=None):
    """Write pseudo-atom positions as a multi-model PDB or mmCIF file.

    ``coords`` is (M, N, 3) or (N, 3) in Angstrom, residues in the order of
    ``model``. Coarse files hold one CA / C1' atom per residue; full-atom
    files move every atom of residue i by the displacement of pseudo-atom i.
    ``bfactors`` (N,) or (M, N), e.g. per-residue RMSF, fills the B-factor
    column (else the reference's). The format follows the suffix (.pdb/.ent
    or .cif/.mmcif, optionally .gz). The file appears complete or not at
    all: it is written to a temporary file in the same folder and renamed.
    Atoms are numbered 1, 2, ... in each model (PDB serials wrap past
    99999); a TER record ends each chain.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim == 2:
        coords = coords[None]
    if coords.ndim != 3 or coords.shape[1:] != (model.n, 3):
        raise ValueError(f"coords must have shape (M, {model.n}, 3) or "
                         f"({model.n}, 3), not {coords.shape}")
    if not np.all(np.isfinite(coords)):
        raise ValueError("coords hold NaN or infinite values")
    kind = _format_of(path)
    rows, residue = _output_table(model, full_atom)
    positions = _positions(model, coords, rows, residue, full_atom)
    occupancy = model.atoms.occupancy[rows]
    b = _per_model_bfactors(bfactors, model, rows, residue, len(coords))
    if kind == "pdb":
        chunks = _pdb_chunks(model, positions, occupancy, b, rows)
    else:
        name = Path(path).name.split(".")[0]
        chunks = _cif_chunks(model, positions, occupancy, b, rows, name)
    _write_atomic(path, chunks)


# ------------------------------------------------------------ reading ensembles

_CIF_TOKEN = re.compile(r"""'[^']*'(?=\s|$)|"[^"]*"(?=\s|$)|\S+""")


def _pdb_pseudo_atoms(text, path):
    """Per model: list of pseudo-atom coordinates, in file order."""
    models, current, seen_model = [], [], False
    for line in text.splitlines():
        record = line[:6]
        if record == "MODEL ":
            current, seen_model = [], True
        elif record == "ENDMDL":
            models.append(current)
            current = []
        elif record in ("ATOM  ", "HETATM"):
            if line[16] not in " A" or line[12:16].strip() not in ("CA", "C1'", "C1*"):
                continue
            if line[12:16] == "CA  " or line[17:20].strip() == "CA":
                continue  # calcium ion, not a C-alpha
            try:
                current.append((float(line[30:38]), float(line[38:46]),
                                float(line[46:54])))
            except ValueError as exc:
                raise StructureError(f"{path}: bad coordinates in {line!r}") from exc
    if current or not seen_model:
        models.append(current)
    return models


def _cif_atom_site(text, path, names):
    """Columns and rows of the _atom_site loop whose atom name is in ``names``.

    Rows must be one per line, as in files from the PDB and from
    :func:`write_models`; only lines with quotes need the slower tokenizer.
    """
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("_atom_site.") and lines[start - 1].strip() == "loop_":
            break
    else:
        raise StructureError(f"{path}: no _atom_site loop")
    columns, i = [], start
    while i < len(lines) and lines[i].startswith("_atom_site."):
        columns.append(lines[i].split()[0][len("_atom_site."):])
        i += 1
    name_col = next((columns.index(c) for c in ("label_atom_id", "auth_atom_id")
                     if c in columns), None)
    if name_col is None:
        raise StructureError(f"{path}: _atom_site loop without atom names")
    rows = []
    for line in lines[i:]:
        if not line.strip():
            continue
        if line[0] in "#_" or line.startswith(("loop_", "data_")):
            break
        if not any(n in line for n in names):
            continue
        quoted = "'" in line or '"' in line
        tokens = _CIF_TOKEN.findall(line) if quoted else line.split()
        if len(tokens) != len(columns):
            raise StructureError(f"{path}: _atom_site rows must be one per line")
        if quoted:
            tokens = [t[1:-1] if t[:1] in "'\"" else t for t in tokens]
        if tokens[name_col] in names:
            rows.append(tokens)
    return {c: np.array(v) for c, v in zip(columns, zip(*rows))} if rows else {}


def _cif_pseudo_atoms(text, path):
    table = _cif_atom_site(text, path, ("CA", "C1'", "C1*"))
    if not table:
        return []
    n = len(next(iter(table.values())))
    comp = table.get("label_comp_id", table.get("auth_comp_id"))
    alt = table.get("label_alt_id", np.full(n, "."))
    element = table.get("type_symbol", np.full(n, "C"))
    model_num = table.get("pdbx_PDB_model_num", np.full(n, "1"))
    keep = (comp != "CA") & (element != "CA") & np.isin(alt, (".", "?", "A"))
    xyz = np.column_stack([table[f"Cartn_{k}"][keep].astype(np.float64)
                           for k in "xyz"])
    models = model_num[keep]
    return [xyz[models == m] for m in dict.fromkeys(models.tolist())]


def read_models(path):
    """(M, N, 3) pseudo-atom (CA / C1') coordinates of a multi-model file.

    Reads files written by :func:`write_models`, coarse or full-atom; other
    files work when every model has the same residues (alternate locations
    other than blank or 'A' are skipped).
    """
    kind = _format_of(path)
    text = _read_text(path)
    models = (_pdb_pseudo_atoms(text, path) if kind == "pdb"
              else _cif_pseudo_atoms(text, path))
    models = [m for m in models if len(m)]
    if not models:
        raise StructureError(f"{path}: no CA or C1' atoms")
    sizes = {len(m) for m in models}
    if len(sizes) != 1:
        raise StructureError(
            f"{path}: models have different numbers of pseudo-atoms {sorted(sizes)}")
    return np.asarray(models, dtype=np.float64).reshape(len(models), -1, 3)


# --------------------------------------------------------------------- metrics

def ca_rmsd(a, b, superpose=True):
    """RMSD (Angstrom) between pseudo-atom sets, batched over leading axes.

    ``a`` and ``b`` are (..., N, 3) and broadcast against each other. With
    ``superpose`` the optimal rigid superposition (Kabsch, no reflection)
    is applied first; without it, coordinates are compared as they are.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1] != 3 or b.shape[-1] != 3 or a.shape[-2] != b.shape[-2]:
        raise ValueError(f"expected (..., N, 3) arrays with the same N, "
                         f"got {a.shape} and {b.shape}")
    n = a.shape[-2]
    if not superpose:
        return np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1), axis=-1))
    a = a - a.mean(axis=-2, keepdims=True)
    b = b - b.mean(axis=-2, keepdims=True)
    h = np.swapaxes(a, -1, -2) @ b
    s = np.linalg.svd(h, compute_uv=False)
    sign = np.sign(np.linalg.det(h))
    sign = np.where(sign == 0, 1.0, sign)
    trace = s[..., 0] + s[..., 1] + sign * s[..., 2]
    sq = (np.sum(a ** 2, axis=(-1, -2)) + np.sum(b ** 2, axis=(-1, -2))
          - 2.0 * trace) / n
    return np.sqrt(np.maximum(sq, 0.0))
