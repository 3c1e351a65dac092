"""Exponent rules for reductions, order-based decisions and scale-invariant ops.

A positive rescaling never changes the order of entries that share one exponent. Sorting,
top-k, argmax and comparisons are therefore exact when the exponents are equal along the
compared axis, and they require exactly that: results taken from per-channel scales that
differ would change with the rescaling. Their integer results leave the autograd graph, so
these constraints hold whether or not the trace sees where the indices go.
"""
from __future__ import annotations

from numbers import Number
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..context import TraceContext
from ..core.fields import as_array
from .helpers import arg, conservative, dims, equal_along, op_name, ops, outputs
from .registry import register_op_rule
from .torch_ops import add

__all__ = ["reduce_field", "reduction", "spread", "product", "cumulative", "order", "compare",
           "normalize", "weight_norm", "cosine_similarity", "softmax"]


def reduce_field(ctx: TraceContext, x: torch.Tensor, dim: Any, keepdim: bool
                 ) -> Optional[np.ndarray]:
    """Reducing over axes needs equal exponents along them; returns the reduced field."""
    field = ctx.field(x)
    if field is None:
        return None
    axes = dims(x.dim(), dim)
    reference = equal_along(ctx, as_array(field, x.dim()), axes)
    return reference if keepdim else reference.reshape(
        [s for i, s in enumerate(reference.shape) if i not in axes])


def _reduced_axes(dim: Any) -> Any:
    """The ``dim`` of a reduction, with an empty list of axes read as torch reads it: every
    axis (``h.sum(dim=[])`` is ``h.sum()``), as None."""
    return None if isinstance(dim, (list, tuple)) and not dim else dim


def _dim_and_keepdim(args, kwargs, position: int):
    dim = _reduced_axes(kwargs.get("dim", args[position] if len(args) > position else None))
    if isinstance(dim, torch.dtype):
        dim = None
    keep = args[position + 1] if len(args) > position + 1 else None
    keepdim = kwargs.get("keepdim", keep if isinstance(keep, bool) else False)
    return dim, keepdim


@register_op_rule(*ops("sum", "mean", "nansum", "nanmean", "amax", "amin", "max", "min",
                       "norm", "linalg_vector_norm", "median", "nanmedian", "kthvalue",
                       "mode", "logsumexp"), torch.linalg.vector_norm)
