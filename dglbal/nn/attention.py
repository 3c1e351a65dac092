"""Fused edge-attention kernels for GAT layers, written with device-generic torch ops.

DGL computes GATv2's logits ``e_uv = a . LeakyReLU(z_u + z_v)`` as a chain of edge-wise ops
(``u_add_v``, ``leaky_relu``, ``* a``, ``sum``) and keeps several (E, H, D) intermediates for
the backward pass. :func:`gatv2_logits` computes the same numbers with one gather, one add,
one in-place LeakyReLU and one matrix product, and saves only the node tensors: the backward
pass recomputes ``z_u + z_v`` (and the LeakyReLU mask) edge by edge. Work is chunked over
edges, so an (E, H, D) temporary never exceeds :data:`CHUNK_ELEMENTS` entries however large
the graph is. :func:`attention_sum` aggregates ``sum_u alpha_uv z_u`` as one CSR sparse-dense
product per head (float32/64; other dtypes gather, scale and scatter) and saves only the node
tensors and the weights.

Both functions take part in ``__torch_function__`` dispatch, so the rescale analyser
(:mod:`dglbal.symmetry`) sees each of them as one op with its own rule
(:mod:`dglbal.symmetry.attention_rules`).

Backends (:func:`set_backend`, or the environment variable ``DGLBAL_ATTENTION``): ``"eager"``
(default) runs torch ops; ``"compiled"`` runs plain gather formulations through
``torch.compile`` (inductor fuses gathers, LeakyReLU and reductions into single loops; a C++
compiler on CPU, Triton on CUDA). On one thread whole kernels are compiled, scatters
included; with more threads compiled CPU scatters become per-element atomic adds, so only the
scatter-free edge-wise parts of the logits are compiled and the eager kernels scatter and
aggregate. Compiling takes about 15 s per process: graphs with fewer than
:data:`COMPILE_MIN_EDGES` edges (the analyser's probes, tests) stay eager, and a failed
compilation falls back to eager with a warning.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.overrides import handle_torch_function, has_torch_function

from .adjacency import Adjacency, build_adjacency

CHUNK_ELEMENTS = 1 << 22
"""Entries of an (edges, heads, features) temporary per chunk: 16 MiB in float32."""

BACKENDS = ("eager", "compiled")
COMPILE_MIN_EDGES = 4096
"""Smaller graphs always run eager: compiling for them would cost more than it saves."""
_backend = os.environ.get("DGLBAL_ATTENTION", "eager")
_compiled: Dict[Callable, Callable] = {}


def set_backend(name: str) -> None:
    """Run the attention kernels ``"eager"`` (default) or ``"compiled"`` (torch.compile)."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose from {BACKENDS}")
    _backend = name


def get_backend() -> str:
    """The current attention backend (see :func:`set_backend`)."""
    return _backend


def _compiles(num_edges: int) -> bool:
    """The compiled backend is on and the graph is large enough to repay compiling."""
    return _backend == "compiled" and num_edges >= COMPILE_MIN_EDGES


def _whole_compiled(num_edges: int) -> bool:
    """Compile a whole kernel, backward and scatters included: the compiled backend on one
    thread (with more, compiled CPU scatters become per-element atomic adds, several times
    slower; then only the scatter-free edge-wise parts are compiled)."""
    return _compiles(num_edges) and torch.get_num_threads() == 1


def _gather_sum(z_src, weights, src, dst, num_dst: int) -> torch.Tensor:
    """:func:`attention_sum` in plain ops, for torch.compile on one thread."""
    out = z_src.new_zeros(num_dst, *z_src.shape[1:])
    return out.index_add_(0, dst, z_src[src] * weights)


def _kernel(eager: Callable, plain: Callable, num_edges: int) -> Callable:
    """``eager``, or ``plain`` (the same computation in plain torch ops) through
    ``torch.compile`` under the compiled backend for graphs of at least
    :data:`COMPILE_MIN_EDGES` edges. A failed compilation warns and falls back to eager for
    good (no C++ compiler, no Triton, an unsupported platform)."""
    if not _compiles(num_edges):
        return eager
    if plain not in _compiled:
        _compiled[plain] = torch.compile(plain, dynamic=True)
    compiled = _compiled[plain]

    def run(*args):
        global _backend
        try:
            return compiled(*args)
        except Exception as error:  # noqa: BLE001 (any compiler failure: run eager)
            warnings.warn(f"torch.compile of the attention kernels failed ({type(error).__name__}"
                          f": {error}); running them eager from now on", RuntimeWarning)
            _backend = "eager"
            return eager(*args)

    return run


