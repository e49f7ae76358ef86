"""What the pictures read from the folders of a run: the particles'
latents and their PCA, clusters (an ``analyze`` folder or the run's own
k-means), the metrics table, the prior's free energy over latent points and
planes, its basins and binary-unit probabilities, UMAP coordinates, and the
folders of ``sample-prior``.

The prior is reached only through its public methods
(``free_energy``, ``hidden_probabilities``, ``to_bqm``) and
:func:`cryostar_boltz.engine.sampling.basin_table`; folder and file names
come from :mod:`cryostar_boltz.engine.layout`. Nothing is read before it is
asked for.
"""
from pathlib import Path

import numpy as np

from ..io import read_json
from .. import layout
from ..layout import LABELS, SAMPLES_INFO, UMAP, RunLayout
from .figure import PlotError

#: Cluster centres in an analysis folder (analyze's and the run's own
#: k-means' alike; earlier analyze folders: ``layout.OLD_CLUSTER_CENTRES``).
CENTRE_FILES = (layout.CENTRES, layout.OLD_CLUSTER_CENTRES)
#: Latent points per block when evaluating the prior's free energy.
_BLOCK = 65536


class RunPictures:
    """What the pictures of the training run ``run_dir`` need, read lazily.

    ``analysis_dir``: an ``analyze`` output folder whose clusters (and
    UMAP) come first. Raises FileNotFoundError naming the folder when it
    does not hold a finished run.
    """

    def __init__(self, run_dir, analysis_dir=None):
        from ..runs import check_run_folder
        self.run_dir = check_run_folder(run_dir)
        self.layout = RunLayout(self.run_dir)
        self.analysis_dir = Path(analysis_dir) if analysis_dir else None
        self._run = self._pca = None

    @property
    def run(self):
        """The :class:`cryostar_boltz.engine.runs.TrainedRun` (loads torch)."""
        if self._run is None:
            from ..runs import TrainedRun
            self._run = TrainedRun(self.run_dir)
        return self._run

    @property
    def z(self):
        """(n, latent_dim) posterior means of the particles (``z.npy``)."""
        return self.run.latents()

    @property
    def prior(self):
        return self.run.prior

    def reference_or_none(self):
        """The run's reference model (the topology of its decoded models),
        or None when it cannot be read."""
        try:
            return self.run.reference
        except (ValueError, FileNotFoundError, AttributeError):
            return None

    # ------------------------------------------------------------ PCA
    def pca(self):
        """(scores (n, c), components (c, d), mean (d,), explained variance
        ratios (c,)) of the latents, c = min(d, 10) (scikit-learn PCA)."""
        if self._pca is None:
            from ..analysis import fit_pca
            pca = fit_pca(self.z, min(self.z.shape[1], 10))
            self._pca = (pca.transform(self.z), pca.components_, pca.mean_,
                         pca.explained_variance_ratio_)
        return self._pca

    def pc_labels(self, a=0, b=1):
        """Axis labels of PCs ``a`` and ``b`` (0-based) with their share of
        the variance."""
        ratio = self.pca()[3]
        return tuple("PC%d (%s of the variance)" % (c + 1, percent(ratio[c]))
                     if c < len(ratio) else "PC%d" % (c + 1) for c in (a, b))

    def project(self, points):
        """(m, c) PC scores of latent ``points`` (m, >= d); columns beyond
        the latent (an rbm's binary code) are ignored."""
        _, components, mean, _ = self.pca()
        return (np.asarray(points, dtype=np.float64)[:, :len(mean)] - mean) @ components.T

    # ------------------------------------------------------------ clusters
    def clusters(self):
        """(labels (n,), centres in latent space (k, d) or None, source
        folder name) from the analysis folder given, else the newest
        ``analyze`` folder inside the run (``RUN/analysis_*``, its default
        output: the clustering the user ran), else the run's own k-means;
        None when none holds labels."""
        folders = [self.analysis_dir] if self.analysis_dir else []
        own = self.layout.analysis
        ran = [f for f in self.run_dir.glob(own.name + "*")
               if f.is_dir() and f != own and (f / LABELS).is_file()]
        folders += sorted(ran, key=lambda f: (f / LABELS).stat().st_mtime,
                          reverse=True)
        folders += sorted(own.glob(layout.glob_pattern(layout.KMEANS)))
        for folder in folders:
            labels = folder / LABELS
            if labels.is_file():
                centres = next((folder / name for name in CENTRE_FILES
                                if (folder / name).is_file()), None)
                return (np.load(labels), None if centres is None else np.load(centres),
                        folder.name)
        return None

    def umap(self):
        """(n, 2) UMAP coordinates: ``umap.npy`` of the analysis folder (or
        of the run's ``analysis*`` folders), else computed (ValueError
        naming the package when umap-learn is missing)."""
        folders = [self.analysis_dir] if self.analysis_dir else []
        folders += sorted(self.run_dir.glob(self.layout.analysis.name + "*"))
        for folder in folders:
            if (folder / UMAP).is_file():
                return np.load(folder / UMAP)
        from ..analysis import umap_embedding
        return umap_embedding(self.z)

    # ------------------------------------------------------------ metrics
    def metrics(self):
        """The metrics table (``metrics.csv``) as {column: values}."""
        from ..training.progress import read_metrics
        path = self.layout.metrics
        if not path.is_file():
            raise PlotError("%s: no %s" % (self.run_dir, path.name))
        return read_metrics(path)

    # ------------------------------------------------------------ prior
    def free_energy(self, points):
        """(m,) free energy F (nats) of the prior at latent ``points``
        (m, d): the continuous part; an rbm prior's binary code, when not
        given, is zero (it shifts F by a constant per code)."""
        import torch
        prior = self.prior
        points = np.atleast_2d(np.asarray(points, dtype=np.float32))
        extra = prior.decoder_input_dim - points.shape[1]
        if extra > 0:
            points = np.concatenate([points, np.zeros((len(points), extra),
                                                      np.float32)], 1)
        out = []
        with torch.no_grad():
            for start in range(0, len(points), _BLOCK):
                block = torch.from_numpy(points[start:start + _BLOCK])
                out.append(prior.free_energy(block).double().numpy())
        return np.concatenate(out)

    def particle_codes(self):
        """(n, bits) binary code per particle (rbm prior, ``z_code.npy``),
        or None."""
        path = self.layout.codes
        return np.load(path) if path.is_file() else None

    def particle_free_energy(self):
        """(n,) F (nats) at each particle's latent (with its binary code
        when the prior has one and the run kept it)."""
        z = self.z
        codes = self.particle_codes()
        if self.prior.decoder_input_dim > z.shape[1] and codes is not None:
            z = np.concatenate([z, codes.astype(np.float32)], 1)
        return self.free_energy(z)

    def landscape(self, grid=120, a=0, b=1, margin=0.05, include=None):
        """(X, Y, F - min F) on a ``grid`` x ``grid`` mesh of the plane of
        PCs ``a``, ``b`` through the mean latent, covering every particle
        (their whole extent plus ``margin`` of it on each side, so the
        contours reach the outliers too) and the points ``include`` (m, 2)
        of that plane. PlotError with fewer PCs than needed."""
        scores, components, mean, _ = self.pca()
        if components.shape[0] <= max(a, b):
            raise PlotError("%s: the latents have fewer than %d principal "
                            "components" % (self.run_dir, max(a, b) + 1))
        lo = np.min(scores[:, [a, b]], axis=0)
        hi = np.max(scores[:, [a, b]], axis=0)
        if include is not None and len(include):
            lo = np.minimum(lo, np.min(include, axis=0))
            hi = np.maximum(hi, np.max(include, axis=0))
        span = hi - lo
        xs = np.linspace(lo[0] - margin * span[0], hi[0] + margin * span[0], grid)
        ys = np.linspace(lo[1] - margin * span[1], hi[1] + margin * span[1], grid)
        X, Y = np.meshgrid(xs, ys)
        points = mean + X.reshape(-1, 1) * components[a] + Y.reshape(-1, 1) * components[b]
        F = self.free_energy(points).reshape(X.shape)
        return X, Y, F - np.nanmin(F)

    def basins(self, max_basins=20, num_reads=100):
        """(table, z): the prior's basins as JSON-ready rows (``energy``,
        ``h``, populations...) and their (m, decoder inputs) latents,
        through :func:`cryostar_boltz.engine.sampling.basin_table` (seed 0;
        the particles' latents start descents too)."""
        from ..sampling import basin_table
        return basin_table(self.prior, max_basins=max_basins,
                           num_reads=num_reads, seed=0,
                           particles=self.z)

    def basin_labels(self, table, z):
        """(n,) basin of each particle (its basin of attraction for a
        continuous latent, the nearest code for rbm; see
        :func:`cryostar_boltz.engine.analysis.basin_labels`)."""
        from ..analysis import basin_labels
        rows = [dict(row, z=point) for row, point in zip(table, z)]
        return basin_labels(self.prior, self.z, rows, codes=self.particle_codes())

    def unit_probabilities(self):
        """(p (n, units), unit name): per particle, the probability that
        each binary unit of the prior is on: ``hidden_probabilities(z)`` of
        a grbm, the rbm's stored binary codes; (None, None) otherwise."""
        prior = self.prior
        if prior.name == "grbm":
            import torch
            with torch.no_grad():
                z = torch.as_tensor(self.z, dtype=torch.float64)
                return prior.hidden_probabilities(z).numpy(), "hidden unit"
        codes = self.particle_codes()
        if prior.name == "rbm" and codes is not None:
            return codes.astype(np.float64), "binary unit"
        return None, None


