"""Deep GAT / GCN builders: structure, heads, fixup skips, and equivalence with dgl.nn stacks."""
import dgl.nn.pytorch as dglnn
import pytest
import torch
import torch.nn.functional as F

from dglbal.nn import GAT, GCN
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
    lambda **kw: GAT(6, 4, 3, num_heads=2, **kw), lambda **kw: GCN(6, 8, 3, **kw)])
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
        weight = getattr(layer, "weight", None)
        grad = (weight if weight is not None else layer.fc_src.weight).grad
        assert grad.abs().sum() > 0, "a zero-initialized branch must still receive gradient"


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


def test_wrong_input_width_is_named():
    graph = homogeneous()
    with pytest.raises(ValueError, match="in_feats=6"):
        GAT(6, 4, 3, num_layers=3)(graph, features(graph, 5))


@pytest.mark.parametrize("builder", [
    lambda: GAT(6, 4, 3, num_layers=3, num_heads=2, skip=True, residual_alpha=0.2),
    # norm="both" also divides by source out-degrees, which a block does not keep (as in DGL)
    lambda: GCN(6, 8, 3, num_layers=3, skip=True, norm="right")])
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
