"""Deep GAT / GCN / SAGE / GIN builders: structure, heads, fixup skips, equivalence with dgl.nn
stacks, and the analyser's view of them."""
import dgl
import dgl.nn.pytorch as dglnn
import pytest
import torch
import torch.nn.functional as F

from dglbal import analyze
from dglbal.balance import balance_constants, group_norms
from dglbal.init import feature_weights
from dglbal.nn import GAT, GCN, GIN, SAGE
from dglbal.testing import check_symmetries
from dglbal.testing.graphs import homogeneous


def features(graph, width, seed=0):
    return torch.randn(graph.num_nodes(), width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("heads", [1, 3])
def test_gat_equals_a_dgl_gatv2_stack(heads):
    """Without skips the builder is the plain stack act(conv(...)) of DGL's own layers."""
    graph, L = homogeneous(), 4
    model = GAT(7, 4, 3, num_layers=L, num_heads=heads)
    stack = [dglnn.GATv2Conv(7 if i == 0 else 4 * heads, 4 if i < L - 1 else 3, heads, bias=False,
                             share_weights=True, activation=F.relu if i < L - 1 else None)
             for i in range(L)]
    for layer, reference in zip(model.layers, stack):
        reference.load_state_dict(layer.state_dict())
    h = features(graph, 7)
    for i, reference in enumerate(stack):
        h = reference(graph, h)
        h = h.flatten(1) if i < L - 1 else h.mean(1)
    torch.testing.assert_close(model(graph, features(graph, 7)), h)


def test_gat_widths_concatenate_heads_in_hidden_layers():
    model = GAT(7, 4, 3, num_layers=3, num_heads=2, conv="gat")
    assert [layer.fc.weight.shape for layer in model.layers] == [(8, 7), (8, 8), (6, 8)]


def test_gcn_equals_a_dgl_graphconv_stack():
    graph, L = homogeneous(), 3
    model = GCN(7, 5, 3, num_layers=L, bias=True)
    h = features(graph, 7)
    for i, layer in enumerate(model.layers):
        reference = dglnn.GraphConv(layer._in_feats, layer._out_feats)
        reference.load_state_dict(layer.state_dict())
        h = reference(graph, h)
        h = F.relu(h) if i < L - 1 else h
    torch.testing.assert_close(model(graph, features(graph, 7)), h)


@pytest.mark.parametrize("builder", [
    lambda **kw: GAT(6, 4, 3, num_heads=2, **kw), lambda **kw: GCN(6, 8, 3, **kw),
    lambda **kw: SAGE(6, 8, 3, **kw), lambda **kw: GIN(6, 8, 3, **kw)])
def test_fixup_skips_start_as_the_two_layer_model_and_train(builder):
    graph = homogeneous()
    torch.manual_seed(0)
    deep = builder(num_layers=6, skip=True)
    shallow = builder(num_layers=2)
    shallow.layers[0].load_state_dict(deep.layers[0].state_dict())
    shallow.layers[1].load_state_dict(deep.layers[-1].state_dict())
    x = features(graph, 6)
    torch.testing.assert_close(deep(graph, x), shallow(graph, x))
    deep(graph, x).pow(2).sum().backward()
    for layer in deep.layers[1:-1]:
        assert all((w == 0).all() for w in feature_weights(layer))
        grad = sum(float(p.grad.abs().sum()) for p in layer.parameters())
        assert grad > 0, "a zero-initialized branch must still receive gradient"


def test_single_layer_model():
    graph = homogeneous()
    out = GAT(6, 4, 3, num_layers=1, num_heads=2)(graph, features(graph, 6))
    assert out.shape == (graph.num_nodes(), 3)


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        GCN(3, 4, 2, num_layers=0)
    with pytest.raises(ValueError, match="conv"):
        GAT(3, 4, 2, 2, conv="sage")
    with pytest.raises(ValueError, match="at least 2 layers"):
        GAT(3, 4, 2, 1, init="looks_linear")


@pytest.mark.parametrize("builder", [GAT, GCN, SAGE, GIN])
def test_an_activation_that_is_not_callable_is_named_at_construction(builder):
    """Before: accepted, then ``'NoneType' object is not callable`` from inside forward."""
    with pytest.raises(TypeError, match="activation must be callable .* got None"):
        builder(3, 4, 2, num_layers=3, activation=None)


def test_wrong_input_width_is_named():
    graph = homogeneous()
    with pytest.raises(ValueError, match="in_feats=6"):
        GAT(6, 4, 3, num_layers=3)(graph, features(graph, 5))


@pytest.mark.parametrize("builder", [
    lambda: GAT(6, 4, 3, num_layers=3, num_heads=2, skip=True, residual_alpha=0.2),
    # norm="both" also divides by source out-degrees, which a block does not keep (as in DGL)
    lambda: GCN(6, 8, 3, num_layers=3, skip=True, norm="right"),
    lambda: SAGE(6, 8, 3, num_layers=3, skip=True), lambda: GIN(6, 8, 3, num_layers=3, skip=True)])
def test_builders_take_one_block_per_layer(builder):
    """On full-neighbour blocks the outputs equal those of the whole graph."""
    import dgl
    graph = homogeneous(num_nodes=30, num_edges=90)
    torch.manual_seed(0)
    model = builder()
    with torch.no_grad():
        for layer in model.layers[1:-1]:
            for p in layer.parameters():
                p.normal_()  # skip branches start at zero: give them weight
    x = features(graph, 6)
    seeds = torch.arange(5)
    sampler = dgl.dataloading.MultiLayerFullNeighborSampler(3)
    input_nodes, output_nodes, blocks = sampler.sample_blocks(graph, seeds)
    torch.testing.assert_close(model(blocks, x[input_nodes]), model(graph, x)[output_nodes])
    with pytest.raises(ValueError, match="3 layers but got 2 blocks"):
        model(blocks[:2], x[input_nodes])


def test_gin_equals_a_dgl_ginconv_stack():
    """GIN-0: sum aggregation, eps = 0 fixed, one Linear per layer, ReLU in between."""
    graph, L = homogeneous(), 3
    model = GIN(7, 6, 3, num_layers=L, bias=True)
    x = features(graph, 7)
    h = x
    for i, layer in enumerate(model.layers):
        linear = torch.nn.Linear(layer.apply_func.in_features, layer.apply_func.out_features)
        linear.load_state_dict(layer.apply_func.state_dict())
        reference = dglnn.GINConv(linear, "sum", init_eps=0.0, learn_eps=False)
        h = reference(graph, h)
        h = F.relu(h) if i < L - 1 else h
    torch.testing.assert_close(model(graph, x), h)
    assert not any("eps" in name for name, _ in model.named_parameters())


def test_sage_equals_a_dgl_sageconv_stack():
    graph, L = homogeneous(), 3
    model = SAGE(7, 6, 3, num_layers=L, bias=True, init="bal_o")
    x = features(graph, 7)
    h = x
    for i, layer in enumerate(model.layers):
        reference = dglnn.SAGEConv(layer._in_src_feats, layer._out_feats, "mean")
        reference.load_state_dict(layer.state_dict())
        h = reference(graph, h)
        h = F.relu(h) if i < L - 1 else h
    torch.testing.assert_close(model(graph, x), h)


@pytest.mark.parametrize("builder", [
    lambda init: SAGE(5, 4, 3, num_layers=3, init=init),
    lambda init: SAGE(5, 4, 3, num_layers=3, aggregator="gcn", init=init),
    lambda init: GIN(5, 4, 3, num_layers=3, init=init)])
@pytest.mark.parametrize("init", ["bal_o"])
def test_the_analyser_finds_one_group_per_hidden_neuron_and_no_more(builder, init):
    """Checked against the black box (rescale invariance, Noether's identity, completeness
    on random graphs), and counted: every hidden neuron of the stack is a group."""
    torch.manual_seed(0)
    model = builder(init)
    report = check_symmetries(model, in_feats=5)
    hidden = sum(feature_weights(layer)[0].shape[0] for layer in model.layers[:-1])
    assert len(report.groups) == hidden


@pytest.mark.parametrize("builder", [lambda **kw: SAGE(5, 4, 3, 3, **kw),
                                     lambda **kw: GIN(5, 4, 3, 3, **kw)])
def test_reset_parameters_redraws_dgl_layers_with_the_scheme(builder):
    """DGL's SAGEConv / GINConv are redrawn by the model's scheme (GINConv has no
    reset_parameters of its own), balancing included."""
    torch.manual_seed(0)
    model = builder(init="bal_o")
    graph, x = model.probe_inputs()
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    after = list(model.parameters())
    assert not any(torch.equal(a, b) for a, b in zip(before, after))
    report = analyze(model)
    norms = group_norms(model, report)
    relative = balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])
    assert float(relative.max()) < 1e-6
    assert model(graph, x).shape == (graph.num_nodes(), 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(init="ll_ortho"), r"init='ll_ortho' differs from another scheme only in the "
                            r"attention vectors, and GIN has none; choose from xavier, he"),
    (dict(init="xavier_zero_attention"), "only in the attention vectors"),
    (dict(in_feats=0), "GIN: in_feats must be a positive integer, got 0"),
    (dict(hidden_feats=2.5), "GIN: hidden_feats must be a positive integer"),
    (dict(in_feats=(4, 4)), r"GIN: in_feats must be one integer .*got \(4, 4\)"),
    (dict(num_layers=0), "num_layers must be an integer >= 1"),
    (dict(init="bal_o", hidden_feats=5), "even number"),
])
def test_gin_refuses_bad_arguments_naming_them(kwargs, message):
    arguments = dict(in_feats=4, hidden_feats=6, out_feats=3, num_layers=3) | kwargs
    with pytest.raises(ValueError, match=message):
        GIN(**arguments)


