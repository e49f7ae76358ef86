"""Rigid domains of the reference: given as chains and residue ranges, or
found by spectral clustering of its elastic network.

Found domains: the pseudo-atoms that may move are the nodes of a graph
whose edges join pairs closer than the elastic cutoff (12 Angstrom, the
restraints' network), weighted ``exp(-d^2 / 2 s^2)`` with ``s`` half the
cutoff, and bonded neighbours joined with weight 1; scikit-learn's
``SpectralClustering`` (normalised Laplacian, k-means on its eigenvectors,
seeded) cuts it into ``count`` domains (Shi and Malik 2000; the
normalised cut is how elastic-network domain finders such as Hayward's
DynDom and the spectral ENM partitions of Yesylevskyy et al. 2006 cut a
protein). Without ``count`` the number is the largest eigengap of the
normalised Laplacian among 2 to :data:`MAX_DOMAINS` (von Luxburg 2007),
measured as a ratio (:func:`eigengap_count`).

A domain record (``domains.json`` of a run, and ``config.json``'s
``domains``) lists each domain's residues as a selection text
(``structure.selection``), so it can be read, edited and given back with
``--domains``. numpy, scipy and scikit-learn (no torch).
"""
import numpy as np
from scipy.spatial import cKDTree

from .structure.selection import describe_residues, domain_labels, selection_text

#: Most domains the automatic count considers.
MAX_DOMAINS = 8
#: Fewest residues a found domain may hold (a rigid transform needs three
#: points off a line).
MIN_DOMAIN_SIZE = 3


def network_affinity(coords, bonds, cutoff=12.0):
    """(N, N) symmetric affinity of the elastic network of ``coords``
    (N, 3) Angstrom: ``exp(-d^2 / 2 (cutoff/2)^2)`` for pairs within
    ``cutoff``, 1 for ``bonds`` (M, 2), 0 elsewhere and on the diagonal."""
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    affinity = np.zeros((n, n))
    pairs = cKDTree(coords).query_pairs(float(cutoff), output_type="ndarray")
    if len(pairs):
        d = np.linalg.norm(coords[pairs[:, 0]] - coords[pairs[:, 1]], axis=1)
        w = np.exp(-d ** 2 / (2 * (cutoff / 2) ** 2))
        affinity[pairs[:, 0], pairs[:, 1]] = affinity[pairs[:, 1], pairs[:, 0]] = w
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if len(bonds):
        affinity[bonds[:, 0], bonds[:, 1]] = affinity[bonds[:, 1], bonds[:, 0]] = 1.0
    return affinity


def eigengap_count(affinity, max_count=MAX_DOMAINS):
    """The number of clusters ``k``, 2 to ``max_count``, with the largest
    relative eigengap ``lambda_k / lambda_(k-1)`` of the normalised
    Laplacian of ``affinity`` (eigenvalues from 0). Relative, because the
    absolute gaps of a protein's contact network grow steadily with ``k``
    (on adenylate kinase they pick 7 "domains" of 20-40 residues; the
    relative gap picks 2, the LID against the rest)."""
    degree = affinity.sum(1)
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    laplacian = np.eye(len(affinity)) - scale[:, None] * affinity * scale[None, :]
    values = np.linalg.eigvalsh(laplacian)[:max_count + 1]
    values = np.maximum(values, 1e-12)
    ratios = values[2:max_count + 1] / values[1:max_count]   # k = 2, 3, ...
    return int(np.argmax(ratios)) + 2


def find_domains(coords, bonds, count=None, cutoff=12.0, seed=0):
    """(N,) int domain labels 0..K-1 of pseudo-atoms at ``coords`` (N, 3)
    with ``bonds``, by spectral clustering of their elastic network
    (module docstring); ``count`` domains, or the eigengap's number.
    ValueError when fewer than ``count`` x :data:`MIN_DOMAIN_SIZE`
    residues are given or a domain comes out smaller than that."""
    from sklearn.cluster import SpectralClustering
    n = len(coords)
    affinity = network_affinity(coords, bonds, cutoff)
    if count is None:
        count = eigengap_count(affinity, min(MAX_DOMAINS, max(2, n // MIN_DOMAIN_SIZE)))
    if n < count * MIN_DOMAIN_SIZE:
        raise ValueError("--num-domains %d: %d moving residues cannot make %d domains "
                         "of %d residues" % (count, n, count, MIN_DOMAIN_SIZE))
    labels = SpectralClustering(n_clusters=int(count), affinity="precomputed",
                                random_state=int(seed), assign_labels="kmeans"
                                ).fit_predict(affinity + 1e-9)
    # number the domains along the sequence: the first residue's is domain 0
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    labels = order[labels]
    sizes = np.bincount(labels, minlength=count)
    if sizes.min() < MIN_DOMAIN_SIZE:
        raise ValueError("--num-domains %d: spectral clustering made a domain of %d "
                         "residues; ask for fewer domains or give --domains"
                         % (count, sizes.min()))
    return labels.astype(np.int64)


def resolve_domains(model, moving, domains=None, num_domains=None, cutoff=12.0,
                    seed=0):
    """(N,) int labels (-1 for residues that do not move) of ``model``'s
    pseudo-atoms: from ``domains`` (a ``--domains`` text) when given, else
    found among the ``moving`` ((N,) bool) residues (:func:`find_domains`).
    ValueError naming the option for a bad text or count."""
    moving = np.asarray(moving, dtype=bool)
    if domains:
        labels = domain_labels(model, domains, required=moving)
        labels[~moving] = -1
        if len(np.unique(labels[labels >= 0])) < 2:
            raise ValueError("--domains %r: only one domain holds residues that may "
                             "move (--move); give at least two" % domains)
        return _renumber(labels)
    index = np.flatnonzero(moving)
    keep = np.full(model.n, -1, np.int64)
    keep[index] = np.arange(len(index))
    bonds = keep[np.asarray(model.bonds, np.int64).reshape(-1, 2)]
    bonds = bonds[(bonds >= 0).all(1)]
    labels = np.full(model.n, -1, np.int64)
    labels[index] = find_domains(model.coords[index], bonds, num_domains, cutoff, seed)
    return labels


def _renumber(labels):
    """Domains numbered 0, 1, ... in the order given, skipping empty ones."""
    out = labels.copy()
    for k, value in enumerate(np.unique(labels[labels >= 0])):
        out[labels == value] = k
    return out


def domains_record(model, labels, found):
    """JSON-ready record of the domains ``labels`` of ``model``: how they
    were made (``found`` by clustering, else given), the ``--domains``
    text that gives them back, and per domain its residues and size."""
    count = int(labels.max()) + 1 if (labels >= 0).any() else 0
    texts = [selection_text(model, labels == k) for k in range(count)]
    return {"source": "spectral clustering of the elastic network" if found
            else "--domains", "count": count, "domains": ";".join(texts),
            "held": int((labels < 0).sum()),
            "per_domain": [{"domain": k, "residues": int((labels == k).sum()),
                            "selection": texts[k]} for k in range(count)]}


def describe_domains(model, labels):
    """One line per domain: ``domain 1: 120 residues (A:1-120)``."""
    count = int(labels.max()) + 1 if (labels >= 0).any() else 0
    return ["domain %d: %s" % (k + 1, describe_residues(model, labels == k))
            for k in range(count)]
