"""The fused attention kernels: gradients, parity with DGL, memory, analyser, sparse input."""
import itertools
import os

import dgl
import dgl.nn.pytorch as dglnn
import pytest
import torch

import dglbal.nn as ours
import dglbal.nn.kernels.attention as attention
import dglbal.nn.kernels.attention_backend as backend
import dglbal.nn.kernels.edge_ops as edge_ops
from dglbal.nn.kernels.adjacency import graph_adjacency
from dglbal.nn.kernels.attention import attention_sum, edge_index, gatv2_logits
from dglbal.nn.kernels.sparse import sparse_features
from dglbal.symmetry import analyze
from dglbal.testing.graphs import Stack, bipartite, homogeneous, sampled_block

GRAPHS = {"homogeneous": homogeneous, "bipartite": bipartite, "block": sampled_block,
          # duplicate edges; on one node more edges than node pairs (torch's sampled_addmm
          # refuses that pattern, so the kernels gather instead)
          "multigraph": lambda: dgl.graph(([0, 0, 1, 2, 2, 1], [0, 1, 1, 2, 2, 2])),
          "one-node multigraph": lambda: dgl.graph(([0, 0], [0, 0]))}
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-10}


def _inputs(graph, heads, width, generator):
    z_src = torch.randn(graph.num_src_nodes(), heads, width, generator=generator,
                        dtype=torch.float64, requires_grad=True)
    z_dst = torch.randn(graph.num_dst_nodes(), heads, width, generator=generator,
                        dtype=torch.float64, requires_grad=True)
    attn = torch.randn(1, heads, width, generator=generator, dtype=torch.float64,
                       requires_grad=True)
    return z_src, z_dst, attn


@pytest.fixture(params=[None, 7], ids=["one-chunk", "chunked"])
def chunking(request, monkeypatch):
    """Run the kernels in one chunk and in chunks of one or two edges."""
    if request.param is not None:
        monkeypatch.setattr(attention, "CHUNK_ELEMENTS", request.param)


@pytest.fixture(params=["sampled", "gather"])
def aggregation(request, monkeypatch):
    """attention_sum's weight gradients as sampled dense-dense products (float32/64) and as
    chunked gathers (the path other dtypes take)."""
    if request.param == "gather":
        monkeypatch.setattr(edge_ops, "SAMPLED_DTYPES", ())


@pytest.mark.parametrize("kind,heads,slope", [("homogeneous", 1, 0.2), ("bipartite", 3, 0.2),
                                              ("block", 2, -0.5)])
