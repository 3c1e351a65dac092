"""Module rule for DGL's ``HGTConv`` on one node type: per-relation symmetries stated exactly.

Traced op by op, ``HGTConv`` gathers its per-relation tables by the edge types
(``relation_att[i].W[etype]``, ``relation_pri[i][etype]``), and a row chosen by data must
share its exponents with every other row (:mod:`.indexing`): one relation's rows
cannot be told apart from another's in the trace. The layer's maths can. For head i and
relation r, with k, q, v the key, query and value channels of the head:

    a_e = (k_u W_att[r] . q_v) pri[r] / sqrt(d),   m_e = v_u W_msg[r],   r = etype(e)

``a`` goes into an edge softmax (exponent 0) one relation at a time, so ``W_att[r]`` and
``pri[r]`` may trade a scale S[i, r] of their own; the messages of all relations are summed
into one node, so ``W_msg[r]`` keeps one output exponent per channel for every r. The rule
states these constraints for every relation of the layer, whichever edge types the example
graph holds, so the symmetries hold on every graph. The skip gate (a sigmoid) is held at 0.
Several node types fall back to tracing (their rows are gathered by node type).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from dgl.nn.pytorch import HGTConv

from ..context import TraceContext
from ..core.algebra import NEURON
from ..core.fields import as_array
from ..core.groups import FieldExponent
from .helpers import equal_along
from .registry import register_module_rule

__all__ = ["hgtconv"]


def _one_node_type(module: HGTConv) -> bool:
    return module.linear_k.num_types == 1


def _typed_linear(ctx, module, rows: np.ndarray, cols: np.ndarray) -> None:
    """W[t, j, o] of a TypedLinear gets rows[..., o] - cols[..., j] (broadcast over types)."""
    name = ctx.param_name(module.W)
    ctx.define(ctx.param_field(name), [(1, rows[..., None, :]), (-1, cols[..., :, None])])


def _neurons(ctx, shape, label: str) -> np.ndarray:
    return ctx.fresh(shape, NEURON, label)


@register_module_rule(HGTConv, applies=_one_node_type)
def hgtconv(ctx: TraceContext, module: HGTConv, args: Sequence[Any], kwargs: dict, out: Any
            ) -> None:
    """HGTConv(g, x, ntype, etype) with one node type (see the module docstring)."""
    x = args[1]
    path = ctx.module_path[-1] if ctx.module_path else "HGTConv"
    heads, size = module.num_heads, module.head_size
    cols = np.zeros(x.shape[-1], dtype=np.int64)  # data: exponent 0 (symbol 0)
    if ctx.field(x) is not None:
        field = equal_along(ctx, as_array(ctx.field(x), 2), [0])  # nodes share exponents
        cols = np.broadcast_to(field.reshape(-1), (x.shape[-1],)).copy()
    key, query, value = (_neurons(ctx, (heads, size), f"{path}.{name}")
                         for name in ("linear_k", "linear_q", "linear_v"))
    for linear, rows in ((module.linear_k, key), (module.linear_q, query),
                         (module.linear_v, value)):
        _typed_linear(ctx, linear, rows.reshape(1, -1), cols[None, :])
    relations = module.relation_pri[0].shape[0]
    message = _neurons(ctx, (heads, size), f"{path}.relation_msg")
    for i in range(heads):
        scale = _neurons(ctx, (relations,), f"{path}.relation_pri.{i} relation")
        # W_att[r, d, o] = S[r] - q[o] - k[d]: every logit of relation r has exponent S[r].
        att = ctx.param_field(ctx.param_name(module.relation_att[i].W))
        ctx.define(att, [(1, scale[:, None, None]), (-1, query[i][None, None, :]),
                         (-1, key[i][None, :, None])])
        ctx.define(ctx.param_field(ctx.param_name(module.relation_pri[i])), [(-1, scale)])
        _typed_linear(ctx, module.relation_msg[i], message[i][None, :], value[i][None, :])
    ctx.report_unsupported("torch.sigmoid (the skip gate): held at exponent 0")
    ctx.require_param_zero(ctx.param_name(module.skip))
    if hasattr(module, "residual_w"):
        output = _neurons(ctx, (heads * size,), f"{path}.linear_a")
        ctx.define(ctx.param_field(ctx.param_name(module.residual_w)),
                   [(1, output[None, :]), (-1, cols[:, None])])
    else:
        output = cols  # h * alpha + x * (1 - alpha): the residual keeps x's exponents
    _typed_linear(ctx, module.linear_a, output[None, :], message.reshape(1, -1))
    if module.use_norm:
        output = _layer_norm(ctx, module.norm, output)
    ctx.set_field(out, output[None, :])


def _layer_norm(ctx, norm, before: np.ndarray) -> np.ndarray:
    """The closing LayerNorm: its input is held at 0, its affine scale starts neurons."""
    ctx.report_unsupported("F.layer_norm (scale-invariant only up to eps)")
    ctx.require_zero(before)
    if norm.weight is None:
        if norm.bias is not None:
            ctx.require_param_zero(ctx.param_name(norm.bias))
        return np.zeros_like(before)
    name = ctx.param_name(norm.weight)
    ctx.exponents[name] = FieldExponent(_neurons(ctx, tuple(norm.weight.shape), name))
    field = ctx.param_field(name)
    if norm.bias is not None:
        ctx.equal(ctx.param_field(ctx.param_name(norm.bias)), field)
    return field
