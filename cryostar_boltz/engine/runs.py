"""A finished training run, read back from its folder: decode latents to
structures in the reference's own frame, and the standard analysis.

Everything here reads only the run folder (``model.pt``, the copy of the
reference, ``z.npy``), so Scipion protocols and other tools can rely on it.
"""
import json
from pathlib import Path

import numpy as np
import torch

from .analysis import fit_pca, kmeans, pc_path
from .models import StructureVAE
from .structure import load_structure, write_models

MODEL = "model.pt"


class TrainedRun:
    """The trained decoder, prior and reference of ``run_dir``."""

    def __init__(self, run_dir, device="cpu"):
        self.run_dir = Path(run_dir)
        path = self.run_dir / MODEL
        if not path.exists():
            raise FileNotFoundError(
                "%s: no %s: the run has not finished training (resume it "
                "with 'cryostar-boltz train --resume --out %s')"
                % (self.run_dir, MODEL, self.run_dir))
        state = torch.load(path, map_location=device, weights_only=False)
        self.state = state
        self.device = torch.device(device)
        self.vae = StructureVAE.from_config(state["model_config"])
        self.vae.load_state_dict(state["model"])
        self.vae.to(self.device).eval()
        self.reference = load_structure(self.run_dir / state["reference"])
        self.centre = np.asarray(state["reference_centre"], dtype=np.float64)
        self.latent_dim = int(state["latent_dim"])
        self._prior = None

    @property
    def prior(self):
        if self._prior is None:
            from .priors import build_prior
            prior = build_prior(self.state["prior_name"], self.latent_dim,
                                **self.state["prior_options"])
            prior.load_state_dict(self.state["prior"])
            self._prior = prior.to(self.device).eval()
        return self._prior

    @torch.no_grad()
    def decode(self, z, batch=512):
        """(M, latent) latents -> (M, N, 3) pseudo-atom coordinates in the
        reference's frame."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != self.vae.decoder.input_dim:
            raise ValueError("latents have %d dimensions but the run's decoder "
                             "takes %d" % (z.shape[1], self.vae.decoder.input_dim))
        out = []
        for start in range(0, len(z), batch):
            t = torch.from_numpy(z[start:start + batch]).to(self.device)
            out.append(self.vae.decode(t).cpu().double().numpy())
        return np.concatenate(out) + self.centre

    def write_structures(self, stem, z):
        """Decode ``z`` and write ``stem.pdb`` (full atom) and
        ``stem_coarse.pdb`` (one pseudo-atom per residue), multi-model."""
        coords = self.decode(z)
        stem = Path(stem)
        full, coarse = stem.with_suffix(".pdb"), stem.parent / (stem.name + "_coarse.pdb")
        write_models(full, self.reference, coords, full_atom=True)
        write_models(coarse, self.reference, coords, full_atom=False)
        return full, coarse


def write_analysis(run_dir, z, k=10, n_points=10, log=print, device="cpu"):
    """PCA paths (10 points from the 5th to the 95th percentile of PC1..3)
    and k-means centres snapped to particles, decoded to PDB files in
    ``RUN/analysis``; returns a summary dict (also ``summary.json``)."""
    run = TrainedRun(run_dir, device)
    out = Path(run_dir) / "analysis"
    out.mkdir(exist_ok=True)
    pca = fit_pca(z, 3)
    summary = {"explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
               "pc_paths": [], "kmeans": {}}
    np.savez(out / "pca.npz", components=pca.components_, mean=pca.mean_,
             explained_variance=pca.explained_variance_,
             scores=pca.transform(z))
    for c in range(pca.n_components_):
        points = pc_path(pca, z, c, n_points)
        stem = out / ("pc%d" % (c + 1))
        np.save(stem.with_suffix(".npy"), points.astype(np.float32))
        full, coarse = run.write_structures(stem, points)
        summary["pc_paths"].append({"component": c + 1, "z": str(stem.with_suffix(".npy").name),
                                    "pdb": full.name, "coarse_pdb": coarse.name})
    labels, centres, snapped = kmeans(z, k)
    kdir = out / ("kmeans%d" % len(centres))
    kdir.mkdir(exist_ok=True)
    np.save(kdir / "labels.npy", labels)
    np.save(kdir / "centers.npy", centres.astype(np.float32))
    np.save(kdir / "centers_particles.npy", snapped)
    full, coarse = run.write_structures(kdir / "centers", z[snapped])
    summary["kmeans"] = {"k": len(centres), "folder": kdir.name,
                         "sizes": np.bincount(labels, minlength=len(centres)).tolist(),
                         "pdb": full.name, "coarse_pdb": coarse.name}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log("analysis written to %s (PC1-3 explain %s of the variance)"
        % (out, ", ".join("%.0f%%" % (100 * v) for v in pca.explained_variance_ratio_)))
    return summary
