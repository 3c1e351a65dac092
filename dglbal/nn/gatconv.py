"""GATConv: DGL's GAT layer with balanced-initialization and residual-aggregation options."""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple, Union

import torch
from dgl import DGLGraph
from dgl.nn.functional import edge_softmax
from dgl.nn.pytorch.utils import Identity
from torch import nn

from dglbal._graph_inputs import check_edge_weight

from ._base import GraphLayer
from ._checks import (Features, check_activation, check_attention_options,
                      check_edge_weight_dtype, check_features, check_graph, parameter_dtype)
from .kernels.adjacency import graph_adjacency
from .kernels.attention import attention_sum
from .kernels.edge_ops import head_dots
from .kernels.sparse import dense, feature_dropout

__all__ = ["GATConv"]


def _broadcast_nodes(feat: torch.Tensor, extra: Tuple[int, ...]) -> torch.Tensor:
    """(N, *, F) features broadcast to (N, *extra, F), as DGL's edge ops broadcast them."""
    feat = dense(feat)
    missing = len(extra) - (feat.dim() - 2)
    feat = feat.reshape(feat.shape[0], *([1] * missing), *feat.shape[1:])
    return feat.expand(feat.shape[0], *extra, feat.shape[-1])


class GATConv(GraphLayer):
    r"""Graph attention layer from `Graph Attention Network
    <https://arxiv.org/abs/1710.10903>`__, a drop-in replacement for
    :class:`dgl.nn.pytorch.GATConv` (DGL 2.1).

    .. math::
        h_i' = \sum_{j\in\mathcal{N}(i)} \alpha_{ij} W h_j, \qquad
        \alpha_{ij} = \mathrm{softmax}_j\big(\mathrm{LeakyReLU}(a_l^T W h_j + a_r^T W h_i)\big)

    Constructor arguments, defaults, parameter names (``fc`` or ``fc_src``/``fc_dst``,
    ``attn_l``, ``attn_r``, ``bias``, ``res_fc``) and the forward signature (with
    ``edge_weight`` and ``get_attention``) are DGL's. Keyword-only extras, off by default:

    Parameters
    ----------
    init : str
        Scheme applied in :meth:`reset_parameters` (see :mod:`dglbal.init`).
    init_position : str
        ``"first"``, ``"hidden"`` or ``"last"``: the looks-linear block form of this layer.
    residual_alpha : float
        Aggregate with :math:`(1-\alpha) A_{att} + \alpha I`. Needs homogeneous graphs or
        blocks.

    Features are (N, *, in_feats) as in DGL (the output (N_dst, *, num_heads, out_feats)),
    or a sparse CSR or COO matrix. The aggregation runs in a fused kernel
    (:func:`dglbal.nn.kernels.attention.attention_sum`) that keeps no (edges x features) tensor
    for the backward pass.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GATConv
    >>> g = dgl.add_self_loop(dgl.rand_graph(6, 12))
    >>> conv = GATConv(10, 4, num_heads=3, init="xavier_zero_attention")
    >>> out, att = conv(g, torch.randn(6, 10), get_attention=True)
    >>> out.shape, att.shape
    (torch.Size([6, 3, 4]), torch.Size([18, 3, 1]))
    """

    accepts_sparse_features = True  # the first layer may take a sparse CSR / COO matrix

    def __init__(
        self,
        in_feats: Union[int, Tuple[int, int]],
        out_feats: int,
        num_heads: int,
        feat_drop: float = 0.0,
        attn_drop: float = 0.0,
        negative_slope: float = 0.2,
        residual: bool = False,
        activation: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        allow_zero_in_degree: bool = False,
        bias: bool = True,
        *,
        init: str = "xavier",
        init_position: str = "hidden",
        residual_alpha: float = 0.0,
    ):
        super().__init__()
        width = self._set_attention_sizes(in_feats, out_feats, num_heads, allow_zero_in_degree)
        check_attention_options(type(self).__name__, feat_drop, attn_drop, negative_slope)
        check_activation(type(self).__name__, activation)
        if isinstance(in_feats, tuple):
            self.fc_src = nn.Linear(self._in_src_feats, width, bias=False)
            self.fc_dst = nn.Linear(self._in_dst_feats, width, bias=False)
        else:
            self.fc = nn.Linear(self._in_src_feats, width, bias=False)
        self.attn_l = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.attn_r = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.feat_drop = nn.Dropout(feat_drop)
        self.attn_drop = nn.Dropout(attn_drop)
        self.leaky_relu = nn.LeakyReLU(negative_slope)
        self.has_linear_res = residual and self._in_dst_feats != width
        if not residual:
            self.register_buffer("res_fc", None)
        elif self.has_linear_res:
            self.res_fc = nn.Linear(self._in_dst_feats, width, bias=bias)
        else:
            self.res_fc = Identity()
        self.has_explicit_bias = bias and not self.has_linear_res
        if self.has_explicit_bias:
            self.bias = nn.Parameter(torch.empty(width))
        else:
            self.register_buffer("bias", None)
        self.activation = activation
        self._set_extras(init, init_position, residual_alpha)

    def forward(
        self,
        graph: DGLGraph,
        feat: Features,
        edge_weight: Optional[torch.Tensor] = None,
        get_attention: bool = False,
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Compute the layer.

        ``feat`` is an ``(N, *, in_feats)`` tensor or a (source, destination) pair (``*``
        broadcasting between them); ``edge_weight`` of shape (E,) or (E, 1) scales the
        attention. Returns ``(N_dst, *, num_heads, out_feats)`` and, with
        ``get_attention=True``, the attention of shape ``(E, *, num_heads, 1)``.
        """
        name = type(self).__name__
        check_graph(graph, name, self._allow_zero_in_degree)
        check_features(graph, feat, self._in_src_feats, self._in_dst_feats, name,
                       parameter_dtype(self), extra_dims=True, pair_only=hasattr(self, "fc_src"))
        check_edge_weight(graph, edge_weight, name)
        check_edge_weight_dtype(edge_weight, parameter_dtype(self), name)
        heads, out = self._num_heads, self._out_feats
        fc_src = self.fc_src if hasattr(self, "fc_src") else self.fc
        fc_dst = self.fc_dst if hasattr(self, "fc_dst") else self.fc
        # (N, *, in_feats) features: the kernels see the * dimensions as more heads
        extra = (feat[0] if isinstance(feat, tuple) else feat).shape[1:-1]
        broadcast = isinstance(feat, tuple) and feat[0].shape[1:-1] != feat[1].shape[1:-1]
        if broadcast:  # as DGL's edge ops broadcast them
            extra = torch.broadcast_shapes(feat[0].shape[1:-1], feat[1].shape[1:-1])
        folded, attn_l, attn_r = heads, self.attn_l, self.attn_r
        if extra:
            folded *= math.prod(extra)
            attn_l, attn_r = (a.repeat(1, folded // heads, 1) for a in (attn_l, attn_r))
        if isinstance(feat, tuple):
            h_src, h_dst = (feature_dropout(self.feat_drop, f) for f in feat)
            if broadcast:
                h_src, h_dst = (_broadcast_nodes(h, extra) for h in (h_src, h_dst))
            z_src = fc_src(h_src).view(h_src.shape[0], folded, out)
            z_dst = fc_dst(h_dst).view(h_dst.shape[0], folded, out)
        else:
            h_src = h_dst = feature_dropout(self.feat_drop, feat)
            z_src = z_dst = self.fc(h_src).view(h_src.shape[0], folded, out)
            if graph.is_block:
                z_dst = z_src[: graph.num_dst_nodes()]
        el, er = head_dots(z_src, attn_l), head_dots(z_dst, attn_r)
        adj = graph_adjacency(graph)
        src, dst = adj.src, adj.dst
        logits = self.leaky_relu(el.index_select(0, src) + er.index_select(0, dst))
        attention = self.attn_drop(edge_softmax(graph, logits))
        if edge_weight is not None:
            attention = attention * edge_weight.reshape(-1, 1, 1)
        rst = attention_sum(z_src, attention, src, dst, graph.num_dst_nodes(), adj)
        rst = self._with_identity(graph, rst, z_src)
        if extra:
            rst = rst.view(rst.shape[0], *extra, heads, out)
            attention = attention.view(attention.shape[0], *extra, heads, 1)
        if self.res_fc is not None:
            h_dst = dense(h_dst)[: graph.num_dst_nodes()]
            rst = rst + self.res_fc(h_dst).view(h_dst.shape[0], *extra, heads, out)
        if self.has_explicit_bias:
            rst = rst + self.bias.view(*([1] * (rst.dim() - 2)), heads, out)
        if self.activation:
            rst = self.activation(rst)
        if get_attention:
            return rst, attention
        return rst
