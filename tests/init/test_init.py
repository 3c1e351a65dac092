"""Initialization schemes: structure, statistics, and clear errors."""
import dgl
import dgl.nn.pytorch as dglnn
import pytest
import torch

import dglbal.init as I
from dglbal.nn import GAT, GCN, GATConv, GATv2Conv, GraphConv
from dglbal.testing.graphs import homogeneous


@pytest.mark.parametrize("position,shape",
                         [("first", (8, 5)), ("hidden", (6, 4)), ("last", (3, 6))])
def test_looks_linear_block_structure(position, shape):
    torch.manual_seed(0)
    w = I.looks_linear_orthogonal_(torch.empty(shape), position)
    r, c = shape
    if position == "first":
        u = w[: r // 2]
        assert torch.equal(w[r // 2:], -u)
    elif position == "last":
        u = w[:, : c // 2]
        assert torch.equal(w[:, c // 2:], -u)
    else:
        u = w[: r // 2, : c // 2]
        assert torch.equal(w[: r // 2, c // 2:], -u) and torch.equal(w[r // 2:, : c // 2], -u)
        assert torch.equal(w[r // 2:, c // 2:], u)
    small = min(u.shape)
    gram = u @ u.T if u.shape[0] == small else u.T @ u
    torch.testing.assert_close(gram, torch.eye(small), atol=1e-5, rtol=0)


def test_looks_linear_relu_network_is_linear_at_init():
    """ReLU(Wx) with W = [U; -U] keeps x's projection: U relu(Ux) - U relu(-Ux) = U U^T x."""
    torch.manual_seed(0)
    first = I.looks_linear_orthogonal_(torch.empty(8, 4), "first")
    last = I.looks_linear_orthogonal_(torch.empty(3, 8), "last")
    x = torch.randn(10, 4)
    out = torch.relu(x @ first.T) @ last.T
    linear = x @ (last[:, :4] @ first[:4]).T
    torch.testing.assert_close(out, linear)


@pytest.mark.parametrize("position,shape",
                         [("first", (7, 4)), ("hidden", (6, 5)), ("last", (3, 5))])
def test_looks_linear_rejects_odd_widths(position, shape):
    with pytest.raises(ValueError, match="even number"):
        I.looks_linear_orthogonal_(torch.empty(shape), position)


def test_looks_linear_builder_with_odd_hidden_width_names_the_problem():
    with pytest.raises(ValueError, match="even number"):
        GAT(10, 7, 3, num_layers=3, init="looks_linear")


def test_unknown_scheme_is_rejected():
    with pytest.raises(ValueError, match="unknown init scheme"):
        GATConv(4, 4, 1, init="glorot")
    with pytest.raises(ValueError, match="unknown init scheme"):
        GCN(4, 4, 2, 3, init="bogus")


def test_xavier_zero_attention_zeros_only_attention():
    model = GAT(6, 4, 3, num_layers=3, num_heads=2, conv="gat")
    I.xavier_zero_attention_(model)
    for name, p in model.named_parameters():
        assert (p == 0).all() == ("attn" in name), name


@pytest.mark.parametrize("make,zero_bias", [
    (lambda: dglnn.GATv2Conv(6, 4, 2), False), (lambda: dglnn.GATConv(6, 4, 2), False),
    (lambda: dglnn.GraphConv(6, 4), False),
    # SAGEConv: DGL draws its biases, dglbal's xavier_ starts them at zero
    (lambda: dglnn.SAGEConv(6, 4, "mean"), True), (lambda: dglnn.SAGEConv(6, 4, "pool"), True)])
def test_xavier_draws_what_dgl_reset_parameters_draws(make, zero_bias):
    reference, layer = make(), make()
    torch.manual_seed(5)
    reference.reset_parameters()
    torch.manual_seed(5)
    I.xavier_(layer)
    for (n, a), (_, b) in zip(reference.named_parameters(), layer.named_parameters()):
        assert torch.equal(a, b) or (zero_bias and n.endswith("bias") and (b == 0).all()), n


def test_looks_linear_layer_zeros_attention_residual_and_bias():
    layer = GATConv(8, 3, 2, residual=True, bias=True, init="looks_linear")
    assert (layer.attn_l == 0).all() and (layer.attn_r == 0).all()
    assert (layer.res_fc.weight == 0).all() and (layer.res_fc.bias == 0).all()


def test_he_variance():
    torch.manual_seed(0)
    layer = GraphConv(400, 300, init="he")
    assert layer.weight.std().item() == pytest.approx((2 / 400) ** 0.5, rel=0.02)


def test_spectral_radius_of_operators():
    n = 6
    complete = dgl.graph(([u for u in range(n) for v in range(n)],
                          [v for u in range(n) for v in range(n)]))
    rho = lambda layer: I.spectral_radius(I.aggregation_matrix(layer, complete))
    assert rho(GraphConv(3, 3, norm="none")) == pytest.approx(n)
    assert rho(GraphConv(3, 3, norm="both")) == pytest.approx(1.0)
    assert rho(GraphConv(3, 3, norm="right")) == pytest.approx(1.0)
    assert rho(GATConv(3, 3, 1)) == pytest.approx(1.0)
    assert rho(GraphConv(3, 3, norm="none", residual_alpha=0.5)) == pytest.approx(0.5 * n + 0.5)


def test_gnn_he_scales_by_spectral_radius():
    n = 30
    src, dst = zip(*[(u, v) for u in range(n) for v in range(n)])
    complete = dgl.graph((list(src), list(dst)))
    torch.manual_seed(0)
    model = GCN(400, 400, 3, num_layers=3, norm="none")
    I.gnn_he_(model, complete)
    hidden = model.layers[1].weight
    assert hidden.std().item() == pytest.approx((2 / 400) ** 0.5 / n, rel=0.03)
    # Sum aggregation on the complete graph: the He correction keeps activations O(1).
    h = torch.relu(torch.randn(n, 400))
    out = model.layers[1](complete, h)
    assert 0.3 < out.pow(2).mean().item() / h.pow(2).mean().item() < 3


def test_gnn_he_needs_graph_layers_and_cycles():
    with pytest.raises(ValueError, match="holds no"):
        I.gnn_he_(torch.nn.Linear(3, 3), homogeneous())
    chain = dgl.graph(([0, 1, 2], [1, 2, 3]))
    with pytest.raises(ValueError, match="spectral radius 0"):
        I.gnn_he_(GCN(3, 4, 2, 2, allow_zero_in_degree=True), chain)


def test_graph_layers_finds_dgl_and_dglbal_layers():
    model = torch.nn.ModuleList([dglnn.GraphConv(3, 3), GATv2Conv(3, 3, 1), torch.nn.Linear(3, 3)])
    assert [type(m).__name__ for m in I.graph_layers(model)] == ["GraphConv", "GATv2Conv"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("position,shape",
                         [("first", (8, 5)), ("hidden", (6, 4)), ("last", (3, 6))])
def test_looks_linear_fills_half_precision_weights(dtype, position, shape):
    """torch's QR has no half kernel: U is drawn in float32 and rounded into the weight."""
    torch.manual_seed(0)
    w = I.looks_linear_orthogonal_(torch.empty(shape, dtype=dtype), position)
    assert w.dtype == dtype and torch.isfinite(w).all()
    r, c = shape
    u = {"first": w[: r // 2], "last": w[:, : c // 2], "hidden": w[: r // 2, : c // 2]}[position]
    assert torch.equal(w[r // 2:] if position == "first" else w[:, c // 2:],
                       -u if position != "hidden" else torch.cat([-u, u]))
    u = u.float()
    small = min(u.shape)
    gram = u @ u.T if u.shape[0] == small else u.T @ u
    torch.testing.assert_close(gram, torch.eye(small), atol=2e-2, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthogonal_draws_what_torch_draws_for_full_precision(dtype):
    torch.manual_seed(3)
    reference = torch.nn.init.orthogonal_(torch.empty(5, 7, dtype=dtype))
    torch.manual_seed(3)
    weight = torch.empty(7, 5, dtype=dtype).t()  # a transposed view, as GraphConv's weight
    assert torch.equal(I.tensor.orthogonal_(weight), reference)


def test_balanced_orthogonal_runs_on_a_bfloat16_model():
    torch.manual_seed(0)
    graph = dgl.add_self_loop(dgl.rand_graph(10, 30))
    model = GCN(8, 8, 4, num_layers=3).bfloat16()
    I.balanced_orthogonal_(model, graph, torch.randn(10, 8).bfloat16())
    assert all(p.dtype == torch.bfloat16 and torch.isfinite(p).all() for p in model.parameters())
    first = model.layers[0].weight.t()  # looks-linear first layer: [U; -U]
    assert torch.equal(first[4:], -first[:4]) and first.abs().sum() > 0
