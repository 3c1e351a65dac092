"""Hypothesis strategies for DGL inputs: graphs of every kind a GNN meets, edge weights, and
node features matched to a model's input width.

Graphs are drawn as edge lists, so hypothesis shrinks a failing example toward fewer nodes and
fewer edges: a failure is reported on a small graph. Needs hypothesis (``dglbal[testing]``).

- :func:`graphs`: homogeneous graphs (size, density, self-loops, isolated and zero-in-degree
  nodes, duplicate edges);
- :func:`bipartite_graphs` (two node types, one relation) and :func:`heterographs` (one node
  type, one named relation);
- :func:`blocks`: the message flow graphs of DGL's ``NeighborSampler``;
- :func:`batched_graphs`: ``dgl.batch`` of several graphs (graph-level tasks);
- :func:`edge_weights` and :func:`features` for a given graph; :func:`inputs` draws a graph and
  its features together, ready for ``model(graph, feat)``.

The architectures of :mod:`.architectures` (``random_models``, ``layer_specs``) and
:func:`random_graphs` (Erdos-Renyi and Barabasi-Albert graphs) are here as well.

Examples
--------
>>> from hypothesis import given, settings
>>> from dglbal.testing.strategies import graphs
>>> @settings(max_examples=5, derandomize=True)
... @given(graphs(max_nodes=6, self_loops=True))
... def test_every_node_has_an_in_edge(graph):
...     assert graph.in_degrees().min() >= 1
>>> test_every_node_has_an_in_edge()
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import dgl
import networkx as nx
import torch
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .architectures import KINDS, build_layer, layer_specs, random_models, random_stack

__all__ = ["graphs", "bipartite_graphs", "heterographs", "blocks", "batched_graphs",
           "edge_weights", "features", "inputs", "random_graphs", "KINDS", "layer_specs",
           "build_layer", "random_stack", "random_models"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _check_range(name: str, low: int, high: int, least: int = 0) -> None:
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be ints, got {value!r}")
    if not least <= low <= high:
        raise ValueError(f"{name}: need {least} <= min <= max, got min {low}, max {high}")


def _check_flag(name: str, value: Any, none: bool = False) -> None:
    if not (isinstance(value, bool) or (none and value is None)):
        raise TypeError(f"{name} must be True or False{' or None' if none else ''}, got "
                        f"{value!r}")


def _edges(draw: Callable, num_src: int, num_dst: int, max_edges: int, duplicates: bool
           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """An edge list that shrinks toward no edges and toward node 0."""
    if num_src == 0 or num_dst == 0:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    pair = st.tuples(st.integers(0, num_src - 1), st.integers(0, num_dst - 1))
    pairs = draw(st.lists(pair, max_size=max_edges, unique=not duplicates))
    src, dst = (list(x) for x in zip(*pairs)) if pairs else ([], [])
    return torch.tensor(src, dtype=torch.int64), torch.tensor(dst, dtype=torch.int64)


def graphs(min_nodes: int = 1, max_nodes: int = 10, max_edges: Optional[int] = None,
           self_loops: Optional[bool] = None, zero_in_degree: bool = True,
           duplicate_edges: bool = True) -> SearchStrategy:
    """A homogeneous directed graph; shrinks toward ``min_nodes`` nodes and no edges.

    Parameters
    ----------
    min_nodes, max_nodes : int
        The number of nodes (``min_nodes`` >= 0).
    max_edges : int, optional
        At most this many drawn edges (before self-loops are added); ``3 * max_nodes`` by
        default, so both sparse and dense graphs are drawn.
    self_loops : bool, optional
        True: every node has its self-loop exactly once (no zero-in-degree node); False: no
        self-loop at all; None (default): drawn, self-loops may also appear as drawn edges.
    zero_in_degree : bool, default True
        False: a node without in-edge gets one from the next node (its self-loop in a graph of
        one node), for layers that refuse zero-in-degree nodes (DGL's ``GraphConv``,
        ``GATConv``). Isolated nodes and nodes without out-edges are drawn either way.
    duplicate_edges : bool, default True
        Whether the same edge may appear several times (a multigraph).
    """
    _check_range("graphs: min_nodes, max_nodes", min_nodes, max_nodes)
    max_edges = 3 * max_nodes if max_edges is None else max_edges
    _check_range("graphs: max_edges", 0, max_edges)
    _check_flag("graphs: self_loops", self_loops, none=True)
    _check_flag("graphs: zero_in_degree", zero_in_degree)
    _check_flag("graphs: duplicate_edges", duplicate_edges)
    return _graphs(min_nodes, max_nodes, max_edges, self_loops, zero_in_degree,
                   duplicate_edges)


@st.composite
def _graphs(draw: Callable, min_nodes: int, max_nodes: int, max_edges: int,
            self_loops: Optional[bool], zero_in_degree: bool, duplicate_edges: bool
            ) -> dgl.DGLGraph:
    n = draw(st.integers(min_nodes, max_nodes))
    src, dst = _edges(draw, n, n, max_edges, duplicate_edges)
    graph = dgl.graph((src, dst), num_nodes=n)
    if self_loops is None:
        self_loops = draw(st.sampled_from([None, True, False]))
    if self_loops is not None:
        graph = dgl.remove_self_loop(graph)
        if self_loops:
            graph = dgl.add_self_loop(graph)
    if not zero_in_degree:
        lonely = torch.nonzero(graph.in_degrees() == 0).reshape(-1)
        graph.add_edges((lonely + 1) % max(n, 1), lonely)
    return graph


def bipartite_graphs(max_src: int = 8, max_dst: int = 6, max_edges: Optional[int] = None,
                     zero_in_degree: bool = True,
                     relation: Tuple[str, str, str] = ("user", "rates", "item")
                     ) -> SearchStrategy:
    """A heterograph of one relation from one node type to another (``relation``, default
    ``("user", "rates", "item")``), with 1 to ``max_src`` source and ``max_dst`` destination
    nodes; ``zero_in_degree=False`` gives every destination an in-edge."""
    _check_range("bipartite_graphs: max_src, max_dst", 1, min(max_src, max_dst), least=1)
    max_edges = 2 * (max_src + max_dst) if max_edges is None else max_edges
    _check_range("bipartite_graphs: max_edges", 0, max_edges)
    _check_flag("bipartite_graphs: zero_in_degree", zero_in_degree)
    _check_relation("bipartite_graphs", relation)
    if relation[0] == relation[2]:
        raise ValueError(f"bipartite_graphs: the relation must join two node types, got "
                         f"{relation!r}; use heterographs for one node type")
    return _bipartite_graphs(max_src, max_dst, max_edges, zero_in_degree, tuple(relation))


def _check_relation(name: str, relation: Any) -> None:
    if not (isinstance(relation, (tuple, list)) and len(relation) == 3 and
            all(isinstance(r, str) and r for r in relation)):
        raise TypeError(f"{name}: relation must be (source type, edge type, destination "
                        f"type), three non-empty strings, got {relation!r}")


@st.composite
def _bipartite_graphs(draw: Callable, max_src: int, max_dst: int, max_edges: int,
                      zero_in_degree: bool, relation: Tuple[str, str, str]) -> dgl.DGLGraph:
    num_src, num_dst = draw(st.integers(1, max_src)), draw(st.integers(1, max_dst))
    src, dst = _edges(draw, num_src, num_dst, max_edges, True)
    if not zero_in_degree:
        lonely = sorted(set(range(num_dst)) - set(dst.tolist()))
        src = torch.cat([src, torch.zeros(len(lonely), dtype=torch.int64)])
        dst = torch.cat([dst, torch.tensor(lonely, dtype=torch.int64)])
    return dgl.heterograph({relation: (src, dst)},
                           num_nodes_dict={relation[0]: num_src, relation[2]: num_dst})


def heterographs(relation: Tuple[str, str, str] = ("paper", "cites", "paper"),
                 **graph_options: Any) -> SearchStrategy:
    """A heterograph of one node type and one named relation (``("paper", "cites", "paper")``
    by default); the other options are those of :func:`graphs`."""
    _check_relation("heterographs", relation)
    if relation[0] != relation[2]:
        raise ValueError(f"heterographs: the relation must join one node type to itself, got "
                         f"{relation!r}; use bipartite_graphs for two node types")

    def rename(graph: dgl.DGLGraph) -> dgl.DGLGraph:
        edges = graph.edges()
        return dgl.heterograph({tuple(relation): edges},
                               num_nodes_dict={relation[0]: graph.num_nodes()})
    return graphs(**graph_options).map(rename)


def blocks(num_layers: int = 1, max_fanout: int = 3, max_seeds: int = 4,
           graph: Optional[SearchStrategy] = None) -> SearchStrategy:
    """``num_layers`` blocks (message flow graphs) of DGL's ``NeighborSampler`` on a drawn
    graph (by default :func:`graphs` with self-loops, so every destination has an in-edge),
    input layer first: feed them as ``model(blocks, features of blocks[0].srcdata)``. The
    sampler draws with DGL's random generator, seeded (``dgl.seed``) by a drawn seed."""
    _check_range("blocks: num_layers, max_fanout, max_seeds", 1,
                 min(num_layers, max_fanout, max_seeds), least=1)
    if graph is not None and not isinstance(graph, SearchStrategy):
        raise TypeError(f"blocks: graph must be a strategy of graphs, e.g. graphs(), got "
                        f"{type(graph).__name__}")
    return _blocks(num_layers, max_fanout, max_seeds,
                   graph if graph is not None else graphs(min_nodes=1, self_loops=True))


