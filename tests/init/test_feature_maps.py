"""The init schemes on DGL's SAGEConv and GINConv: feature maps of several blocks, He and
looks-linear on the whole map, balanced schemes over the analyser's groups, and refusals."""
import dgl
import dgl.nn.pytorch as dglnn
import pytest
import torch
from torch import nn

import dglbal.init as I
from dglbal import analyze
from dglbal.balance import balance_constants, group_norms
from dglbal.init.tensor import he_normal_blocks_, looks_linear_blocks_
from dglbal.nn import GIN, SAGE
from dglbal.testing import check_balancing
from dglbal.testing.graphs import homogeneous


def relative_imbalance(model, report=None):
    report = report or analyze(model)
    norms = group_norms(model, report)
    return float((balance_constants(model, report).abs()
                  / (norms["incoming"] + norms["outgoing"])).max())


def features(graph, width, seed=0):
    return torch.randn(graph.num_nodes(), width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("position", ["first", "hidden", "last"])
def test_looks_linear_blocks_are_block_forms_of_one_orthogonal_map(position):
    torch.manual_seed(0)
    a, b = looks_linear_blocks_([torch.empty(8, 6), torch.empty(8, 4)], position)
    rows = 4 if position in ("first", "hidden") else 8
    halve = position in ("hidden", "last")
    parts = []
    for w in (a, b):
        cols = w.shape[1] // 2 if halve else w.shape[1]
        u = w[:rows, :cols]
        if position == "first":
            assert torch.equal(w[rows:], -u)
        elif position == "last":
            assert torch.equal(w[:, cols:], -u)
        else:
            assert torch.equal(w[:rows, cols:], -u) and torch.equal(w[rows:, cols:], u)
        parts.append(u)
    u = torch.cat(parts, dim=1)
    small = min(u.shape)
    gram = u @ u.T if u.shape[0] == small else u.T @ u
    torch.testing.assert_close(gram, torch.eye(small), atol=1e-5, rtol=0)


def test_one_block_draws_what_the_single_weight_functions_draw():
    for single, blocks in ((I.looks_linear_orthogonal_, looks_linear_blocks_),
                           (I.he_normal_, he_normal_blocks_)):
        torch.manual_seed(3)
        expected = single(torch.empty(6, 4))
        torch.manual_seed(3)
        (drawn,) = blocks([torch.empty(6, 4)])
        assert torch.equal(drawn, expected)


def test_he_blocks_use_the_fan_in_of_the_whole_map():
    torch.manual_seed(0)
    a, b = he_normal_blocks_([torch.empty(3000, 40), torch.empty(3000, 60)], spectral_radius=2.0)
    assert float(torch.cat([a, b], 1).std()) == pytest.approx((2 / 100) ** 0.5 / 2, rel=0.02)


@pytest.mark.parametrize("blocks, message", [
    ([], "at least one weight block"),
    ([torch.empty(4, 2), torch.empty(6, 2)], "one output width"),
    ([torch.empty(4, 2), torch.empty(4, 3)], "even number of input features"),
])
def test_looks_linear_blocks_refuse_what_they_cannot_draw(blocks, message):
    with pytest.raises(ValueError, match=message):
        looks_linear_blocks_(blocks, "hidden")


def test_sage_layer_looks_linear_is_orthogonal_on_the_concatenation():
    torch.manual_seed(0)
    layer = I.init_layer_(dglnn.SAGEConv(6, 8, "mean"), "looks_linear", "hidden")
    u = torch.cat([layer.fc_self.weight[:4, :3], layer.fc_neigh.weight[:4, :3]], dim=1)
    torch.testing.assert_close(u @ u.T, torch.eye(4), atol=1e-5, rtol=0)


def test_sage_layer_he_uses_twice_the_input_width():
    torch.manual_seed(0)
    layer = I.init_layer_(dglnn.SAGEConv(300, 2000, "mean", bias=True), "he")
    both = torch.cat([layer.fc_self.weight, layer.fc_neigh.weight], dim=1)
    assert float(both.std()) == pytest.approx((2 / 600) ** 0.5, rel=0.02)
    assert (layer.fc_self.bias == 0).all()


def test_xavier_on_gin_is_xavier_uniform_with_relu_gain():
    torch.manual_seed(0)
    layer = I.xavier_(dglnn.GINConv(nn.Linear(500, 400, bias=True), "sum"))
    weight = layer.apply_func.weight
    bound = nn.init.calculate_gain("relu") * (6 / 900) ** 0.5
    assert float(weight.abs().max()) <= bound
    assert float(weight.std()) == pytest.approx(bound / 3 ** 0.5, rel=0.02)
    assert (layer.apply_func.bias == 0).all()


def _user_gin(mlp: bool):
    """A plain user model: GINConv layers with Linear or Linear-ReLU-Linear MLPs."""
    def func(i, o):
        return (nn.Sequential(nn.Linear(i, o, bias=False), nn.ReLU(), nn.Linear(o, o, bias=False))
                if mlp else nn.Linear(i, o, bias=False))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([dglnn.GINConv(func(5, 6), "sum"),
                                         dglnn.GINConv(func(6, 6), "sum"),
                                         dglnn.GINConv(nn.Linear(6, 3, bias=False), "sum")])

        def forward(self, graph, h):
            for i, layer in enumerate(self.layers):
                h = layer(graph, h)
                h = torch.relu(h) if i < len(self.layers) - 1 else h
            return h
    return Model()


def _is_linear(model, graph, in_feats):
    x1, x2 = features(graph, in_feats, 1), features(graph, in_feats, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(graph, 2 * x1 - 3 * x2),
                                   2 * model(graph, x1) - 3 * model(graph, x2),
                                   atol=1e-4, rtol=1e-4)
        assert not torch.allclose(model(graph, x1), torch.zeros(()), atol=1e-6)


@pytest.mark.parametrize("build", [
    lambda: SAGE(5, 6, 3, num_layers=4, init="looks_linear"),
    lambda: SAGE(5, 6, 3, num_layers=4, init="bal_o"),
    lambda: SAGE(5, 6, 3, num_layers=4, aggregator="gcn", init="bal_o"),
    lambda: GIN(5, 6, 3, num_layers=4, init="bal_o")])
def test_looks_linear_and_bal_o_models_compute_a_linear_function_at_init(build):
    """Looks-linear weights make the ReLU network linear; BalO's balancing keeps that (each
    +- pair of neurons gets one factor) and balances every group."""
    torch.manual_seed(0)
    model = build()
    _is_linear(model, homogeneous(), 5)
    if model.scheme.balance_beta is not None:
        assert relative_imbalance(model) < 1e-6


@pytest.mark.parametrize("mlp", [False, True])
def test_balanced_orthogonal_on_a_user_gin_balances_and_stays_linear(mlp):
    torch.manual_seed(0)
    model = _user_gin(mlp)
    graph = homogeneous()
    report = I.balanced_orthogonal_(model, graph, features(graph, 5))
    assert relative_imbalance(model, report) < 1e-6
    _is_linear(model, graph, 5)


def test_looks_linear_draws_sage_blocks_as_one_map_and_balanced_orthogonal_balances_it():
    """A hidden SAGE layer 6 -> 8: U_self and U_neigh are 4 x 3 each; drawn apart, the rows of
    [U_self | U_neigh] would not be orthonormal."""
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([dglnn.SAGEConv(5, 6, "mean", bias=False),
                                         dglnn.SAGEConv(6, 8, "mean", bias=False),
                                         dglnn.SAGEConv(8, 3, "mean", bias=False)])

        def forward(self, graph, h):
            for i, layer in enumerate(self.layers):
                h = layer(graph, h)
                h = torch.relu(h) if i < 2 else h
            return h

    torch.manual_seed(0)
    model, graph = Model(), homogeneous()
    I.looks_linear_(model, graph, features(graph, 5))
    hidden = model.layers[1]
    u = torch.cat([hidden.fc_self.weight[:4, :3], hidden.fc_neigh.weight[:4, :3]], dim=1)
    torch.testing.assert_close(u @ u.T, torch.eye(4), atol=1e-5, rtol=0)
    _is_linear(model, graph, 5)
    report = I.balanced_orthogonal_(model, graph, features(graph, 5))
    assert relative_imbalance(model, report) < 1e-6
    _is_linear(model, graph, 5)


@pytest.mark.parametrize("build", [lambda: SAGE(5, 6, 3, num_layers=3, init="xavier"),
                                   lambda: GIN(5, 6, 3, num_layers=3, init="he", bias=True)])
def test_balancing_sage_and_gin_reaches_balance_and_preserve_keeps_the_function(build):
    torch.manual_seed(0)
    graph = homogeneous()
    check_balancing(build(), graph, features(graph, 5))


def test_gnn_he_on_sage_and_gin_uses_their_operators():
    n = 6
    complete = dgl.graph(([u for u in range(n) for v in range(n)],
                          [v for u in range(n) for v in range(n)]))
    rho = lambda layer: I.spectral_radius(I.aggregation_matrix(layer, complete))  # noqa: E731
    assert rho(dglnn.SAGEConv(3, 3, "mean")) == pytest.approx(1.0)
    assert rho(dglnn.SAGEConv(3, 3, "gcn")) == pytest.approx(1.0)
    assert rho(dglnn.GINConv(nn.Linear(3, 3), "sum")) == pytest.approx(n + 1)
    assert rho(dglnn.GINConv(nn.Linear(3, 3), "sum", init_eps=0.5)) == pytest.approx(n + 1.5)
    torch.manual_seed(0)
    gin = _user_gin(mlp=True)
    gin.layers[1].apply_func[0] = nn.Linear(6, 4000, bias=False)
    gin.layers[1].apply_func[2] = nn.Linear(4000, 6, bias=False)
    I.gnn_he_(gin, complete)
    first, second = gin.layers[1].apply_func[0].weight, gin.layers[1].apply_func[2].weight
    assert float(first.std()) == pytest.approx((2 / 6) ** 0.5 / (n + 1), rel=0.05)
    assert float(second.std()) == pytest.approx((2 / 4000) ** 0.5, rel=0.05)  # after the sum


@pytest.mark.parametrize("layer, scheme, message", [
    (lambda: dglnn.SAGEConv(4, 4, "pool"), "he",
     "init 'he' is defined for SAGEConv's aggregators mean and gcn; aggregator 'pool'"),
    (lambda: dglnn.SAGEConv(4, 4, "lstm"), "looks_linear", "aggregator 'lstm'"),
    (lambda: dglnn.GINConv(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 4)),
                           "sum"), "looks_linear",
     "init 'looks_linear' needs GINConv's apply_func to be an nn.Linear or an nn.Sequential"),
])
def test_schemes_a_layer_does_not_define_are_refused_naming_it(layer, scheme, message):
    module = layer()
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(ValueError, match=message):
        I.init_layer_(module, scheme)
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_gnn_he_refuses_sage_pool_naming_it():
    with pytest.raises(ValueError, match="aggregator 'pool'"):
        I.gnn_he_(dglnn.SAGEConv(4, 4, "pool"), homogeneous())


