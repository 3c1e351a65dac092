"""dglbal.nn layers against dgl.nn: same parameters, same state dicts, same outputs."""
import itertools

import dgl

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


@pytest.mark.parametrize("name,args,kwargs", [
    ("GATv2Conv", (6, 4, 2), {}), ("GATConv", (6, 4, 2), {}), ("GraphConv", (6, 4), {}),
    ("GATv2Conv", (6, 4, 2), dict(share_weights=True, residual=True)),
    ("GATv2Conv", ((6, 5), 4, 2), dict(residual=True)),
    ("GATv2Conv", ((6, 5), 4, 2), dict(share_weights=True, residual=True)),
    ("GATConv", ((6, 5), 4, 2), dict(residual=True, bias=False)),
    ("GraphConv", (6, 4), dict(bias=False))])
def test_default_init_draws_dgls_weights(name, args, kwargs):
    """Same seed, same parameters, and the generator left where DGL leaves it."""
    torch.manual_seed(3)
    theirs, their_next = getattr(dglnn, name)(*args, **kwargs), torch.rand(1)
    torch.manual_seed(3)
    mine, my_next = getattr(ours, name)(*args, **kwargs), torch.rand(1)
    theirs, mine = dict(theirs.named_parameters()), dict(mine.named_parameters())
    assert theirs.keys() == mine.keys()
    for n in theirs:
        assert torch.equal(theirs[n], mine[n]), n
    assert torch.equal(their_next, my_next)


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


# --- Every graph kind DGL's own tests use, forward and backward -------------------------------

def _batched():
    return dgl.batch([homogeneous(num_nodes=5, num_edges=8, seed=1),
                      dgl.graph(([], []), num_nodes=3),
                      homogeneous(num_nodes=7, num_edges=12, seed=2, self_loops=False)])


def _sampled_block_without_edges():
    """A minibatch whose seeds have no in-neighbours: a block with destination nodes, no edges."""
    sampler = dgl.dataloading.NeighborSampler([3])
    return sampler.sample_blocks(dgl.graph(([0, 1], [5, 6]), num_nodes=8), torch.arange(4))[2][0]


KINDS = {
    "homogeneous": homogeneous,
    "bipartite": bipartite,
    "block": sampled_block,
    "zero_in_degree": lambda: homogeneous(self_loops=False, num_edges=5),
    "zero_edges": lambda: dgl.graph(([], []), num_nodes=6),
    "block_zero_edges": _sampled_block_without_edges,
    "bipartite_zero_edges": lambda: dgl.heterograph({("user", "rates", "item"): ([], [])},
                                                    num_nodes_dict={"user": 4, "item": 3}),
    "bipartite_no_sources": lambda: dgl.heterograph({("user", "rates", "item"): ([], [])},
                                                    num_nodes_dict={"user": 0, "item": 3}),
    "empty": lambda: dgl.graph(([], []), num_nodes=0),
    "batched": _batched,
}
BIPARTITE_KINDS = ("bipartite", "bipartite_zero_edges", "bipartite_no_sources")


def _leaf(shape, gen, dtype=torch.float32):
    return torch.randn(shape, generator=gen, dtype=dtype)


def _outputs_and_grads(module, graph, feat, edge_weight, kwargs, cotangents=None):
    """(outputs, cotangents, gradients of the inputs and of every parameter by name)."""
    feat = tuple(f.clone().requires_grad_() for f in feat) if isinstance(feat, tuple) else \
        feat.clone().requires_grad_()
    leaves = list(feat) if isinstance(feat, tuple) else [feat]
    if edge_weight is not None:
        edge_weight = edge_weight.clone().requires_grad_()
        kwargs = dict(kwargs, edge_weight=edge_weight)
        leaves.append(edge_weight)
    out = module(graph, feat, **kwargs)
    out = out if isinstance(out, tuple) else (out,)
    if cotangents is None:
        gen = torch.Generator().manual_seed(5)
        cotangents = [_leaf(o.shape, gen, o.dtype) for o in out]
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(out, leaves + list(params.values()), cotangents,
                                allow_unused=True)
    named = dict(zip([f"input{i}" for i in range(len(leaves))] + list(params), grads))
    return out, cotangents, named


