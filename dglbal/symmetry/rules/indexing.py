"""Exponent rules for ops that move entries: views, concatenation, padding, and indexing.

Two kinds of index are told apart. Python ints, slices and lists are part of the model: the
fields move with the entries, exactly. Index *tensors* come from data (edge types, degrees,
sampled node ids, sort orders) and may select any entry along the axes they index; for the
result to hold on every graph, the exponents must be equal along those axes.
"""
from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..context import TraceContext
from ..core.fields import as_array, collapse
from .helpers import (arg, conservative, dims, equal_along, field_tensor, is_value, op_name, ops,
                      outputs, swap_values, zero_scalar)
from .registry import register_op_rule

__all__ = ["move", "repeat_interleave", "pad", "getitem", "gather", "embedding", "scatter",
           "setitem"]

_VIEWS = set(ops("view"))
_VIEWS_AS = set(ops("view_as"))  # the field may not be contiguous: reshaped, not viewed


@register_op_rule(*ops(
    "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose",
    "t", "expand", "expand_as", "repeat", "tile", "narrow", "select", "split", "chunk", "unbind",
    "cat", "concat", "concatenate", "stack", "hstack", "vstack", "flip", "roll", "movedim",
    "moveaxis", "swapaxes", "swapdims", "diagonal", "tensor_split", "broadcast_to", "view_as",
    "reshape_as"))