def _directed_graph():
    """Uneven in-degrees, one node without in-edges, no self-loops."""
    src = [0, 1, 2, 3, 4, 5, 6, 0, 2, 4, 6, 1, 3, 5, 0, 0, 6]
    dst = [1, 2, 3, 4, 5, 6, 0, 2, 4, 6, 1, 3, 5, 1, 3, 5, 2]
    return dgl.graph((src + [7, 7], dst + [0, 4]), num_nodes=8)  # node 7: no in-edge


def _sage_neighbour_part(aggregator):
    """A SAGEConv computing only its neighbour operator: fc_self = 0, fc_neigh = I."""
    layer = dglnn.SAGEConv(4, 4, aggregator, bias=False)
    with torch.no_grad():
        layer.fc_neigh.weight.copy_(torch.eye(4))
        if aggregator != "gcn":
            layer.fc_self.weight.zero_()
    return layer


@pytest.mark.parametrize("make", [
    lambda: dglnn.GINConv(None, "sum"), lambda: dglnn.GINConv(None, "mean"),
    lambda: dglnn.GINConv(None, "mean", init_eps=0.5), lambda: _sage_neighbour_part("mean"),
    lambda: _sage_neighbour_part("gcn")], ids=["gin-sum", "gin-mean", "gin-mean-eps",
                                               "sage-mean", "sage-gcn"])
