"""Input validation shared by dglbal's graph layers.

DGL's layers fail on bad input with low-level errors (a matmul shape mismatch, an
index error deep inside a kernel) or, for some heterographs, not at all. These helpers
turn every such case into one exception that names the problem.
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import torch
from dgl import DGLGraph
from dgl.base import DGLError

from .kernels.adjacency import structure_cached

Features = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]

ZERO_IN_DEGREE_MESSAGE = (
    "There are 0-in-degree nodes in the graph, output for those nodes will be invalid. "
    "This is harmful for some applications, causing silent performance regression. "
    "Adding self-loop on the input graph by calling `g = dgl.add_self_loop(g)` will "
    "resolve the issue. Setting ``allow_zero_in_degree`` to be `True` when constructing "
    "this module will suppress the check and let the code run."
)


def check_graph(graph: DGLGraph, layer: str, allow_zero_in_degree: bool) -> None:
    """Require a graph with a single edge type and, unless allowed, no 0-in-degree node."""
    if not isinstance(graph, DGLGraph):
        raise TypeError(f"{layer} expects a DGLGraph, got {type(graph).__name__}")
    if len(graph.canonical_etypes) != 1:
        raise DGLError(
            f"{layer} supports graphs with a single edge type; got a heterograph with "
            f"edge types {graph.canonical_etypes}. Apply it per relation, for example "
            "with dgl.nn.HeteroGraphConv."
        )
    if not allow_zero_in_degree and structure_cached(
            graph, "zero_in_degree", lambda: bool((graph.in_degrees() == 0).any())):
        raise DGLError(ZERO_IN_DEGREE_MESSAGE)


def _check_matrix(feat: torch.Tensor, what: str, rows: int, cols: int, layer: str,
                  extra_dims: bool = False) -> None:
    """(rows, cols) features, or (rows, *, cols) with ``extra_dims``."""
    if not isinstance(feat, torch.Tensor):
        raise TypeError(f"{layer}: {what} features must be a torch.Tensor, got "
                        f"{type(feat).__name__}")
    if feat.dim() < 2 or (feat.dim() > 2 and not extra_dims):
        shape = "at least 2-D (num_nodes, *, in_feats)" if extra_dims else \
            "2-D (num_nodes, in_feats)"
        raise ValueError(f"{layer}: {what} features must be {shape}, got shape "
                         f"{tuple(feat.shape)}")
    if 0 in feat.shape[1:-1]:  # DGL's kernels fail on the non-contiguous empty tensors
        raise ValueError(f"{layer}: {what} features of shape {tuple(feat.shape)} have an empty "
                         "dimension between the node and the feature dimension")
    if feat.shape[0] != rows:
        raise ValueError(
            f"{layer}: {what} features have {feat.shape[0]} rows but the graph has {rows} "
            f"{what} nodes"
        )
    if feat.shape[-1] != cols:
        raise ValueError(
            f"{layer}: {what} features have width {feat.shape[-1]}, the layer was built for "
            f"in_feats={cols}"
        )


def check_sizes(layer: str, **sizes: Union[int, Tuple[int, int]]) -> None:
    """Layer sizes (``in_feats``, ``out_feats``, ``num_heads``, ...) must be positive ints."""
    for name, value in sizes.items():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
                raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")


def check_attention_options(layer: str, feat_drop: float, attn_drop: float,
                            negative_slope: float) -> None:
    """Dropout rates in [0, 1] (as torch's) and a finite LeakyReLU slope (a NaN slope makes every
    output NaN), named after the argument."""
    for name, rate in (("feat_drop", feat_drop), ("attn_drop", attn_drop)):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
            raise ValueError(f"{layer}: {name} must be a probability in [0, 1], got {rate!r}")
    if (isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real)
            or not abs(negative_slope) < float("inf")):
        raise ValueError(f"{layer}: negative_slope must be a finite number, "
                         f"got {negative_slope!r}")


def check_activation(layer: str, activation: object) -> None:
    """``activation`` is None or callable (a string such as "relu" failed only in forward,
    with Python's bare "'str' object is not callable")."""
    if activation is not None and not callable(activation):
        raise TypeError(f"{layer}: activation must be None or callable (e.g. torch.relu or "
                        f"nn.ReLU()), got {activation!r}")


def parameter_dtype(module: torch.nn.Module) -> Optional[torch.dtype]:
    """The dtype of a module's first floating-point parameter (None if it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)


def _check_dtype(feat: torch.Tensor, what: str, dtype: Optional[torch.dtype], layer: str) -> None:
    if not feat.is_floating_point():
        raise TypeError(f"{layer}: {what} features must be floating point, got {feat.dtype}; "
                        "convert them with feat.float()")
    _check_kernel_dtype(feat, what, layer)
    autocast = torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()
    if dtype is not None and feat.dtype != dtype and not autocast:
        raise TypeError(f"{layer}: {what} features are {feat.dtype} but the layer's weights "
                        f"are {dtype}; convert one of them (feat.to({dtype}) or "
                        f"model.to({feat.dtype}))")


def _check_kernel_dtype(feat: torch.Tensor, what: str, layer: str) -> None:
    """Refuse float16 on CPU, which DGL's CPU kernels (message passing, edge softmax) do not
    take; float16 on CUDA, and bfloat16 anywhere, pass."""
    if feat.device.type != "cpu":
        return
    if feat.dtype == torch.float16:
        raise TypeError(f"{layer}: {what} features are torch.float16 on the CPU, which DGL's "
                        "CPU kernels do not take (bfloat16, float32 and float64 only); convert "
                        "the model and features (model.float() and feat.float(), or "
                        "torch.bfloat16), or run on CUDA, where float16 works")


def _check_autocast_dtype(feat: torch.Tensor, layer: str) -> None:
    """Refuse CPU autocast to float16 for an attention layer on the CPU: its feature transform
    then hands DGL's edge softmax float16 logits, which it does not take on the CPU."""
    if (feat.device.type == "cpu" and torch.is_autocast_cpu_enabled()
            and torch.get_autocast_cpu_dtype() == torch.float16):
        raise TypeError(f"{layer}: CPU autocast with dtype torch.float16 gives DGL's edge "
                        "softmax float16 logits, which it does not take on the CPU; use "
                        "torch.autocast('cpu', dtype=torch.bfloat16), or run on CUDA")


def check_features(
    graph: DGLGraph, feat: Features, in_src_feats: int, in_dst_feats: int, layer: str,
    dtype: Optional[torch.dtype] = None, extra_dims: bool = False, pair_only: bool = False,
) -> None:
    """Check a feature tensor, or a (source, destination) pair, against the graph and layer
    (and, with ``dtype``, against the dtype of the layer's weights). ``pair_only``: the layer
    has separate source and destination maps and takes only a pair; a layer built for source
    and destination features of different widths takes only a pair too.

    A single tensor stands for the source nodes; it also serves the destination nodes of a
    homogeneous graph (all of them) or of a block (the first ``num_dst_nodes`` rows). With
    ``extra_dims``, features may be (N, *, in_feats), ``*`` broadcasting between the ends.
    For the attention layers: float16 features on the CPU, or CPU autocast to float16, are
    refused (DGL's CPU edge softmax takes bfloat16, float32 and float64 only).
    """
    num_src, num_dst = graph.num_src_nodes(), graph.num_dst_nodes()
    if isinstance(feat, tuple):
        if len(feat) != 2:
            raise ValueError(f"{layer}: a feature pair must hold 2 tensors, got {len(feat)}")
        _check_matrix(feat[0], "source", num_src, in_src_feats, layer, extra_dims)
        _check_matrix(feat[1], "destination", num_dst, in_dst_feats, layer, extra_dims)
        _check_dtype(feat[0], "source", dtype, layer)
        _check_dtype(feat[1], "destination", dtype, layer)
        _check_autocast_dtype(feat[0], layer)
        try:
            torch.broadcast_shapes(feat[0].shape[1:-1], feat[1].shape[1:-1])
        except RuntimeError:
            raise ValueError(
                f"{layer}: source features of shape {tuple(feat[0].shape)} and destination "
                f"features of shape {tuple(feat[1].shape)}: the dimensions between the node "
                "and the feature dimension must broadcast") from None
        return
    if pair_only or in_src_feats != in_dst_feats:
        raise ValueError(
            f"{layer}: built with in_feats=({in_src_feats}, {in_dst_feats}) (separate source "
            "and destination features), it takes a (source, destination) feature pair, not "
            "one tensor")
    _check_matrix(feat, "source", num_src, in_src_feats, layer, extra_dims)
    _check_dtype(feat, "source", dtype, layer)
    _check_autocast_dtype(feat, layer)
    if not graph.is_block and num_src != num_dst:
        raise ValueError(
            f"{layer}: the graph has {num_src} source and {num_dst} destination nodes; "
            "pass a (source, destination) feature pair for a bipartite graph"
        )


def check_gcn_features(graph: DGLGraph, feat: Features, in_feats: int, layer: str,
                       dtype: Optional[torch.dtype], norm: str) -> None:
    """Check GraphConv's features: source features of shape (N_src, *, in_feats), alone or
    in a (source, destination) pair.

    As in DGL, the values of destination features are never read (a single tensor stands
    for both ends, also on a bipartite graph). With ``norm`` "right" or "both" their dtype
    and device carry the in-degree normalization and their number of dimensions shapes it,
    so they must be a tensor with as many dimensions as the source features (DGL would
    broadcast the normalization across the wrong dimensions); their width and rows are free.
    """
    if isinstance(feat, tuple) and len(feat) != 2:
        raise ValueError(f"{layer}: a feature pair must hold 2 tensors, got {len(feat)}")
    src = feat[0] if isinstance(feat, tuple) else feat
    _check_matrix(src, "source", graph.num_src_nodes(), in_feats, layer, extra_dims=True)
    _check_dtype(src, "source", dtype, layer)
    if not isinstance(feat, tuple) or norm not in ("right", "both"):
        return
    dst = feat[1]
    if not isinstance(dst, torch.Tensor):
        raise TypeError(f"{layer}: destination features must be a torch.Tensor, got "
                        f"{type(dst).__name__}")
    if dst.dim() != src.dim():
        raise ValueError(
            f"{layer}: destination features have {dst.dim()} dimensions and source features "
            f"{src.dim()}; with norm={norm!r} they must have as many (the in-degree "
            "normalization is laid out along them)")


def check_edge_weight_dtype(edge_weight: Optional[torch.Tensor], dtype: Optional[torch.dtype],
                            layer: str) -> None:
    """Refuse edge weights that would promote the attention past the weights' dtype (float64
    weights for a float32 layer): DGL fails on the mixed types, and the promoted output would
    only be refused by the next layer. Lower precisions (bfloat16) and autocast are left as
    DGL leaves them."""
    if edge_weight is None or dtype is None:
        return
    if torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled():
        return
    if torch.promote_types(edge_weight.dtype, dtype) != dtype:
        raise TypeError(f"{layer}: edge_weight is {edge_weight.dtype} but the layer's weights "
                        f"are {dtype}; convert it (edge_weight.to({dtype}))")


def check_residual_alpha(alpha: float, layer: str) -> float:
    """Validate the residual aggregation coefficient alpha of (1 - alpha) A + alpha I: a real
    number in [0, 1] (not a bool or a string, which ``float`` would take)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{layer}: residual_alpha must be a number in [0, 1], got "
                        f"{alpha!r} ({type(alpha).__name__})")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{layer}: residual_alpha must lie in [0, 1], got {alpha}")
    return alpha


def self_rows(graph: DGLGraph, src_values: torch.Tensor, layer: str) -> torch.Tensor:
    """The rows of a per-source-node tensor that belong to the destination nodes.

    This is where the identity part of a residual aggregation (1 - alpha) A + alpha I reads
    from: every destination node must also be a source node, as in homogeneous graphs and
    in blocks (whose first ``num_dst_nodes`` source nodes are the destination nodes).
    """
    num_dst = graph.num_dst_nodes()
    if graph.is_block:
        return src_values[:num_dst]
    src_type, _, dst_type = graph.canonical_etypes[0]
    if graph.num_src_nodes() != num_dst or src_type != dst_type:
        raise DGLError(
            f"{layer}: residual_alpha > 0 adds alpha * I, which needs the destination nodes "
            "to be source nodes too (a homogeneous graph or a block); got a bipartite graph"
        )
    return src_values
