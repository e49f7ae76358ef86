"""Particles picked from the latent space: inside a polygon drawn on the
PCA plane or the UMAP embedding, inside ranges of latent (or principal
component) coordinates, in given clusters or prior basins; written as a
particle subset that keeps every original column.

A selection is the particles (rows of ``z.npy``, the run's particle order)
meeting every criterion given (their intersection; ``invert`` keeps the
others), as cryoDRGN's ``filter`` tool and the Flexibility Hub's
annotate-space tool select particles by drawing on the latent plot.

Coordinates: the PCA plane is the one the latent pictures draw
(:func:`cryostar_boltz.engine.analysis.fit_pca` of ``z.npy``, scikit-learn's
deterministic signs), or the ``pca.npz`` scores of the analysis folder
given; UMAP coordinates are the ``umap.npy`` of the analysis folder (or of
the run's ``analysis*`` folders): a selection never recomputes an
embedding, so it always matches the picture it was drawn on.

numpy, matplotlib's ``Path`` (point in polygon) and scikit-learn only: no
torch, so Scipion's viewers and quick command-line selections start fast.
Every bad input raises ValueError (or FileNotFoundError) naming the file
or option, before anything is written.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout

#: 2-D coordinates a polygon is drawn in.
SPACES = ("pca", "umap")
#: The subset files a selection writes in its output folder.
PARTICLES_STAR = layout.SELECTED_STAR
PARTICLES_CS = layout.SELECTED_CS
INDICES = layout.SELECTED_INDICES


# ------------------------------------------------------------ criteria

def read_polygon(path):
    """Vertices (m, 2) and space (``pca``, ``umap`` or None) of a polygon
    file: JSON, either ``[[x, y], ...]`` or ``{"space": "pca", "vertices":
    [[x, y], ...]}``, or text with one ``x y`` (or ``x,y``) pair per line
    (``#`` starts a comment). ValueError naming the file when it holds
    fewer than 3 finite vertices or cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("--polygon %s: file not found" % path)
    text = path.read_text()
    space = None
    try:
        data = json.loads(text)
    except ValueError:
        rows = [re.split(r"[\s,;]+", line.split("#")[0].strip())
                for line in text.splitlines()]
        rows = [row for row in rows if row and row[0]]
        try:
            data = [[float(v) for v in row] for row in rows]
        except ValueError:
            raise ValueError("--polygon %s: neither JSON nor lines of 'x y' "
                             "numbers" % path) from None
    if isinstance(data, dict):
        space = data.get("space")
        data = data.get("vertices")
    return polygon_vertices(data, "--polygon %s" % path), space


def polygon_vertices(data, what="polygon"):
    """``data`` as (m, 2) float vertices; ValueError naming ``what`` when it
    is not at least 3 finite (x, y) pairs."""
    try:
        vertices = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("%s: vertices must be [x, y] pairs of numbers" % what) from None
    if vertices.ndim != 2 or vertices.shape[1] != 2:
        raise ValueError("%s: vertices must be [x, y] pairs, got shape %s"
                         % (what, vertices.shape))
    if len(vertices) < 3:
        raise ValueError("%s: a polygon needs at least 3 vertices, got %d"
                         % (what, len(vertices)))
    if not np.all(np.isfinite(vertices)):
        raise ValueError("%s: vertices must be finite numbers" % what)
    return vertices


def inside_polygon(xy, vertices):
    """(n,) bool: which points ``xy`` (n, 2) lie inside the polygon
    ``vertices`` (m, 2) (closed automatically; points on the edge count as
    inside), through ``matplotlib.path.Path.contains_points``."""
    from matplotlib.path import Path as MplPath
    vertices = np.asarray(vertices, dtype=np.float64)
    # a tiny positive radius counts points on the boundary (either
    # orientation of the polygon) as inside
    scale = float(np.ptp(vertices, axis=0).max()) or 1.0
    polygon = MplPath(np.vstack([vertices, vertices[:1]]), closed=True)
    radius = 1e-9 * scale * (1 if _signed_area(vertices) > 0 else -1)
    return polygon.contains_points(np.asarray(xy, dtype=np.float64), radius=radius)


def _signed_area(v):
    return 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1)
                              - np.roll(v[:, 0], -1) * v[:, 1]))