@st.composite
def _blocks(draw: Callable, num_layers: int, max_fanout: int, max_seeds: int,
            graph: SearchStrategy) -> List[dgl.DGLGraph]:
    base = draw(graph)
    if base.num_nodes() == 0:
        raise ValueError("blocks: the graph strategy drew a graph without nodes; sampling "
                         "needs seed nodes (use graphs(min_nodes=1))")
    seeds = draw(st.lists(st.integers(0, max(base.num_nodes() - 1, 0)), min_size=1,
                          max_size=max_seeds, unique=True))
    fanouts = [draw(st.integers(1, max_fanout)) for _ in range(num_layers)]
    dgl.seed(draw(st.integers(0, 2 ** 16)))
    sampler = dgl.dataloading.NeighborSampler(fanouts)
    return list(sampler.sample_blocks(base, torch.tensor(seeds))[2])


def batched_graphs(max_graphs: int = 3, **graph_options: Any) -> SearchStrategy:
    """``dgl.batch`` of 1 to ``max_graphs`` graphs drawn by :func:`graphs` (with
    ``graph_options``), for graph-level readouts."""
    _check_range("batched_graphs: max_graphs", 1, max_graphs, least=1)
    return st.lists(graphs(**graph_options), min_size=1, max_size=max_graphs).map(dgl.batch)


