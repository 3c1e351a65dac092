"""Edges grouped by destination and source for the sparse attention kernels, and their cache."""
import dgl
import pytest
import torch

from dglbal.nn import GATv2Conv
from dglbal.nn.kernels.adjacency import build_adjacency, graph_adjacency
from dglbal.testing.graphs import bipartite, homogeneous, sampled_block


def _groups(ptr, members, eids):
    return [sorted(zip(members[a:b].tolist(), eids[a:b].tolist()))
            for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist())]


@pytest.mark.parametrize("make", [homogeneous, bipartite, sampled_block])
def test_groups_hold_every_edge_once_in_edge_id_order(make):
    graph = make()
    src, dst = graph.edges(order="eid")
    adj = graph_adjacency(graph)
    assert adj.num_src == graph.num_src_nodes() and adj.num_dst == graph.num_dst_nodes()
    by_dst = _groups(adj.in_ptr, adj.in_src, adj.in_eid)
    by_src = _groups(adj.out_ptr, adj.out_dst, adj.out_eid)
    for node in range(adj.num_dst):
        assert by_dst[node] == sorted((int(src[e]), e) for e in range(len(dst)) if dst[e] == node)
    for node in range(adj.num_src):
        assert by_src[node] == sorted((int(dst[e]), e) for e in range(len(src)) if src[e] == node)
    for eids in (adj.in_eid, adj.out_eid):  # stable: edge ids rise within a group
        assert sorted(eids.tolist()) == list(range(graph.num_edges()))
    assert all(adj.in_eid[a:b].tolist() == sorted(adj.in_eid[a:b].tolist())
               for a, b in zip(adj.in_ptr[:-1].tolist(), adj.in_ptr[1:].tolist()))
    assert torch.equal(adj.pairs, torch.stack((src, dst), 1).long())
    if adj.num_src != adj.num_dst:
        assert adj.node_ptr is None and adj.node_eid is None
        return
    for node in range(adj.num_src):  # out-edges, then in-edges (a self-loop in both)
        incident = adj.node_eid[adj.node_ptr[node]:adj.node_ptr[node + 1]].tolist()
        assert incident == [e for e in range(len(src)) if src[e] == node] + \
            [e for e in range(len(dst)) if dst[e] == node]


def test_cache_follows_the_graph_structure():
    graph = homogeneous()
    first = graph_adjacency(graph)
    assert graph_adjacency(graph) is first
    with graph.local_scope():  # same structure, a new DGLGraph object
        assert graph_adjacency(graph) is first
    graph.add_edges(torch.tensor([0]), torch.tensor([1]))  # DGL replaces the structure
    grown = graph_adjacency(graph)
    assert grown is not first and grown.in_src.shape[0] == first.in_src.shape[0] + 1


def test_layer_output_follows_an_edited_graph():
    graph = dgl.add_self_loop(homogeneous())
    layer = GATv2Conv(6, 4, 2)
    feat = torch.randn(graph.num_nodes(), 6)
    before = layer(graph, feat)
    graph.remove_edges(torch.arange(5))
    after = layer(graph, feat)
    fresh = layer(dgl.graph(graph.edges(), num_nodes=graph.num_nodes()), feat)
    torch.testing.assert_close(after, fresh)
    assert not torch.allclose(before, after)


def test_build_adjacency_takes_int32_edges():
    adj = build_adjacency(torch.tensor([0, 2, 1], dtype=torch.int32),
                          torch.tensor([1, 0, 1], dtype=torch.int32), 3, 2)
    assert adj.in_ptr.tolist() == [0, 1, 3] and adj.out_ptr.tolist() == [0, 1, 2, 3]
    assert adj.in_src.dtype == torch.int64


def test_zero_in_degree_check_follows_an_edited_graph():
    graph = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])))
    layer = GATv2Conv(3, 2, 1)
    layer(graph, torch.randn(3, 3))  # every node has an in-edge: cached as fine
    graph.add_nodes(1)  # node 3 has none now
    with pytest.raises(dgl.DGLError, match="0-in-degree"):
        layer(graph, torch.randn(4, 3))