@dataclass(frozen=True)
class Range:
    """``lo <= coordinate <= hi`` of latent dimension ``dim`` (``kind``
    ``z``) or principal component ``dim`` (``kind`` ``pc``), 1-based."""
    kind: str
    dim: int
    lo: float
    hi: float

    def __str__(self):
        return "%s%d:%g:%g" % (self.kind, self.dim, self.lo, self.hi)


def parse_range(text):
    """``DIM:LO:HI`` -> :class:`Range`. DIM is a latent dimension (``3`` or
    ``z3``) or a principal component (``pc1``), 1-based; LO or HI may be
    empty (unbounded). ValueError naming ``--range`` otherwise."""
    match = re.fullmatch(r"\s*(z|pc)?(\d+)\s*:\s*([^:]*?)\s*:\s*([^:]*?)\s*",
                         text or "", re.IGNORECASE)
    if not match:
        raise ValueError("--range %r: expected DIM:LO:HI, e.g. 1:-0.5:2 or "
                         "pc1:0:" % text)
    kind = (match.group(1) or "z").lower()
    dim = int(match.group(2))
    try:
        lo = float(match.group(3)) if match.group(3) else -np.inf
        hi = float(match.group(4)) if match.group(4) else np.inf
    except ValueError:
        raise ValueError("--range %r: LO and HI must be numbers" % text) from None
    if dim < 1:
        raise ValueError("--range %r: dimensions count from 1" % text)
    if not lo < hi:
        raise ValueError("--range %r: LO must be below HI" % text)
    return Range(kind, dim, lo, hi)


def parse_labels(text):
    """``0,2,5`` (or ``0-3``) -> sorted cluster numbers; ValueError naming
    ``--clusters`` otherwise."""
    labels = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError("--clusters %r: expected cluster numbers such as "
                             "0,2 or 0-3" % text)
        lo = int(match.group(1))
        hi = int(match.group(2) or lo)
        if hi < lo:
            raise ValueError("--clusters %r: %s is an empty range" % (text, part))
        labels.update(range(lo, hi + 1))
    if not labels:
        raise ValueError("--clusters %r: no cluster numbers" % text)
    return sorted(labels)


# ------------------------------------------------------------ coordinates

class RunLatents:
    """The latents of the finished run ``run_dir`` and the 2-D coordinates
    pictures and selections share; ``analysis_dir``: an ``analyze`` output
    folder (or the run's own ``analysis/kmeansK``) for clusters, its PCA
    and UMAP. FileNotFoundError naming the folder when the run has not
    finished."""

    def __init__(self, run_dir, analysis_dir=None):
        self.layout = layout.RunLayout(run_dir)
        self.run_dir = self.layout.root
        if not self.layout.is_finished():
            raise FileNotFoundError(
                "--run %s: not a finished training run (needs %s, %s and %s)"
                % (run_dir, layout.CONFIG, layout.LATENTS, layout.MODEL))
        self.analysis_dir = Path(analysis_dir) if analysis_dir else None
        if self.analysis_dir is not None and not self.analysis_dir.is_dir():
            raise FileNotFoundError("--analysis %s: folder not found" % analysis_dir)
        self._z = None

    @property
    def z(self):
        """(n, latent_dim) posterior means (``z.npy``)."""
        if self._z is None:
            self._z = np.load(self.layout.latents)
        return self._z

    def pca_scores(self):
        """(n, c) PC scores: the analysis folder's ``pca.npz`` when it holds
        one row per particle, else the PCA the pictures fit."""
        if self.analysis_dir is not None:
            path = self.analysis_dir / layout.PCA
            if path.is_file():
                with np.load(path) as pca:
                    scores = pca["scores"]
                if len(scores) == len(self.z):
                    return np.asarray(scores, dtype=np.float64)
        from .analysis import fit_pca
        pca = fit_pca(self.z, min(self.z.shape[1], 10))
        return pca.transform(self.z)

    def umap_file(self):
        """The ``umap.npy`` of the analysis folder or of the run's
        ``analysis*`` folders, or None."""
        folders = [self.analysis_dir] if self.analysis_dir else []
        folders += sorted(self.run_dir.glob(layout.ANALYSIS + "*"))
        return next((f / layout.UMAP for f in folders if (f / layout.UMAP).is_file()),
                    None)

    def plane(self, space):
        """(n, 2) coordinates of the particles in ``space`` (``pca``: PCs 1
        and 2; ``umap``). ValueError naming what is missing."""
        if space == "pca":
            scores = self.pca_scores()
            if scores.shape[1] < 2:
                scores = np.column_stack([scores[:, 0], np.zeros(len(scores))])
            return scores[:, :2]
        if space == "umap":
            path = self.umap_file()
            if path is None:
                raise ValueError("--space umap: no %s in %s or its analysis "
                                 "folders: run 'cryostar-boltz analyze --run %s "
                                 "--umap' first" % (layout.UMAP, self.run_dir,
                                                    self.run_dir))
            xy = np.load(path)
            if xy.shape != (len(self.z), 2):
                raise ValueError("%s: shape %s, expected (%d, 2)"
                                 % (path, xy.shape, len(self.z)))
            return xy
        raise ValueError("--space %r: choose %s" % (space, " or ".join(SPACES)))

    def labels(self):
        """(labels (n,), folder): cluster (or basin) labels of the analysis
        folder, else of the run's only k-means. ValueError when there are
        none or several to choose from."""
        if self.analysis_dir is not None:
            folders = [self.analysis_dir]
        else:
            folders = sorted(self.layout.analysis.glob(layout.glob_pattern(layout.KMEANS)))
            if len(folders) > 1:
                raise ValueError("--clusters: the run has several k-means (%s): "
                                 "name one with --analysis"
                                 % ", ".join(f.name for f in folders))
        for folder in folders:
            path = folder / layout.LABELS
            if path.is_file():
                labels = np.load(path)
                if len(labels) != len(self.z):
                    raise ValueError("%s: %d labels for %d particles"
                                     % (path, len(labels), len(self.z)))
                return labels.astype(np.int64), folder
        raise ValueError("--clusters: no %s in %s: run 'cryostar-boltz analyze' "
                         "and pass its folder with --analysis"
                         % (layout.LABELS, folders[0] if folders else
                            self.layout.analysis))


