"""Balancing, balanced initializations, conservation residuals and the monitor."""
import dgl.nn.pytorch as dglnn
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
import dglbal.init as I
from dglbal import analyze, analyze_and_balance, balance_constants, conservation_residuals
from dglbal.balance.balancing import group_norms
from dglbal.nn import GAT, GCN
from dglbal.testing.graphs import Stack, input_sets


def relative_c(model, report):
    norms = group_norms(model, report)
    return balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("make", [lambda: GAT(6, 4, 3, num_layers=5, num_heads=2),
                                  lambda: GCN(6, 8, 3, num_layers=6, bias=True)])
def test_preserve_mode_keeps_outputs_and_balances(make, dtype, rtol):
    torch.manual_seed(0)
    model = make().to(dtype)
    graph, feat = input_sets(6)[0]
    feat = feat.to(dtype)
    with torch.no_grad():
        before = model(graph, feat)
    report = analyze_and_balance(model, graph, feat, mode="preserve", tol=1e-6)
    with torch.no_grad():
        after = model(graph, feat)
    assert float((after - before).norm() / before.norm()) < rtol
    assert float(relative_c(model, report).max()) < (1e-6 if dtype == torch.float64 else 1e-5)
    assert report.sweeps > 0 and "preserve" in str(report)
    again = analyze_and_balance(model, graph, feat, mode="preserve", tol=1e-5)
    assert again.sweeps == 0


def test_init_mode_follows_procedure_2_6():
    model = GAT(6, 4, 3, num_layers=4)
    report = analyze_and_balance(model, mode="init", beta=2.0)
    assert all((layer.attn == 0).all() for layer in model.layers)
    assert report.balance.zeroed == [f"layers.{i}.attn" for i in range(4)]
    rows = model.layers[0].fc_src.weight.pow(2).sum(1)
    torch.testing.assert_close(rows, torch.full_like(rows, 2.0))
    assert float(relative_c(model, report).max()) < 1e-6


def test_init_mode_keeps_incoming_gate_weights_of_gatv2_without_sharing():
    """W_t of GATv2 reaches the output only through the attention, but it is incoming for its
    neurons: it keeps its values and counts in the incoming norm, as in the paper."""
    model = Stack(dglnn.GATv2Conv(5, 4, 1, bias=False), dglnn.GATv2Conv(4, 3, 1, bias=False))
    graph, feat = input_sets(5)[0]
    model = model.double()
    target = model.layers[0].fc_dst.weight.detach().clone()
    report = analyze_and_balance(model, graph, feat, mode="init")
    assert "layers.0.fc_dst.weight" in report.gates
    assert "layers.0.fc_dst.weight" not in report.balance.zeroed
    assert torch.allclose(model.layers[0].fc_dst.weight / target,
                          (model.layers[0].fc_dst.weight / target)[:, :1].expand_as(target))
    assert float(relative_c(model, report).max()) < 1e-10


def test_dead_neurons_are_reported_and_left_alone():
    model = GCN(6, 4, 3, num_layers=3).double()
    with torch.no_grad():
        model.layers[0].weight[:, 1] = 0.0  # neuron 1 of layer 0 has no incoming weights
    report = analyze_and_balance(model, mode="preserve")
    assert report.dead_groups == ["layers.0 channel 1"]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert (model.layers[0].weight[:, 1] == 0).all()


def test_non_homogeneous_parts_are_untouched():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = dglnn.GraphConv(5, 4), dglnn.GraphConv(4, 4)
            self.c, self.d = dglnn.GraphConv(4, 4), dglnn.GraphConv(4, 2)

        def forward(self, graph, x):
            h = F.relu(self.a(graph, x))
            h = torch.tanh(self.b(graph, h))      # breaks the chain
            return self.d(graph, F.relu(self.c(graph, h)))

    model = Mixed().double()
    graph, feat = input_sets(5)[0]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    report = analyze_and_balance(model, graph, feat, mode="init")
    assert any("tanh" in u for u in report.unsupported)
    in_no_group = [n for n in before if not len(report.table.entries.get(n, ([],))[0])]
    assert "b.bias" in in_no_group  # pinned: it feeds the tanh
    for name in in_no_group:
        assert torch.equal(dict(model.named_parameters())[name], before[name]), name


def test_constants_and_residuals_match_their_definitions():
    model = GAT(6, 4, 3, num_layers=3, bias=True).double()
    graph, feat = model.probe_inputs()
    report = analyze(model, graph, feat.double())
    params = dict(model.named_parameters())
    expected = torch.stack([sum((g.exponents(n) * params[n].detach() ** 2).sum()
                                for n in g.parameters) for g in report.groups])
    torch.testing.assert_close(balance_constants(model, report), expected)
    model(graph, feat.double()).pow(2).sum().backward()
    delta = conservation_residuals(model, report)
    scale = torch.stack([sum((g.exponents(n) * params[n] * params[n].grad).abs().sum()
                             for n in g.parameters) for g in report.groups])
    assert float((delta.abs() / scale).max()) < 1e-10


def test_bad_arguments():
    model = GCN(6, 4, 3, num_layers=3)
    with pytest.raises(ValueError, match="mode"):
        analyze_and_balance(model, mode="sideways")
    with pytest.raises(ValueError, match="beta"):
        analyze_and_balance(model, mode="init", beta=0.0)


