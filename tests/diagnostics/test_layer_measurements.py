"""diagnose's per-layer numbers against an independent computation: every layer's E[h^2],
E[g^2] and mean pairwise cosine, including models that modify a layer's output in place."""
import dgl
import pytest
import torch
import torch.nn.functional as F
from dgl.nn import GATConv, GraphConv
from torch import nn

from dglbal import diagnose
from dglbal.nn import GCN


@pytest.fixture(scope="module")
def graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(40, 160))


def _cosine(rows):
    rows = rows.detach().double()
    units = rows[rows.norm(dim=1) > 0]
    units = units / units.norm(dim=1, keepdim=True)
    n = len(units)
    return float(((units @ units.T).sum() - n) / (n * (n - 1)))


def _independent(model, layers, run, loss):
    """Each layer's output (kept, with its gradient) from hooks of our own."""
    outputs = []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append(output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        loss(run()).backward()
    finally:
        for handle in handles:
            handle.remove()
    return [(float(o.detach().double().pow(2).mean()), float(o.grad.double().pow(2).mean()),
             _cosine(o)) for o in outputs]


def test_every_layer_matches_an_independent_cross_entropy_pass(graph):
    torch.manual_seed(0)
    model, feat = GCN(6, 12, 3, num_layers=4, bias=True), torch.randn(40, 6)
    labels, mask = torch.randint(0, 3, (40,)), torch.rand(40) < 0.4
    found = diagnose(model, graph, feat, labels=labels, mask=mask, groups=False)
    expected = _independent(model, model.layers, lambda: model(graph, feat),
                            lambda out: F.cross_entropy(out[mask], labels[mask]))
    assert len(found.layers) == len(expected) == 4
    for stats, (moment, grad_moment, cosine) in zip(found.layers, expected):
        assert stats.output_moment == pytest.approx(moment, rel=1e-12)
        assert stats.gradient_moment == pytest.approx(grad_moment, rel=1e-9)
        assert stats.cosine == pytest.approx(cosine, abs=1e-10)


class _InPlaceReLU(nn.Module):
    """Two DGL GraphConvs with an in-place ReLU between them (``nn.ReLU(inplace=True)``)."""

    def __init__(self, inplace: bool):
        super().__init__()
        self.first, self.second = GraphConv(5, 8), GraphConv(8, 3)
        self.inplace = inplace

    def forward(self, graph, feat):
        return self.second(graph, F.relu(self.first(graph, feat), inplace=self.inplace))


def test_an_in_place_activation_after_a_layer_does_not_change_its_measured_output(graph):
    """The first layer's output was kept by reference: an in-place ReLU after it rewrote it,
    and its E[h^2] and cosine were those of the ReLU's output (0.067 and 0.436 here, for
    the layer's 0.137 and 0.179)."""
    torch.manual_seed(0)
    feat = torch.randn(40, 5)
    model = _InPlaceReLU(inplace=True)
    found = diagnose(model, graph, feat, groups=False)
    model.inplace = False
    expected = _independent(model, [model.first, model.second], lambda: model(graph, feat),
                            lambda out: out.pow(2).sum())
    first = found.layers[0]
    assert first.output_moment == pytest.approx(expected[0][0], rel=1e-12)
    assert first.cosine == pytest.approx(expected[0][2], abs=1e-10)
    assert diagnose(model, graph, feat, groups=False).layers[0] == first


class _Heads(nn.Module):
    """A DGL GATConv whose (nodes, heads, classes) output is returned without a head mean."""

    def __init__(self, heads: int):
        super().__init__()
        self.conv = GATConv(5, 3, num_heads=heads)

    def forward(self, graph, feat):
        return self.conv(graph, feat)


def test_labels_need_one_class_score_per_column_not_heads_times_classes(graph):
    """An output of 2 heads x 3 classes was flattened to 6 columns and labels 0..2 scored
    against the first head's only, where training refuses it (cross entropy takes (N, C))."""
    torch.manual_seed(0)
    feat, labels = torch.randn(40, 5), torch.randint(0, 3, (40,))
    with pytest.raises(ValueError, match=r"labels need an output of one row of class scores "
                                         r"per node, got shape \(40, 2, 3\)"):
        diagnose(_Heads(2), graph, feat, labels=labels, groups=False)
    one_head = diagnose(_Heads(1), graph, feat, labels=labels, groups=False)  # (40, 1, 3)
    assert len(one_head.layers) == 1 and one_head.layers[0].gradient_reached


@pytest.mark.parametrize("seed", ["0", 1.5, None, True])
def test_a_seed_that_is_not_an_integer_is_named_before_the_forward_pass(graph, seed):
    """It failed in torch's manual_seed after the forward pass ("expected a long")."""
    model = GCN(6, 12, 3, num_layers=2)
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    with pytest.raises(TypeError, match=rf"diagnose: seed \(of the random projection\) must "
                                        rf"be an integer, got {seed!r}"):
        diagnose(model, graph, torch.randn(40, 6), seed=seed)
    assert not calls