def percent(fraction):
    """``fraction`` (0..1) as a percentage with the fewest decimals (at
    most 3) that keep both it and its complement within 5 %: 0.995 ->
    '99.5%', 0.003 -> '0.3%', 0.4237 -> '42%', 1.0 -> '100%'."""
    p = 100.0 * float(fraction)
    tolerance = 0.05 * min(p, 100.0 - p)
    for decimals in range(4):
        shown = round(p, decimals)
        if abs(shown - p) <= tolerance or decimals == 3:
            return "%.*f%%" % (decimals, shown)


def read_sample_folder(folder):
    """A ``sample-prior`` output folder as {``name`` (the sampler),
    ``info`` (its ``info.json``), ``energies`` (m,), ``states`` (m, units)
    or None, ``z`` or None}. PlotError naming the folder when it is not one."""
    folder = Path(folder)
    info = read_json(folder / SAMPLES_INFO)
    if not (folder / layout.ENERGIES).is_file() or info is None:
        raise PlotError("%s: not a sample-prior folder (no %s and %s)"
                        % (folder, layout.ENERGIES, SAMPLES_INFO))
    states = folder / layout.STATES
    latents = folder / layout.LATENTS
    return {"name": info.get("sampler", folder.name), "info": info,
            "energies": np.load(folder / layout.ENERGIES),
            "states": np.load(states) if states.is_file() else None,
            "z": np.load(latents) if latents.is_file() else None}