def edge_weights(graph: dgl.DGLGraph, positive: bool = True,
                 dtype: torch.dtype = torch.float64) -> SearchStrategy:
    """One weight per edge of ``graph`` (its only relation), of scale 0.1 to 10; in
    ``[0.5 * scale, 1.5 * scale]`` when ``positive``, otherwise of either sign."""
    if not isinstance(graph, dgl.DGLGraph):
        raise TypeError(f"edge_weights: graph must be a DGLGraph, got {type(graph).__name__}")
    if len(graph.canonical_etypes) != 1:
        raise ValueError(f"edge_weights: the graph has {len(graph.canonical_etypes)} edge "
                         "types; draw weights per relation from its one-relation subgraphs")
    _check_flag("edge_weights: positive", positive)
    _check_dtypes("edge_weights", [dtype], dtype)
    return _edge_weights(graph.num_edges(), positive, dtype)


def _check_dtypes(name: str, choices: List[Any], given: Any) -> None:
    if not choices or not all(isinstance(d, torch.dtype) and d.is_floating_point
                              for d in choices):
        raise ValueError(f"{name}: dtype must be a floating torch.dtype"
                         f"{', a list of them or None' if name == 'features' else ''}, got "
                         f"{given!r}")


@st.composite
def _edge_weights(draw: Callable, num_edges: int, positive: bool, dtype: torch.dtype
                  ) -> torch.Tensor:
    scale = draw(st.sampled_from([1.0, 0.1, 10.0]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    raw = torch.rand(num_edges, generator=generator, dtype=torch.float64)
    values = raw + 0.5 if positive else 2 * raw - 1
    return (scale * values).to(dtype)


def features(num_nodes: int, width: int,
             dtype: Union[None, torch.dtype, Sequence[torch.dtype]] = torch.float32,
             scale: Optional[float] = None, sparsity: Optional[float] = None) -> SearchStrategy:
    """A ``(num_nodes, width)`` feature matrix, N(0, scale^2) with a fraction ``sparsity`` of
    entries set to 0.

    ``dtype`` is one dtype (float32 by default, that of a model built with torch's defaults;
    the kit's checks run in float64 anyway), a list to draw from, or None for float32 or
    float64; ``scale``
    (default drawn from 1, 1e-3, 1e3) and ``sparsity`` (default drawn from 0, 0.5, 0.9) are
    drawn when not given. The values come from a drawn seed.
    """
    _check_range("features: num_nodes, width", num_nodes, num_nodes)
    _check_range("features: num_nodes, width", width, width)
    choices = list(_DTYPES.values()) if dtype is None else \
        [dtype] if isinstance(dtype, torch.dtype) else \
        list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
    _check_dtypes("features", choices, dtype)
    for name, value, ok in (("scale", scale, lambda v: 0 < v < float("inf")),
                            ("sparsity", sparsity, lambda v: 0 <= v < 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(
                value, (int, float)) or not ok(value)):
            raise ValueError(f"features: need 0 < scale < inf and 0 <= sparsity < 1, got "
                             f"{name} {value!r}")
    return _features(num_nodes, width, choices, scale, sparsity)


@st.composite
def _features(draw: Callable, num_nodes: int, width: int, choices: List[torch.dtype],
              scale: Optional[float], sparsity: Optional[float]) -> torch.Tensor:
    chosen = draw(st.sampled_from(choices))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3])) if scale is None else scale
    sparsity = draw(st.sampled_from([0.0, 0.5, 0.9])) if sparsity is None else sparsity
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    values = scale * torch.randn(num_nodes, width, generator=generator, dtype=torch.float64)
    kept = torch.rand(num_nodes, width, generator=generator, dtype=torch.float64) >= sparsity
    return (values * kept).to(chosen)