# ------------------------------------------------------------ selection

@dataclass
class Selection:
    """The particles picked: ``indices`` (sorted rows of ``z.npy``), the
    number of particles ``n``, and ``criteria`` (JSON-ready, one entry per
    criterion with how many particles it kept)."""
    indices: np.ndarray
    n: int
    criteria: list = field(default_factory=list)


def select_particles(latents, polygon=None, space="pca", ranges=(),
                     clusters=None, invert=False, masks=(), exclude=None):
    """The :class:`Selection` of ``latents`` (:class:`RunLatents`) meeting
    every criterion: inside ``polygon`` (m, 2) in ``space``; inside each
    :class:`Range`; with a label in ``clusters``; true in each of ``masks``
    (``(criterion dict with a "label", (n,) bool)`` pairs, e.g. from
    :func:`indices_mask` or :func:`pc_bin_mask`). ``invert``: every other
    particle. ``exclude``: ``(criterion dict with a "label", (n,) bool)``
    of particles left out whatever the rest (after ``invert``; e.g. the
    junk, :func:`~.particle_scores.junk_exclusion`), alone a criterion
    too (with ``invert``, alone: the particles it leaves out). Particles
    the analysis left out of its clusters (label -1) stay out of an
    inverted cluster selection. ValueError when no criterion is given, a range names a
    dimension the run lacks, a cluster does not exist, or nothing is
    selected."""
    if polygon is None and not ranges and not clusters and not masks and exclude is None:
        raise ValueError("nothing to select by: give --polygon, --range, "
                         "--clusters or --exclude-junk")
    z = latents.z
    keep = np.ones(len(z), dtype=bool)
    criteria = []
    for criterion, mask in masks:
        keep &= mask
        criteria.append(dict(criterion, inside=int(mask.sum())))
    if polygon is not None:
        vertices = polygon_vertices(polygon)
        inside = inside_polygon(latents.plane(space), vertices)
        keep &= inside
        criteria.append({"polygon": vertices.tolist(), "space": space,
                         "inside": int(inside.sum())})
    scores = None
    for r in ranges:
        if r.kind == "pc":
            scores = latents.pca_scores() if scores is None else scores
            values, count, name = scores, scores.shape[1], "principal components"
        else:
            values, count, name = z, z.shape[1], "latent dimensions"
        if r.dim > count:
            raise ValueError("--range %s: the run has %s 1..%d" % (r, name, count))
        column = values[:, r.dim - 1]
        inside = (column >= r.lo) & (column <= r.hi)
        keep &= inside
        criteria.append({"range": str(r), "inside": int(inside.sum())})
    if clusters:
        labels, folder = latents.labels()
        present = set(np.unique(labels[labels >= 0]).tolist())  # -1: junk
        missing = [c for c in clusters if c not in present]
        if missing:
            raise ValueError("--clusters: no cluster %s in %s (clusters %s)"
                             % (",".join(map(str, missing)), folder,
                                ", ".join(map(str, sorted(present)))))
        inside = np.isin(labels, clusters)
        keep &= inside
        criteria.append({"clusters": list(clusters), "analysis": str(folder),
                         "inside": int(inside.sum())})
    only_exclude = (exclude is not None and polygon is None and not ranges
                    and not clusters and not masks)
    if invert and only_exclude:
        # --exclude-junk --invert: the particles it would leave out, alone
        criterion, left_out = exclude
        criteria.append({"only the particles left out by": criterion["label"],
                         "inside": int(left_out.sum()), "invert": True})
        keep = left_out.copy()
    elif invert:
        keep = ~keep
        criteria.append({"invert": True})
        if clusters:
            # the particles the analysis itself left out (label -1: its
            # junk) are in no cluster, and no inverted cluster brings them back
            unlabelled = labels < 0
            keep &= ~unlabelled
            if unlabelled.any():
                criteria.append({"left out by the analysis": int(unlabelled.sum()),
                                 "analysis": str(folder)})
    if exclude is not None and not (invert and only_exclude):
        criterion, left_out = exclude
        keep &= ~left_out
        criteria.append(dict(criterion, inside=int((~left_out).sum())))
    indices = np.flatnonzero(keep)
    if not len(indices):
        raise ValueError("no particle meets %s (of %d particles)"
                         % (_describe(criteria), len(z)))
    return Selection(indices, len(z), criteria)


