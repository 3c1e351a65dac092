"""Exponent rules for dglbal's fused attention kernels (:mod:`.attention`).

Each kernel is one op for the tracer, with the rule its unfused DGL formulation would give:
``gatv2_logits`` is ``u_add_v`` (equal exponents on both ends), LeakyReLU (unchanged),
``* attn`` (exponents add) and a sum over features (equal exponents along them);
``attention_sum`` is ``update_all(u_mul_e, sum)``. Importing this module registers them with
:mod:`dglbal.symmetry` (which never imports ``dglbal.nn``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dglbal.symmetry.context import TraceContext
from dglbal.symmetry.core.fields import as_array
from dglbal.symmetry.rules.helpers import message_field, set_feature_field
from dglbal.symmetry.rules.registry import register_op_rule

from .attention import attention_sum, gatv2_logits

__all__ = ["gatv2_logits_rule", "attention_sum_rule"]


@register_op_rule(gatv2_logits)
def gatv2_logits_rule(ctx: TraceContext, func: Any, args: tuple, kwargs: dict, out: Any
                      ) -> None:
    """Rule of :func:`~.attention.gatv2_logits`: ``sum_d attn[h, d] * (z_u + z_v)[h, d]``."""
    z_src, z_dst, attn = args[:3]
    edge = message_field(ctx, "add", z_src, z_dst)  # (H, D): the exponents of z_u + z_v
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
def attention_sum_rule(ctx: TraceContext, func: Any, args: tuple, kwargs: dict, out: Any
                       ) -> None:
    """Rule of :func:`~.attention.attention_sum`: ``update_all(u_mul_e, sum)``."""
    z_src, weights = args[:2]
    set_feature_field(ctx, out, message_field(ctx, "mul", z_src, weights))