def _chunks(num_edges: int, row: int) -> Iterator[slice]:
    step = max(1, CHUNK_ELEMENTS // max(row, 1))
    for start in range(0, num_edges, step):
        yield slice(start, min(start + step, num_edges))


def _rows(z: torch.Tensor) -> torch.Tensor:
    """(N, H, D) -> (N, H * D): row gathers and scatters on 2-D tensors take torch's fast
    contiguous-row path (about 4x faster on CPU than on the 3-D view)."""
    return z.reshape(z.shape[0], -1)


def _gather(z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(len(index), H, D): rows ``z[index]``, a fresh tensor that may be written in place."""
    return _rows(z).index_select(0, index).view(index.shape[0], *z.shape[1:])


def _zeros(like: torch.Tensor) -> torch.Tensor:
    """Contiguous zeros of ``like``'s shape (``zeros_like`` would copy a view's strides)."""
    return torch.zeros(like.shape, dtype=like.dtype, device=like.device)


def _scatter_add_(out: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> None:
    """``out[index[e]] += rows[e]`` for every e, in place (``out`` must be contiguous)."""
    out.view(out.shape[0], -1).index_add_(0, index, _rows(rows))


def _scale_(rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """rows (E, H, D) *= weights (E, H, 1), in place, broadcast over D on a 2-D view."""
    rows.view(-1, rows.shape[2]).mul_(weights.reshape(-1, 1))
    return rows


def _edge_sums(z_src, z_dst, src, dst) -> torch.Tensor:
    """(chunk, H, D): z_src[src] + z_dst[dst]."""
    return _gather(z_src, src).add_(_gather(z_dst, dst))


def _weighted_rows(weights: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(H, D): sum over edges of weights[e, h] * rows[e, h, :], as one matrix product."""
    if rows.shape[1] == 1:
        return (weights.reshape(1, -1) @ rows.reshape(rows.shape[0], -1)).reshape(1, -1)
    return torch.bmm(weights.permute(1, 2, 0), rows.transpose(0, 1)).squeeze(1)


def _project(rows: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """(chunk, H, 1): rows[e, h, :] . attn[h, :]."""
    edges, heads, width = rows.shape
    if heads == 1:
        return (rows.reshape(edges, width) @ attn.reshape(width, 1)).reshape(edges, 1, 1)
    return torch.bmm(rows.transpose(0, 1), attn.reshape(heads, width, 1)).transpose(0, 1)


def _eager_logits(z_src, z_dst, attn, src, dst, negative_slope: float) -> torch.Tensor:
    """(chunk, H, 1): a . LeakyReLU(z_u + z_v) per edge, one gather-add and one product."""
    return _project(F.leaky_relu_(_edge_sums(z_src, z_dst, src, dst), negative_slope), attn)


def _gather_logits(z_src, z_dst, attn, src, dst, negative_slope: float) -> torch.Tensor:
    """The same in plain ops, for torch.compile to fuse into one loop over edges."""
    hidden = F.leaky_relu(z_src[src] + z_dst[dst], negative_slope)
    return (hidden * attn.reshape(1, *z_src.shape[1:])).sum(-1, keepdim=True)


def _eager_edge_grads(z_src, z_dst, src, dst, grad, negative_slope: float, need_attn: bool):
    """Per edge ``g * LeakyReLU'(z_u + z_v)`` (chunk, H, D) and, with ``need_attn``,
    ``sum_e g_e LeakyReLU(z_u + z_v)`` (H, D); z_u + z_v is recomputed, not saved."""
    hidden = _edge_sums(z_src, z_dst, src, dst)
    grad_hidden = torch.ops.aten.leaky_relu_backward(grad.expand_as(hidden), hidden,
                                                     negative_slope, False)
    grad_attn = _weighted_rows(grad, F.leaky_relu_(hidden, negative_slope)) if need_attn \
        else None
    return grad_hidden, grad_attn


def _gather_edge_grads(z_src, z_dst, src, dst, grad, negative_slope: float, need_attn: bool):
    """The same in plain ops, for torch.compile. It scatters nothing: compiled CPU scatters
    become per-element atomic adds with two or more threads, several times slower."""
    hidden = z_src[src] + z_dst[dst]
    grad_hidden = torch.where(hidden > 0, grad, grad * negative_slope)
    grad_attn = (grad * F.leaky_relu(hidden, negative_slope)).sum(0) if need_attn else None
    return grad_hidden, grad_attn


class _GATv2Logits(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_src, z_dst, attn, src, dst, negative_slope):
        ctx.save_for_backward(z_src, z_dst, attn, src, dst)
        ctx.negative_slope = negative_slope
        heads, width = z_src.shape[1:]
        logits = _kernel(_eager_logits, _gather_logits, src.shape[0])
        out = z_src.new_empty(src.shape[0], heads, 1)
        for part in _chunks(src.shape[0], heads * width):
            out[part] = logits(z_src, z_dst, attn, src[part], dst[part], negative_slope)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z_src, z_dst, attn, src, dst = ctx.saved_tensors
        slope = ctx.negative_slope
        need_src, need_dst, need_attn = ctx.needs_input_grad[:3]
        heads, width = z_src.shape[1:]
        grad_src = _zeros(z_src) if need_src else None
        grad_dst = _zeros(z_dst) if need_dst else None
        grad_attn = attn.new_zeros(heads, width) if need_attn else None
        edge_grads = _kernel(_eager_edge_grads, _gather_edge_grads, src.shape[0])
        for part in _chunks(src.shape[0], heads * width):
            s, d = src[part], dst[part]
            grad_hidden, part_attn = edge_grads(z_src, z_dst, s, d, grad_out[part], slope,
                                                need_attn)
            if need_src:
                _scatter_add_(grad_src, s, grad_hidden)
            if need_dst:
                _scatter_add_(grad_dst, d, grad_hidden)
            if need_attn:
                grad_attn += part_attn
        scale = attn.reshape(1, heads, width)
        return (grad_src.mul_(scale) if need_src else None,
                grad_dst.mul_(scale) if need_dst else None,
                grad_attn.reshape(attn.shape) if need_attn else None, None, None, None)


class _AttentionSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_src, weights, src, dst, num_dst):
        ctx.save_for_backward(z_src, weights, src, dst)
        heads, width = z_src.shape[1:]
        out = z_src.new_zeros(num_dst, heads, width)
        for part in _chunks(src.shape[0], heads * width):
            _scatter_add_(out, dst[part], _scale_(_gather(z_src, src[part]), weights[part]))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z_src, weights, src, dst = ctx.saved_tensors
        need_src, need_weights = ctx.needs_input_grad[:2]
        heads, width = z_src.shape[1:]
        grad_src = _zeros(z_src) if need_src else None
        grad_weights = torch.empty_like(weights) if need_weights else None
        for part in _chunks(src.shape[0], heads * width):
            grad_messages = _gather(grad_out, dst[part])
            if need_weights:
                messages = _gather(z_src, src[part])
                grad_weights[part] = messages.mul_(grad_messages).sum(-1, keepdim=True)
            if need_src:
                _scatter_add_(grad_src, src[part], _scale_(grad_messages, weights[part]))
        return grad_src, grad_weights, None, None, None


SPARSE_DTYPES = (torch.float32, torch.float64)
"""Dtypes :func:`attention_sum` runs as a sparse-dense product (torch's CPU CSR kernels take
no others); other dtypes take the gather-and-scatter kernel."""


def _csr_product(ptr, columns, values, size, dense) -> torch.Tensor:
    """CSR(ptr, columns, values) @ dense."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": only used internally
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(ptr, columns, values, size=size) @ dense


def _sampled_dots(ptr, columns, size, left, right) -> torch.Tensor:
    """Per stored entry (i, j) of the CSR pattern: left[i] . right[j]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pattern = torch.sparse_csr_tensor(ptr, columns, left.new_zeros(columns.shape[0]),
                                          size=size)
        return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()


def _per_head(compute: Callable[[int], torch.Tensor], heads: int) -> torch.Tensor:
    """``compute(h)`` for every head, stacked along dimension 1 (a view for one head)."""
    if heads == 1:
        return compute(0).unsqueeze(1)
    return torch.stack([compute(h) for h in range(heads)], 1)


class _SparseAttentionSum(torch.autograd.Function):
    """``h_v = sum_u w_uv z_u`` as one CSR product per head (destinations x sources);
    backward: the transposed product for ``z`` and sampled dot products for ``w``."""

    @staticmethod
    def forward(ctx, z_src, weights, adj):
        ctx.save_for_backward(z_src, weights)
        ctx.adj = adj
        in_weights = weights.index_select(0, adj.in_eid)
        size = (adj.num_dst, adj.num_src)
        return _per_head(lambda h: _csr_product(adj.in_ptr, adj.in_src, in_weights[:, h, 0],
                                                size, z_src[:, h]), z_src.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z_src, weights = ctx.saved_tensors
        adj = ctx.adj
        need_src, need_weights = ctx.needs_input_grad[:2]
        grad_src = grad_weights = None
        heads = z_src.shape[1]
        if need_src:
            out_weights = weights.index_select(0, adj.out_eid)
            size = (adj.num_src, adj.num_dst)
            grad_src = _per_head(lambda h: _csr_product(
                adj.out_ptr, adj.out_dst, out_weights[:, h, 0], size, grad_out[:, h]), heads)
        if need_weights:
            size = (adj.num_dst, adj.num_src)
            dots = _per_head(lambda h: _sampled_dots(adj.in_ptr, adj.in_src, size,
                                                     grad_out[:, h], z_src[:, h]), heads)
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
                 src: torch.Tensor, dst: torch.Tensor, negative_slope: float = 0.2
                 ) -> torch.Tensor:
    r"""GATv2 attention logits :math:`e_{uv} = a^T \mathrm{LeakyReLU}(z_u + z_v)` per edge.

    ``z_src`` (N_src, H, D) and ``z_dst`` (N_dst, H, D) are the transformed node features,
    ``attn`` has H * D entries (DGL's (1, H, D) parameter), ``src`` and ``dst`` (E,) index the
    edges' end nodes. Returns (E, H, 1). Equal to DGL's
    ``(leaky_relu(u_add_v(z_src, z_dst)) * attn).sum(-1, keepdim=True)``; memory for
    backward is the node tensors only.

    Example
    -------
    >>> import torch
    >>> z = torch.randn(4, 1, 3, requires_grad=True)
    >>> src, dst = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0])
    >>> gatv2_logits(z, z, torch.randn(1, 1, 3), src, dst).shape
    torch.Size([4, 1, 1])
    """
    if has_torch_function((z_src, z_dst, attn)):
        return handle_torch_function(gatv2_logits, (z_src, z_dst, attn), z_src, z_dst, attn,
                                     src, dst, negative_slope)
    _check(z_src, z_dst, src, dst)
    if attn.numel() != z_src.shape[1] * z_src.shape[2]:
        raise ValueError(f"attn has {attn.numel()} entries for {z_src.shape[1]} heads of "
                         f"width {z_src.shape[2]}")
    args = (z_src, z_dst, attn, src, dst, float(negative_slope))
    if _whole_compiled(src.shape[0]):
        return _kernel(_GATv2Logits.apply, _gather_logits, src.shape[0])(*args)
    return _GATv2Logits.apply(*args)


def attention_sum(z_src: torch.Tensor, weights: torch.Tensor, src: torch.Tensor,
                  dst: torch.Tensor, num_dst: int, adj: Optional[Adjacency] = None
                  ) -> torch.Tensor:
    r"""Attention-weighted aggregation :math:`h_v = \sum_{(u, v)} w_{uv} z_u`.

    ``z_src`` (N_src, H, D), ``weights`` (E, H, 1), ``src``/``dst`` (E,); returns
    (num_dst, H, D). Equal to DGL's ``update_all(u_mul_e, sum)``. ``adj``, the edges'
    :class:`~dglbal.nn.adjacency.Adjacency` (layers pass
    :func:`~dglbal.nn.adjacency.graph_adjacency`, cached per graph), is built from ``src``
    and ``dst`` when not given. Float32/64 run as sparse-dense products that keep only the
    node tensors and the weights for backward.

    Example
    -------
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
    args = (z_src, weights, src, dst, int(num_dst))
    if _whole_compiled(src.shape[0]):
        return _kernel(lambda *a: _eager_attention_sum(*a, adj), _gather_sum,
                       src.shape[0])(*args)
    return _eager_attention_sum(*args, adj)


def _eager_attention_sum(z_src, weights, src, dst, num_dst: int, adj: Optional[Adjacency]):
    if z_src.dtype not in SPARSE_DTYPES or weights.dtype != z_src.dtype:
        return _AttentionSum.apply(z_src, weights, src, dst, num_dst)
    if adj is None:
        adj = build_adjacency(src, dst, z_src.shape[0], num_dst)
    return _SparseAttentionSum.apply(z_src, weights, adj)


def edge_index(graph) -> Tuple[torch.Tensor, torch.Tensor]:
    """(src, dst) of a DGL graph's edges in edge-id order (for the kernels above)."""
    return graph.edges(order="eid")
