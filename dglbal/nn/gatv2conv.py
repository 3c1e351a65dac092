"""GATv2Conv: DGL's GATv2 layer with balanced-initialization and residual-aggregation options."""
from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import torch
from dgl import DGLGraph
from dgl.nn.functional import edge_softmax
from dgl.nn.pytorch.utils import Identity
from torch import nn

from ._base import GraphLayer
from ._checks import (Features, check_activation, check_attention_options, check_features,
                      check_graph, parameter_dtype)
from .kernels.adjacency import graph_adjacency
from .kernels.attention import attention_sum, gatv2_logits
from .kernels.sparse import dense, feature_dropout

__all__ = ["GATv2Conv"]


class GATv2Conv(GraphLayer):
    r"""GATv2 from `How Attentive are Graph Attention Networks?
    <https://arxiv.org/abs/2105.14491>`__, a drop-in replacement for
    :class:`dgl.nn.pytorch.GATv2Conv` (DGL 2.1).

    .. math::
        h_i' = \sum_{j\in\mathcal{N}(i)} \alpha_{ij} W_{src} h_j, \qquad
        \alpha_{ij} = \mathrm{softmax}_j\big(a^T \mathrm{LeakyReLU}(W_{src} h_j + W_{dst} h_i)\big)

    Constructor arguments, defaults, parameter names (``fc_src``, ``fc_dst``, ``attn``,
    ``res_fc``) and the forward signature are DGL's, so state dicts load both ways and the
    outputs agree. Keyword-only extras, off by default:

    Parameters
    ----------
    init : str
        Scheme applied in :meth:`reset_parameters`: ``"xavier"`` (DGL's default),
        ``"xavier_zero_attention"``, ``"he"`` or ``"looks_linear"`` (see :mod:`dglbal.init`).
    init_position : str
        ``"first"``, ``"hidden"`` or ``"last"``: the looks-linear block form of this layer.
    residual_alpha : float
        Aggregate with :math:`(1-\alpha) A_{att} + \alpha I`: each node keeps a share
        ``alpha`` of its own transformed feature. Needs homogeneous graphs or blocks.

    Bad input raises an error naming it where DGL fails deep inside: features that are not
    2-D (DGL folds extra dimensions into rows) or have the wrong width or row count,
    heterographs with several edge types.

    The attention runs in fused kernels (:mod:`dglbal.nn.kernels.attention`): the same numbers as
    DGL's, but no (edges x features) tensor is kept for the backward pass. The features may be
    a sparse CSR or COO matrix (:func:`dglbal.nn.kernels.sparse.sparse_features`), which makes a
    first layer on bag-of-words input much cheaper.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GATv2Conv
    >>> g = dgl.add_self_loop(dgl.rand_graph(6, 12))
    >>> conv = GATv2Conv(10, 4, num_heads=2, share_weights=True, residual_alpha=0.1)
    >>> conv(g, torch.randn(6, 10)).shape
    torch.Size([6, 2, 4])
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
        share_weights: bool = False,
        *,
        init: str = "xavier",
        init_position: str = "hidden",
        residual_alpha: float = 0.0,
    ):
        super().__init__()
        width = self._set_attention_sizes(in_feats, out_feats, num_heads, allow_zero_in_degree)
        check_attention_options(type(self).__name__, feat_drop, attn_drop, negative_slope)
        check_activation(type(self).__name__, activation)
        self.fc_src = nn.Linear(self._in_src_feats, width, bias=bias)
        if share_weights and not isinstance(in_feats, tuple):
            self.fc_dst = self.fc_src
        else:
            self.fc_dst = nn.Linear(self._in_dst_feats, width, bias=bias)
        self.attn = nn.Parameter(torch.empty(1, num_heads, out_feats))
        self.feat_drop = nn.Dropout(feat_drop)
        self.attn_drop = nn.Dropout(attn_drop)
        self.leaky_relu = nn.LeakyReLU(negative_slope)
        if not residual:
            self.register_buffer("res_fc", None)
        elif self._in_dst_feats != width:
            self.res_fc = nn.Linear(self._in_dst_feats, width, bias=bias)
        else:
            self.res_fc = Identity()
        self.activation = activation
        self.share_weights = share_weights
        self.bias = bias
        self._set_extras(init, init_position, residual_alpha)

    def forward(self, graph: DGLGraph, feat: Features, get_attention: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Compute the layer.

        ``feat`` is an (N, in_feats) tensor or a (source, destination) pair. Returns the
        output of shape (N_dst, num_heads, out_feats) and, with ``get_attention=True``,
        the attention of shape (E, num_heads, 1).
        """
        name = type(self).__name__
        check_graph(graph, name, self._allow_zero_in_degree)
        check_features(graph, feat, self._in_src_feats, self._in_dst_feats, name,
                       parameter_dtype(self))
        heads, out = self._num_heads, self._out_feats
        if isinstance(feat, tuple):
            h_src, h_dst = (feature_dropout(self.feat_drop, f) for f in feat)
            z_src, z_dst = self.fc_src(h_src), self.fc_dst(h_dst)
        else:
            h_src = h_dst = feature_dropout(self.feat_drop, feat)
            z_src = self.fc_src(h_src)
            z_dst = z_src if self.share_weights else self.fc_dst(h_dst)
            if graph.is_block:
                z_dst = z_dst[: graph.num_dst_nodes()]
        shared = z_dst is z_src  # one tensor on both ends: the kernels' one-pass paths
        z_src = z_src.view(-1, heads, out)
        z_dst = z_src if shared else z_dst.view(-1, heads, out)
        adj = graph_adjacency(graph)
        src, dst = adj.src, adj.dst
        logits = gatv2_logits(z_src, z_dst, self.attn, src, dst,
                              self.leaky_relu.negative_slope, adj)
        attention = self.attn_drop(edge_softmax(graph, logits))
        rst = attention_sum(z_src, attention, src, dst, graph.num_dst_nodes(), adj)
        rst = self._with_identity(graph, rst, z_src)
        if self.res_fc is not None:
            h_dst = dense(h_dst)[: graph.num_dst_nodes()]
            rst = rst + self.res_fc(h_dst).view(h_dst.shape[0], heads, out)
        if self.activation:
            rst = self.activation(rst)
        if get_attention:
            return rst, attention
        return rst
