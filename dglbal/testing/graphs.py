"""Small random inputs for property tests of graph models: homogeneous graphs, bipartite
graphs, sampled DGL blocks, (graph, features) sets, and a plain stack of layers; inputs cast
to float64 for the checks (:func:`as_double`).

Every generator is seeded, so a failing test names the graph it failed on.

Examples
--------
>>> from dglbal.testing.graphs import homogeneous, input_sets
>>> homogeneous(num_nodes=12, num_edges=40).num_nodes()
12
>>> len(input_sets(in_feats=5, count=2))
2
"""
from __future__ import annotations

from typing import Any, Callable, List, Tuple

import dgl
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["homogeneous", "bipartite", "sampled_block", "input_sets", "Stack", "describe_graph",
           "as_double"]

#: graphs with at most this many edges are described with their edge list
LISTED_EDGES = 24


def homogeneous(num_nodes: int = 12, num_edges: int = 40, seed: int = 0,
                self_loops: bool = True) -> dgl.DGLGraph:
    """A random graph (``dgl.rand_graph`` seeded by ``seed``), with each node's self-loop
    exactly once when ``self_loops``."""
    dgl.seed(seed)
    g = dgl.rand_graph(num_nodes, num_edges)
    return dgl.add_self_loop(dgl.remove_self_loop(g)) if self_loops else g


def bipartite(num_src: int = 9, num_dst: int = 6, seed: int = 0) -> dgl.DGLGraph:
    """A bipartite graph in which every destination node has at least one in-edge."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_src, (3 * num_dst,), generator=gen)
    dst = torch.cat([torch.arange(num_dst),
                     torch.randint(0, num_dst, (2 * num_dst,), generator=gen)])
    return dgl.heterograph({("user", "rates", "item"): (src, dst)},
                           num_nodes_dict={"user": num_src, "item": num_dst})


def sampled_block(num_nodes: int = 40, num_edges: int = 160, seed: int = 0,
                  fanout: int = 4) -> dgl.DGLGraph:
    """The first block of a 2-layer neighbour sample from dgl.dataloading."""
    g = homogeneous(num_nodes, num_edges, seed)
    dgl.seed(seed)
    sampler = dgl.dataloading.NeighborSampler([fanout, fanout])
    _, _, blocks = sampler.sample_blocks(g, torch.arange(5))
    return blocks[0]


def input_sets(in_feats: int, count: int = 4, num_nodes: int = 30,
               seed: int = 0) -> List[Tuple[dgl.DGLGraph, torch.Tensor]]:
    """(graph, float64 features) pairs on random graphs with self-loops."""
    generator = torch.Generator().manual_seed(seed)
    return [(homogeneous(num_nodes, 3 * num_nodes, seed + i),
             torch.randn(num_nodes, in_feats, generator=generator, dtype=torch.float64))
            for i in range(count)]


class Stack(nn.Module):
    """Layers with an activation in between: graph layers get (graph, h), nn.Linear gets h.
    Heads are concatenated, and averaged after the last layer."""

    def __init__(self, *layers: nn.Module,
                 activation: Callable[[torch.Tensor], torch.Tensor] = F.relu) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = activation

    def forward(self, graph: dgl.DGLGraph, h: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(h) if isinstance(layer, nn.Linear) else layer(graph, h)
            last = i == len(self.layers) - 1
            if h.dim() == 3:
                h = h.mean(1) if last else h.flatten(1)
            if not last:
                h = self.activation(h)
        return h


def describe_graph(graph: dgl.DGLGraph) -> str:
    """Nodes and edges of a graph, for failure messages: the edge list of small graphs (up to
    ``LISTED_EDGES`` edges), enough to rebuild the graph and reproduce the failure."""
    if graph.is_block:
        nodes = f"block of {graph.num_src_nodes()} source and {graph.num_dst_nodes()} " \
                f"destination nodes"
    elif graph.is_homogeneous:
        nodes = f"graph of {graph.num_nodes()} nodes"
    else:
        nodes = "heterograph of " + ", ".join(f"{graph.num_nodes(t)} {t!r}" for t in graph.ntypes)
    parts = []
    for etype in graph.canonical_etypes:
        src, dst = graph.edges(etype=etype)
        relation = "" if graph.is_homogeneous or graph.is_block else f" {etype}"
        listed = (": " + str(list(zip(src.tolist(), dst.tolist())))
                  if len(src) <= LISTED_EDGES else "")
        parts.append(f"{len(src)} edges{relation}{listed}")
    return f"{nodes}, {'; '.join(parts)}"


def as_double(value: Any) -> Any:
    """Cast floating tensors (also inside tuples, lists, dicts and a graph's features) to
    float64.

    Each floating tensor becomes a new leaf, detached from the one passed in (with its
    ``requires_grad`` flag): a backward pass through the copy leaves the caller's ``.grad``
    alone.

    Parameters
    ----------
    value : object
        A tensor, a tuple, list or dict of values, a DGL graph, or anything else.

    Returns
    -------
    object
        The same structure with floating tensors in float64 (a graph as a ``local_var()`` copy
        with its floating node and edge features cast); integer tensors and other values as
        they were.

    Examples
    --------
    >>> import torch
    >>> as_double((torch.ones(2), torch.arange(2)))
    (tensor([1., 1.], dtype=torch.float64), tensor([0, 1]))
    """
    if isinstance(value, torch.Tensor):
        return _leaf64(value) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(as_double(v) for v in value)
    if isinstance(value, dict):
        return {key: as_double(v) for key, v in value.items()}
    if isinstance(value, dgl.DGLGraph):
        local = value.local_var()
        for frame in (local.srcdata, local.dstdata, local.edata):
            for key, tensor in list(frame.items()):
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                    frame[key] = _leaf64(tensor)
        return local
    return value


def _leaf64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().double().requires_grad_(tensor.requires_grad)
