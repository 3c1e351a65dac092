"""Fused edge-attention kernels for GAT layers, written with device-generic torch ops.

DGL computes GATv2's logits ``e_uv = a . LeakyReLU(z_u + z_v)`` as a chain of edge-wise ops
(``u_add_v``, ``leaky_relu``, ``* a``, ``sum``) and keeps several (E, H, D) intermediates for
the backward pass. :func:`gatv2_logits` computes the same numbers with one pass for
``z_u + z_v``, one in-place LeakyReLU and one matrix product, and saves only the node
tensors: the backward pass recomputes ``z_u + z_v`` (and the LeakyReLU mask) edge by edge
and sums the edge gradients per node over the graph's cached
:class:`~dglbal.nn.kernels.adjacency.Adjacency`. Work is chunked over edges, so an (E, H, D)
temporary never exceeds :data:`CHUNK_ELEMENTS` entries however large the graph is (beyond one
chunk, edge gradients are scattered with ``index_add_``). :func:`attention_sum` aggregates
``sum_u alpha_uv z_u`` as one weighted sum per destination and head and saves only the node
tensors and the weights. The primitives are in :mod:`dglbal.nn.kernels.edge_ops`.

Both functions take part in ``__torch_function__`` dispatch, so the rescale analyser
(:mod:`dglbal.symmetry`) sees each of them as one op with its own rule
(:mod:`dglbal.nn.kernels.attention_rules`). :func:`set_backend` chooses between these eager
kernels and compiled ones (:mod:`dglbal.nn.kernels.attention_backend`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.overrides import handle_torch_function, has_torch_function

if TYPE_CHECKING:
    from dgl import DGLGraph

from . import attention_backend as backend
from .adjacency import Adjacency, build_adjacency
from .attention_backend import BACKENDS, get_backend, set_backend
from .edge_ops import (gather, group_sums, head_dots, pair_sums, per_head, rows, sampled_dots,
    scatter_add_, zeros)

CHUNK_ELEMENTS = 1 << 22
"""Entries of an (edges, heads, features) temporary per chunk: 16 MiB in float32."""


def _chunk_rows(row: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(row, 1))


def _chunks(num_edges: int, row: int) -> Iterator[slice]:
    step = _chunk_rows(row)
    for start in range(0, num_edges, step):
        yield slice(start, min(start + step, num_edges))


def _edge_sums(z_src, z_dst, src, dst, pairs) -> torch.Tensor:
    """(chunk, H, D): z_src[src] + z_dst[dst], a fresh tensor (one pass over ``pairs``, the
    same edges side by side, when both ends are one tensor)."""
    if z_src is z_dst:
        return pair_sums(z_src, pairs)
    return gather(z_src, src).add_(gather(z_dst, dst))


def _weighted_rows(weights: torch.Tensor, edge_rows: torch.Tensor) -> torch.Tensor:
    """(H, D): sum over edges of weights[e, h] * edge_rows[e, h, :], as one matrix product."""
    if edge_rows.shape[1] == 1:
        return (weights.reshape(1, -1) @ edge_rows.reshape(edge_rows.shape[0], -1)
                ).reshape(1, -1)
    return torch.bmm(weights.permute(1, 2, 0), edge_rows.transpose(0, 1)).squeeze(1)


def _eager_logits(z_src, z_dst, attn, src, dst, pairs, negative_slope: float) -> torch.Tensor:
    """(chunk, H, 1): a . LeakyReLU(z_u + z_v) per edge, one gather-add and one product."""
    hidden = _edge_sums(z_src, z_dst, src, dst, pairs)
    return head_dots(F.leaky_relu_(hidden, negative_slope), attn)


def _eager_edge_grads(z_src, z_dst, src, dst, pairs, grad, negative_slope: float,
                      need_attn: bool):
    """Per edge ``g * LeakyReLU'(z_u + z_v)`` (chunk, H, D) and, with ``need_attn``,
    ``sum_e g_e LeakyReLU(z_u + z_v)`` (H, D); z_u + z_v is recomputed, not saved."""
    hidden = _edge_sums(z_src, z_dst, src, dst, pairs)
    grad_hidden = torch.ops.aten.leaky_relu_backward(grad.expand_as(hidden), hidden,
                                                     negative_slope, False)
    grad_attn = _weighted_rows(grad, F.leaky_relu_(hidden, negative_slope)) if need_attn \
        else None
    return grad_hidden, grad_attn


class _GATv2Logits(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_src, z_dst, attn, src, dst, pairs, negative_slope, adj):
        ctx.save_for_backward(z_src, z_dst, attn, src, dst, pairs)
        ctx.negative_slope, ctx.adj, ctx.shared = negative_slope, adj, z_src is z_dst
        heads, width = z_src.shape[1:]
        logits = backend.kernel(_eager_logits, backend.gather_logits, src.shape[0])
        out = z_src.new_empty(src.shape[0], heads, 1)
        for part in _chunks(src.shape[0], heads * width):
            out[part] = logits(z_src, z_dst, attn, src[part], dst[part], pairs[part],
                               negative_slope)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z_src, z_dst, attn, src, dst, pairs = ctx.saved_tensors
        if ctx.shared:  # one tensor on both ends: pair sums take their one-pass path
            z_dst = z_src
        need_src, need_dst, need_attn = ctx.needs_input_grad[:3]
        heads, width = z_src.shape[1:]
        edge_grads = backend.kernel(_eager_edge_grads, backend.gather_edge_grads, src.shape[0])
        adj = ctx.adj
        grouped = adj is not None and (adj.node_ptr is not None or not ctx.shared)
        if grouped and 0 < src.shape[0] <= _chunk_rows(heads * width):
            grad_hidden, grad_attn = edge_grads(z_src, z_dst, src, dst, pairs, grad_out,
                                                ctx.negative_slope, need_attn)
            edge_rows = rows(grad_hidden)
            if ctx.shared:  # each node's out- and in-edges in one group
                grad_src = group_sums(edge_rows, adj.node_ptr, adj.node_eid).view_as(z_src)
                grad_dst = None
            else:
                grad_src = group_sums(edge_rows, adj.out_ptr, adj.out_eid).view_as(z_src) \
                    if need_src else None
                grad_dst = group_sums(edge_rows, adj.in_ptr, adj.in_eid).view_as(z_dst) \
                    if need_dst else None
        else:
            grad_src, grad_dst, grad_attn = _scattered_grads(ctx, z_src, z_dst, attn, src, dst,
                                                             pairs, grad_out, edge_grads)
        scale = attn.reshape(1, heads, width)
        return (grad_src.mul_(scale) if grad_src is not None else None,
                grad_dst.mul_(scale) if grad_dst is not None else None,
                grad_attn.reshape(attn.shape) if need_attn else None, None, None, None, None,
                None)


def _scattered_grads(ctx, z_src, z_dst, attn, src, dst, pairs, grad_out, edge_grads):
    """The backward of :class:`_GATv2Logits` chunk by chunk, edge gradients scattered to
    nodes with ``index_add_`` (graphs beyond one chunk, or without an adjacency)."""
    need_src, need_dst, need_attn = ctx.needs_input_grad[:3]
    heads, width = z_src.shape[1:]
    grad_src = zeros(z_src) if need_src else None
    grad_dst = (grad_src if ctx.shared else zeros(z_dst)) if need_dst else None
    grad_attn = attn.new_zeros(heads, width) if need_attn else None
    for part in _chunks(src.shape[0], heads * width):
        s, d = src[part], dst[part]
        grad_hidden, part_attn = edge_grads(z_src, z_dst, s, d, pairs[part], grad_out[part],
                                            ctx.negative_slope, need_attn)
        if need_src:
            scatter_add_(grad_src, s, grad_hidden)
        if need_dst:
            scatter_add_(grad_dst, d, grad_hidden)
        if need_attn:
            grad_attn += part_attn
    return grad_src, None if ctx.shared else grad_dst, grad_attn


def _head_weights(weights: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(H, E): weights (E, H, 1) in ``order``, one contiguous row per head."""
    return weights.index_select(0, order).reshape(order.shape[0], weights.shape[1]).t().contiguous()


