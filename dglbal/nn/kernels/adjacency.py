"""A graph's edges grouped by destination and by source, and a cache of such values per graph
structure.

The attention kernels (:mod:`dglbal.nn.kernels.attention`) sum over each node's in-edges (the
aggregation) and out-edges (gradients) as grouped sums
(:func:`dglbal.nn.kernels.edge_ops.group_sums`) instead of scatters. They need the edges in CSC
order (grouped by destination) and CSR order (grouped by source), which :func:`graph_adjacency`
builds with one stable sort per side and caches for the graph's structure: the layers of a deep
model share one build per forward pass.

DGL's ``adj_tensors`` is not used: on blocks (``dgl.to_block``) DGL 2.1 returns invalid
indices or crashes.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Dict, NamedTuple, Optional, Tuple

import torch

if TYPE_CHECKING:
    from dgl import DGLGraph

CACHE_SIZE = 8
"""Graph structures whose derived values are kept (the most recently used ones)."""
_cache: "OrderedDict[int, Tuple[object, Dict[str, Any]]]" = OrderedDict()


class Adjacency(NamedTuple):
    """A graph's edges in the layouts the attention kernels read.

    ``src`` and ``dst`` (E,) hold each edge's ends in edge-id order and ``pairs`` (E, 2) the
    same side by side (kernels read both layouts; keeping them avoids a copy per call). ``in_ptr``
    (num_dst + 1) delimits each destination's in-edges, ``in_src`` holds their sources and
    ``in_eid`` their edge ids (CSC); ``out_ptr``, ``out_dst``, ``out_eid`` likewise per
    source (CSR). When sources and destinations are one node set (``num_src == num_dst``),
    ``node_ptr`` and ``node_eid`` group the edges incident to each node, its out-edges then
    its in-edges (a self-loop twice); otherwise they are None. Within a group edges keep
    their edge-id order.
    """

    src: torch.Tensor
    dst: torch.Tensor
    pairs: torch.Tensor
    in_ptr: torch.Tensor
    in_src: torch.Tensor
    in_eid: torch.Tensor
    out_ptr: torch.Tensor
    out_dst: torch.Tensor
    out_eid: torch.Tensor
    node_ptr: Optional[torch.Tensor]
    node_eid: Optional[torch.Tensor]
    num_src: int
    num_dst: int


def _grouped(key: torch.Tensor, other: torch.Tensor, groups: int):
    order = torch.argsort(key, stable=True)
    ptr = key.new_zeros(groups + 1)
    torch.cumsum(torch.bincount(key, minlength=groups), 0, out=ptr[1:])
    return ptr, other[order], order


def build_adjacency(src: torch.Tensor, dst: torch.Tensor, num_src: int, num_dst: int) -> Adjacency:
    """The :class:`Adjacency` of the edges ``src[e] -> dst[e]`` (edge ids 0 .. E - 1).

    Examples
    --------
    >>> import torch
    >>> adj = build_adjacency(torch.tensor([0, 2, 1]), torch.tensor([1, 0, 1]), 3, 2)
    >>> adj.in_ptr.tolist(), adj.in_src.tolist(), adj.in_eid.tolist()
    ([0, 1, 3], [2, 0, 1], [1, 0, 2])
    """
    src, dst = src.long(), dst.long()
    in_ptr, in_src, in_eid = _grouped(dst, src, num_dst)
    out_ptr, out_dst, out_eid = _grouped(src, dst, num_src)
    node_ptr = node_eid = None
    if num_src == num_dst:
        eids = torch.arange(src.shape[0], device=src.device)
        node_ptr, node_eid, _ = _grouped(torch.cat((src, dst)), eids.repeat(2), num_src)
    return Adjacency(src, dst, torch.stack((src, dst), 1), in_ptr, in_src, in_eid, out_ptr, out_dst,
                     out_eid, node_ptr, node_eid, num_src, num_dst)


def structure_cached(graph: DGLGraph, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, a value that depends only on ``graph``'s structure, cached under ``name``.

    The cache is keyed by DGL's graph index, which DGL replaces whenever edges or nodes are
    added or removed and shares between ``local_scope`` views; it holds a reference to the
    index, so a key is never reused by another graph while it is cached.
    """
    structure = graph._graph
    key = id(structure)
    hit = _cache.get(key)
    if hit is None or hit[0] is not structure:
        hit = _cache[key] = (structure, {})
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    values = hit[1]
    if name not in values:
        values[name] = compute()
    return values[name]


def graph_adjacency(graph: DGLGraph) -> Adjacency:
    """The :class:`Adjacency` of a single-relation DGL graph or block, cached per structure."""
    def compute() -> Adjacency:
        src, dst = graph.edges(order="eid")
        return build_adjacency(src, dst, graph.num_src_nodes(), graph.num_dst_nodes())

    return structure_cached(graph, "adjacency", compute)


__all__ = ["Adjacency", "build_adjacency", "graph_adjacency", "structure_cached"]
