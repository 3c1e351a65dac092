"""What dglbal's graph layers add to DGL's: an init scheme and residual aggregation."""
from __future__ import annotations

from typing import Optional

import torch
from dgl import DGLGraph
from dgl.utils import expand_as_pair
from torch import nn

from dglbal.init import init_layer_, register_graph_layer
from ._checks import check_residual_alpha, check_sizes, self_rows


class GraphLayer(nn.Module):
    """Base of dglbal's layers: ``init`` / ``init_position`` / ``residual_alpha`` options.

    Every subclass is registered with :func:`dglbal.init.register_graph_layer`, so the init
    schemes act on it."""

    mode_free = True  # forward reads self.training only through dropout submodules

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        register_graph_layer(cls)

    def _set_attention_sizes(self, in_feats, out_feats: int, num_heads: int,
                             allow_zero_in_degree: bool) -> int:
        """Check and store an attention layer's sizes (DGL's attribute names); returns the
        width of its concatenated heads."""
        check_sizes(type(self).__name__, in_feats=in_feats, out_feats=out_feats,
                    num_heads=num_heads)
        self._num_heads = num_heads
        self._in_src_feats, self._in_dst_feats = expand_as_pair(in_feats)
        self._out_feats = out_feats
        self._allow_zero_in_degree = allow_zero_in_degree
        return out_feats * num_heads

    def _set_extras(self, init: str, init_position: str, residual_alpha: float) -> None:
        """Store the keyword-only extras, then initialize the parameters."""
        self.init = init
        self.init_position = init_position
        self.residual_alpha = check_residual_alpha(residual_alpha, type(self).__name__)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the parameters with the layer's ``init`` scheme."""
        init_layer_(self, self.init, self.init_position)

    def set_allow_zero_in_degree(self, set_value: bool) -> None:
        """Set the ``allow_zero_in_degree`` flag."""
        self._allow_zero_in_degree = set_value

    def _with_identity(self, graph: DGLGraph, aggregated: torch.Tensor, messages: torch.Tensor,
                       weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(1 - alpha) A h + alpha h: mix in each destination node's own message.

        ``weight``, when given, transforms the destination rows of ``messages`` first.
        """
        if not self.residual_alpha:
            return aggregated
        own = self_rows(graph, messages, type(self).__name__)
        if weight is not None:
            own = torch.matmul(own, weight)
        return (1.0 - self.residual_alpha) * aggregated + self.residual_alpha * own
