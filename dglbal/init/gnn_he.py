"""GNN He initialization (DeZoort & Hanin, 2023): W ~ N(0, 2 / (fan_in * rho(A)^2)), with
rho(A) the spectral radius of the aggregation operator a graph layer applies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from dgl.nn.pytorch import GINConv, SAGEConv
from torch import nn

if TYPE_CHECKING:
    from dgl import DGLGraph

from .tensor import he_normal_, he_normal_blocks_
from .weights import (check_scheme_defined, feature_maps, is_attention_layer,
                      require_graph_layers, residual_linear)

__all__ = ["aggregation_matrix", "spectral_radius", "gnn_he_"]


def aggregation_matrix(layer: nn.Module, graph: DGLGraph, edge_weight: Optional[torch.Tensor] = None
                       ) -> sp.csr_matrix:
    """The (num_nodes x num_nodes) aggregation operator a layer applies on ``graph``.

    Row v holds the weights with which node v sums its in-neighbours. GraphConv uses its
    normalization (``norm``) and ``edge_weight``; attention layers are taken at zero
    attention logits (uniform attention, i.e. mean aggregation), as after XavZ or balanced
    initialization. A ``residual_alpha`` of dglbal's layers gives (1 - alpha) A + alpha I.
    SAGEConv: its neighbour operator (``mean``: the in-degree mean; ``gcn``: the mean over
    the in-neighbours and the node itself). GINConv: the sum over in-neighbours plus
    ``(1 + eps)`` times the node itself.

    Parameters
    ----------
    layer : nn.Module
        A graph layer (DGL's or dglbal's GraphConv, GATConv, GATv2Conv, DGL's SAGEConv or
        GINConv, or a registered type).
    graph : dgl.DGLGraph
        The graph it runs on.
    edge_weight : torch.Tensor, optional
        Per-edge weights, as the layer would get them.

    Returns
    -------
    scipy.sparse.csr_matrix
        The operator, float64.

    Raises
    ------
    ValueError
        If ``graph`` is not homogeneous (the operator would not be square).

    Examples
    --------
    >>> import dgl
    >>> from dglbal.nn import GraphConv
    >>> ring = dgl.graph(([0, 1, 2], [1, 2, 0]))
    >>> aggregation_matrix(GraphConv(4, 4, norm="none"), ring).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.],
           [0., 1., 0.]])
    """
    if graph.is_block or graph.num_src_nodes() != graph.num_dst_nodes():
        raise ValueError("the aggregation operator is square only on homogeneous graphs")
    n = graph.num_nodes()
    src, dst = (t.cpu().numpy() for t in graph.edges())
    values = np.ones(len(src)) if edge_weight is None else (
        edge_weight.detach().cpu().double().reshape(-1).numpy())
    in_deg = np.maximum(np.bincount(dst, minlength=n), 1).astype(float)
    out_deg = np.maximum(np.bincount(src, minlength=n), 1).astype(float)
    if isinstance(layer, GINConv):
        norm = "none"
    elif isinstance(layer, SAGEConv) or is_attention_layer(layer):
        norm = "right"
    else:
        norm = getattr(layer, "_norm", "both")
    if norm == "both":
        values = values / np.sqrt(in_deg[dst] * out_deg[src])
    elif norm == "right":
        values = values / in_deg[dst]
    elif norm == "left":
        values = values / out_deg[src]
    own = None  # the node's own term, for layers whose operator has one
    if isinstance(layer, SAGEConv) and layer._aggre_type == "gcn":
        count = np.bincount(dst, minlength=n).astype(float) + 1.0  # in-neighbours and itself
        values, own = np.ones(len(src)) / count[dst], 1.0 / count
    elif isinstance(layer, GINConv):
        own = np.full(n, 1.0 + float(layer.eps))
    matrix = sp.csr_matrix((values, (dst, src)), shape=(n, n))
    if own is not None:
        matrix = matrix + sp.diags(own, format="csr")
    alpha = float(getattr(layer, "residual_alpha", 0.0))
    if alpha:
        matrix = (1.0 - alpha) * matrix + alpha * sp.identity(n, format="csr")
    return matrix


def spectral_radius(matrix: sp.spmatrix) -> float:
    """Largest absolute eigenvalue of a square sparse matrix.

    Parameters
    ----------
    matrix : scipy.sparse.spmatrix
        A square matrix (dense eigenvalues up to 1000 rows, ARPACK beyond).

    Returns
    -------
    float
        The spectral radius.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> round(spectral_radius(sp.csr_matrix([[0.0, 2.0], [2.0, 0.0]])), 6)
    2.0
    """
    n = matrix.shape[0]
    if n <= 1000:
        return float(np.abs(np.linalg.eigvals(matrix.toarray())).max(initial=0.0))
    return float(np.abs(spla.eigs(matrix.astype(float), k=1, which="LM",
                                  return_eigenvectors=False, tol=1e-8)).max())


def gnn_he_(model: nn.Module, graph: DGLGraph, edge_weight: Optional[torch.Tensor] = None) -> nn.Module:
    """GNN He initialization: W ~ N(0, 2 / (fan_in * rho(A)^2)) for every graph layer.

    ``rho(A)`` is the spectral radius of the aggregation operator the layer applies on
    ``graph`` (see :func:`aggregation_matrix`): 1 for mean aggregation, attention and
    symmetric normalization on undirected graphs, larger for sum aggregation
    (``norm="none"``), where plain He initialization lets activations grow with depth.
    A linear residual branch (``res_fc``) bypasses aggregation and gets plain He.
    Attention vectors and biases are left as they are. A layer's feature map of several
    blocks (SAGEConv's ``[fc_self | fc_neigh]``) is drawn as one map (the fan-in of the
    concatenation) with the neighbour operator's radius (1 for SAGE's ``mean`` and ``gcn``
    when every node has an in-edge: then ``gnn_he`` is ``he``); in a GINConv MLP only the
    first Linear gets the radius (the others see no aggregation).

    Parameters
    ----------
    model : nn.Module
        A graph layer or a model holding graph layers.
    graph : dgl.DGLGraph
        The graph the model runs on (its operator's spectral radius sets the scale).
    edge_weight : torch.Tensor, optional
        Edge weights the layers apply, of shape ``(E,)``.

    Returns
    -------
    nn.Module
        ``model``, initialized in place.

    Raises
    ------
    ValueError
        When ``model`` holds no graph layer, or a layer's operator has spectral radius 0 on
        ``graph`` (no cycles: add self-loops).

    Examples
    --------
    >>> import dgl
    >>> from dglbal.nn import GCN
    >>> g = dgl.add_self_loop(dgl.rand_graph(20, 60))
    >>> model = gnn_he_(GCN(5, 8, 3, num_layers=4), g)
    """
    for layer in require_graph_layers(model, "gnn_he_"):
        rho = spectral_radius(aggregation_matrix(layer, graph, edge_weight))
        if not rho > 0:
            raise ValueError(
                f"the aggregation operator of {type(layer).__name__} has spectral radius 0 on "
                "this graph (no cycles); add self-loops to use GNN He initialization")
        check_scheme_defined(layer, "he")
        maps = feature_maps(layer)
        # GIN's MLP maps after the first act on aggregated features: no operator of their own
        radii = [rho] + [1.0 if isinstance(layer, GINConv) else rho] * (len(maps) - 1)
        for blocks, radius in zip(maps, radii):
            he_normal_blocks_(blocks, radius)
        residual = residual_linear(layer)
        if residual is not None:
            he_normal_(residual.weight)
    return model