def indices_mask(path, n):
    """``(criterion, (n,) bool)`` of the particles listed in ``path``: a
    .npy of row numbers (0-based, the run's particle order, as ``select``
    writes ``indices.npy``) or of n booleans. ValueError naming
    ``--indices`` for a file that is not such an array, or rows out of
    range."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("--indices %s: file not found" % path)
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError("--indices %s: not a readable .npy file (%s)" % (path, err)) from None
    if rows.ndim != 1 or not len(rows):
        raise ValueError("--indices %s: expected a 1-D array of particle rows, got "
                         "shape %s" % (path, rows.shape))
    mask = np.zeros(n, dtype=bool)
    if rows.dtype == bool:
        if len(rows) != n:
            raise ValueError("--indices %s: %d booleans for %d particles"
                             % (path, len(rows), n))
        mask[:] = rows
    elif np.issubdtype(rows.dtype, np.integer):
        bad = np.flatnonzero((rows < 0) | (rows >= n))
        if len(bad):
            raise ValueError("--indices %s: row %d is %d, outside 0..%d (the run "
                             "has %d particles)" % (path, bad[0], rows[bad[0]], n - 1, n))
        mask[rows] = True
    else:
        raise ValueError("--indices %s: expected integer particle rows, got an "
                         "array of %s" % (path, rows.dtype))
    return {"indices": str(path), "label": "--indices %s" % path.name}, mask


def parse_bin(text):
    """``I/N`` -> ``(I, N)``: bin I (0-based) of N; ValueError naming
    ``--bin`` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text or ""))
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise ValueError("--bin %r: expected I/N with 0 <= I < N, e.g. 0/5 (bin I "
                         "of N along the principal path)" % text)
    return int(match.group(1)), int(match.group(2))


