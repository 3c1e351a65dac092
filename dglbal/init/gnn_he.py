"""GNN He initialization (DeZoort & Hanin, 2023): W ~ N(0, 2 / (fan_in * rho(A)^2)), with
rho(A) the spectral radius of the aggregation operator a graph layer applies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from dgl.nn.pytorch import GINConv, SAGEConv
from torch import nn

if TYPE_CHECKING:
    from dgl import DGLGraph

from dglbal._graph_inputs import check_edge_weight

from .tensor import he_normal_, he_normal_blocks_
from .weights import (check_scheme_defined, feature_maps, is_attention_layer,
                      require_graph_layers, residual_linear)

__all__ = ["aggregation_matrix", "spectral_radius", "gnn_he_"]

# GINConv's aggregators that are linear maps of the neighbours' features ('max' is not)
_GIN_LINEAR_AGGREGATORS = ("sum", "mean")


def aggregation_matrix(layer: nn.Module, graph: DGLGraph, edge_weight: Optional[torch.Tensor] = None
                       ) -> sp.csr_matrix:
    """The (num_nodes x num_nodes) aggregation operator a layer applies on ``graph``.

    Row v holds the weights with which node v sums its in-neighbours. GraphConv uses its
    normalization (``norm``) and ``edge_weight``; attention layers are taken at zero
    attention logits (uniform attention, i.e. mean aggregation), as after XavZ or balanced
    initialization. A ``residual_alpha`` of dglbal's layers gives (1 - alpha) A + alpha I.
    SAGEConv: its neighbour operator (``mean``: the in-degree mean; ``gcn``: the mean over
    the in-neighbours and the node itself). GINConv: its aggregation of the in-neighbours
    (``sum``, or ``mean``: the sum over the in-degree) plus ``(1 + eps)`` times the node
    itself. Edge weights scale each edge's message, as in DGL. Aggregations that are not
    linear (SAGEConv's ``pool`` and ``lstm``, GINConv's ``max``) have no operator: refused.

    Parameters
    ----------
    layer : nn.Module
        A graph layer (DGL's or dglbal's GraphConv, GATConv, GATv2Conv, DGL's SAGEConv or
        GINConv, or a registered type).
    graph : dgl.DGLGraph
        The graph it runs on.
    edge_weight : torch.Tensor, optional
        Per-edge weights, as the layer would get them: a finite floating-point tensor of
        shape ``(E,)`` or ``(E, 1)``.

    Returns
    -------
    scipy.sparse.csr_matrix
        The operator, float64.

    Raises
    ------
    ValueError
        If ``graph`` is not homogeneous (the operator would not be square), ``edge_weight``
        has not one entry per edge or holds NaN or infinite values, or the layer aggregates
        with a non-linear aggregator.
    TypeError
        If ``edge_weight`` is not a floating-point tensor.

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
    check_edge_weight(graph, edge_weight, "aggregation_matrix", finite=True)
    n = graph.num_nodes()
    src, dst = (t.cpu().numpy() for t in graph.edges())
    weights = np.ones(len(src)) if edge_weight is None else (
        edge_weight.detach().cpu().double().reshape(-1).numpy())
    values, own = _layer_operator(layer, src, dst, weights, n)
    matrix = sp.csr_matrix((values, (dst, src)), shape=(n, n))
    if own is not None:
        matrix = matrix + sp.diags(own, format="csr")
    alpha = float(getattr(layer, "residual_alpha", 0.0))
    if alpha:
        matrix = (1.0 - alpha) * matrix + alpha * sp.identity(n, format="csr")
    return matrix