def reduction(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Sum / mean / max / min / norm / median over axes (max(x, y) of two tensors: a sum)."""
    name = getattr(func, "__name__", "")
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return add(ctx, func, args, kwargs, out)
    if name == "logsumexp":
        return conservative(ctx, func, args, kwargs, out)
    position = {"norm": 2, "linalg_vector_norm": 2, "kthvalue": 2}.get(name, 1)
    dim, keepdim = _dim_and_keepdim(args, kwargs, position)
    values, *indices = outputs(out)
    for tensor in indices:  # max / min / median with dim also return indices
        ctx.set_field(tensor, None)
    if name in ("norm", "linalg_vector_norm"):
        p = arg(args, kwargs, 1, "ord" if name == "linalg_vector_norm" else "p", 2)
        if p == 0:  # the number of non-zero entries: no exponent, whatever the scales
            return ctx.set_field(values, None)
        whole = keepdim or len(dims(args[0].dim(), dim)) == args[0].dim()
        ctx.guards.norm(values, args[0], p, whole)
    ctx.set_field(values, reduce_field(ctx, args[0], dim, keepdim))


@register_op_rule(*ops("var", "std"))
def spread(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """var has twice the (common) exponent of its entries, std the same."""
    dim = _reduced_axes(arg(args, kwargs, 1, "dim"))
    if isinstance(dim, bool):  # var(x, unbiased)
        dim = None
    keepdim = arg(args, kwargs, 3, "keepdim", False)  # var(x, dim, unbiased, keepdim)
    field = reduce_field(ctx, args[0], dim, keepdim)
    factor = 2 if getattr(func, "__name__", "") == "var" else 1
    ctx.set_field(out, ctx.combine([(factor, field)]))


@register_op_rule(*ops("prod"))
def product(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """The product of a parameter's entries (along an axis, or all) has the sum of their
    exponents. Of any other tensor it is refused: the number of factors, and the degree with
    it, may change with the input (a product over nodes)."""
    x = args[0]
    name = ctx.param_name(x)
    if name is None:
        return conservative(ctx, func, args, kwargs, out, reason="a product of entries whose "
                            "number may change with the input: only a parameter's entries are "
                            "multiplied in a fixed number")
    dim, _ = _dim_and_keepdim(args, kwargs, 1)
    field = ctx.param_field(name)
    if dim is None or x.dim() == 0:
        field, dim = field.reshape(-1), 0
    axis = dim % field.ndim
    target = ctx.fresh(field.shape[:axis] + (1,) + field.shape[axis + 1:], label="product")
    ctx.define(target, [(1, field.take([k], axis=axis)) for k in range(field.shape[axis])])
    ctx.set_field(out, target.reshape(tuple(out.shape)))


@register_op_rule(*ops("cumsum", "cummax", "cummin", "logcumsumexp", "cumprod"))
def cumulative(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Running sums / maxima along an axis: equal exponents along it."""
    if getattr(func, "__name__", "") in ("logcumsumexp", "cumprod"):
        return conservative(ctx, func, args, kwargs, out)
    values, *indices = outputs(out)
    ctx.set_field(values, reduce_field(ctx, args[0], arg(args, kwargs, 1, "dim"), True))
    for tensor in indices:
        ctx.set_field(tensor, None)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    ndim = max(a.ndim, b.ndim)
    try:
        return bool(np.all(np.equal(*np.broadcast_arrays(as_array(a, ndim), as_array(b, ndim)))))
    except ValueError:
        return False


def _name_decision(ctx, func) -> None:
    ctx.report_note(f"{op_name(func)}: a discrete decision on traced values (exact only for "
                    "one common exponent along the compared entries, which it requires)")


@register_op_rule(*ops("sort", "argsort", "topk", "msort", "argmax", "argmin"))
def order(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Orders along an axis survive a common positive scale of that axis (and only that).

    Values keep their field (equal along the axis); indices are data."""
    name = getattr(func, "__name__", "")
    x = args[0]
    position = 2 if name == "topk" else 1
    dim = arg(args, kwargs, position, "dim", None if name in ("argmax", "argmin") else -1)
    if name == "msort":
        dim = 0
    field = ctx.field(x)
    reference = None
    if field is not None:
        field = as_array(field, x.dim())
        reference = equal_along(ctx, field, dims(x.dim(), dim))
        if reference.shape != field.shape:  # exponents that may differ along the axis
            _name_decision(ctx, func)
    results = outputs(out)
    if name in ("sort", "topk", "msort"):
        ctx.set_field(results[0], reference)
        results = results[1:]
    for tensor in results:
        ctx.set_field(tensor, None)


@register_op_rule(*ops("gt", "lt", "ge", "le", "eq", "ne", "greater", "less", "greater_equal",
                       "less_equal", "__gt__", "__lt__", "__ge__", "__le__", "__eq__",
                       "__ne__", "sign", "signbit", "isnan", "isinf", "isfinite", "heaviside",
                       "nonzero", "argwhere", "count_nonzero", "any", "all"))
def compare(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Signs, and comparisons with 0 or between equal exponents, do not change under
    rescaling; a comparison with another constant needs exponent 0 (and is named)."""
    operands = [a for a in args[:2] if isinstance(a, (torch.Tensor, Number))]
    if len(operands) == 2:
        fields = [ctx.field(a) for a in operands]
        if all(f is not None for f in fields) and not _same(*fields):
            _name_decision(ctx, func)
        add(ctx, func, operands, {}, None)
        ctx.guards.test(out, operands, getattr(func, "__name__", ""),
                        [ctx.zero_constant(a) for a in operands])
    for t in outputs(out):
        ctx.set_field(t, None)


_NORMALIZE_EPS = 1e-12  # F.normalize's default


@register_op_rule(*ops("normalize"))
def normalize(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """x / max(||x||, eps) along an axis: scale-invariant for a common exponent along it.

    With the default eps (1e-12) this is taken as exact: it differs from x / ||x|| only for
    slices of norm below 1e-12. A larger eps is an eps site (see
    :mod:`~dglbal.symmetry.approximate`): held at exponent 0, approximate with up_to_eps."""
    x, dim = args[0], _reduced_axes(arg(args, kwargs, 2, "dim", 1))
    eps = arg(args, kwargs, 3, "eps", _NORMALIZE_EPS)
    if arg(args, kwargs, 1, "p", 2.0) == 0:  # x / (its number of nonzeros): degree 1
        return ctx.set_field(out, ctx.field(x))
    if isinstance(eps, (int, float)) and eps > _NORMALIZE_EPS and ctx.is_tracked(x) and \
            ctx.param_name(x) is None:
        ctx.report_unsupported(f"{op_name(func)} (eps={eps:g}: x / max(||x||, eps) holds only "
                               "up to eps (slices of norm below eps, before or after a "
                               "rescaling, are divided by eps); held at exponent 0 "
                               "(approximate groups: analyze(..., up_to_eps=True)))")
        ctx.pin_up_to_eps(as_array(ctx.field(x), x.dim()), dims(x.dim(), dim), eps, 1,
                          op_name(func))
    else:
        reduce_field(ctx, x, dim, True)
    ctx.set_field(out, None)


@register_op_rule(*ops("_weight_norm"))
def weight_norm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict,
                out: Any) -> None:
    """w = g * v / ||v|| (norm over every axis but ``dim``; all axes for dim -1): degree 1 in
    g, degree 0 in each slice of v, which keeps one common scale per slice."""
    v, g, dim = args[0], args[1], arg(args, kwargs, 2, "dim", 0)
    reduce_field(ctx, v, None if dim == -1 else [d for d in range(v.dim()) if d != dim % v.dim()],
                 True)
    ctx.set_field(out, ctx.combine([(1, ctx.field(g))], shape=tuple(out.shape)))


@register_op_rule(*ops("cosine_similarity"))
def cosine_similarity(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict,
                      out: Any) -> None:
    """cos(x1, x2) along an axis: each input needs a common exponent along it. Taken as exact
    with the default eps (1e-8; it only matters for slices of norm below it); a larger eps
    is held at exponent 0."""
    dim, eps = arg(args, kwargs, 2, "dim", 1), arg(args, kwargs, 3, "eps", 1e-8)
    if not isinstance(eps, (int, float)) or eps > 1e-8:
        return conservative(ctx, func, args, kwargs, out,
                            reason=f"eps={eps}: the norms are clamped at eps, which holds only "
                                   "up to eps")
    for x in args[:2]:
        if isinstance(x, torch.Tensor):
            reduce_field(ctx, x, dim, True)
    ctx.set_field(out, None)


@register_op_rule(*ops("softmax", "log_softmax", "_softmax"), gate=True)
def softmax(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Softmax is shift-invariant, not scale-invariant: its input must have exponent 0.

    A gate: over attention logits it only weighs other values."""
    conservative(ctx, func, args, kwargs, out)
