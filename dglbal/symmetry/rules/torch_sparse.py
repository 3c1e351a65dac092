"""Exponent rules for torch's sparse tensors (COO, CSR, CSC layouts): products, sums, softmax,
and making and reading them.

A sparse adjacency is usually data (``g.adj_external()``, a buffer): then ``torch.sparse.mm(A,
h)`` is a sum over neighbours and keeps h's per-channel exponents, exactly as the dense
``A @ h`` (the matrix-product rule of :mod:`.linear` serves both). A sparse tensor made from
parameter-dependent values (``torch.sparse_coo_tensor(idx, w)``, ``A * alpha``) carries a
field over every position, its implicit zeros included: a zero takes any exponent, so a field
stated there never makes a claim false. Its stored entries are chosen by data, so they share
one exponent (as edge features do). Sparse *parameters* are not rescaled (rescaling acts on
dense parameters): the trace treats them as data, at exponent 0, and names them (see
:class:`~dglbal.symmetry.context.TraceContext`). Any other op on a parameter-dependent sparse
tensor has no rule: it is held at exponent 0 and named.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..context import TraceContext
from ..core.fields import as_array
from .helpers import arg, equal_along, ops, outputs
from .linear import addmm, matmul
from .reduction import reduction, softmax
from .registry import register_op_rule
from .torch_ops import passthrough

__all__ = ["SPARSE_PRODUCTS", "structure", "from_values", "values"]

#: sparse products with the semantics of ``mat1 @ mat2`` (a ``reduce`` of sum, mean, amax or
#: amin over the non-zeros of a row is positively homogeneous as well)
SPARSE_PRODUCTS = [torch.sparse.mm, torch.smm, torch.hspmm, torch.Tensor.smm, torch.dsmm]

register_op_rule(*SPARSE_PRODUCTS)(matmul)
register_op_rule(torch.sparse.addmm, torch.sspaddmm, torch.Tensor.sspaddmm, torch.saddmm,
                 torch.sparse.sampled_addmm)(addmm)
register_op_rule(torch._sparse_sum)(reduction)
register_op_rule(torch.sparse.softmax, torch.sparse.log_softmax, gate=True)(softmax)
# Layout changes keep every entry at its position (coalescing sums duplicates of one position).
register_op_rule(*ops("to_sparse", "to_sparse_csr", "to_sparse_csc", "to_sparse_coo",
                      "to_sparse_bsr", "to_sparse_bsc", "to_dense", "_to_dense",
                      "coalesce"))(passthrough)


@register_op_rule(*ops("indices", "_indices", "crow_indices", "col_indices", "ccol_indices",
                       "row_indices", "_nnz", "sparse_dim", "dense_dim", "is_coalesced"))
def structure(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict,
              out: Any) -> None:
    """Where a sparse tensor's entries are (and how many): not its values, no exponent."""
    for tensor in outputs(out):
        ctx.set_field(tensor, None)


@register_op_rule(torch.sparse_coo_tensor, torch.sparse_csr_tensor, torch.sparse_csc_tensor,
                  torch.sparse_compressed_tensor)
def from_values(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict,
                out: Any) -> None:
    """A sparse tensor made from (indices, values): the values' entries sit at positions chosen
    by data, so they share one exponent per dense channel."""
    position = 1 if func is torch.sparse_coo_tensor else 2  # after the index tensors
    vals = arg(args, kwargs, position, "values")
    field = ctx.field(vals) if isinstance(vals, torch.Tensor) else None
    if field is None:
        return ctx.set_field(out, None)
    dense = out.dense_dim()
    entry_axes = range(vals.dim() - dense)
    reference = equal_along(ctx, as_array(field, vals.dim()), entry_axes)
    channels = reference.shape[vals.dim() - dense:]
    ctx.set_field(out, reference.reshape((1,) * (out.dim() - dense) + tuple(channels)))


@register_op_rule(*ops("values", "_values"))
def values(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """The stored entries of a sparse tensor: positions chosen by data, one exponent per dense
    channel (the sparse axes become the entries' axis)."""
    x = args[0]
    field = ctx.field(x)
    if field is None:
        return ctx.set_field(out, None)
    dense = x.dense_dim()
    sparse_axes = range(x.dim() - dense)
    reference = equal_along(ctx, as_array(field, x.dim()), sparse_axes)
    channels = reference.shape[x.dim() - dense:]
    ctx.set_field(out, reference.reshape((1,) * (out.dim() - dense) + tuple(channels)))
