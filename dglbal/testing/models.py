"""Small models of DGL's own layers with the number of rescale groups each has: reference
cases for the analyser and for balancing."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import dgl.nn.pytorch as dglnn
from torch import nn

from .graphs import Stack

__all__ = ["DGL_MODELS"]

# name -> (a factory of a model taking (graph, features of width 5), its number of groups)
DGL_MODELS: Dict[str, Tuple[Callable[[], nn.Module], int]] = {
    "graphconv-both": (lambda: Stack(dglnn.GraphConv(5, 6), dglnn.GraphConv(6, 3)), 6),
    "graphconv-norms": (lambda: Stack(dglnn.GraphConv(5, 4, norm="none"),
                                      dglnn.GraphConv(4, 4, norm="left", bias=False),
                                      dglnn.GraphConv(4, 3, norm="right")), 8),
    "gatconv-heads": (lambda: Stack(dglnn.GATConv(5, 3, 2), dglnn.GATConv(6, 3, 2)), 6),
    "gatconv-residual": (lambda: Stack(dglnn.GATConv(5, 3, 2, residual=True),
                                       dglnn.GATConv(6, 3, 2, residual=True),
                                       dglnn.GATConv(6, 2, 1, residual=True)), 6),
    "gatv2-shared": (lambda: Stack(dglnn.GATv2Conv(5, 4, 1, share_weights=True, bias=False),
                                   dglnn.GATv2Conv(4, 3, 1, share_weights=True)), 4),
    "gatv2-separate": (lambda: Stack(dglnn.GATv2Conv(5, 2, 2),
                                     dglnn.GATv2Conv(4, 3, 2, residual=True)), 4),
    "sage": (lambda: Stack(dglnn.SAGEConv(5, 4, "mean"), dglnn.SAGEConv(4, 4, "gcn"),
                           dglnn.SAGEConv(4, 3, "pool")), 12),
    "gin": (lambda: Stack(dglnn.GINConv(nn.Sequential(nn.Linear(5, 4), nn.ReLU(),
                                                      nn.Linear(4, 4)), "sum", learn_eps=True),
                          dglnn.GINConv(nn.Linear(4, 3), "mean", init_eps=0.5)), 8),
}
