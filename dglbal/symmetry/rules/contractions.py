"""Exponent rules for products of tensors that :mod:`.linear`'s rules read once rewritten:
``outer`` / ``ger``, ``inner`` and ``tensordot`` as einsums, and the fused forms
beta * input + alpha * product (``addr``, ``addbmm``, ``addcmul``, ``addcdiv``) as
:func:`~.linear.scaled_sum` of input and the product. (``mv`` and ``dot`` are matmuls,
``addmv`` and ``baddbmm`` take ``addmm``'s rule: see :mod:`.linear`.)
"""
from __future__ import annotations

import string
from typing import Any, List, Sequence

import torch

from ..context import TraceContext
from .helpers import arg, ops
from .linear import einsum, scaled_sum
from .registry import register_op_rule
from .torch_ops import multiply

__all__ = ["outer", "inner", "tensordot", "addr", "addbmm", "addcmul"]


@register_op_rule(*ops("outer", "ger"))
def outer(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """outer(a, b)[i, j] = a[i] * b[j]: exponents add."""
    einsum(ctx, func, ("i,j->ij", args[0], args[1]), {}, out)


@register_op_rule(*ops("inner"))
def inner(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """inner(a, b) sums a[..., k] * b[..., k] over the last axes (equal exponents along
    them); with a 0-dim operand it is a product."""
    a, b = args[0], args[1]
    if a.dim() == 0 or b.dim() == 0:
        return multiply(ctx, torch.mul, (a, b), {}, out)
    _contract(ctx, func, a, b, [a.dim() - 1], [b.dim() - 1], out)


@register_op_rule(*ops("tensordot"))
def tensordot(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """tensordot(a, b, dims): a sum over the paired axes (the last ``dims`` of a with the
    first ``dims`` of b, or two lists of axes) of a product, as einsum reads it."""
    a, b, dims = args[0], args[1], arg(args, kwargs, 2, "dims", 2)
    if isinstance(dims, torch.Tensor):
        dims = dims.tolist() if dims.numel() > 1 else int(dims.item())
    if isinstance(dims, int):
        axes_a, axes_b = list(range(a.dim() - dims, a.dim())), list(range(dims))
    else:
        axes_a, axes_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    _contract(ctx, func, a, b, [d % a.dim() for d in axes_a], [d % b.dim() for d in axes_b],
              out)


def _contract(ctx: TraceContext, func: Any, a: torch.Tensor, b: torch.Tensor,
              axes_a: List[int], axes_b: List[int], out: Any) -> None:
    """The einsum that pairs axes_a of a with axes_b of b, the other axes in order."""
    letters = string.ascii_letters
    spec_a = letters[:a.dim()]
    spec_b = "".join(spec_a[axes_a[axes_b.index(d)]] if d in axes_b else letters[a.dim() + d]
                     for d in range(b.dim()))
    kept = "".join(c for i, c in enumerate(spec_a) if i not in axes_a) + \
        "".join(c for i, c in enumerate(spec_b) if i not in axes_b)
    einsum(ctx, func, (f"{spec_a},{spec_b}->{kept}", a, b), {}, out)


@register_op_rule(torch.addr, torch.Tensor.addr)
def addr(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """addr(input, vec1, vec2) = beta * input + alpha * outer(vec1, vec2)."""
    scaled_sum(ctx, func, args, kwargs, out, lambda: outer(ctx, func, args[1:3], {}, out))


@register_op_rule(torch.addbmm, torch.Tensor.addbmm)
def addbmm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """addbmm(input, batch1, batch2) = beta * input + alpha * sum_b batch1[b] @ batch2[b]:
    equal exponents of the products along the batch."""
    scaled_sum(ctx, func, args, kwargs, out,
               lambda: einsum(ctx, func, ("bij,bjk->ik", *args[1:3]), {}, out))


_QUOTIENTS = set(ops("addcdiv"))


@register_op_rule(*ops("addcmul", "addcdiv"))
def addcmul(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """addcmul(input, t1, t2, value) = input + value * t1 * t2 (addcdiv: t1 / t2), with the
    product (quotient) as :func:`~.torch_ops.multiply` gives it."""
    product = torch.div if func in _QUOTIENTS else torch.mul
    scaled_sum(ctx, func, args, kwargs, out,
               lambda: multiply(ctx, product, args[1:3], {}, out), alpha="value")