@pytest.mark.parametrize("kwargs, message", [
    (dict(init="ll_ortho"), "SAGE has none"),
    (dict(aggregator="pool", init="bal_o"),
     r"init='bal_o' is not defined for aggregator='pool' \(its inner transform"),
    (dict(aggregator="lstm", init="he"), "aggregator='lstm'"),
    (dict(aggregator="max"), "aggregator must be one of mean, gcn, pool, lstm, got 'max'"),
    (dict(in_feats=0), "SAGE: in_feats must be a positive integer, got 0"),
    (dict(hidden_feats=-2), "SAGE: hidden_feats must be a positive integer, got -2"),
    (dict(out_feats=2.5), "SAGE: out_feats must be a positive integer, got 2.5"),
])
def test_sage_refuses_what_is_not_defined_naming_it(kwargs, message):
    arguments = dict(in_feats=4, hidden_feats=6, out_feats=3, num_layers=3) | kwargs
    with pytest.raises(ValueError, match=message):
        SAGE(**arguments)


@pytest.mark.parametrize("init", ["ll_ortho", "xavier_zero_attention"])
def test_gcn_refuses_schemes_that_differ_only_in_attention(init):
    with pytest.raises(ValueError, match=f"init='{init}' differs .* GCN has none"):
        GCN(4, 6, 3, 3, init=init)
    assert GAT(4, 6, 3, 3, init=init).init == init


