"""dglbal.testing.strategies: the DGL inputs are what they claim, every kind of graph a GNN
meets is drawn, failures shrink toward small graphs, and bad options are refused up front."""
import dgl
import pytest
import torch
from hypothesis import find, given, settings

from dglbal.symmetry.arguments import describe_inputs
from dglbal.testing.graphs import describe_graph
from dglbal.testing.strategies import (batched_graphs, bipartite_graphs, blocks, edge_weights,
                                       features, graphs, heterographs, inputs)

# Searching for a kind of graph: enough examples that a strategy able to draw it finds it.
SEARCH = settings(max_examples=300, derandomize=True, database=None)


def _pairs(graph):
    src, dst = graph.edges()
    return list(zip(src.tolist(), dst.tolist()))


@given(graphs(min_nodes=2, max_nodes=7, max_edges=12))
def test_graphs_stay_in_their_bounds(graph):
    assert 2 <= graph.num_nodes() <= 7
    assert graph.num_edges() <= 12 + graph.num_nodes()  # drawn edges, then self-loops


@given(graphs(self_loops=True))
def test_self_loops_true_gives_each_node_its_self_loop_once(graph):
    loops = [u for u, v in _pairs(graph) if u == v]
    assert sorted(loops) == list(range(graph.num_nodes()))


@given(graphs(self_loops=False, zero_in_degree=False, duplicate_edges=False))
def test_options_remove_self_loops_duplicates_and_zero_in_degree(graph):
    pairs = _pairs(graph)
    assert graph.num_nodes() == 1 or all(u != v for u, v in pairs)
    assert len(set(pairs)) == len(pairs) or graph.num_nodes() <= 2
    assert int(graph.in_degrees().min()) >= 1


@pytest.mark.parametrize("kind, holds", [
    ("isolated node", lambda g: bool(((g.in_degrees() == 0) & (g.out_degrees() == 0)).any())),
    ("zero-in-degree node with out-edges",
     lambda g: bool(((g.in_degrees() == 0) & (g.out_degrees() > 0)).any())),
    ("duplicate edge", lambda g: len(set(_pairs(g))) < g.num_edges()),
    ("self-loop", lambda g: any(u == v for u, v in _pairs(g))),
    ("dense graph", lambda g: g.num_nodes() >= 4 and g.num_edges() >= 2 * g.num_nodes()),
    ("graph without edges", lambda g: g.num_edges() == 0 and g.num_nodes() >= 3),
])
def test_every_kind_of_homogeneous_graph_is_drawn(kind, holds):
    found = find(graphs(), holds, settings=SEARCH)
    assert holds(found), kind


def test_graphs_shrink_to_the_smallest_example():
    """A property that fails on any graph with 3 edges into one node is reported on a graph of
    that node alone: 1 node, 3 self-loops (duplicates allowed)."""
    graph = find(graphs(), lambda g: bool((g.in_degrees() >= 3).any()), settings=SEARCH)
    assert graph.num_nodes() == 1 and graph.num_edges() == 3


def test_heterographs_have_one_named_relation():
    graph = find(heterographs(relation=("paper", "cites", "paper")),
                 lambda g: g.num_edges() > 0, settings=SEARCH)
    assert graph.canonical_etypes == [("paper", "cites", "paper")]
    assert graph.ntypes == ["paper"]


@given(bipartite_graphs(max_src=5, max_dst=4, zero_in_degree=False))
def test_bipartite_graphs(graph):
    assert graph.canonical_etypes == [("user", "rates", "item")]
    assert 1 <= graph.num_nodes("user") <= 5 and 1 <= graph.num_nodes("item") <= 4
    assert int(graph.in_degrees().min()) >= 1


@given(blocks(num_layers=2, max_fanout=2))
def test_blocks_chain_from_the_input_layer(sampled):
    assert len(sampled) == 2 and all(b.is_block for b in sampled)
    assert sampled[0].num_dst_nodes() == sampled[1].num_src_nodes()
    assert int(sampled[1].in_degrees().min()) >= 1  # the base graph has self-loops
    assert int(sampled[1].in_degrees().max()) <= 2  # the fanout


@given(batched_graphs(max_graphs=3, max_nodes=4))
def test_batched_graphs(graph):
    assert 1 <= graph.batch_size <= 3
    assert all(n <= 4 for n in graph.batch_num_nodes().tolist())


@given(graphs(max_nodes=5).flatmap(lambda g: edge_weights(g).map(lambda w: (g, w))))
def test_edge_weights_are_positive_and_one_per_edge(drawn):
    graph, weights = drawn
    assert weights.shape == (graph.num_edges(),) and bool((weights > 0).all())


