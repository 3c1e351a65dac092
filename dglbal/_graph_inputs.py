"""Checks of graph inputs shared by the wings that take them: the layers (``dglbal.nn``) and the
graph-dependent initializers (``dglbal.init``), which sits below the layers."""
from __future__ import annotations

from typing import Any

import torch
from dgl import DGLGraph


def check_edge_weight(graph: DGLGraph, edge_weight: Any, caller: str, *,
                      finite: bool = False) -> None:
    """Edge weights: a floating-point tensor with one weight per edge, of shape (E,) or (E, 1).

    ``finite=True`` also refuses NaN and infinite weights. That check reads the values (a
    device synchronisation), so one-off callers make it and the layers' forward does not.
    Raises a ``TypeError`` / ``ValueError`` naming ``caller`` and the problem.
    """
    if edge_weight is None:
        return
    if not isinstance(edge_weight, torch.Tensor):
        raise TypeError(f"{caller}: edge_weight must be a torch.Tensor, got "
                        f"{type(edge_weight).__name__}")
    if not edge_weight.is_floating_point():
        raise TypeError(f"{caller}: edge_weight must be floating point, got {edge_weight.dtype}; "
                        "convert it with edge_weight.float()")
    shape, edges = tuple(edge_weight.shape), graph.num_edges()
    if shape not in ((edges,), (edges, 1)):
        raise ValueError(f"{caller}: edge_weight must have shape ({edges},) or ({edges}, 1), one "
                         f"weight per edge of the graph, got {shape}")
    if finite:
        bad = int((~torch.isfinite(edge_weight.detach())).sum())
        if bad:
            raise ValueError(f"{caller}: edge_weight has {bad} NaN or infinite value(s) among its "
                             f"{edges}; the aggregation operator needs finite edge weights")