def test_sage_pool_keeps_dgls_xavier():
    model = SAGE(4, 6, 3, 3, aggregator="pool")
    graph = homogeneous()
    assert model(graph, features(graph, 4)).shape == (graph.num_nodes(), 3)


@pytest.mark.parametrize("bad", [lambda g, x: g, lambda g, x: (x, g), lambda g, x: (g,),
                                 lambda g, x: (g, x.numpy())])
def test_init_data_that_is_not_a_graph_and_features_pair_is_named(bad):
    """A graph alone failed inside DGL with 'Invalid key "0". Must be one of the edge types'."""
    g = dgl.add_self_loop(dgl.rand_graph(10, 30))
    x = torch.randn(10, 5)
    with pytest.raises(TypeError, match=r"init='gnn_he': init_data must be a \(graph, "
                                        "features\\) pair"):
        GCN(5, 8, 3, 3, init="gnn_he", init_data=bad(g, x))
    model = GCN(5, 8, 3, 3, init="gnn_he", init_data=(g, x))
    with pytest.raises(TypeError, match="init_data must be a"):
        model.reset_parameters(init_data=bad(g, x))


@pytest.mark.parametrize("init", ["xavier", "he", "bal_o"])
def test_init_data_given_to_a_scheme_that_does_not_read_it_is_refused(init):
    g = dgl.add_self_loop(dgl.rand_graph(10, 30))
    with pytest.raises(ValueError, match=f"init_data has no effect with init='{init}'"):
        GCN(5, 8, 3, 3, init=init, init_data=(g, torch.randn(10, 5)))