# --- balanced initializations --------------------------------------------------------------

class UserModel(nn.Module):
    """A model a user wrote: DGL layers, a residual add, an MLP head."""

    def __init__(self):
        super().__init__()
        self.conv1 = dglnn.GATConv(5, 4, num_heads=2)
        self.conv2 = dglnn.GraphConv(8, 8)
        self.head = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))

    def forward(self, graph, x):
        h = F.relu(self.conv1(graph, x).flatten(1))
        h = F.relu(self.conv2(graph, h)) + h
        return self.head(h)


@pytest.mark.parametrize("scheme", [I.balanced_xavier_, I.balanced_orthogonal_])
def test_balanced_initializations_on_a_user_model(scheme):
    model = UserModel()
    graph, feat = input_sets(5)[0]
    report = scheme(model, graph, feat.float())
    assert float(relative_c(model, report).max()) < 1e-6
    assert (model.conv1.attn_l == 0).all() and (model.conv1.attn_r == 0).all()
    assert (model.conv2.bias == 0).all()


def test_balanced_orthogonal_uses_the_analysers_view_of_each_weight():
    model = GCN(6, 8, 3, num_layers=4)
    report = I.balanced_orthogonal_(model)
    assert [report.weight_roles[f"layers.{i}.weight"] for i in range(4)] == [
        ("first", True), ("hidden", True), ("hidden", True), ("last", True)]
    hidden = model.layers[1].weight.t()  # (out, in)
    u = hidden[:4, :4]
    scale = u.norm() / hidden[4:, 4:].norm()
    torch.testing.assert_close(hidden[4:, 4:] * scale, u)
    torch.testing.assert_close(hidden[:4, 4:] * -1,
                               hidden[:4, 4:].abs() * torch.sign(-hidden[:4, 4:]))


@pytest.mark.parametrize("init", ["bal_x", "bal_o"])
@pytest.mark.parametrize("skip", [False, True])
def test_builders_accept_balanced_schemes(init, skip):
    model = GAT(6, 4, 3, num_layers=5, num_heads=2, init=init, skip=skip)
    report = analyze(model)
    assert float(relative_c(model, report).max()) < 1e-6
    if skip:
        assert all((layer.fc_src.weight == 0).all() for layer in model.layers[1:-1])
    model.reset_parameters()
    assert float(relative_c(model, report).max()) < 1e-6


def test_balanced_orthogonal_rejects_odd_widths():
    with pytest.raises(ValueError, match="even number"):
        GAT(6, 5, 3, num_layers=3, init="bal_o")


# --- the monitor ----------------------------------------------------------------------------

def test_monitor_records_conservation_along_training(tmp_path):
    torch.manual_seed(0)
    model = GAT(6, 4, 3, num_layers=4, init="bal_o").double()
    graph, feat = input_sets(6)[0]
    monitor = dglbal.ConservationMonitor(model, analyze(model))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    target = torch.randint(0, 3, (graph.num_nodes(),))
    for _ in range(5):
        optimizer.zero_grad()
        F.cross_entropy(model(graph, feat), target).backward()
        monitor.record()
        optimizer.step()
    assert len(monitor.history["c"]) == 5
    assert max(max(d) for d in monitor.history["delta"]) < 1e-9
    assert max(monitor.c_drift()) < 1e-4
    assert set(monitor.history["rel_grad"][0]) == {n for n, p in model.named_parameters()}
    png = monitor.plot(tmp_path / "monitor.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite(monitor.history["changed"][-1]["layers.0.fc_src.weight"])
    # BalO starts the attention at 0: no relative gradient then, and absolute change counts.
    assert np.isnan(monitor.history["rel_grad"][0]["layers.0.attn"])
    assert np.isfinite(monitor.history["rel_grad"][-1]["layers.0.attn"])
    assert monitor.history["changed"][-1]["layers.0.attn"] < 1.0


def test_preserve_mode_converges_on_deep_networks():
    """Sweeping needs ~depth^2 sweeps on a chain; the Newton steps need a handful."""
    torch.manual_seed(0)
    model = GAT(6, 8, 3, num_layers=40).double()
    report = analyze_and_balance(model, mode="preserve", tol=1e-8)
    assert report.balance.max_relative_c < 1e-8 and report.sweeps <= 10


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mode", ["init", "preserve"])
def test_the_summary_measures_the_model_as_written_back(dtype, mode):
    """Balancing works in float64; the summary reports the model in its own dtype too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(),
                          nn.Linear(5, 2)).to(dtype)
    report = analyze_and_balance(model, torch.randn(10, 4).to(dtype), mode=mode, tol=1e-10)
    summary = report.balance
    actual = float(relative_c(model, report).max())
    assert summary.max_relative_c == pytest.approx(actual, rel=1e-12)
    assert actual > 1e-5 and summary.float64_relative_c < 1e-10
    assert (f"= {summary.max_relative_c:.1e} in the parameters' dtypes "
            f"({summary.float64_relative_c:.1e} in float64 before rounding)") in str(report)


def test_the_summary_of_a_float64_model_gives_one_figure():
    model = GAT(6, 4, 3, num_layers=3).double()
    summary = analyze_and_balance(model, mode="preserve", tol=1e-10).balance
    assert summary.max_relative_c == summary.float64_relative_c < 1e-10
    assert "before rounding" not in str(summary)
