"""Exponent rules for dglbal's fused attention kernels (:mod:`dglbal.nn.attention`).

Each kernel is one op for the tracer, with the rule its unfused DGL formulation would give:
``gatv2_logits`` is ``u_add_v`` (equal exponents on both ends), LeakyReLU (unchanged),
``* attn`` (exponents add) and a sum over features (equal exponents along them);
``attention_sum`` is ``update_all(u_mul_e, sum)``.
"""
from __future__ import annotations

import numpy as np

from ..nn.attention import attention_sum, gatv2_logits
from .context import TraceContext
from .dgl_rules import _binary, _set
from .fields import as_array
from .registry import register_op_rule


@register_op_rule(gatv2_logits)
def gatv2_logits_rule(ctx: TraceContext, func, args, kwargs, out) -> None:
    z_src, z_dst, attn = args[:3]
    edge = _binary(ctx, "add", z_src, z_dst)  # (H, D): the exponents of z_u + z_v
    attn_field = ctx.field(attn)
    if attn_field is not None:
        heads, width = z_src.shape[1:]
        attn_field = np.broadcast_to(as_array(attn_field, attn.dim()), tuple(attn.shape))
        attn_field = attn_field.reshape(1, heads, width)
    product = ctx.combine([(1, None if edge is None else edge[None]), (1, attn_field)])
    if product is None:
        return ctx.set_field(out, None)
    product = as_array(product, 3)
    summed = product[..., :1]
    ctx.equal(product, summed)  # a sum over features needs equal exponents along them
    ctx.set_field(out, summed)


@register_op_rule(attention_sum)
def attention_sum_rule(ctx: TraceContext, func, args, kwargs, out) -> None:
    z_src, weights = args[:2]
    _set(ctx, out, _binary(ctx, "mul", z_src, weights))
