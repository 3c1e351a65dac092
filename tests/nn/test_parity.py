"""dglbal.nn layers against dgl.nn: same parameters, same state dicts, same outputs."""
import itertools

import dgl.nn.pytorch as dglnn
import pytest
import torch
from dgl.base import DGLError

import dglbal.nn as ours
from dglbal.testing.graphs import bipartite, homogeneous, sampled_block

GRAPHS = ("homogeneous", "bipartite", "block")
DTYPES = (torch.float32, torch.float64)
IN_SRC, IN_DST = 6, 5  # 6 == heads(3) * out(2): identity residual; 1 head: linear residual


def make_graph(kind):
    return {"homogeneous": homogeneous, "bipartite": bipartite, "block": sampled_block}[kind]()


def make_inputs(graph, kind, dtype, tuple_widths):
    gen = torch.Generator().manual_seed(1)
    src = torch.randn(graph.num_src_nodes(), IN_SRC, generator=gen, dtype=dtype)
    if kind == "bipartite":
        width = IN_DST if tuple_widths else IN_SRC
        return (src, torch.randn(graph.num_dst_nodes(), width, generator=gen, dtype=dtype))
    return src


def assert_parity(theirs, mine, graph, feat, dtype, **kwargs):
    """Load their weights into mine and mine into theirs; outputs must agree to 1e-6."""
    theirs, mine = theirs.to(dtype), mine.to(dtype)
    assert [n for n, _ in theirs.named_parameters()] == [n for n, _ in mine.named_parameters()]
    mine.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(mine(graph, feat, **kwargs), theirs(graph, feat, **kwargs),
                               rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        for p in mine.parameters():
            p.normal_()
    theirs.load_state_dict(mine.state_dict())
    out_mine, out_theirs = mine(graph, feat, **kwargs), theirs(graph, feat, **kwargs)
    for a, b in zip(*(o if isinstance(o, tuple) else (o,) for o in (out_mine, out_theirs))):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind,heads,share,bias,residual,dtype", list(itertools.product(
    GRAPHS, (1, 3), (True, False), (True, False), (True, False), DTYPES)))
def test_gatv2conv_matches_dgl(kind, heads, share, bias, residual, dtype):
    graph = make_graph(kind)
    in_feats = (IN_SRC, IN_DST) if kind == "bipartite" and not share else IN_SRC
    args = (in_feats, 2, heads)
    kw = dict(residual=residual, bias=bias, share_weights=share)
    feat = make_inputs(graph, kind, dtype, tuple_widths=isinstance(in_feats, tuple))
    assert_parity(dglnn.GATv2Conv(*args, **kw), ours.GATv2Conv(*args, **kw), graph, feat, dtype,
                  get_attention=True)


@pytest.mark.parametrize("kind,heads,bias,residual,edge_weight,dtype", list(itertools.product(
    GRAPHS, (1, 3), (True, False), (True, False), (False, True), DTYPES)))
def test_gatconv_matches_dgl(kind, heads, bias, residual, edge_weight, dtype):
    graph = make_graph(kind)
    in_feats = (IN_SRC, IN_DST) if kind == "bipartite" else IN_SRC
    args = (in_feats, 2, heads)
    kw = dict(residual=residual, bias=bias)
    feat = make_inputs(graph, kind, dtype, tuple_widths=True)
    extra = {"get_attention": True}
    if edge_weight:
        extra["edge_weight"] = torch.rand(graph.num_edges(), dtype=dtype)
    assert_parity(dglnn.GATConv(*args, **kw), ours.GATConv(*args, **kw), graph, feat, dtype,
                  **extra)


@pytest.mark.parametrize("kind,norm,weight,bias,edge_weight,dtype", list(itertools.product(
    GRAPHS, ("none", "both", "right", "left"), (True, False), (True, False), (False, True),
    DTYPES)))
def test_graphconv_matches_dgl(kind, norm, weight, bias, edge_weight, dtype):
    graph = make_graph(kind)
    feat = make_inputs(graph, kind, dtype, tuple_widths=False)
    kw = dict(norm=norm, weight=weight, bias=bias)
    extra = {}
    if edge_weight:
        extra["edge_weight"] = torch.rand(graph.num_edges(), dtype=dtype)
    if not weight:
        extra["weight"] = torch.randn(IN_SRC, 4, dtype=dtype)
    assert_parity(dglnn.GraphConv(IN_SRC, 4, **kw), ours.GraphConv(IN_SRC, 4, **kw),
                  graph, feat, dtype, **extra)


@pytest.mark.parametrize("in_feats,out_feats", [(8, 3), (3, 8)])
def test_graphconv_transform_order_matches_dgl(in_feats, out_feats):
    graph = homogeneous()
    feat = torch.randn(graph.num_nodes(), in_feats, dtype=torch.float64)
    assert_parity(dglnn.GraphConv(in_feats, out_feats), ours.GraphConv(in_feats, out_feats),
                  graph, feat, torch.float64)


@pytest.mark.parametrize("name,args", [
    ("GATv2Conv", (6, 4, 2)), ("GATConv", (6, 4, 2)), ("GraphConv", (6, 4))])
def test_default_init_draws_dgls_weights(name, args):
    torch.manual_seed(3)
    theirs = getattr(dglnn, name)(*args)
    torch.manual_seed(3)
    mine = getattr(ours, name)(*args)
    for (n, a), (_, b) in zip(theirs.named_parameters(), mine.named_parameters()):
        assert torch.equal(a, b), n


@pytest.mark.parametrize("name,args", [
    ("GATv2Conv", (6, 4, 2)), ("GATConv", (6, 4, 2)), ("GraphConv", (6, 4))])
def test_zero_in_degree_raises_like_dgl(name, args):
    graph = homogeneous(self_loops=False, num_edges=5)
    feat = torch.randn(graph.num_nodes(), 6)
    for module in (getattr(dglnn, name), getattr(ours, name)):
        with pytest.raises(DGLError, match="0-in-degree"):
            module(*args)(graph, feat)
    allowed = getattr(ours, name)(*args, allow_zero_in_degree=True)
    assert torch.isfinite(allowed(graph, feat)).all()
