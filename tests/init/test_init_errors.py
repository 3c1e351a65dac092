"""The init functions refuse what they cannot do, naming it, instead of a torch traceback or a
model left as it was without a word."""
import dgl
import pytest
import torch
from torch import nn

from dglbal.init import (aggregation_matrix, gnn_he_, he_normal_, init_layer_,
                         looks_linear_orthogonal_, register_graph_layer, xavier_,
                         zero_attention_)
from dglbal.nn import GATv2Conv, GraphConv


@pytest.mark.parametrize("fill", [looks_linear_orthogonal_, he_normal_])
def test_tensor_initializers_need_a_float_matrix(fill):
    with pytest.raises(ValueError, match="floating-point weight, got torch.int64"):
        fill(torch.zeros(6, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"2-D \(out, in\) weight, got shape \(5,\)"):
        fill(torch.empty(5))
    with pytest.raises(TypeError, match="needs a tensor"):
        fill([[1.0, 2.0]])


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf")])
def test_he_needs_a_positive_finite_radius(radius):
    with pytest.raises(ValueError, match="positive finite spectral radius"):
        he_normal_(torch.empty(4, 4), spectral_radius=radius)


def test_he_needs_an_input_feature():
    with pytest.raises(ValueError, match="at least one input feature"):
        he_normal_(torch.empty(4, 0))


@pytest.mark.parametrize("function", [xavier_, zero_attention_,
                                      lambda m: gnn_he_(m, dgl.rand_graph(4, 8))])
def test_model_schemes_refuse_a_model_without_graph_layers(function):
    mlp = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = [p.clone() for p in mlp.parameters()]
    with pytest.raises(ValueError, match="Sequential holds no graph layer .*register_graph_layer"):
        function(mlp)
    assert all(torch.equal(a, b) for a, b in zip(before, mlp.parameters()))


@pytest.mark.parametrize("kwargs, message", [
    (dict(position="middle"), "position must be one of"),
    (dict(gain=float("nan")), "gain must be a positive finite number"),
    (dict(gain=-1.0), "gain must be a positive finite number"),
    (dict(scheme="bal_o"), "unknown init scheme 'bal_o'"),
])
def test_init_layer_checks_its_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        init_layer_(GATv2Conv(8, 4, 2), **kwargs)


def test_init_layer_refuses_a_module_that_is_not_a_graph_layer():
    with pytest.raises(ValueError, match="init_layer_: a Linear is not a graph layer"):
        init_layer_(nn.Linear(3, 3))


def test_xavier_gain_reaches_the_attention_layers():
    torch.manual_seed(0)
    layer = xavier_(nn.Sequential(GATv2Conv(64, 64, 1)), gain=1e-3)[0]
    assert float(layer.fc_src.weight.std()) < 1e-3


def _looped_graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(30, 120))


@pytest.mark.parametrize("make, error, message", [
    (lambda e: torch.full((e,), float("nan")), ValueError,
     r"gnn_he_: edge_weight has 150 NaN or infinite value\(s\) among its 150"),
    (lambda e: torch.ones(e).index_fill(0, torch.tensor([3]), float("inf")), ValueError,
     r"edge_weight has 1 NaN or infinite value\(s\)"),
    (lambda e: torch.ones(3), ValueError,
     r"gnn_he_: edge_weight must have shape \(150,\) or \(150, 1\), one weight per edge of the "
     r"graph, got \(3,\)"),
    (lambda e: torch.ones(e, 2), ValueError, r"got \(150, 2\)"),
    (lambda e: torch.ones(e, dtype=torch.long), TypeError,
     "gnn_he_: edge_weight must be floating point, got torch.int64"),
    (lambda e: [1.0] * e, TypeError, "gnn_he_: edge_weight must be a torch.Tensor, got list"),
])
def test_gnn_he_checks_edge_weight_naming_the_problem(make, error, message):
    graph = _looped_graph()
    assert graph.num_edges() == 150
    layer = GraphConv(8, 4)
    before = layer.weight.detach().clone()
    with pytest.raises(error, match=message):
        gnn_he_(layer, graph, edge_weight=make(graph.num_edges()))
    assert torch.equal(layer.weight, before)
    with pytest.raises(error, match=message.replace("gnn_he_", "aggregation_matrix")):
        aggregation_matrix(layer, graph, make(graph.num_edges()))


def test_gnn_he_takes_edge_weights_of_shape_e_or_e_by_1():
    graph = _looped_graph()
    weights = torch.rand(graph.num_edges(), generator=torch.Generator().manual_seed(0))
    flat = aggregation_matrix(GraphConv(8, 4, norm="none"), graph, weights)
    column = aggregation_matrix(GraphConv(8, 4, norm="none"), graph, weights[:, None])
    assert (flat != column).nnz == 0
    gnn_he_(GraphConv(8, 4), graph, edge_weight=-weights[:, None])  # negative weights: fine


class _LinConv(nn.Module):
    """A registered layer whose feature map is not under one of DGL's names."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)


class _GatedGAT(dgl.nn.GATConv):
    """DGL's GATConv with one more weight no scheme knows."""

    def __init__(self):
        super().__init__(4, 2, num_heads=2)
        self.gate = nn.Linear(4, 4)


@pytest.mark.parametrize("scheme", ["xavier", "xavier_zero_attention", "he", "looks_linear",
                                    "gnn_he"])
@pytest.mark.parametrize("make, name", [(_LinConv, "lin.weight"), (_GatedGAT, "gate.weight")])
def test_schemes_refuse_a_registered_layer_with_parameters_they_do_not_know(scheme, make, name):
    register_graph_layer(make)
    layer = make()
    before = [p.clone() for p in layer.parameters()]
    with pytest.raises(ValueError, match=f"do not know: {name}; every scheme would leave"):
        if scheme == "gnn_he":
            gnn_he_(nn.Sequential(layer), dgl.add_self_loop(dgl.rand_graph(4, 8)))
        else:
            init_layer_(layer, scheme)
    assert all(torch.equal(b, p) for b, p in zip(before, layer.parameters()))
