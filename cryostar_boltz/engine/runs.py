"""A finished training run, read back from its folder: decode latents to
structures in the reference's own frame, sample its prior, and the standard
analysis written at the end of training.

Everything here reads only the run folder (``config.json``, ``model.pt``,
the copy of the reference, ``z.npy``), so Scipion protocols and other tools
can rely on it. A run whose decoder consumes more than the continuous latent
(the ``rbm`` prior: z followed by a binary code) may hold ``z_code.npy``,
each particle's code; latent points then borrow the code of their nearest
particle.
"""
from pathlib import Path

import numpy as np
import torch

from .analysis import fit_pca, kmeans, nearest_particles, pc_path
from .io import save_array, save_json, save_npz
from .layout import (CENTRE_PARTICLES, CENTRES, CODES, LABELS, LATENTS,
                     PCA, SUMMARY, RunLayout, points_file, structure_files)
from .models import StructureVAE
from .structure import load_structure, output_format, write_models
from .training.loop import load_torch


def check_run_folder(run_dir):
    """Raise a clear FileNotFoundError unless ``run_dir`` holds a finished run
    (``RunLayout.require_finished``)."""
    return RunLayout(run_dir).require_finished()


class TrainedRun:
    """The trained decoder, prior and reference of ``run_dir``."""

    def __init__(self, run_dir, device="cpu"):
        self.run_dir = check_run_folder(run_dir)
        self.layout = RunLayout(self.run_dir)
        state = load_torch(self.layout.model, device, "model file")
        self.state = state
        self.device = torch.device(device)
        self.vae = StructureVAE.from_config(state["model_config"])
        self.vae.load_state_dict(state["model"])
        self.vae.to(self.device).eval()
        self.reference = load_structure(self.run_dir / state["reference"])
        self.centre = np.asarray(state["reference_centre"], dtype=np.float64)
        self.latent_dim = int(state["latent_dim"])
        self.prior_name = state["prior_name"]
        self._prior = self._z = self._config = None

    @property
    def decoder_input_dim(self):
        return int(self.vae.decoder.input_dim)

    @property
    def config(self):
        """The run's :class:`TrainConfig` (``config.json``)."""
        if self._config is None:
            from .training.config import TrainConfig
            self._config = TrainConfig.load(self.run_dir)
        return self._config

    @property
    def prior(self):
        if self._prior is None:
            from .priors import build_prior
            prior = build_prior(self.prior_name, self.latent_dim,
                                **self.state["prior_options"])
            prior.load_state_dict(self.state["prior"])
            self._prior = prior.to(self.device).eval()
        return self._prior

    def encoder_input(self, data):
        """What the run's encoder takes of the particles of ``data`` (a
        ``TrainingData`` at the run's box, on the run's device): a
        ``training.encoder_input.EncoderInput`` of the run's
        ``encoder_input`` (runs made before the option: raw images)."""
        from .training.encoder_input import EncoderInput
        return EncoderInput(self.config.encoder_input, data.rotations, data.shifts,
                            data.apix, self.vae.encoder)

    def latents(self):
        """Posterior means of the particles (``z.npy``, dataset order)."""
        if self._z is None:
            path = self.layout.latents
            if not path.exists():
                raise FileNotFoundError("%s: no %s (the run did not finish)"
                                        % (self.run_dir, LATENTS))
            self._z = np.load(path)
        return self._z

    def decoder_inputs(self, points):
        """What the decoder consumes at latent ``points`` (M, latent_dim):
        the points themselves, or, when the decoder also takes a binary
        code, the points followed by the code of their nearest particle."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float32))
        extra = self.decoder_input_dim - points.shape[1]
        if extra <= 0:
            return points
        codes_path = self.layout.codes
        if points.shape[1] != self.latent_dim or not codes_path.exists():
            raise ValueError(
                "%s: the %s decoder takes %d inputs (the %d-D latent and a "
                "binary code); these latents have %d and the run has no %s "
                "to complete them: give full decoder inputs (e.g. prior "
                "samples or basins)" % (self.run_dir, self.prior_name,
                                        self.decoder_input_dim, self.latent_dim,
                                        points.shape[1], CODES))
        codes = np.load(codes_path)
        nearest = nearest_particles(self.latents(), points)
        return np.concatenate([points, codes[nearest].astype(np.float32)], 1)

    def particle_decoder_inputs(self, indices):
        """Decoder inputs of the particles ``indices`` (their z, and their
        binary code when the decoder takes one)."""
        indices = np.asarray(indices, dtype=np.int64)
        z = self.latents()[indices].astype(np.float32)
        if self.decoder_input_dim == z.shape[1]:
            return z
        codes_path = self.layout.codes
        if not codes_path.exists():
            return self.decoder_inputs(z)  # raises the explanation
        return np.concatenate([z, np.load(codes_path)[indices].astype(np.float32)], 1)

    @torch.no_grad()
    def decode(self, z, batch=512):
        """(M, decoder inputs) -> (M, N, 3) pseudo-atom coordinates in the
        reference's frame."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != self.decoder_input_dim:
            raise ValueError("latents have %d dimensions but the run's decoder "
                             "takes %d" % (z.shape[1], self.decoder_input_dim))
        out = []
        for start in range(0, len(z), batch):
            t = torch.from_numpy(z[start:start + batch]).to(self.device)
            out.append(self.vae.decode(t).cpu().double().numpy())
        return np.concatenate(out) + self.centre

    def check_physical(self, coords):
        """``coords`` (M, N, 3), Angstrom, decoded by :meth:`decode`, when
        every pseudo-atom lies within one particle-box width (box x pixel
        size) of the reference's centre: the model the decoder was trained
        to render lies inside the box. ValueError otherwise (the latent
        points lie far outside the run's latent distribution); coordinates
        that large are no model a file format should be asked to hold."""
        box, apix = self.state.get("box0") or self.state.get("box"), \
            self.state.get("apix0") or self.state.get("apix")
        if not box or not apix:
            return coords
        width = float(box) * float(apix)
        far = np.linalg.norm(coords - self.centre, axis=-1).max(axis=-1)
        bad = np.flatnonzero(~(far <= width))
        if len(bad):
            raise ValueError(
                "%d of %d decoded models are not physical: model %d has a "
                "pseudo-atom %.3g A from the reference's centre, beyond the particle "
                "box (%.1f A wide); its latent point lies far outside the run's "
                "latent distribution" % (len(bad), len(coords), bad[0], far[bad[0]], width))
        return coords

    def structure_format(self, requested=None):
        """The format (``'pdb'`` or ``'cif'``) to write structures in: the
        run's (``config.json`` ``format``, decided from the reference before
        training; runs without it: PDB when it holds the model) unless
        ``requested`` (``'auto'``, ``'pdb'``, ``'cif'``) says otherwise.
        StructureError, before any work, for ``'pdb'`` and a model a PDB
        file cannot hold."""
        source = self.run_dir / self.state["reference"]
        if requested is None:
            saved = self.config.format if self.layout.config.is_file() else "auto"
            if saved in ("pdb", "cif"):
                return saved
            requested = "auto"
        return output_format(self.reference, requested, source)

    def write_structures(self, stem, z, fmt=None):
        """Decode ``z`` and write ``stem.EXT`` (full atom) and
        ``stem_coarse.EXT`` (one pseudo-atom per residue), multi-model, in
        format ``fmt`` (default: the run's, :meth:`structure_format`);
        each file appears complete or not at all."""
        fmt = fmt or self.structure_format()
        coords = self.check_physical(self.decode(z))
        full, coarse = structure_files(stem, fmt)
        write_models(full, self.reference, coords, full_atom=True)
        write_models(coarse, self.reference, coords, full_atom=False)
        return full, coarse

    def load_particles(self, particles=None, datadir=None):
        """The run's particles (metadata only: no stacks are opened), from
        ``config.json`` (relative paths against the folder the run was
        started in) unless ``particles`` names the file; checked to be the
        particles of ``z.npy``, in their order (``check_fingerprint``)."""
        from .particles.fingerprint import load_run_particles
        return load_run_particles(self.layout, self.config, particles, datadir)

    def has_density(self):
        """Whether the run holds a trained density decoder (stage 2)."""
        return self.layout.has_density()

    def density(self):
        """The stage-2 density decoder, or a clear error without one."""
        if not self.has_density():
            raise ValueError(
                "%s has no trained density decoder: run 'cryostar-boltz "
                "train-density --run %s' first to generate maps"
                % (self.run_dir, self.run_dir))
        from .density import TrainedDensity
        return TrainedDensity(self.run_dir, self.device)

    def write_maps(self, inputs, out_dir, stem, density=None):
        """One map per row of decoder ``inputs`` (``stem_000.mrc``...), each
        written atomically. Maps already in ``out_dir`` are kept only when
        ``out_dir/stem_z.npy`` shows they were made from the same inputs,
        so an interrupted generation resumes and a new one never mixes
        in stale maps; ``stem_z.npy`` is then (re)written."""
        density = density or self.density()
        inputs = np.atleast_2d(np.asarray(inputs, dtype=np.float32))
        record = points_file(Path(out_dir) / stem)
        same = record.is_file() and _same_array(record, inputs)
        save_array(record, inputs)
        # the density decoder takes the continuous latent only
        return density.write_maps(inputs[:, :density.latent_dim], out_dir, stem,
                                  skip_existing=same)