def _layer_operator(layer: nn.Module, src: np.ndarray, dst: np.ndarray, weights: np.ndarray,
                    n: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """The layer's per-edge coefficients and its node's own coefficients (None for none)."""
    in_deg = np.bincount(dst, minlength=n).astype(float)
    if isinstance(layer, GINConv):
        return _gin_operator(layer, dst, weights, in_deg)
    if isinstance(layer, SAGEConv):
        return _sage_operator(layer, dst, weights, in_deg)
    if is_attention_layer(layer):
        return weights / np.maximum(in_deg, 1)[dst], None
    norm = getattr(layer, "_norm", "both")
    out_deg = np.maximum(np.bincount(src, minlength=n), 1).astype(float)
    if norm == "both":
        return weights / np.sqrt(np.maximum(in_deg, 1)[dst] * out_deg[src]), None
    if norm == "right":
        return weights / np.maximum(in_deg, 1)[dst], None
    if norm == "left":
        return weights / out_deg[src], None
    return weights, None


def _gin_operator(layer: GINConv, dst: np.ndarray, weights: np.ndarray, in_deg: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """GINConv: ``(1 + eps) h_v + sum_u w_uv h_u`` (``sum``), or that sum over the in-degree
    (``mean``); ``max`` is not linear."""
    aggregator = layer._aggregator_type
    if aggregator not in _GIN_LINEAR_AGGREGATORS:
        raise ValueError(
            f"GINConv's aggregator_type {aggregator!r} is not linear: it has no aggregation "
            "operator, so no spectral radius to scale by (GNN He). Build the layer with "
            "aggregator_type 'sum' or 'mean', or initialize it with a scheme that needs no "
            "operator (init_layer_(layer, 'he') or 'xavier')")
    values = weights / np.maximum(in_deg, 1)[dst] if aggregator == "mean" else weights
    return values, np.full(len(in_deg), 1.0 + float(layer.eps))


def _sage_operator(layer: SAGEConv, dst: np.ndarray, weights: np.ndarray, in_deg: np.ndarray
                   ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """SAGEConv's neighbour operator: ``mean_u w_uv h_u`` (``mean``), or ``(sum_u w_uv h_u +
    h_v) / (in_degree + 1)`` (``gcn``); ``pool`` and ``lstm`` are not linear."""
    aggregator = layer._aggre_type
    if aggregator == "mean":
        return weights / np.maximum(in_deg, 1)[dst], None
    if aggregator == "gcn":
        count = in_deg + 1.0  # the in-neighbours and the node itself
        return weights / count[dst], 1.0 / count
    raise ValueError(
        f"SAGEConv's aggregator {aggregator!r} is not linear (an inner transform, fc_pool / "
        "LSTM, then max / LSTM aggregation): it has no aggregation operator. Use aggregator "
        "'mean' or 'gcn' for an operator (and GNN He), or init='xavier' (DGL's) with it")


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


def gnn_he_(model: nn.Module, graph: DGLGraph, edge_weight: Optional[torch.Tensor] = None
            ) -> nn.Module:
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
    first Linear gets the radius (the others see no aggregation): about the mean in-degree
    plus ``1 + eps`` with ``sum``, ``2 + eps`` with ``mean``. Layers whose aggregation is not
    linear (GINConv's ``max``, SAGEConv's ``pool`` and ``lstm``) have no radius and are
    refused. Every layer is checked before any is drawn.

    Parameters
    ----------
    model : nn.Module
        A graph layer or a model holding graph layers.
    graph : dgl.DGLGraph
        The graph the model runs on (its operator's spectral radius sets the scale).
    edge_weight : torch.Tensor, optional
        Edge weights the layers apply: finite, floating point, of shape ``(E,)`` or ``(E, 1)``
        for the ``E`` edges of ``graph``.

    Returns
    -------
    nn.Module
        ``model``, initialized in place.

    Raises
    ------
    ValueError
        When ``model`` holds no graph layer, a layer aggregates with a non-linear
        aggregator, a layer's operator has spectral radius 0 on ``graph`` (no cycles: add
        self-loops), or ``edge_weight`` has not one entry per edge or holds NaN or infinite
        values; the model is then left as it was.
    TypeError
        When ``edge_weight`` is not a floating-point tensor.

    Examples
    --------
    >>> import dgl
    >>> from dglbal.nn import GCN
    >>> g = dgl.add_self_loop(dgl.rand_graph(20, 60))
    >>> model = gnn_he_(GCN(5, 8, 3, num_layers=4), g)
    """
    layers = require_graph_layers(model, "gnn_he_")
    check_edge_weight(graph, edge_weight, "gnn_he_", finite=True)
    for layer in layers:
        check_scheme_defined(layer, "he")
    # every layer's radius before any weight is drawn: a refused layer leaves the model as it was
    radii = [_layer_radius(layer, graph, edge_weight) for layer in layers]
    for layer, rho in zip(layers, radii):
        _draw_layer(layer, rho)
    return model


def _layer_radius(layer: nn.Module, graph: DGLGraph, edge_weight: Optional[torch.Tensor]
                  ) -> float:
    """The spectral radius of the layer's operator on ``graph``; a ``ValueError`` when it is 0."""
    rho = spectral_radius(aggregation_matrix(layer, graph, edge_weight))
    if not rho > 0:
        raise ValueError(
            f"gnn_he_: the aggregation operator of {type(layer).__name__} has spectral radius 0 "
            "on this graph (no cycles, or edge weights that cancel); add self-loops to use GNN "
            "He initialization")
    return rho


def _draw_layer(layer: nn.Module, rho: float) -> None:
    """He-normal feature maps scaled by ``rho`` (GIN's MLP after its first map: by 1), and a
    plain He residual branch."""
    maps = feature_maps(layer)
    # GIN's MLP maps after the first act on aggregated features: no operator of their own
    radii = [rho] + [1.0 if isinstance(layer, GINConv) else rho] * (len(maps) - 1)
    for blocks, radius in zip(maps, radii):
        he_normal_blocks_(blocks, radius)
    residual = residual_linear(layer)
    if residual is not None:
        he_normal_(residual.weight)