@pytest.mark.parametrize("cached", [False, True], ids=["no-adjacency", "adjacency"])
def test_gradcheck(kind, heads, slope, cached, chunking, aggregation):
    graph = GRAPHS[kind]()
    src, dst = edge_index(graph)
    adj = graph_adjacency(graph) if cached else None
    z_src, z_dst, attn = _inputs(graph, heads, 3, torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(
        lambda a, b, c: gatv2_logits(a, b, c, src, dst, slope, adj), (z_src, z_dst, attn))
    weights = torch.rand(graph.num_edges(), heads, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z, w: attention_sum(z, w, src, dst, graph.num_dst_nodes(), adj),
        (z_src, weights))


@pytest.mark.parametrize("cached", [False, True], ids=["no-adjacency", "adjacency"])
def test_gradcheck_with_one_tensor_on_both_ends(cached, chunking):
    """Shared weights pass one tensor as z_src and z_dst: its gradient is the sum of both."""
    graph = homogeneous()
    src, dst = edge_index(graph)
    adj = graph_adjacency(graph) if cached else None
    z, _, attn = _inputs(graph, 2, 3, torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda a, c: gatv2_logits(a, a, c, src, dst, 0.2, adj),
                                    (z, attn))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_kernels_match_float64(dtype):
    graph = homogeneous()
    src, dst = edge_index(graph)
    adj = graph_adjacency(graph)
    z, _, attn = _inputs(graph, 2, 4, torch.Generator().manual_seed(0))
    weights = torch.rand(graph.num_edges(), 2, 1, dtype=torch.float64)
    results = []
    for precision in (torch.float64, dtype):
        leaves = [t.detach().to(precision).requires_grad_() for t in (z, attn, weights)]
        a, c, w = leaves
        out = gatv2_logits(a, a, c, src, dst, 0.2, adj).sum() + \
            attention_sum(a, w, src, dst, graph.num_nodes(), adj).sum()
        out.backward()
        results.append([out.detach()] + [leaf.grad for leaf in leaves])
    for exact, low in zip(*results):
        assert low.dtype == dtype
        torch.testing.assert_close(low.double(), exact, rtol=0.05, atol=0.05)


def _grads(module, graph, feat, seed_out):
    out = module(graph, feat)
    out.backward(seed_out)
    feats = feat if isinstance(feat, tuple) else (feat,)
    return [out.detach()] + [f.grad for f in feats] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("layer,kind,heads,dtype", list(itertools.product(
    ("GATv2Conv", "GATConv"), GRAPHS, (1, 3), (torch.float32, torch.float64))))
def test_outputs_and_gradients_match_dgl(layer, kind, heads, dtype, chunking, aggregation):
    torch.manual_seed(0)  # the layers' weights: the same whichever tests ran before
    graph = GRAPHS[kind]()
    bipartite_graph = kind == "bipartite"
    in_feats = (6, 5) if bipartite_graph else 6
    kwargs = dict(residual=True, share_weights=False) if layer == "GATv2Conv" else \
        dict(residual=True)
    theirs = getattr(dglnn, layer)(in_feats, 2, heads, **kwargs).to(dtype)
    mine = getattr(ours, layer)(in_feats, 2, heads, **kwargs).to(dtype)
    mine.load_state_dict(theirs.state_dict())
    gen = torch.Generator().manual_seed(2)
    src = torch.randn(graph.num_src_nodes(), 6, generator=gen, dtype=dtype)
    feat = (src, torch.randn(graph.num_dst_nodes(), 5, generator=gen, dtype=dtype)) \
        if bipartite_graph else src
    seed_out = torch.randn(graph.num_dst_nodes(), heads, 2, generator=gen, dtype=dtype)
    results = []
    for module in (mine, theirs):
        leaves = tuple(f.clone().requires_grad_() for f in feat) if bipartite_graph else \
            feat.clone().requires_grad_()
        results.append(_grads(module, graph, leaves, seed_out))
    tol = TOLERANCE[dtype]
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _saved_shapes(module, graph, feat):
    shapes = []

    def pack(tensor):
        shapes.append(tuple(tensor.shape))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(graph, feat)
    return shapes


@pytest.mark.parametrize("layer", ["GATv2Conv", "GATConv"])
def test_no_edge_by_feature_tensor_is_saved_for_backward(layer):
    graph = homogeneous(num_nodes=30, num_edges=200)
    edges, width = graph.num_edges(), 8
    feat = torch.randn(graph.num_nodes(), 6)
    mine, theirs = getattr(ours, layer)(6, width, 2), getattr(dglnn, layer)(6, width, 2)

    def edge_wide(shapes):
        return [s for s in shapes if s[:1] == (edges,) and torch.Size(s).numel() >= edges * width]

    if layer == "GATv2Conv":  # DGL keeps (E, H, D) tensors (GATConv's are (E, H, 1) there too)
        assert edge_wide(_saved_shapes(theirs, graph, feat))
    assert edge_wide(_saved_shapes(mine, graph, feat)) == []


def test_kernels_reject_bad_shapes():
    z, idx = torch.randn(4, 1, 3), torch.arange(4)
    with pytest.raises(ValueError, match="heads, features"):
        gatv2_logits(z, torch.randn(4, 2, 3), torch.randn(1, 1, 3), idx, idx)
    with pytest.raises(ValueError, match="attn has 2 entries"):
        gatv2_logits(z, z, torch.randn(2), idx, idx)
    with pytest.raises(ValueError, match="equal length"):
        attention_sum(z, torch.rand(4, 1, 1), idx, idx[:3], 4)
    with pytest.raises(ValueError, match="weights must have shape"):
        attention_sum(z, torch.rand(4, 2, 1), idx, idx, 4)


@pytest.mark.parametrize("layer", ["GATv2Conv", "GATConv"])
def test_analyser_sees_the_same_groups_as_in_dgl_layers(layer, monkeypatch):
    calls = []
    for func in (attention.gatv2_logits, attention.attention_sum):
        from dglbal.symmetry.rules.registry import OP_RULES
        rule = OP_RULES[func]
        monkeypatch.setitem(OP_RULES, func, lambda *a, rule=rule: calls.append(1) or rule(*a))
    kwargs = dict(bias=False, share_weights=True) if layer == "GATv2Conv" else dict(bias=False)
    mine = Stack(getattr(ours, layer)(5, 4, 2, **kwargs), getattr(ours, layer)(8, 3, 2))
    theirs = Stack(getattr(dglnn, layer)(5, 4, 2, **kwargs), getattr(dglnn, layer)(8, 3, 2))
    theirs.load_state_dict(mine.state_dict())
    graph, feat = homogeneous(), torch.randn(12, 5)
    reports = [analyze(model, graph, feat) for model in (mine, theirs)]
    assert calls  # the kernels' rules were used, not a trace of their insides
    assert reports[0].unsupported == reports[1].unsupported == []
    assert len(reports[0].groups) == len(reports[1].groups) > 0
    for a, b in zip(*(r.groups for r in reports)):
        assert a.parameters == b.parameters
        for name in a.parameters:
            assert torch.equal(a.exponents(name), b.exponents(name))


@pytest.mark.parametrize("conv,residual,layout", [("gatv2", False, "csr"), ("gat", False, "csr"),
                                                  ("gatv2", True, "coo")])
def test_sparse_features_give_the_dense_results(conv, residual, layout):
    graph = homogeneous(num_nodes=20, num_edges=60)
    gen = torch.Generator().manual_seed(0)
    feat = torch.rand(20, 30, generator=gen) * (torch.rand(20, 30, generator=gen) < 0.05)
    torch.manual_seed(0)
    model = ours.GAT(30, 4, 3, 3, num_heads=2, conv=conv, feat_drop=0.5,
                     residual_alpha=0.1 if residual else 0.0)
    model.eval()  # feature dropout off: the same function on both inputs
    sparse = sparse_features(feat) if layout == "csr" else feat.to_sparse()
    assert sparse.layout == {"csr": torch.sparse_csr, "coo": torch.sparse_coo}[layout]
    results = []
    for x in (feat, sparse):
        model.zero_grad()
        out = model(graph, x)
        out.sum().backward()
        results.append([out.detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sparse_feature_dropout_keeps_zeros_and_scales_values():
    graph = homogeneous(num_nodes=20, num_edges=60)
    feat = sparse_features(torch.eye(20, 30))
    layer = ours.GATv2Conv(30, 4, 1, feat_drop=0.5)
    layer.train()
    out = layer(graph, feat)
    assert out.shape == (20, 1, 4) and torch.isfinite(out).all()


def test_sparse_features_only_when_sparse_enough():
    dense = torch.ones(5, 10)
    assert sparse_features(dense) is dense
    mostly_zero = torch.zeros(5, 10)
    mostly_zero[1, 2] = 3.0
    csr = sparse_features(mostly_zero)
    assert csr.layout == torch.sparse_csr and torch.equal(csr.to_dense(), mostly_zero)
    assert sparse_features(mostly_zero, max_density=0.0) is mostly_zero


@pytest.fixture
def compiled_backend(monkeypatch):
    monkeypatch.setattr(backend, "_compiled", {})
    attention.set_backend("compiled")
    yield
    attention.set_backend("eager")


def test_backend_names_are_checked():
    with pytest.raises(ValueError, match="unknown attention backend 'fast'"):
        attention.set_backend("fast")
    assert attention.get_backend() == "eager"


def test_small_graphs_stay_eager_under_the_compiled_backend(compiled_backend, monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("torch.compile called for a small graph")

    monkeypatch.setattr(torch, "compile", no_compile)
    graph = homogeneous()
    ours.GATv2Conv(6, 4, 2)(graph, torch.randn(12, 6)).sum().backward()
    assert attention.get_backend() == "compiled"


def test_failed_compilation_falls_back_to_eager(compiled_backend, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler found")

    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    monkeypatch.setattr(backend, "COMPILE_MIN_EDGES", 0)
    graph = homogeneous()
    src, dst = edge_index(graph)
    z_src, z_dst, attn = _inputs(graph, 2, 3, torch.Generator().manual_seed(0))
    with pytest.warns(RuntimeWarning, match="no compiler found"):
        out = gatv2_logits(z_src, z_dst, attn, src, dst)
    assert attention.get_backend() == "eager"
    expected = backend.gather_logits(z_src, z_dst, attn, src, dst, None, 0.2)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE") != "thorough",
                    reason="compiles with inductor (about a minute): HYPOTHESIS_PROFILE=thorough")
@pytest.mark.parametrize("layer,threads", [("GATv2Conv", 1), ("GATv2Conv", 2), ("GATConv", 1),
                                           ("GATConv", 2)])
def test_compiled_backend_matches_dgl(layer, threads, compiled_backend, monkeypatch):
    monkeypatch.setattr(backend, "COMPILE_MIN_EDGES", 0)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        test_outputs_and_gradients_match_dgl(layer, "homogeneous", 2, torch.float32, None, None)
    finally:
        torch.set_num_threads(before)
    assert attention.get_backend() == "compiled"
    # one thread: whole kernels; more: GATv2's scatter-free edge-wise parts (GATConv's logits
    # are per node, so its only edge-wise kernel is the aggregation, compiled on one thread)
    whole = {"GATv2Conv": {backend.gather_logits, backend.gather_sum},
             "GATConv": {backend.gather_sum}}[layer]
    parts = {"GATv2Conv": {backend.gather_logits, backend.gather_edge_grads},
             "GATConv": set()}[layer]
    assert set(backend._compiled) == (whole if threads == 1 else parts)


def test_a_misspelt_backend_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("DGLBAL_ATTENTION", "compile")
    with pytest.raises(ValueError, match=r"DGLBAL_ATTENTION='compile' names no attention "
                                         r"backend; choose from \('eager', 'compiled'\)"):
        backend._from_environment()
    monkeypatch.setenv("DGLBAL_ATTENTION", "compiled")
    assert backend._from_environment() == "compiled"
