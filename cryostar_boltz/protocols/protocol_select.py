"""Particles picked by hand in the latent space (a polygon drawn on the PCA
plane or the UMAP embedding), by latent ranges or by clusters, as a plain
particle subset for re-refinement."""
import json
import os

import numpy as np

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import SetOfParticles

from .. import constants as cts
from ..engine import layout
from ..engine.io import read_json, write_text
from .form import Outputs, add_choice, add_junk_params, junk_threshold_errors
from .protocol_base import CryoStarBoltzProtBase, flex_attr

OUTPUTS = Outputs(Particles=SetOfParticles)


class CryoStarBoltzProtSelect(CryoStarBoltzProtBase):
    """Selects particles of a training run in its latent space: inside a
    polygon drawn on the PCA plane or the UMAP embedding (the latent-space
    viewer's *Select particles* button draws it and fills this form), inside
    ranges of latent coordinates, or in clusters of an analysis. Outputs
    the selected particles as a plain set of particles (*Particles*) that
    any refinement protocol takes as input. The polygon is a parameter, so
    a project script can redo the selection.
    """
    _label = "select particles"
    _devStatus = BETA
    _possibleOutputs = OUTPUTS
    _engineChoices = {"space": cts.SELECT_SPACES}

    # ------------------------------------------------------------ form
    def _defineParams(self, form):
        form.addSection(label="Input")
        self._defineRunInput(form)
        form.addParam("inputAnalysis", params.PointerParam, allowsNull=True,
                      pointerClass="CryoStarBoltzProtAnalyze",
                      label="Analysis (optional)",
                      help="An analyze run of these particles: its clusters "
                           "(for *Clusters*), its UMAP embedding (a polygon "
                           "drawn on UMAP) and its PCA.")
        form.addParam("polygon", params.StringParam, default="",
                      label="Polygon vertices",
                      help="JSON list of [x, y] vertices of the polygon drawn "
                           "on the latent plot, e.g. [[0, 0], [1, 0], [0, 1]]; "
                           "the particles inside are selected. Empty: no "
                           "polygon. The latent-space viewer fills it in.")
        add_choice(form, "space", cts.SELECT_SPACES, "pca",
                      display=params.EnumParam.DISPLAY_HLIST,
                      label="Polygon drawn on",
                      help="PCA: PC1 and PC2 of the latents, as the latent "
                           "plot draws them. UMAP: the UMAP embedding of the "
                           "analysis (made with its UMAP option).")
        form.addParam("ranges", params.StringParam, default="",
                      label="Latent ranges",
                      help="Ranges DIM:LO:HI separated by spaces, e.g. "
                           "'1:-0.5:2 pc2:0:'; DIM is a latent dimension (1 or "
                           "z1) or a principal component (pc1), 1-based; LO or "
                           "HI may be left empty.")
        form.addParam("clusters", params.StringParam, default="",
                      label="Clusters",
                      help="Cluster numbers of the analysis, e.g. 0,2 or 0-3 "
                           "(without an analysis: the training run's own "
                           "k-means).")
        form.addParam("invert", params.BooleanParam, default=False,
                      label="Invert the selection?",
                      help="Keep the particles the criteria above leave out.")
        add_junk_params(form, "Leave out, whatever the criteria above, the "
                              "particles whose junk score is above the threshold "
                              "(their consensus pose fits the decoded structure no "
                              "better than random orientations). Alone, it "
                              "selects every particle but the junk.")

    # ------------------------------------------------------------ steps
    def _insertAllSteps(self):
        self._insertFunctionStep(self.selectStep, needsGPU=False)
        self._insertFunctionStep(self.createOutputStep, needsGPU=False)

    def _outDir(self, *paths):
        return self._getExtraPath(layout.PROTOCOL_SELECTION, *paths)

    def _analysisDir(self):
        analysis = self.inputAnalysis.get()
        return None if analysis is None else \
            analysis._getExtraPath(layout.PROTOCOL_ANALYSIS)

    def _polygon(self):
        """The polygon's vertices (list of [x, y]) or None; ValueError
        when the parameter is not a JSON list of pairs."""
        text = (self.polygon.get() or "").strip()
        if not text:
            return None
        vertices = json.loads(text)
        if isinstance(vertices, dict):
            vertices = vertices.get("vertices")
        if not isinstance(vertices, list) or len(vertices) < 3 or any(
                not isinstance(v, (list, tuple)) or len(v) != 2 for v in vertices):
            raise ValueError("the polygon needs at least 3 [x, y] vertices")
        return [[float(x), float(y)] for x, y in vertices]

    def _selectArgs(self):
        args = ["--run", self._getRunDir(), "--out", self._outDir()]
        vertices = self._polygon()
        if vertices is not None:
            polygon = self._getExtraPath(layout.PROTOCOL_POLYGON)
            write_text(polygon, json.dumps({"space": self._choice("space"),
                                            "vertices": vertices}) + "\n")
            args += ["--polygon", polygon, "--space", self._choice("space")]
        for text in (self.ranges.get() or "").split():
            args += ["--range", text]
        if (self.clusters.get() or "").strip():
            args += ["--clusters", self.clusters.get().strip()]
        if self._analysisDir() is not None:
            args += ["--analysis", self._analysisDir()]
        if self.invert:
            args.append("--invert")
        if self.excludeJunk:
            args += ["--exclude-junk", self.junkThreshold.get()]
        return args

    def selectStep(self):
        self._runEngine("select", self._selectArgs())

    def createOutputStep(self):
        from .. import convert
        particles = self._getInputFlex()
        ids = convert.load_particle_ids(flex_attr(particles, cts.FLEX_PARTICLE_IDS))
        picked = np.load(self._outDir(layout.SELECTED_INDICES))
        labels = np.full(len(ids), -1, dtype=np.int64)
        labels[picked] = 0
        subset = self._createSetOfParticles()
        subset.copyInfo(particles)
        subset.setHasCTF(particles.hasCTF())
        subset.setAlignment(particles.getAlignment())
        convert.fill_particle_subsets({0: subset}, particles, ids, labels)
        self._registerOutputs({OUTPUTS.Particles: subset}, self.inputParticles)

    # ------------------------------------------------------------ info
    def _validate(self):
        errors = self._validateRunInput()
        try:
            polygon = self._polygon()
        except ValueError as err:  # json.JSONDecodeError is a ValueError
            errors.append("Polygon vertices: %s." % err)
            polygon = None
        if polygon is None and not (self.ranges.get() or "").strip() \
                and not (self.clusters.get() or "").strip() and not self.excludeJunk:
            errors.append("Give a polygon, latent ranges, clusters or junk "
                          "exclusion to select by.")
        run = self._getRunDir()
        errors += junk_threshold_errors(self)
        if self.excludeJunk and run and not os.path.isfile(layout.RunLayout(run).junk_score):
            errors.append("The training run has no per-particle junk scores (it "
                          "was trained before they were written).")
        if self.space.get() == 1 and polygon is not None \
                and self.inputAnalysis.get() is None:
            errors.append("A polygon drawn on UMAP needs the analysis whose "
                          "UMAP embedding it was drawn on.")
        return errors

    def _summary(self):
        summary = read_json(self._outDir(layout.SUMMARY))
        if not summary or not self.hasAttribute(OUTPUTS.Particles):
            return ["Selection has not run yet."]
        return ["%d of %d particles selected%s." % (
            summary["n_selected"], summary["n_particles"],
            " inside a %d-vertex polygon on %s" % (
                len(self._polygon()), self._choice("space").upper())
            if self._polygon() else "")]

    def _methods(self):
        summary = read_json(self._outDir(layout.SUMMARY))
        if not summary:
            return []
        return ["%d particles were selected in the latent space of a "
                "cryoSTAR-Boltz training run [Li2024cryostar]."
                % summary["n_selected"]]
