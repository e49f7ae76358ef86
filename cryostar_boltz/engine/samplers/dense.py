"""Dense torch form of a binary quadratic model, and vectorised Gibbs sweeps.

A BQM ``E(x) = h.x + sum_{i<j} J_ij x_i x_j + offset`` becomes a vector
``h`` and a symmetric matrix ``J`` (zero diagonal) so that the conditional
of every variable is one matrix product for all chains at once. Variables
are kept in an order where each block of mutually independent variables
(a colour class of the interaction graph) is a contiguous slice: for a
bipartite model (an RBM) there are two blocks and a sweep is two matrix
products; for a dense model every block is one variable (sequential
single-site Gibbs, still vectorised across chains).
"""
from __future__ import annotations

import dimod
import networkx as nx
import numpy as np
import torch

#: (low, high) values of a variable for each dimod vartype.
VARTYPE_VALUES = {dimod.BINARY: (0.0, 1.0), dimod.SPIN: (-1.0, 1.0)}


def colour_classes(num_variables, rows, cols):
    """Partition variables into classes with no interaction inside a class.

    Two classes when the interaction graph is bipartite (exact for an RBM),
    otherwise the DSATUR greedy colouring (one variable per class for a
    dense model).
    """
    graph = nx.Graph()
    graph.add_nodes_from(range(num_variables))
    graph.add_edges_from(zip(np.asarray(rows).tolist(), np.asarray(cols).tolist()))
    if graph.number_of_edges() == 0:
        return [list(range(num_variables))] if num_variables else []
    if nx.is_bipartite(graph):
        colour = nx.bipartite.color(graph)
    else:
        colour = nx.greedy_color(graph, strategy="saturation_largest_first")
    classes = {}
    for node in range(num_variables):
        classes.setdefault(colour[node], []).append(node)
    return [classes[key] for key in sorted(classes)]


class DenseBQM:
    """A BQM as torch tensors, ordered so that Gibbs blocks are slices.

    ``labels`` are the BQM variables in the internal order; ``blocks`` are
    ``(start, stop)`` slices of variables with no interaction between them.
    """

    def __init__(self, linear, coupling, offset, vartype, blocks, labels=None):
        self.linear = linear
        self.coupling = coupling
        self.offset = float(offset)
        self.vartype = dimod.as_vartype(vartype)
        self.blocks = [(int(s), int(e)) for s, e in blocks]
        self.labels = list(range(linear.shape[0])) if labels is None else list(labels)
        self._check_blocks()

    def _check_blocks(self):
        n = self.num_variables
        covered = sum(e - s for s, e in self.blocks)
        if covered != n:
            raise ValueError(f"Gibbs blocks cover {covered} of {n} variables")
        for s, e in self.blocks:
            if e - s > 1 and torch.count_nonzero(self.coupling[s:e, s:e]) > 0:
                raise ValueError(f"variables {s}..{e - 1} interact: not a Gibbs block")

    @property
    def num_variables(self):
        return self.linear.shape[0]

    @classmethod
    def from_bqm(cls, bqm, device="cpu", dtype=torch.float32):
        """Dense tensors of ``bqm``, variables reordered by colour class."""
        labels = list(bqm.variables)
        n = len(labels)
        lin, (rows, cols, vals), offset = bqm.to_numpy_vectors(variable_order=labels)
        classes = colour_classes(n, rows, cols)
        order = np.array([i for cls_ in classes for i in cls_], dtype=np.int64)
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        coupling = np.zeros((n, n))
        np.add.at(coupling, (position[rows], position[cols]), vals)
        coupling = coupling + coupling.T
        blocks, start = [], 0
        for cls_ in classes:
            blocks.append((start, start + len(cls_)))
            start += len(cls_)
        as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        return cls(as_tensor(lin[order]), as_tensor(coupling), offset, bqm.vartype,
                   blocks, [labels[i] for i in order])

    def energy(self, x):
        """Energies of states ``x`` (chains, variables), in the model's vartype."""
        return x @ self.linear + 0.5 * ((x @ self.coupling) * x).sum(-1) + self.offset

    def random_states(self, num_chains, generator=None):
        """Uniformly random states, for chains started from scratch."""
        low, high = VARTYPE_VALUES[self.vartype]
        bits = torch.rand(num_chains, self.num_variables, generator=generator,
                          device=self.linear.device, dtype=self.linear.dtype) < 0.5
        return low + (high - low) * bits.to(self.linear.dtype)

    def _scaled_blocks(self, beta):
        """Per block: bias and neighbour couplings multiplied by -beta*(high-low)."""
        low, high = VARTYPE_VALUES[self.vartype]
        scale = -float(beta) * (high - low)
        n = self.num_variables
        plans = []
        for s, e in self.blocks:
            segments = []
            if e - s >= n // 4 and len(self.blocks) > 1:
                # big blocks: skip the (zero) rows of the block itself
                for rs, re in ((0, s), (e, n)):
                    if re > rs:
                        segments.append((rs, re, (scale * self.coupling[rs:re, s:e]).contiguous()))
            else:
                segments.append((0, n, (scale * self.coupling[:, s:e]).contiguous()))
            plans.append((s, e, scale * self.linear[s:e], segments))
        return plans

    def sweep(self, x, beta=1.0, num_sweeps=1, generator=None):
        """Run ``num_sweeps`` Gibbs sweeps over all blocks, updating ``x`` in place.

        ``x`` is (chains, variables) in the internal order. Exact block
        conditionals: p(x_i = high | rest) = sigmoid(-beta (high - low) f_i)
        with the local field f = h + J x.
        """
        low, high = VARTYPE_VALUES[self.vartype]
        if self.num_variables == 0 or num_sweeps <= 0:
            return x
        plans = self._scaled_blocks(beta)
        uniform = torch.empty_like(x)
        for _ in range(int(num_sweeps)):
            uniform.uniform_(generator=generator)
            for s, e, bias, segments in plans:
                field = None
                for rs, re, block_coupling in segments:
                    if field is None:
                        field = torch.addmm(bias, x[:, rs:re], block_coupling)
                    else:
                        field.addmm_(x[:, rs:re], block_coupling)
                if field is None:
                    field = bias.expand(x.shape[0], e - s).clone()
                torch.sigmoid_(field)
                new = uniform[:, s:e] < field
                if low == 0.0:
                    x[:, s:e] = new
                else:
                    x[:, s:e] = new.to(x.dtype).mul_(high - low).add_(low)
        return x