def move(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Ops that only move entries: apply the same op to the fields."""
    if func in _VIEWS and len(args) > 1 and isinstance(args[1], torch.dtype):
        return conservative(ctx, func, args, kwargs, out)
    call = torch.Tensor.reshape if func in _VIEWS else \
        torch.Tensor.reshape_as if func in _VIEWS_AS else func
    moved = call(*swap_values(ctx, args), **swap_values(ctx, kwargs))
    for tensor, field in zip(outputs(out), outputs(moved)):
        ctx.set_field(tensor, collapse(field.numpy()))


@register_op_rule(*ops("repeat_interleave"))
def repeat_interleave(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict,
                      out: Any) -> None:
    """Repeats given as a tensor are data: equal exponents along the axis."""
    repeats, dim = arg(args, kwargs, 1, "repeats"), arg(args, kwargs, 2, "dim")
    if isinstance(repeats, torch.Tensor) and repeats.numel() > 1:
        return _gather_along(ctx, func, args[0], dims(args[0].dim(), dim), out)
    move(ctx, func, args, kwargs, out)


@register_op_rule(*ops("pad"))
def pad(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Padding with a constant c: exponent 0 for c != 0; zeros take any exponent (a fresh
    symbol per padded position of the collapsed field). Other modes move entries."""
    x, widths = args[0], arg(args, kwargs, 1, "pad")
    mode, value = arg(args, kwargs, 2, "mode", "constant"), arg(args, kwargs, 3, "value")
    field = field_tensor(ctx, x)
    if mode != "constant":  # reflect / replicate / circular
        return ctx.set_field(out, collapse(F.pad(field.double(), widths, mode=mode).long().numpy()))
    if not zero_scalar(value or 0):
        return ctx.set_field(out, collapse(F.pad(field, widths, value=0).numpy()))
    padded = collapse(F.pad(field, widths, value=-1).numpy())
    free = padded == -1
    padded[free] = ctx.fresh((int(free.sum()),), label="zero padding")
    ctx.set_field(out, padded)


def _tensor_axes(index, ndim: int) -> List[int]:
    """The axes of the indexed tensor that index tensors select along."""
    items = index if isinstance(index, tuple) else (index,)

    def width(item) -> int:
        if item is None or item is Ellipsis:
            return 0
        if isinstance(item, torch.Tensor) and item.dtype == torch.bool:
            return item.dim()
        return 1

    axes, position = [], 0
    for item in items:
        if item is Ellipsis:
            position += ndim - sum(width(i) for i in items)
        elif isinstance(item, torch.Tensor):
            axes.extend(range(position, position + width(item)))
        position += width(item)
    return axes


def _by_data(ctx, func, field: np.ndarray, axes) -> np.ndarray:
    """Equal exponents along axes indexed by data, named when they could have differed."""
    reference = equal_along(ctx, field, axes)
    if reference.shape != field.shape:
        ctx.report_note(f"{op_name(func)}: rows chosen by an index tensor share one "
                        "exponent along the indexed axis, as they must on every graph "
                        "(symmetries of single rows, e.g. of one relation type, are not "
                        "searched)")
    return reference


def _gather_along(ctx, func, x: torch.Tensor, axes: List[int], out, call=None) -> None:
    """Entries picked along ``axes`` by data: equal exponents there, then move like ``call``."""
    field = ctx.field(x)
    if field is None:
        return ctx.set_field(out, None)
    reference = _by_data(ctx, func, as_array(field, x.dim()), axes)
    if call is None:  # the result has the reference's layout along every other axis
        result = reference
    else:
        full = torch.from_numpy(np.ascontiguousarray(reference)).expand(x.shape)
        result = collapse(call(full).numpy())
    ctx.set_field(out, result)


@register_op_rule(*ops("__getitem__"))
def getitem(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """x[index]: Python indices move the field; index tensors select data-chosen entries."""
    x, index = args[0], args[1]
    axes = _tensor_axes(index, x.dim())
    if not axes:
        return move(ctx, func, args, kwargs, out)
    _gather_along(ctx, func, x, axes, out, call=lambda f: f[index])


@register_op_rule(*ops("index_select", "gather", "take_along_dim", "take"))
def gather(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """index_select / gather / take along an axis (``take``: the flattened tensor)."""
    x = args[0]
    name = getattr(func, "__name__", "")
    if name == "take":
        axes = list(range(x.dim()))
    else:
        axis = arg(args, kwargs, 2 if name == "take_along_dim" else 1, "dim")
        axes = dims(x.dim(), axis)
    call = lambda f: func(f, *args[1:], **kwargs)  # noqa: E731
    _gather_along(ctx, func, x, axes, out, call=call)


@register_op_rule(*ops("embedding"))
def embedding(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """F.embedding(ids, table), or torch.embedding(table, ids): rows chosen by data, equal
    exponents across the table's rows."""
    if func is torch.embedding:  # the aten order: (weight, indices, padding_idx, ...)
        ids, table = arg(args, kwargs, 1, "indices"), arg(args, kwargs, 0, "weight")
    else:
        ids, table = arg(args, kwargs, 0, "input"), arg(args, kwargs, 1, "weight")
    if func is not torch.embedding and arg(args, kwargs, 3, "max_norm") is not None:
        return conservative(ctx, func, args, kwargs, out, reason="max_norm renormalizes rows")
    field = ctx.field(table)
    if field is None:
        return ctx.set_field(out, None)
    row = _by_data(ctx, func, as_array(field, 2), [0])
    ctx.set_field(out, row.reshape((1,) * ids.dim() + row.shape[1:]))


def _is_free(ctx, x) -> bool:
    """Zeros and infinities (a scalar, or a constant tensor of them: padding) are homogeneous
    of every degree."""
    if isinstance(x, torch.Tensor) and id(x) in ctx.free_before_write:
        return True  # written in place: what it held before counts
    return ctx.zero_constant(x, infinities=True)


def _reference(ctx, x, ndim: int, axes) -> np.ndarray:
    """x's field (zeros for data and constants) made equal along ``axes``."""
    field = as_array(ctx.field(x) if isinstance(x, torch.Tensor) else None, ndim)
    return equal_along(ctx, field, [a for a in axes if a < ndim])


def _written_into(ctx, func, field: np.ndarray, value, written: np.ndarray) -> None:
    """Entries of exponents ``field`` may be replaced by ``value`` (of exponents ``written``):
    equal exponents, or, for a value that does not scale (a constant other than 0, data),
    exponent 0, named."""
    if ctx.is_tracked(value):
        return ctx.equal(field, written)
    ctx.report_unsupported(f"{op_name(func)} (writes a value that does not scale at "
                           "data-chosen positions: the entries it may replace are held at "
                           "exponent 0)")
    ctx.require_zero(field)


def _write(ctx, func, target, axes: List[int], value, out) -> None:
    """Entries of ``target`` along ``axes`` replaced or accumulated by ``value`` (same number
    of dimensions) at data-chosen positions: every entry along the axes may come from either
    tensor, so the exponents are equal along the axes and between the two."""
    ndim = target.dim()
    if _is_free(ctx, value):
        return ctx.set_field(out, None if _is_free(ctx, target) else
                             _reference(ctx, target, ndim, axes))
    written = _reference(ctx, value, ndim, axes)
    if not _is_free(ctx, target):
        _written_into(ctx, func, _reference(ctx, target, ndim, axes), value, written)
    ctx.set_field(out, written)


@register_op_rule(*ops("scatter", "scatter_", "scatter_add", "scatter_add_", "index_copy",
                       "index_copy_", "index_add", "index_add_", "scatter_reduce",
                       "scatter_reduce_", "index_reduce", "index_reduce_", "index_fill",
                       "index_fill_"))
def scatter(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Writes along an axis at data-chosen positions (sums, means, max / min too)."""
    reduce = arg(args, kwargs, 4, "reduce")
    if reduce in ("prod", "multiply"):
        return conservative(ctx, func, args, kwargs, out, reason="a product over data-chosen "
                                                                 "entries")
    target, axis = args[0], arg(args, kwargs, 1, "dim")
    value = arg(args, kwargs, 3, "src" if "scatter" in func.__name__ else "source")
    if "fill" in func.__name__:
        value = arg(args, kwargs, 3, "value")
    _write(ctx, func, target, dims(target.dim(), axis), value, out)


@register_op_rule(*ops("__setitem__"))
def setitem(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """x[index] = value: Python indices move the value's field in; index tensors write
    at data-chosen positions."""
    target, index, value = args
    axes = _tensor_axes(index, target.dim())
    if axes:
        if _is_free(ctx, value):
            return ctx.set_field(target, _reference(ctx, target, target.dim(), axes))
        written = as_array(ctx.field(value) if isinstance(value, torch.Tensor) else None, 1)
        if _is_free(ctx, target):  # entries of a zero tensor: the value brings its layout
            if ctx.field(value) is None:
                return ctx.set_field(target, None)
            shape = [1 if a in axes else size for a, size in enumerate(target.shape)]
            reference = ctx.fresh(shape, label="written")
        else:
            reference = _reference(ctx, target, target.dim(), axes)
        region = torch.from_numpy(np.ascontiguousarray(reference)).expand(target.shape)[index]
        _written_into(ctx, func, collapse(region.numpy()), value, written)
        return ctx.set_field(target, reference)
    field = field_tensor(ctx, target).clone()
    field[index] = field_tensor(ctx, value) if is_value(value) else 0
    ctx.set_field(target, collapse(field.numpy()))