@pytest.mark.parametrize("weighted", [False, True])
def test_aggregation_matrix_is_the_operator_the_layer_applies(make, weighted):
    graph = _directed_graph()
    x = features(graph, 4)
    edge_weight = torch.rand(graph.num_edges(), generator=torch.Generator().manual_seed(1)) \
        if weighted else None
    layer = make()
    operator = I.aggregation_matrix(layer, graph, edge_weight).toarray()
    expected = layer(graph, x, edge_weight=edge_weight).detach().double()
    torch.testing.assert_close(torch.from_numpy(operator) @ x.double(), expected,
                               rtol=1e-5, atol=1e-6)


def test_gnn_he_on_gin_mean_uses_the_mean_operator():
    """(1 + eps) I + D^-1 A is row-stochastic plus I: radius 2, not the sum's ~ degree + 1."""
    torch.manual_seed(0)
    graph = dgl.add_self_loop(dgl.rand_graph(300, 3000))
    conv = dglnn.GINConv(nn.Linear(64, 4000, bias=False), "mean")
    assert I.spectral_radius(I.aggregation_matrix(conv, graph)) == pytest.approx(2.0)
    I.gnn_he_(conv, graph)
    assert float(conv.apply_func.weight.std()) == pytest.approx((2 / 64) ** 0.5 / 2, rel=0.03)


@pytest.mark.parametrize("layer, message", [
    (lambda: dglnn.GINConv(nn.Linear(4, 4), "max"),
     "GINConv's aggregator_type 'max' is not linear.*aggregator_type 'sum' or 'mean'"),
    (lambda: dglnn.SAGEConv(4, 4, "pool"), "SAGEConv's aggregator 'pool' is not linear"),
    (lambda: dglnn.SAGEConv(4, 4, "lstm"), "SAGEConv's aggregator 'lstm' is not linear"),
])
def test_aggregation_matrix_refuses_non_linear_aggregators(layer, message):
    with pytest.raises(ValueError, match=message):
        I.aggregation_matrix(layer(), homogeneous())


def test_gnn_he_refuses_gin_max_leaving_the_model_as_it_was():
    model = nn.ModuleList([dglnn.GINConv(nn.Linear(4, 4), "sum"),
                           dglnn.GINConv(nn.Linear(4, 4), "max")])
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="aggregator_type 'max' is not linear"):
        I.gnn_he_(model, homogeneous())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
