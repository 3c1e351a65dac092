"""Device-generic primitives between node rows and edge rows, used by the attention kernels.

Node-to-edge: :func:`gather` (``z[index]``) and :func:`pair_sums` (``z[u] + z[v]`` in one
pass). Edge-to-node: :func:`group_sums`, the sum of each group of a CSR-grouped edge list
(:class:`~dglbal.nn.kernels.adjacency.Adjacency`), optionally weighted, and :func:`scatter_add_` for
edges in no particular order. Sums over groups and pairs run as ``embedding_bag`` (fbgemm on
CPU, one CUDA kernel on GPU): one pass that writes each output row once, with no atomics and
no (edges x features) temporary, 2-5x faster on CPU than ``index_add_`` or a gather and an
add. Weighted float64 sums are CSR sparse-dense products instead (MKL's double kernel is
about twice as fast as embedding_bag's generic one). Dots: :func:`head_dots` (each row with
its head's vector, as matrix products) and :func:`sampled_dots` (per edge, the dot of its two
end rows).
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["rows", "gather", "pair_sums", "head_dots", "zeros", "scatter_add_", "group_sums",
           "csr_product", "SAMPLED_DTYPES", "sampled_dots", "per_head"]


def rows(z: torch.Tensor) -> torch.Tensor:
    """(N, H, D) -> (N, H * D): row gathers and scatters on 2-D tensors take torch's fast
    contiguous-row path (about 4x faster on CPU than on the 3-D view)."""
    return z.reshape(z.shape[0], -1)


def gather(z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(len(index), H, D): rows ``z[index]``, a fresh tensor that may be written in place."""
    return rows(z).index_select(0, index).view(index.shape[0], *z.shape[1:])


def pair_sums(z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """(len(pairs), H, D): ``z[u] + z[v]`` for each row (u, v) of ``pairs``, both gathers and
    the add in one pass."""
    return F.embedding_bag(pairs, rows(z), mode="sum").view(pairs.shape[0], *z.shape[1:])


def head_dots(x: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """(N, H, 1): ``x[n, h, :] . vectors[h, :]`` for x (N, H, D) and H * D ``vectors``, as
    matrix products, forward and backward (``(x * vectors).sum(-1)`` multiplies with a
    broadcast operand on both passes, several times slower on CPU)."""
    count, heads, width = x.shape
    if heads == 1:
        return (x.reshape(count, width) @ vectors.reshape(width, 1)).reshape(count, 1, 1)
    return torch.bmm(x.transpose(0, 1), vectors.reshape(heads, width, 1)).transpose(0, 1)


def zeros(like: torch.Tensor) -> torch.Tensor:
    """Contiguous zeros of ``like``'s shape (``zeros_like`` would copy a view's strides)."""
    return torch.zeros(like.shape, dtype=like.dtype, device=like.device)


def scatter_add_(out: torch.Tensor, index: torch.Tensor, edge_rows: torch.Tensor) -> None:
    """``out[index[e]] += edge_rows[e]`` for every e, in place (``out`` must be contiguous)."""
    out.view(out.shape[0], -1).index_add_(0, index, rows(edge_rows))


def group_sums(table: torch.Tensor, ptr: torch.Tensor, index: torch.Tensor,
               weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(len(ptr) - 1, F): row g is ``sum_k weights[k] * table[index[k]]`` over
    ``k in ptr[g] .. ptr[g + 1] - 1`` (unweighted without ``weights``); ``table`` is 2-D."""
    if weights is not None and weights.dtype == torch.float64:
        size = (ptr.shape[0] - 1, table.shape[0])
        return csr_product(ptr, index, weights, size, table)
    return F.embedding_bag(index, table, ptr, mode="sum", per_sample_weights=weights,
                           include_last_offset=True)


def csr_product(ptr: torch.Tensor, columns: torch.Tensor, values: torch.Tensor,
                size: Tuple[int, int], dense: torch.Tensor) -> torch.Tensor:
    """CSR(ptr, columns, values) @ dense."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": only used internally
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(ptr, columns, values, size=size) @ dense


SAMPLED_DTYPES = (torch.float32, torch.float64)
"""Dtypes :func:`sampled_dots` runs as ``torch.sparse.sampled_addmm`` (torch's CPU kernel
takes no others); other dtypes gather both sides, in chunks."""


def sampled_dots(ptr: torch.Tensor, columns: torch.Tensor, left: torch.Tensor,
                 right: torch.Tensor, chunk_rows: int) -> torch.Tensor:
    """Per stored entry (i, j) of the CSR pattern, in storage order: ``left[i] . right[j]``.

    Duplicate entries (a multigraph) are fine, except that torch's kernel refuses a pattern
    with more stored entries than the dense matrix has (only possible with duplicates); such
    patterns take the gathering path."""
    if left.dtype in SAMPLED_DTYPES and columns.shape[0] <= left.shape[0] * right.shape[0]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            size = (left.shape[0], right.shape[0])
            pattern = torch.sparse_csr_tensor(ptr, columns, left.new_zeros(columns.shape[0]),
                                              size=size)
            return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()
    owners = torch.repeat_interleave(torch.arange(left.shape[0], device=ptr.device),
                                     ptr.diff(), output_size=columns.shape[0])
    out = left.new_empty(columns.shape[0])
    for start in range(0, columns.shape[0], max(1, chunk_rows)):
        part = slice(start, start + chunk_rows)
        out[part] = (left.index_select(0, owners[part])
                     * right.index_select(0, columns[part])).sum(1)
    return out


def per_head(compute: Callable[[int], torch.Tensor], heads: int) -> torch.Tensor:
    """``compute(h)`` for every head, stacked along dimension 1 (a view for one head)."""
    if heads == 1:
        return compute(0).unsqueeze(1)
    return torch.stack([compute(h) for h in range(heads)], 1)