class _AttentionSum(torch.autograd.Function):
    """``h_v = sum_u w_uv z_u`` as one weighted sum per destination and head over the
    in-edges (CSC); backward: the same over the out-edges (CSR) for ``z`` and sampled dot
    products for ``w``."""

    @staticmethod
    def forward(ctx, z_src, weights, adj):
        ctx.save_for_backward(z_src, weights)
        ctx.adj = adj
        in_weights = _head_weights(weights, adj.in_eid)
        return per_head(lambda h: group_sums(z_src[:, h], adj.in_ptr, adj.in_src,
                                             in_weights[h]), z_src.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z_src, weights = ctx.saved_tensors
        adj = ctx.adj
        need_src, need_weights = ctx.needs_input_grad[:2]
        grad_src = grad_weights = None
        heads, width = z_src.shape[1:]
        if need_src:
            out_weights = _head_weights(weights, adj.out_eid)
            grad_src = per_head(lambda h: group_sums(grad_out[:, h], adj.out_ptr, adj.out_dst,
                                                     out_weights[h]), heads)
        if need_weights:
            dots = per_head(lambda h: sampled_dots(adj.in_ptr, adj.in_src, grad_out[:, h],
                                                   z_src[:, h], _chunk_rows(width)), heads)
            grad_weights = torch.empty_like(weights).index_copy_(0, adj.in_eid, dots[..., None])
        return grad_src, grad_weights, None


def _check(z_src: torch.Tensor, z_dst: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
           ) -> None:
    if z_src.dim() != 3 or z_dst.dim() != 3 or z_src.shape[1:] != z_dst.shape[1:]:
        raise ValueError("node features must have shape (nodes, heads, features) on both "
                         f"sides, got {tuple(z_src.shape)} and {tuple(z_dst.shape)}")
    if src.shape != dst.shape or src.dim() != 1:
        raise ValueError(f"src and dst must be 1-D and of equal length, got {tuple(src.shape)} "
                         f"and {tuple(dst.shape)}")


def gatv2_logits(z_src: torch.Tensor, z_dst: torch.Tensor, attn: torch.Tensor,
                 src: torch.Tensor, dst: torch.Tensor, negative_slope: float = 0.2,
                 adj: Optional[Adjacency] = None) -> torch.Tensor:
    r"""GATv2 attention logits :math:`e_{uv} = a^T \mathrm{LeakyReLU}(z_u + z_v)` per edge.

    ``z_src`` (N_src, H, D) and ``z_dst`` (N_dst, H, D) are the transformed node features
    (pass one tensor twice when both ends share it), ``attn`` has H * D entries (DGL's
    (1, H, D) parameter), ``src`` and ``dst`` (E,) index the edges' end nodes. Returns
    (E, H, 1). Equal to DGL's ``(leaky_relu(u_add_v(z_src, z_dst)) * attn).sum(-1,
    keepdim=True)``; memory for backward is the node tensors only. ``adj``, the edges'
    :class:`~dglbal.nn.kernels.adjacency.Adjacency` (layers pass the cached
    :func:`~dglbal.nn.kernels.adjacency.graph_adjacency`), lets the backward pass sum edge gradients
    per node without atomics; without it they are scattered.

    Parameters
    ----------
    z_src, z_dst : torch.Tensor
        (N_src, H, D) and (N_dst, H, D) transformed features.
    attn : torch.Tensor
        The attention vector, H * D entries.
    src, dst : torch.Tensor
        (E,) end nodes of the edges.
    negative_slope : float, default 0.2
        LeakyReLU's slope.
    adj : Adjacency, optional
        The edges grouped by destination and source.

    Returns
    -------
    torch.Tensor
        (E, H, 1) logits.

    Raises
    ------
    ValueError
        If ``attn`` does not have H * D entries, or ``adj`` holds another number of edges.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(4, 1, 3, requires_grad=True)
    >>> src, dst = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0])
    >>> gatv2_logits(z, z, torch.randn(1, 1, 3), src, dst).shape
    torch.Size([4, 1, 1])
    """
    if has_torch_function((z_src, z_dst, attn)):
        return handle_torch_function(gatv2_logits, (z_src, z_dst, attn), z_src, z_dst, attn,
                                     src, dst, negative_slope, adj)
    _check(z_src, z_dst, src, dst)
    if attn.numel() != z_src.shape[1] * z_src.shape[2]:
        raise ValueError(f"attn has {attn.numel()} entries for {z_src.shape[1]} heads of "
                         f"width {z_src.shape[2]}")
    if adj is None:
        pairs = torch.stack((src, dst), 1)
    elif adj.pairs.shape[0] == src.shape[0]:
        src, dst, pairs = adj.src, adj.dst, adj.pairs
    else:
        raise ValueError(f"adj holds {adj.pairs.shape[0]} edges, src and dst {src.shape[0]}")
    args = (z_src, z_dst, attn, src, dst, pairs, float(negative_slope))
    if backend.whole_compiled(src.shape[0]):
        return backend.kernel(lambda *a: _GATv2Logits.apply(*a, adj), backend.gather_logits,
                              src.shape[0])(*args)
    return _GATv2Logits.apply(*args, adj)


def attention_sum(z_src: torch.Tensor, weights: torch.Tensor, src: torch.Tensor,
                  dst: torch.Tensor, num_dst: int, adj: Optional[Adjacency] = None
                  ) -> torch.Tensor:
    r"""Attention-weighted aggregation :math:`h_v = \sum_{(u, v)} w_{uv} z_u`.

    ``z_src`` (N_src, H, D), ``weights`` (E, H, 1), ``src``/``dst`` (E,); returns
    (num_dst, H, D) in the promoted dtype of ``z_src`` and ``weights``. Equal to DGL's
    ``update_all(u_mul_e, sum)``. ``adj``, the edges'
    :class:`~dglbal.nn.kernels.adjacency.Adjacency` (layers pass
    :func:`~dglbal.nn.kernels.adjacency.graph_adjacency`, cached per graph), is built from ``src``
    and ``dst`` when not given. Keeps only the node tensors and the weights for backward.

    Parameters
    ----------
    z_src : torch.Tensor
        (N_src, H, D) source features.
    weights : torch.Tensor
        (E, H, 1) attention weights.
    src, dst : torch.Tensor
        (E,) end nodes of the edges.
    num_dst : int
        Destination nodes.
    adj : Adjacency, optional
        The edges grouped by destination and source.

    Returns
    -------
    torch.Tensor
        (num_dst, H, D).

    Raises
    ------
    ValueError
        If ``weights`` is not of shape (E, H, 1).

    Examples
    --------
    >>> import torch
    >>> z = torch.ones(3, 1, 2)
    >>> attention_sum(z, torch.full((3, 1, 1), 0.5), torch.tensor([0, 1, 2]),
    ...               torch.tensor([0, 0, 1]), 2)[:, 0]
    tensor([[1.0000, 1.0000],
            [0.5000, 0.5000]])
    """
    if has_torch_function((z_src, weights)):
        return handle_torch_function(attention_sum, (z_src, weights), z_src, weights, src, dst,
                                     num_dst, adj)
    _check(z_src, z_src, src, dst)
    if weights.shape != (src.shape[0], z_src.shape[1], 1):
        raise ValueError(f"weights must have shape (edges, heads, 1) = "
                         f"{(src.shape[0], z_src.shape[1], 1)}, got {tuple(weights.shape)}")
    dtype = torch.promote_types(z_src.dtype, weights.dtype)
    args = (z_src.to(dtype), weights.to(dtype), src, dst, int(num_dst))
    if backend.whole_compiled(src.shape[0]):
        return backend.kernel(lambda *a: _eager_attention_sum(*a, adj), backend.gather_sum,
                              src.shape[0])(*args)
    return _eager_attention_sum(*args, adj)


def _eager_attention_sum(z_src, weights, src, dst, num_dst: int, adj: Optional[Adjacency]):
    if adj is None:
        adj = build_adjacency(src, dst, z_src.shape[0], num_dst)
    return _AttentionSum.apply(z_src, weights, adj)


def edge_index(graph: DGLGraph) -> Tuple[torch.Tensor, torch.Tensor]:
    """(src, dst) of a DGL graph's edges in edge-id order (for the kernels above)."""
    return graph.edges(order="eid")


__all__ = ["BACKENDS", "CHUNK_ELEMENTS", "attention_sum", "edge_index", "gatv2_logits",
           "get_backend", "set_backend"]