@given(features(7, 5, dtype=None, scale=1e3, sparsity=0.5))
def test_features_have_the_asked_shape_dtype_and_scale(feat):
    assert feat.shape == (7, 5) and feat.dtype in (torch.float32, torch.float64)
    assert float(feat.abs().max()) < 1e3 * 10


def test_features_are_sparse_when_asked():
    feat = find(features(20, 10, sparsity=0.9), lambda f: True, settings=SEARCH)
    assert 0.8 < float((feat == 0).double().mean()) < 0.97


@given(inputs(3, graph=bipartite_graphs()))
def test_inputs_of_a_bipartite_graph_are_a_pair(drawn):
    graph, (src, dst) = drawn
    assert src.shape == (graph.num_src_nodes(), 3) and dst.shape == (graph.num_dst_nodes(), 3)


@given(inputs(3, graph=blocks(num_layers=2)))
def test_inputs_of_blocks_feed_the_first_block(drawn):
    sampled, feat = drawn
    assert feat.shape == (sampled[0].num_src_nodes(), 3)


@given(inputs(4))
def test_default_inputs_have_no_zero_in_degree_node(drawn):
    graph, feat = drawn
    assert feat.shape == (graph.num_nodes(), 4) and int(graph.in_degrees().min()) >= 1


def test_descriptions_name_nodes_and_edges():
    graph = dgl.graph(([0, 1], [1, 1]), num_nodes=3)
    assert describe_graph(graph) == "graph of 3 nodes, 2 edges: [(0, 1), (1, 1)]"
    bipartite = dgl.heterograph({("user", "rates", "item"): ([0], [1])},
                                num_nodes_dict={"user": 1, "item": 2})
    assert describe_graph(bipartite) == ("heterograph of 2 'item', 1 'user', 1 edges "
                                         "('user', 'rates', 'item'): [(0, 1)]")
    block = dgl.to_block(graph, torch.tensor([1]))
    assert describe_graph(block).startswith("block of 2 source and 1 destination nodes, 2 edges")
    big = dgl.graph((torch.arange(30), torch.arange(30)))
    assert describe_graph(big) == "graph of 30 nodes, 30 edges"
    assert describe_inputs([graph, torch.zeros(3, 2)], graph=describe_graph) == (
        "graph of 3 nodes, 2 edges: [(0, 1), (1, 1)]; Tensor(3, 2) float32")
    weight = torch.ones(2, dtype=torch.int64)
    assert describe_inputs([graph, [torch.zeros(3, 2)]], {"w": weight}) == (
        "DGLGraph of 3 nodes, 2 edges; [Tensor(3, 2) float32]; w=Tensor(2,) int64")


@pytest.mark.parametrize("make, error, match", [
    (lambda: graphs(min_nodes=5, max_nodes=2), ValueError, r"graphs: min_nodes, max_nodes: "
                                                           r"need 0 <= min <= max"),
    (lambda: graphs(max_nodes=2.5), TypeError, "must be ints"),
    (lambda: graphs(self_loops="yes"), TypeError, "self_loops must be True or False or None"),
    (lambda: bipartite_graphs(max_src=0), ValueError, "max_src, max_dst"),
    (lambda: bipartite_graphs(relation=("a", "r", "a")), ValueError, "use heterographs"),
    (lambda: heterographs(relation=("a", "r", "b")), ValueError, "use bipartite_graphs"),
    (lambda: heterographs(relation="cites"), TypeError, "three non-empty strings"),
    (lambda: blocks(num_layers=0), ValueError, "num_layers"),
    (lambda: blocks(graph=dgl.graph(([0], [0]))), TypeError, "strategy of graphs"),
    (lambda: features(5, 3, dtype=torch.int64), ValueError, "floating torch.dtype"),
    (lambda: features(5, 3, sparsity=1.0), ValueError, "sparsity 1.0"),
    (lambda: features(5, 3, scale=0), ValueError, "scale 0"),
    (lambda: edge_weights("graph"), TypeError, "graph must be a DGLGraph"),
    (lambda: inputs(0), ValueError, "in_feats"),
    (lambda: inputs(3, scale=-1.0), ValueError, "scale -1.0"),
    (lambda: batched_graphs(max_graphs=0), ValueError, "max_graphs"),
])
def test_bad_options_are_refused_before_drawing(make, error, match):
    with pytest.raises(error, match=match):
        make()