def _same_array(path, array):
    try:
        old = np.load(path)
    except (OSError, ValueError):
        return False
    return old.shape == array.shape and np.array_equal(old, array)


def write_analysis(run_dir, z, k=10, n_points=10, log=print, device="cpu"):
    """PCA paths (10 points from the 5th to the 95th percentile of PC1..3)
    and k-means centres snapped to particles, decoded to structure files
    (the run's format) in ``RUN/analysis``; returns a summary dict (also ``summary.json``).

    Structures that cannot be decoded (an ``rbm`` run without the
    particles' binary codes) are left out with a note; the latents,
    scores and labels are written regardless."""
    run = TrainedRun(run_dir, device)
    fmt = run.structure_format()
    out = run.layout.analysis
    out.mkdir(exist_ok=True)
    pca = fit_pca(z, 3)
    summary = {"explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
               "pc_paths": [], "kmeans": {}}
    save_npz(out / PCA, components=pca.components_, mean=pca.mean_,
             explained_variance=pca.explained_variance_,
             scores=pca.transform(z))
    notes = []

    def structures(stem, inputs):
        try:
            full, coarse = run.write_structures(stem, inputs(), fmt)
        except ValueError as err:
            notes.append(str(err))
            return {}
        return {"pdb": full.name, "coarse_pdb": coarse.name, "format": fmt}

    for c in range(pca.n_components_):
        points = pc_path(pca, z, c, n_points)
        stem = run.layout.pc_path(c + 1)
        points_path = save_array(run.layout.pc_points(c + 1), points.astype(np.float32))
        entry = {"component": c + 1, "z": points_path.name}
        entry.update(structures(stem, lambda: run.decoder_inputs(points)))
        summary["pc_paths"].append(entry)
    labels, centres, snapped = kmeans(z, k)
    kdir = run.layout.kmeans(len(centres))
    kdir.mkdir(exist_ok=True)
    save_array(kdir / LABELS, labels)
    save_array(kdir / CENTRES, centres.astype(np.float32))
    save_array(kdir / CENTRE_PARTICLES, snapped)
    summary["kmeans"] = {"k": len(centres), "folder": kdir.name,
                         "sizes": np.bincount(labels, minlength=len(centres)).tolist()}
    summary["kmeans"].update(structures(
        kdir / Path(CENTRES).stem, lambda: run.particle_decoder_inputs(snapped)))
    if notes:
        summary["notes"] = sorted(set(notes))
        for note in summary["notes"]:
            log("analysis: structures left out: %s" % note)
    save_json(out / SUMMARY, summary)
    log("analysis written to %s (PC1-3 explain %s of the variance)"
        % (out, ", ".join("%.0f%%" % (100 * v) for v in pca.explained_variance_ratio_)))
    return summary