def assert_same_as_dgl(theirs, mine, graph, feat, edge_weight=None, **kwargs):
    """Random parameters loaded into both layers: outputs and input gradients agree to 1e-6
    (float32), parameter gradients to 1e-5 relative (sums over all edges, see below)."""
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(_leaf(p.shape, gen, p.dtype))
    mine.load_state_dict(theirs.state_dict())
    out_theirs, cotangents, grads_theirs = _outputs_and_grads(theirs, graph, feat, edge_weight,
                                                              kwargs)
    out_mine, _, grads_mine = _outputs_and_grads(mine, graph, feat, edge_weight, kwargs,
                                                 cotangents)
    assert len(out_mine) == len(out_theirs)
    for a, b in zip(out_mine, out_theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert grads_mine.keys() == grads_theirs.keys()
    for name, grad in grads_theirs.items():
        if grad is None:  # DGL's graph does not reach it: ours must give zeros or nothing
            assert grads_mine[name] is None or not grads_mine[name].any(), name
        else:
            # A parameter's gradient is a float32 sum over every edge or node, which DGL and
            # the fused kernels add up in different orders (and with 1 or 2 threads): its
            # rounding grows with the number of terms, so 1e-6 holds for values and input
            # gradients, and 1e-5 relative for parameter gradients.
            tol = 1e-6 if name.startswith("input") else 1e-5
            torch.testing.assert_close(grads_mine[name], grad, rtol=tol, atol=tol,
                                       msg=lambda m: f"{name}: {m}")


def _kind_features(graph, kind, src_width, dst_width, gen, extra=()):
    src = _leaf((graph.num_src_nodes(), *extra, src_width), gen)
    if kind in BIPARTITE_KINDS:
        return src, _leaf((graph.num_dst_nodes(), *extra, dst_width), gen)
    return src


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("norm", ["none", "both", "right", "left"])
@pytest.mark.parametrize("form", ["2d", "extra_dims", "edge_weight", "external_weight"])
def test_graphconv_matches_dgl_on_every_graph_kind(kind, norm, form):
    graph, gen = KINDS[kind](), torch.Generator().manual_seed(3)
    extra = (2, 3) if form == "extra_dims" else ()
    # destination features of another width: DGL's GraphConv never reads their values
    feat = _kind_features(graph, kind, 5, 2, gen, extra)
    kw = dict(norm=norm, allow_zero_in_degree=True, weight=form != "external_weight")
    extra_args = {}
    if form == "external_weight":
        extra_args["weight"] = _leaf((5, 4), gen)
    edge_weight = _leaf((graph.num_edges(),), gen).abs() if form == "edge_weight" else None
    assert_same_as_dgl(dglnn.GraphConv(5, 4, **kw), ours.GraphConv(5, 4, **kw), graph, feat,
                       edge_weight, **extra_args)


def _attention_cases(*variants):
    """(kind, *variant) for every kind, but no residual on the empty graph: there DGL's
    residual reshape raises (see test_residual_on_a_graph_without_nodes)."""
    return [(kind, *v) for kind in KINDS for v in variants if not (kind == "empty" and v[1])]


@pytest.mark.parametrize("kind,heads,residual,edge_weight,extra", _attention_cases(
    (1, False, False, ()), (3, True, False, ()), (2, True, True, ()), (1, False, True, ()),
    (3, True, False, (2,)), (2, True, False, (2, 3))))
def test_gatconv_matches_dgl_on_every_graph_kind(kind, heads, residual, edge_weight, extra):
    """``extra``: features (N, *extra, in_feats), output (N_dst, *extra, heads, out)."""
    graph, gen = KINDS[kind](), torch.Generator().manual_seed(3)
    in_feats = (6, 5) if kind in BIPARTITE_KINDS else 6  # 6 == 3 heads x 2: identity residual
    feat = _kind_features(graph, kind, 6, 5, gen, extra)
    kw = dict(residual=residual, allow_zero_in_degree=True)
    weights = _leaf((graph.num_edges(),), gen).abs() if edge_weight else None
    assert_same_as_dgl(dglnn.GATConv(in_feats, 2, heads, **kw),
                       ours.GATConv(in_feats, 2, heads, **kw), graph, feat, weights,
                       get_attention=True)


@pytest.mark.parametrize("kind,heads,residual,share", _attention_cases(
    (1, False, False), (3, True, True), (2, True, False)))
def test_gatv2conv_matches_dgl_on_every_graph_kind(kind, heads, residual, share):
    graph, gen = KINDS[kind](), torch.Generator().manual_seed(3)
    bipartite_kind = kind in BIPARTITE_KINDS
    in_feats = (6, 5) if bipartite_kind else 6
    feat = _kind_features(graph, kind, 6, 5, gen)
    kw = dict(residual=residual, share_weights=share and not bipartite_kind,
              allow_zero_in_degree=True)
    assert_same_as_dgl(dglnn.GATv2Conv(in_feats, 2, heads, **kw),
                       ours.GATv2Conv(in_feats, 2, heads, **kw), graph, feat,
                       get_attention=True)


@pytest.mark.parametrize("name", ["GATConv", "GATv2Conv"])
@pytest.mark.parametrize("heads", [3, 2])  # identity and linear residual
def test_residual_on_a_graph_without_nodes(name, heads):
    """DGL's residual reshape (``view(0, -1, out)``) raises on a graph without destination
    nodes; dglbal returns the empty output, and backward runs."""
    graph = KINDS["empty"]()
    feat = torch.randn(0, 6, requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot reshape tensor of 0 elements"):
        getattr(dglnn, name)(6, 2, heads, residual=True)(graph, feat)
    out, attention = getattr(ours, name)(6, 2, heads, residual=True)(graph, feat,
                                                                      get_attention=True)
    assert out.shape == (0, heads, 2) and attention.shape == (0, heads, 1)
    out.sum().backward()
    assert feat.grad.shape == (0, 6)


LAYER_ARGS = {"GraphConv": (6, 4), "GATConv": (6, 2, 3), "GATv2Conv": (6, 2, 3)}


@pytest.mark.parametrize("name", LAYER_ARGS)
@pytest.mark.parametrize("kind", [k for k in KINDS if k not in BIPARTITE_KINDS])
def test_zero_in_degree_error_exactly_where_dgl_raises(name, kind):
    graph = KINDS[kind]()
    feat = torch.randn(graph.num_src_nodes(), 6)
    results = []
    for module in (getattr(dglnn, name)(*LAYER_ARGS[name]), getattr(ours, name)(*LAYER_ARGS[name])):
        try:
            module(graph, feat)
            results.append(None)
        except DGLError as error:
            results.append(str(error))
    assert results[0] == results[1]
    assert (results[0] is None) == bool((graph.in_degrees() == 0).sum() == 0)


@pytest.mark.parametrize("norm", ["none", "both", "right", "left"])
@pytest.mark.parametrize("kind", ["bipartite", "bipartite_zero_edges"])
def test_graphconv_one_tensor_on_a_bipartite_graph_is_the_pair_form(norm, kind):
    """DGL's GraphConv reads only the source features: one tensor on a bipartite graph (not a
    block) computes what the (source, destination) pair computes."""
    graph = KINDS[kind]()
    feat = torch.randn(graph.num_src_nodes(), 5)
    kw = dict(norm=norm, allow_zero_in_degree=True)
    assert_same_as_dgl(dglnn.GraphConv(5, 4, **kw), ours.GraphConv(5, 4, **kw), graph, feat)
    layer = ours.GraphConv(5, 4, **kw)
    torch.testing.assert_close(layer(graph, feat),
                               layer(graph, (feat, torch.randn(graph.num_dst_nodes(), 7))))


@pytest.mark.parametrize("norm", ["none", "left", "right", "both"])
def test_graphconv_destination_dimensions(norm):
    """With norm 'right' or 'both' DGL lays the in-degree normalization out along the
    destination features' dimensions (a 2-D destination for 3-D sources scales the wrong
    axis): dglbal names the mismatch. Other norms never look at them, as in DGL."""
    graph = bipartite()
    feat = (torch.randn(graph.num_src_nodes(), 2, 5), torch.randn(graph.num_dst_nodes(), 5))
    if norm in ("right", "both"):
        with pytest.raises(ValueError, match=r"GraphConv: destination features have 2 "
                                             r"dimensions and source features 3"):
            ours.GraphConv(5, 4, norm=norm)(graph, feat)
        with pytest.raises(TypeError, match="destination features must be a torch.Tensor"):
            ours.GraphConv(5, 4, norm=norm)(graph, (feat[0], None))
    else:
        assert_same_as_dgl(dglnn.GraphConv(5, 4, norm=norm), ours.GraphConv(5, 4, norm=norm),
                           graph, feat)


# --- Inside dgl.nn.HeteroGraphConv: node types of different widths, an empty relation --------

def _heterograph():
    return dgl.heterograph({
        ("user", "follows", "user"): ([0, 1, 2, 3, 3], [1, 2, 0, 0, 1]),
        ("user", "plays", "game"): ([0, 1, 1, 3], [0, 2, 4, 2]),
        ("store", "sells", "game"): ([], []),  # the relation a sampled minibatch may leave empty
    }, num_nodes_dict={"user": 4, "game": 5, "store": 2})


WIDTHS = {"user": 3, "game": 2, "store": 4}
RELATIONS = (("user", "follows", "user"), ("user", "plays", "game"), ("store", "sells", "game"))


def _hetero_conv(module, name):
    """Built without allow_zero_in_degree: HeteroGraphConv switches the check off through the
    layers' set_allow_zero_in_degree (the empty relation's nodes all have in-degree 0)."""
    def layer(src, dst):
        if name == "GraphConv":
            return module.GraphConv(WIDTHS[src], 4)
        return getattr(module, name)((WIDTHS[src], WIDTHS[dst]), 2, 2, residual=True)
    return dglnn.HeteroGraphConv({rel: layer(rel[0], rel[2]) for rel in RELATIONS}, "sum")


def _hetero_run(conv, graph, inputs, cotangents):
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    if graph.is_block:
        out = conv(graph, (leaves, {k: v[: graph.num_dst_nodes(k)] for k, v in leaves.items()}))
    else:
        out = conv(graph, leaves)
    params = dict(conv.named_parameters())
    grads = torch.autograd.grad([out[k] for k in sorted(out)],
                                list(leaves.values()) + list(params.values()),
                                [cotangents[k] for k in sorted(out)], allow_unused=True)
    return out, dict(zip(list(leaves) + list(params), grads))


@pytest.mark.parametrize("name", LAYER_ARGS)
@pytest.mark.parametrize("as_block", [False, True], ids=["graph", "block"])
def test_heterographconv_matches_dgl(name, as_block):
    graph = _heterograph()
    if as_block:
        seeds = {"user": torch.tensor([0, 1]), "game": torch.tensor([2, 4])}
        graph = dgl.to_block(dgl.in_subgraph(graph, seeds), seeds)
    gen = torch.Generator().manual_seed(6)
    inputs = {t: _leaf((graph.num_src_nodes(t), w), gen) for t, w in WIDTHS.items()}
    theirs, mine = _hetero_conv(dglnn, name), _hetero_conv(ours, name)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(_leaf(p.shape, gen))
    mine.load_state_dict(theirs.state_dict())
    shape = (4,) if name == "GraphConv" else (2, 2)
    cotangents = {t: _leaf((graph.num_dst_nodes(t), *shape), gen) for t in ("user", "game")}
    out_theirs, grads_theirs = _hetero_run(theirs, graph, inputs, cotangents)
    out_mine, grads_mine = _hetero_run(mine, graph, inputs, cotangents)
    assert out_mine.keys() == out_theirs.keys() == {"user", "game"}
    for key in out_theirs:
        torch.testing.assert_close(out_mine[key], out_theirs[key], rtol=1e-6, atol=1e-6)
    for key, grad in grads_theirs.items():
        if grad is None:
            assert grads_mine[key] is None or not grads_mine[key].any(), key
        else:
            torch.testing.assert_close(grads_mine[key], grad, rtol=1e-6, atol=1e-6,
                                       msg=lambda m: f"{key}: {m}")


@pytest.mark.parametrize("src_extra,dst_extra", [((2,), (1,)), ((), (3,)), ((1, 3), (2, 1))])
@pytest.mark.parametrize("residual", [False, True])
def test_gatconv_broadcasts_extra_dimensions_of_a_pair_as_dgl(src_extra, dst_extra, residual):
    """In float64: the gradients sum over the broadcast copies in another order than DGL's."""
    graph, gen = bipartite(), torch.Generator().manual_seed(3)
    feat = (_leaf((graph.num_src_nodes(), *src_extra, 6), gen, torch.float64),
            _leaf((graph.num_dst_nodes(), *dst_extra, 5), gen, torch.float64))
    assert_same_as_dgl(dglnn.GATConv((6, 5), 2, 3, residual=residual).double(),
                       ours.GATConv((6, 5), 2, 3, residual=residual).double(), graph, feat,
                       get_attention=True)


def test_gatconv_edge_weights_scale_each_edge_whatever_the_feature_shape():
    """Where DGL's tiling misplaces the weights ((E, 1) weights, extra feature dimensions),
    dglbal's result is DGL's with (E,) weights on each 2-D slice."""
    graph, gen = homogeneous(), torch.Generator().manual_seed(8)
    weights = _leaf((graph.num_edges(),), gen).abs()
    feat = _leaf((graph.num_nodes(), 2, 6), gen)
    theirs, mine = dglnn.GATConv(6, 2, 3), ours.GATConv(6, 2, 3)
    mine.load_state_dict(theirs.state_dict())
    expected = torch.stack([theirs(graph, feat[:, i], edge_weight=weights) for i in range(2)], 1)
    torch.testing.assert_close(mine(graph, feat, edge_weight=weights), expected,
                               rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(mine(graph, feat[:, 0], edge_weight=weights[:, None]),
                               expected[:, 0], rtol=1e-6, atol=1e-6)
