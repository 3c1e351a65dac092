"""Exponent rules for DGL's sparse autograd Functions (dgl/backend/pytorch/sparse.py).

Message passing (``update_all``, ``apply_edges`` with DGL's built-in functions) and
``edge_softmax`` all run through these Functions; keying the rules on the Function class and
its ``op`` argument is exact, where matching names of torch calls inside them would not be.
Node and edge axes carry no exponent of their own: features must not vary along them (the
field helpers for node and edge features are in :mod:`.helpers`).
"""
from __future__ import annotations

from typing import Any

from dgl.backend.pytorch import sparse
from dgl.nn.pytorch.factory import KNNGraph, RadiusGraph, SegmentedKNNGraph

from ..context import TraceContext
from ..core.fields import as_array
from .helpers import (equal_along, feature_field, hold_at_zero, message_field, outputs,
                      set_feature_field)
from .registry import register_dgl_rule, register_module_rule

__all__ = ["gspmm", "gsddmm", "edge_softmax", "segment_reduce", "scatter_add",
           "graph_from_features"]


@register_dgl_rule(sparse.GSpMM)
def gspmm(ctx: TraceContext, args: tuple, out: Any) -> None:
    """GSpMM(gidx, op, reduce_op, X, Y): message op, then sum / max / min over edges."""
    _, op, reduce_op, lhs, rhs = args[:5]
    if reduce_op not in ("sum", "max", "min"):
        raise KeyError(reduce_op)
    set_feature_field(ctx, out, message_field(ctx, op, lhs, rhs))


@register_dgl_rule(sparse.GSDDMM)
def gsddmm(ctx: TraceContext, args: tuple, out: Any) -> None:
    """GSDDMM(gidx, op, X, Y, lhs_target, rhs_target): an edge-wise binary op."""
    _, op, lhs, rhs = args[:4]
    set_feature_field(ctx, out, message_field(ctx, op, lhs, rhs))


@register_dgl_rule(sparse.EdgeSoftmax, gate=True)
def edge_softmax(ctx: TraceContext, args: tuple, out: Any) -> None:
    """EdgeSoftmax(gidx, score, eids, norm_by): a gate; the logits must have exponent 0."""
    ctx.require_zero(ctx.field(args[1]))
    ctx.set_field(out, None)


@register_dgl_rule(sparse.SegmentReduce)
def segment_reduce(ctx: TraceContext, args: tuple, out: Any) -> None:
    """SegmentReduce(op, x, offsets): sum / max / min / mean over segments of nodes."""
    set_feature_field(ctx, out, feature_field(ctx, args[1]))


@register_dgl_rule(sparse.ScatterAdd)
def scatter_add(ctx: TraceContext, args: tuple, out: Any) -> None:
    """ScatterAdd(x, idx, m): sums rows of x."""
    set_feature_field(ctx, out, feature_field(ctx, args[0]))


@register_module_rule(KNNGraph, SegmentedKNNGraph, RadiusGraph)
def graph_from_features(ctx: TraceContext, module: Any, args: tuple, kwargs: dict, out: Any
                        ) -> None:
    """A graph built from hidden features is a discrete decision on distances: k-NN keeps
    its order under one common scale of all channels; a radius needs exponent 0."""
    x = args[0]
    if ctx.is_tracked(x):
        name = type(module).__name__
        if isinstance(module, RadiusGraph):
            ctx.report_unsupported(f"{name} on hidden features (a fixed radius): held at "
                                   "exponent 0")
            hold_at_zero(ctx, x)
        else:
            ctx.report_note(f"{name} on hidden features: one common exponent for all "
                            "channels (what a k-NN graph keeps)")
            field = as_array(ctx.field(x), x.dim())
            equal_along(ctx, field, range(field.ndim))
    for tensor in outputs(out):
        ctx.set_field(tensor, None)
