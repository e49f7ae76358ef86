"""Residues named by chains and residue ranges: ``B``, ``A:120-250``.

A selection is a comma-separated list of items, each a chain id alone
(every residue of the chain) or a chain id, a colon and an inclusive range
of author residue numbers (``A:120-250``, ``A:-5-10``, or one residue
``A:57``). Chain ids are those of the reference as written in its files
(``auth_asym_id``; the segment id when the PDB chain is blank), residue
numbers its author numbers (``auth_seq_id``), insertion codes ignored: the
words of ChimeraX's ``/A:120-250`` and PyMOL's ``chain A and resi
120-250``.

A domain list (``--domains``) is selections separated by ``;``, one per
domain: ``A:1-120;A:121-214``.

Errors are ValueErrors in one line naming the option and the item: an
item that does not parse, a chain the reference does not have, a range
that matches no residue. numpy only (Scipion's process may import it).
"""
import re

import numpy as np

__all__ = ["parse_selection", "select_residues", "parse_domains",
           "domain_labels", "describe_residues", "residue_ranges",
           "selection_text"]

_ITEM = re.compile(r"^(?P<chain>[^:\s,;]+)(?::(?P<first>-?\d+)(?:-(?P<last>-?\d+))?)?$")


def parse_selection(text, option="--move"):
    """``"B, A:120-250"`` -> ``[("B", None, None), ("A", 120, 250)]``
    (chain, first, last; None for a whole chain). ValueError naming
    ``option`` for an empty selection, an item that does not parse or a
    range whose first number is above its last."""
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise ValueError("%s %r: empty selection; give chains and residue ranges "
                         "such as 'B' or 'A:120-250'" % (option, text))
    parsed = []
    for item in items:
        match = _ITEM.match(item)
        if not match:
            raise ValueError("%s %r: cannot read %r; give a chain ('B') or a chain "
                             "and residue range ('A:120-250'), comma-separated"
                             % (option, text, item))
        first, last = match.group("first"), match.group("last")
        first = None if first is None else int(first)
        last = first if last is None else int(last)
        if first is not None and first > last:
            raise ValueError("%s %r: range %r runs backwards (%d > %d)"
                             % (option, text, item, first, last))
        parsed.append((match.group("chain"), first, last))
    return parsed


def select_residues(model, text, option="--move"):
    """(N,) bool: the pseudo-atoms of ``model`` (a ``CoarseModel``) that
    ``text`` selects. ValueError naming ``option`` for a chain the model
    lacks (the message lists its chains) or an item that selects nothing."""
    chains = np.asarray(model.chain_ids).astype(str)
    res_ids = np.asarray(model.res_ids)
    selected = np.zeros(len(chains), dtype=bool)
    for chain, first, last in parse_selection(text, option):
        in_chain = chains == chain
        if not in_chain.any():
            raise ValueError("%s %r: the reference has no chain %r (its chains: %s)"
                             % (option, text, chain, ", ".join(_unique(chains))))
        hit = in_chain if first is None else in_chain & (res_ids >= first) & (res_ids <= last)
        if not hit.any():
            present = res_ids[in_chain]
            raise ValueError("%s %r: %s:%d-%d matches no residue (chain %s holds "
                             "residues %d-%d)" % (option, text, chain, first, last,
                                                  chain, present.min(), present.max()))
        selected |= hit
    return selected


def parse_domains(text, option="--domains"):
    """``"A:1-120;A:121-214"`` -> the selections (texts) of the domains,
    at least two. ValueError naming ``option`` otherwise (each selection
    is checked by :func:`parse_selection`)."""
    parts = [part.strip() for part in str(text).split(";")]
    if any(not part for part in parts):
        raise ValueError("%s %r: an empty domain; give selections separated by ';' "
                         "such as 'A:1-120;A:121-214'" % (option, text))
    if len(parts) < 2:
        raise ValueError("%s %r: one domain moves the whole model rigidly; give at "
                         "least two, separated by ';'" % (option, text))
    for part in parts:
        parse_selection(part, option)
    return parts


def domain_labels(model, text, required=None, option="--domains"):
    """(N,) int: the domain (0, 1, ...) of each pseudo-atom of ``model``
    given by ``text`` (:func:`parse_domains`), -1 where none is given.
    ValueError naming ``option`` for a residue in two domains, a domain
    that selects nothing, and a residue of ``required`` ((N,) bool, the
    residues that may move; default all) in no domain."""
    labels = np.full(model.n, -1, dtype=np.int64)
    for k, part in enumerate(parse_domains(text, option)):
        chosen = select_residues(model, part, option)
        twice = chosen & (labels >= 0)
        if twice.any():
            raise ValueError("%s %r: %s are in domains %d and %d"
                             % (option, text, describe_residues(model, twice),
                                labels[twice][0] + 1, k + 1))
        labels[chosen] = k
    required = np.ones(model.n, bool) if required is None else np.asarray(required, bool)
    missing = required & (labels < 0)
    if missing.any():
        raise ValueError("%s %r: %s are in no domain; add them to one (or leave them "
                         "out of --move)" % (option, text, describe_residues(model, missing)))
    return labels


def residue_ranges(model, selected):
    """``["A:1-120", "B:7"]``: the pseudo-atoms ``selected`` ((N,) bool) of
    ``model`` as ranges of consecutive residues of one chain (author
    numbers), in model order."""
    index = np.flatnonzero(selected)
    ranges, start = [], 0
    for k in range(1, len(index) + 1):
        if (k == len(index) or index[k] != index[k - 1] + 1
                or model.chain_ids[index[k]] != model.chain_ids[index[k - 1]]):
            a, b = index[start], index[k - 1]
            chain = model.chain_ids[a]
            ranges.append("%s:%d" % (chain, model.res_ids[a]) if a == b else
                          "%s:%d-%d" % (chain, model.res_ids[a], model.res_ids[b]))
            start = k
    return ranges


def selection_text(model, selected):
    """The selection text (``A:1-120,B:7``) of the pseudo-atoms
    ``selected`` ((N,) bool) of ``model``; :func:`select_residues` gives
    them back."""
    return ",".join(residue_ranges(model, selected))


def describe_residues(model, selected, limit=4):
    """Short text of the residues ``selected`` ((N,) bool): ``"12 residues
    (A:1-10, B:3-4)"``."""
    ranges = residue_ranges(model, selected)
    count = int(np.count_nonzero(selected))
    shown = ", ".join(ranges[:limit]) + (", ..." if len(ranges) > limit else "")
    return "%d residue%s (%s)" % (count, "" if count == 1 else "s", shown)


def _unique(values):
    _, first = np.unique(values, return_index=True)
    return [str(values[i]) for i in np.sort(first)]
