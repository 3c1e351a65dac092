"""DGL-compatible graph layers and deep model builders.

The layers (:class:`GATConv`, :class:`GATv2Conv`, :class:`GraphConv`) take DGL 2.1's
arguments and state dicts and compute DGL's outputs; their attention runs in the fused
kernels of :mod:`dglbal.nn.kernels`, which also registers the kernels' rules with the
analyser. The builders (:class:`GAT`, :class:`GCN`, and :class:`SAGE` / :class:`GIN` of DGL's
SAGEConv / GINConv) stack them with the papers' initialization and architecture options.
"""
from . import kernels  # noqa: F401  (the attention kernels and their analyser rules)
from .gatconv import GATConv
from .gatv2conv import GATv2Conv
from .graphconv import GraphConv
from .gcn import GCN
from .gin import GIN
from .models import GAT
from .sage import SAGE

__all__ = ["GATConv", "GATv2Conv", "GraphConv", "GAT", "GCN", "GIN", "SAGE"]
