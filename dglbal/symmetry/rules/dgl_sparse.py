"""Exponent rules for DGL's sparse matrix API (``dgl.sparse``).

A ``SparseMatrix`` wraps a TorchScript object; the trace gives that object the field of its
values. Non-zeros follow the graph, so, like edge features, every non-zero shares one
exponent (per head when values are (nnz, H)). The ops are ``torch.ops.dgl_sparse.*`` calls,
which reach the tracer like torch functions; the methods of ``SparseMatrix`` that bypass
them (``val``, ``transpose``, selections) are wrapped by the tracer (:func:`wrap_methods`).
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch
import dgl.sparse as dglsp

from ..context import TraceContext
from ..core.fields import as_array
from .helpers import arg, conservative
from .registry import register_op_rule

__all__ = ["matrix_field", "construct", "spmm", "sddmm", "softmax", "spsp_add", "spsp_product",
           "reduce", "METHODS", "wrap_methods"]

_OPS = torch.ops.dgl_sparse


def matrix_field(ctx: TraceContext, matrix: Any) -> Optional[np.ndarray]:
    """Per-head exponents of a sparse matrix's values: shape (1,) or (1, H); None for data."""
    field = ctx.field(matrix)
    return None if field is None else field


def _value_field(ctx, values: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    """Values of a new matrix: equal exponents over the non-zeros."""
    if not isinstance(values, torch.Tensor) or ctx.field(values) is None:
        return None
    field = as_array(ctx.field(values), values.dim())
    ctx.equal(field, field[:1])
    return field[:1]


def _node_field(ctx, x: torch.Tensor, axis: int = 0) -> Optional[np.ndarray]:
    """A dense operand's exponents with its node axis (shared by all nodes) dropped."""
    field = ctx.field(x)
    if field is None:
        return None
    field = as_array(field, x.dim())
    reference = field.take([0], axis=axis)
    ctx.equal(field, reference)
    return np.squeeze(reference, axis=axis)


def _heads(field: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """(1,) -> (1,) and (1, H) -> (H,): what broadcasts against a dense operand's last axis."""
    return None if field is None else field.reshape(field.shape[1:] or (1,))


@register_op_rule(_OPS.from_coo, _OPS.from_csr, _OPS.from_csc, _OPS.from_diag, _OPS.val_like)
def construct(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """A new matrix takes the field of the values it is given."""
    position = {"from_coo": 1, "from_csr": 2, "from_csc": 2}.get(func.__name__, 0)
    if func is _OPS.val_like:
        position = 1
    ctx.set_field(out, _value_field(ctx, arg(args, kwargs, position, "val")))


@register_op_rule(_OPS.spmm)
def spmm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """A @ X: out[i, d(, h)] = sum_j A[i, j](h) X[j, d(, h)]."""
    field = ctx.combine([(1, _heads(matrix_field(ctx, args[0]))),
                         (1, _node_field(ctx, args[1]))])
    ctx.set_field(out, None if field is None else field[None])


@register_op_rule(_OPS.sddmm)
def sddmm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """A * (X1 @ X2) at the non-zeros: an inner sum over equal products, times A's values."""
    x1, x2 = args[1], args[2]
    f1, f2 = _node_field(ctx, x1, 0), _node_field(ctx, x2, 1)
    inner = None
    if f1 is not None or f2 is not None:
        f1 = as_array(f1, x1.dim() - 1)
        f2 = as_array(f2, x2.dim() - 1)
        full = np.broadcast_shapes(f1.shape, f2.shape)
        inner = ctx.fresh((1,) + full[1:], label="product")
        ctx.define(np.broadcast_to(inner, full), [(1, f1), (1, f2)])
    product = ctx.combine([(1, _heads(matrix_field(ctx, args[0]))), (1, inner)])
    ctx.set_field(out, None if product is None else product.reshape((1,) + product.shape[1:]))


@register_op_rule(_OPS.softmax, gate=True)
def softmax(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Softmax over the non-zeros of each row: a gate, its logits must have exponent 0."""
    conservative(ctx, func, args, kwargs, out, report=False)


@register_op_rule(_OPS.spsp_add)
def spsp_add(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    fields = [matrix_field(ctx, m) for m in args[:2]]
    ctx.equal(*fields)
    ctx.set_field(out, next((f for f in fields if f is not None), None))


@register_op_rule(_OPS.spsp_mul, _OPS.spsp_div, _OPS.spspmm)
def spsp_product(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Elementwise products / quotients and sparse-sparse products add / subtract exponents."""
    sign = -1 if func is _OPS.spsp_div else 1
    a, b = (matrix_field(ctx, m) for m in args[:2])
    if func is _OPS.spspmm and (a is not None and a.size > 1 or b is not None and b.size > 1):
        return conservative(ctx, func, args, kwargs, out)
    ctx.set_field(out, ctx.combine([(1, a), (sign, b)]))


@register_op_rule(_OPS.reduce, _OPS.sum, _OPS.smax, _OPS.smin, _OPS.smean)
def reduce(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Sums, means, maxima and minima over non-zeros keep their (shared) exponent."""
    if func is _OPS.reduce and args[1] == "prod":
        return conservative(ctx, func, args, kwargs, out)
    field = matrix_field(ctx, args[0])
    ctx.set_field(out, None if field is None else field.reshape(
        field.shape[-out.dim():] if out.dim() else ()))


# --- SparseMatrix methods that bypass torch.ops ---------------------------------------------

def _same_values(ctx, matrix, result):
    """Structure-only methods (transpose, selections, coalesce): the field is kept."""
    ctx.set_field(result.c_sparse_matrix, matrix_field(ctx, matrix.c_sparse_matrix))


def _val(ctx, matrix, result):
    """A.val: the values, with the matrix's field along a non-zero axis."""
    if not ctx.known(result):
        field = matrix_field(ctx, matrix.c_sparse_matrix)
        ctx.set_field(result, None if field is None else as_array(field, result.dim()))


METHODS = {"transpose": _same_values, "coalesce": _same_values, "index_select": _same_values,
           "range_select": _same_values, "sample": _same_values}


def wrap_methods(ctx: TraceContext, record: Callable) -> List[tuple]:
    """Patch SparseMatrix for the trace; returns (class, name, original) to restore."""
    patched = []
    for name, rule in METHODS.items():
        original = getattr(dglsp.SparseMatrix, name)

        def method(self, *args, _original=original, _rule=rule, **kwargs):
            result = _original(self, *args, **kwargs)
            record(lambda: _rule(ctx, self, result), [self.c_sparse_matrix],
                   [result.c_sparse_matrix])
            return result

        patched.append((dglsp.SparseMatrix, name, original))
        setattr(dglsp.SparseMatrix, name, method)
    original_val = dglsp.SparseMatrix.val

    def val(self):
        result = original_val.fget(self)
        record(lambda: _val(ctx, self, result), [self.c_sparse_matrix], [result])
        return result

    patched.append((dglsp.SparseMatrix, "val", original_val))
    dglsp.SparseMatrix.val = property(val)
    return patched