def pc_bin_mask(latents, component, index, count):
    """``(criterion, (n,) bool)`` of the particles in bin ``index`` of
    ``count`` along principal component ``component`` (1-based): the
    particles whose score is nearest to point ``index`` of the ``count``
    points ``generate --from pca --n count`` decodes (5th to 95th
    percentile; the end bins reach to the extremes), so the bin's map
    compares with that point's map."""
    scores = latents.pca_scores()
    if not 1 <= component <= scores.shape[1]:
        raise ValueError("--pc %d: the run has principal components 1..%d"
                         % (component, scores.shape[1]))
    values = scores[:, component - 1]
    points = np.linspace(np.percentile(values, 5), np.percentile(values, 95), count)
    nearest = np.abs(values[:, None] - points[None]).argmin(1)
    return ({"pc": component, "bin": [index, count],
             "label": "bin %d/%d of PC%d" % (index, count, component)},
            nearest == index)


def basin_mask(latents, prior, basin, max_basins=10, codes=None, seed=0):
    """``(criterion, (n,) bool)`` of the particles nearest prior basin
    ``basin`` (0-based, lowest free energy first, among the populated
    basins of at most ``max_basins``: the clusters of ``analyze --method
    basins --k max_basins``). ValueError for a single-basin prior, a
    basin that does not exist, or more basins searched than the run has
    particles (named ``--max-basins``, reconstruct's option, not
    ``--k``)."""
    from .analysis import cluster_latents
    if max_basins < basin + 1:
        max_basins = basin + 1
    n = len(latents.z)
    if basin >= n:
        raise ValueError("--basin %d: the run's %d particles populate at most %d "
                         "basins (0..%d)" % (basin, n, n, n - 1))
    if max_basins > n:
        raise ValueError("--basin %d: the basins are searched among %d (--max-basins), "
                         "more than the run's %d particles; give --max-basins %d or "
                         "fewer" % (basin, max_basins, n, n))
    clusters = cluster_latents(latents.z, "basins", max_basins, seed, prior, codes)
    if basin >= clusters.k:
        raise ValueError("--basin %d: the prior has %d populated basins (0..%d)"
                         % (basin, clusters.k, clusters.k - 1))
    return ({"basin": basin, "max_basins": max_basins,
             "label": "basin %d" % basin}, clusters.labels == basin)


def _describe(criteria):
    parts = []
    for c in criteria:
        if "polygon" in c:
            parts.append("the %d-vertex %s polygon (%d inside)"
                         % (len(c["polygon"]), c["space"].upper(), c["inside"]))
        elif "range" in c:
            parts.append("--range %s (%d inside)" % (c["range"], c["inside"]))
        elif "only the particles left out by" in c:
            parts.append("--invert: only the particles left out by %s (%d)"
                         % (c["only the particles left out by"], c["inside"]))
        elif "label" in c:
            parts.append("%s (%d inside)" % (c["label"], c["inside"]))
        elif "left out by the analysis" in c:
            parts.append("not left out by %s (%d are)"
                         % (c["analysis"], c["left out by the analysis"]))
        elif "clusters" in c:
            parts.append("--clusters %s (%d inside)"
                         % (",".join(map(str, c["clusters"])), c["inside"]))
        else:
            parts.append("--invert")
    return " and ".join(parts)


def run_particles(latents, particles=None, datadir=None, images=False):
    """The run's particles (metadata only, no stack opened, unless
    ``images``: then with their stacks, poses and CTF required), from its
    ``config.json`` (relative paths against the folder the run was started
    in) unless ``particles`` names the file (the run's file moved); checked
    to be the particles of ``z.npy`` in their order (the run's particle
    fingerprint; runs without one: one row per latent)."""
    from .particles.fingerprint import load_run_particles
    from .training.config import TrainConfig
    config = TrainConfig.load(latents.run_dir)
    return load_run_particles(latents.layout, config, particles, datadir,
                              require=images)


def write_selection(particles, selection, out_dir):
    """Write ``out_dir/particles.star`` (every original column; image names
    that load from there), ``particles.cs`` when the particles came from a
    cryoSPARC file, and ``indices.npy`` (rows of the run's particle order).
    Returns ``{name: file name}``."""
    from .io import save_array
    from .particles import write_particles_cs, write_particles_star
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"star": write_particles_star(out_dir / PARTICLES_STAR, particles,
                                          selection.indices).name}
    if particles.source_format == "cs":
        files["cs"] = write_particles_cs(out_dir / PARTICLES_CS, particles,
                                         selection.indices).name
    files["indices"] = save_array(out_dir / INDICES,
                                  selection.indices.astype(np.int64)).name
    return files
