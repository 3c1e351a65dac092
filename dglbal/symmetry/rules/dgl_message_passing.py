"""Exponent rules for DGL's sparse autograd Functions (dgl/backend/pytorch/sparse.py).

Message passing (``update_all``, ``apply_edges`` with DGL's built-in functions) and
``edge_softmax`` all run through these Functions; keying the rules on the Function class and
its ``op`` argument is exact, where matching names of torch calls inside them would not be.
Node and edge axes carry no exponent of their own: features must not vary along them.
"""
from __future__ import annotations

import numpy as np
import torch
from dgl.backend.pytorch import sparse
from dgl.nn.pytorch.factory import KNNGraph, RadiusGraph, SegmentedKNNGraph

from .context import TraceContext
from .fields import as_array
from .registry import DGL_RULES, register_module_rule
from .rule_helpers import equal_along, hold_at_zero, outputs


def _feature_field(ctx: TraceContext, x):
    """Per-feature exponents of a node or edge tensor (None for data or a missing operand)."""
    if not isinstance(x, torch.Tensor):
        return None
    field = ctx.field(x)
    if field is None:
        return None
    field = as_array(field, x.dim())
    ctx.equal(field, field[:1])  # every node / edge shares its features' exponents
    return field[0]


def _binary(ctx: TraceContext, op: str, lhs, rhs):
    """The message field of a binary op of DGL: copy, add/sub (equal), mul/div, dot."""
    fl, fr = _feature_field(ctx, lhs), _feature_field(ctx, rhs)
    if op == "copy_lhs":
        return fl
    if op == "copy_rhs":
        return fr
    if op in ("add", "sub"):
        ctx.equal(fl, fr)
        return fl if fr is None else fr if fl is None else np.broadcast_to(
            fl, np.broadcast_shapes(fl.shape, fr.shape))
    if op in ("mul", "div", "dot"):
        product = ctx.combine([(1, fl), (-1 if op == "div" else 1, fr)])
        if op == "dot" and product is not None:
            product = as_array(product, product.ndim)
            ctx.equal(product, product[..., :1])
            product = product[..., :1]
        return product
    raise KeyError(op)


def _set(ctx: TraceContext, out, feature_field) -> None:
    ctx.set_field(out, None if feature_field is None else feature_field[None, ...])


def gspmm(ctx, args, out):
    """GSpMM(gidx, op, reduce_op, X, Y): message op, then sum / max / min over edges."""
    _, op, reduce_op, lhs, rhs = args[:5]
    if reduce_op not in ("sum", "max", "min"):
        raise KeyError(reduce_op)
    _set(ctx, out, _binary(ctx, op, lhs, rhs))


def gsddmm(ctx, args, out):
    """GSDDMM(gidx, op, X, Y, lhs_target, rhs_target): an edge-wise binary op."""
    _, op, lhs, rhs = args[:4]
    _set(ctx, out, _binary(ctx, op, lhs, rhs))


def edge_softmax(ctx, args, out):
    """EdgeSoftmax(gidx, score, eids, norm_by): a gate; the logits must have exponent 0."""
    ctx.require_zero(ctx.field(args[1]))
    ctx.set_field(out, None)


def segment_reduce(ctx, args, out):
    """SegmentReduce(op, x, offsets): sum / max / min / mean over segments of nodes."""
    _set(ctx, out, _feature_field(ctx, args[1]))


def scatter_add(ctx, args, out):
    """ScatterAdd(x, idx, m): sums rows of x."""
    _set(ctx, out, _feature_field(ctx, args[0]))


DGL_RULES.update({sparse.GSpMM: gspmm, sparse.GSDDMM: gsddmm, sparse.EdgeSoftmax: edge_softmax,
                  sparse.SegmentReduce: segment_reduce, sparse.ScatterAdd: scatter_add})
GATES = {sparse.EdgeSoftmax}


@register_module_rule(KNNGraph, SegmentedKNNGraph, RadiusGraph)
def graph_from_features(ctx, module, args, kwargs, out):
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
            ctx.report_unsupported(f"{name} on hidden features: one common exponent for all "
                                   "channels")
            field = as_array(ctx.field(x), x.dim())
            equal_along(ctx, field, range(field.ndim))
    for tensor in outputs(out):
        ctx.set_field(tensor, None)
