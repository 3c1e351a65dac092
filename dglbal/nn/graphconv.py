"""GraphConv: DGL's GCN layer with initialization and residual-aggregation options."""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from dgl import DGLGraph
from dgl import function as fn
from dgl.base import DGLError
from dgl.utils import expand_as_pair
from torch import nn

from dglbal._graph_inputs import check_edge_weight

from ._base import GraphLayer
from ._checks import (Features, check_activation, check_gcn_features, check_graph,
    check_sizes, parameter_dtype)
from .kernels.sparse import dense, is_sparse

__all__ = ["GraphConv"]

_NORMS = ("none", "both", "right", "left")


def _degree_scale(degrees: torch.Tensor, norm: str, like: torch.Tensor) -> torch.Tensor:
    """Per-node factor deg^-1/2 ('both') or deg^-1, as a column that broadcasts over ``like``."""
    degrees = degrees.to(like).clamp(min=1)
    scale = degrees.pow(-0.5) if norm == "both" else 1.0 / degrees
    return scale.reshape(-1, *([1] * (like.dim() - 1)))


class GraphConv(GraphLayer):
    r"""Graph convolution from `Semi-Supervised Classification with Graph Convolutional
    Networks <https://arxiv.org/abs/1609.02907>`__, a drop-in replacement for
    :class:`dgl.nn.pytorch.GraphConv` (DGL 2.1).

    .. math::
        h_i' = b + \sum_{j\in\mathcal{N}(i)} \frac{e_{ji}}{c_{ji}} h_j W

    Constructor arguments (``norm`` in none / both / right / left), parameter names
    (``weight`` of shape (in, out), ``bias``) and the forward signature (external ``weight``,
    ``edge_weight``) are DGL's. Keyword-only extras, off by default:

    Parameters
    ----------
    init : str
        Scheme applied in :meth:`reset_parameters` (see :mod:`dglbal.init`).
    init_position : str
        ``"first"``, ``"hidden"`` or ``"last"``: the looks-linear block form of this layer.
    residual_alpha : float
        Aggregate with :math:`(1-\alpha) \hat A + \alpha I`, :math:`\hat A` the normalized
        operator selected by ``norm``. Needs homogeneous graphs or blocks.

    Raises
    ------
    ValueError
        For sizes that are not positive integers or an unknown ``init`` or ``init_position``.
    dgl.DGLError
        For an unknown ``norm`` (DGL's error, as DGL's layer raises it).

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.rand_graph(6, 12))
    >>> conv = GraphConv(10, 4, residual_alpha=0.2, init="he")
    >>> conv(g, torch.randn(6, 10)).shape
    torch.Size([6, 4])
    """

    def __init__(
        self,
        in_feats: int,
        out_feats: int,
        norm: str = "both",
        weight: bool = True,
        bias: bool = True,
        activation: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        allow_zero_in_degree: bool = False,
        *,
        init: str = "xavier",
        init_position: str = "hidden",
        residual_alpha: float = 0.0,
    ):
        super().__init__()
        check_sizes(type(self).__name__, in_feats=in_feats, out_feats=out_feats)
        check_activation(type(self).__name__, activation)
        if norm not in _NORMS:
            raise DGLError(f"Invalid norm value. Must be one of {_NORMS}, but got {norm!r}.")
        self._in_feats = in_feats
        self._out_feats = out_feats
        self._norm = norm
        self._allow_zero_in_degree = allow_zero_in_degree
        if weight:
            self.weight = nn.Parameter(torch.empty(in_feats, out_feats))
        else:
            self.register_parameter("weight", None)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_feats))
        else:
            self.register_parameter("bias", None)
        self._activation = activation
        self._set_extras(init, init_position, residual_alpha)

    def forward(
        self,
        graph: DGLGraph,
        feat: Features,
        weight: Optional[torch.Tensor] = None,
        edge_weight: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Compute the layer.

        ``feat`` is an ``(N, *, in_feats)`` tensor or a (source, destination) pair; as in DGL,
        only the source features' values are read (a single tensor serves both ends, also on
        a bipartite graph), so destination features may have any width. ``weight`` is an
        external (in_feats, out_feats) weight for a layer built with ``weight=False``;
        ``edge_weight`` of shape (E,) or (E, 1) scales the messages. Returns
        ``(N_dst, *, out_feats)``.
        """
        name = type(self).__name__
        check_graph(graph, name, self._allow_zero_in_degree)
        check_gcn_features(graph, feat, self._in_feats, name,
                           weight.dtype if weight is not None else parameter_dtype(self),
                           self._norm)
        if weight is not None and self.weight is not None:
            raise DGLError(
                "External weight is provided while at the same time the module has defined "
                "its own weight parameter. Please create the module with flag weight=False.")
        weight = self.weight if weight is None else weight
        if weight is not None and (weight.dim() != 2 or weight.shape[0] != self._in_feats):
            raise ValueError(
                f"{name}: weight must have shape ({self._in_feats}, out_feats), got "
                f"{tuple(weight.shape)}")
        check_edge_weight(graph, edge_weight, name)
        with graph.local_scope():
            message = fn.copy_u("h", "m")
            if edge_weight is not None:
                graph.edata["_edge_weight"] = edge_weight
                message = fn.u_mul_e("h", "_edge_weight", "m")
            feat_src, feat_dst = _feature_pair(feat, graph)
            # Multiply by W before aggregating when that shrinks the features, after otherwise.
            transform_first = weight is not None and self._in_feats > self._out_feats
            # Sparse features (COO or CSR): W first when it shrinks them (the source degree
            # scales rows, so the order does not matter), dense otherwise; torch cannot scale
            # a sparse CSR matrix's rows by a column (DGL's GraphConv fails there).
            sparse_first = transform_first and is_sparse(feat_src)
            if is_sparse(feat_src) and not sparse_first:
                feat_src = dense(feat_src)
            h = torch.matmul(feat_src, weight) if sparse_first else feat_src
            if self._norm in ("left", "both"):
                h = h * _degree_scale(graph.out_degrees(), self._norm, h)
            if transform_first and not sparse_first:
                h = torch.matmul(h, weight)
            graph.srcdata["h"] = h
            graph.update_all(message, fn.sum("m", "h"))
            rst = graph.dstdata["h"]
            if weight is not None and not transform_first:
                rst = torch.matmul(rst, weight)
            if self._norm in ("right", "both"):  # in feat_dst's dtype, as DGL
                like = feat_dst if feat_dst.is_floating_point() else rst
                rst = rst * _degree_scale(graph.in_degrees(), self._norm, like)
            rst = self._with_identity(graph, rst, dense(feat_src) if self.residual_alpha
                                      else feat_src, weight)
            if self.bias is not None:
                rst = rst + self.bias
            if self._activation is not None:
                rst = self._activation(rst)
            return rst

    def extra_repr(self) -> str:
        summary = f"in={self._in_feats}, out={self._out_feats}, normalization={self._norm}"
        if self.residual_alpha:
            summary += f", residual_alpha={self.residual_alpha}"
        return summary


def _feature_pair(feat: Features, graph: DGLGraph) -> Tuple[torch.Tensor, torch.Tensor]:
    """DGL's ``expand_as_pair``, but a block's single sparse feature matrix (which cannot be
    sliced by rows) gives its destination rows dense."""
    if is_sparse(feat) and graph.is_block:
        return feat, dense(feat)[:graph.num_dst_nodes()]
    return expand_as_pair(feat, graph)