def _feature_rows(graph: Any) -> Tuple[int, Optional[int]]:
    """(rows of the input features, rows of separate destination features or None)."""
    if isinstance(graph, (list, tuple)):  # blocks: the first one reads the input features
        return graph[0].num_src_nodes(), None
    if graph.is_block or graph.is_homogeneous or len(graph.ntypes) == 1:
        return graph.num_src_nodes(), None
    return graph.num_src_nodes(), graph.num_dst_nodes()


def inputs(in_feats: int, graph: Optional[SearchStrategy] = None,
           **feature_options: Any) -> SearchStrategy:
    """``(graph, feat)`` for ``model(graph, feat)``: a graph drawn from ``graph`` (default
    :func:`graphs` without zero-in-degree nodes) and float32 :func:`features` of width
    ``in_feats``
    for its nodes: a ``(source, destination)`` pair of feature matrices for a bipartite graph
    of two node types, the source nodes' features for a block or a list of blocks.
    ``feature_options`` go to :func:`features` (``dtype``, ``scale``, ``sparsity``)."""
    _check_range("inputs: in_feats", in_feats, in_feats, least=1)
    if graph is not None and not isinstance(graph, SearchStrategy):
        raise TypeError(f"inputs: graph must be a strategy of graphs, e.g. graphs(), got "
                        f"{type(graph).__name__}")
    features(1, in_feats, **feature_options)  # checks the options now
    return _inputs(in_feats, graph if graph is not None else graphs(zero_in_degree=False),
                   feature_options)


@st.composite
def _inputs(draw: Callable, in_feats: int, graph: SearchStrategy, feature_options: dict
            ) -> Tuple[Any, Any]:
    drawn = draw(graph)
    rows, dst_rows = _feature_rows(drawn)
    feat = draw(features(rows, in_feats, **feature_options))
    if dst_rows is not None:
        feat = (feat, draw(features(dst_rows, in_feats, **feature_options)))
    return drawn, feat


@st.composite
def random_graphs(draw: Callable) -> dgl.DGLGraph:
    """Erdos-Renyi or Barabasi-Albert graphs of 8-20 nodes (power-law degrees), with or
    without self-loops and isolated nodes. Made from a drawn seed: they do not shrink."""
    n, seed = draw(st.integers(8, 20)), draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        nx_graph = nx.erdos_renyi_graph(n, draw(st.sampled_from([0.2, 0.4])), seed=seed)
    else:
        nx_graph = nx.barabasi_albert_graph(n, draw(st.integers(1, 3)), seed=seed)
    graph = dgl.from_networkx(nx_graph)
    isolated = draw(st.integers(0, 2))
    if isolated:
        graph.add_nodes(isolated)
    if draw(st.booleans()):
        graph = dgl.add_self_loop(graph)
    return graph
