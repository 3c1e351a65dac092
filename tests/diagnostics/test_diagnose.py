"""dglbal.diagnose: per-layer scales and feature similarity, per-group balance, the verdict."""
import json

import dgl
import numpy as np
import pytest
import torch
from torch import nn

from dglbal import analyze, analyze_and_balance, diagnose
from dglbal.cli import main
from dglbal.diagnostics import group_statistics, mean_pairwise_cosine, watched_layers
from dglbal.nn import GCN


@pytest.fixture(scope="module")
def graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(60, 240))


def _brute_cosine(rows):
    rows = rows[rows.norm(dim=1) > 0].double()
    units = rows / rows.norm(dim=1, keepdim=True)
    sims = units @ units.T
    n = len(units)
    return float((sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def test_mean_pairwise_cosine_matches_the_pairwise_definition():
    torch.manual_seed(0)
    rows = torch.randn(30, 5)
    rows[3] = 0  # a zero row has no direction and is left out
    assert mean_pairwise_cosine(rows) == pytest.approx(_brute_cosine(rows), abs=1e-12)
    assert mean_pairwise_cosine(torch.ones(7, 3)) == pytest.approx(1.0)
    assert mean_pairwise_cosine(torch.eye(4)) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(mean_pairwise_cosine(torch.zeros(5, 3)))


def test_layer_statistics_are_the_model_outputs_and_their_gradients(graph):
    torch.manual_seed(0)
    model, feat = GCN(8, 16, 3, num_layers=3), torch.randn(60, 8)
    found = diagnose(model, graph, feat, groups=False)
    assert [s.name for s in found.layers] == ["layers.0", "layers.1", "layers.2"]
    out = model(graph, feat).detach().requires_grad_()
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(0),
                             dtype=torch.float64)
    ((out.double() * projection).sum() / out.numel() ** 0.5).backward()
    last = found.layers[-1]
    assert last.output_moment == pytest.approx(float(out.double().pow(2).mean()), rel=1e-12)
    assert last.gradient_moment == pytest.approx(float(out.grad.double().pow(2).mean()),
                                                 rel=1e-6)
    assert last.cosine == pytest.approx(_brute_cosine(out.detach()), abs=1e-10)


def test_the_model_is_left_as_it_was(graph):
    model, feat = GCN(8, 16, 3, num_layers=3, dropout=0.5), torch.randn(60, 8)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    diagnose(model, graph, feat)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_each_submodule_keeps_its_own_mode(graph):
    model, feat = GCN(8, 16, 3, num_layers=3, dropout=0.5), torch.randn(60, 8)
    model.train()
    model.layers[1].eval()  # e.g. a frozen layer the user keeps in eval mode
    modes = [m.training for m in model.modules()]
    diagnose(model, graph, feat)
    assert [m.training for m in model.modules()] == modes


def test_input_gradients_are_left_alone(graph):
    model, feat = GCN(8, 16, 3, num_layers=3), torch.randn(60, 8, requires_grad=True)
    diagnose(model, graph, feat)
    assert feat.grad is None
    feat.grad = torch.ones(60, 8)
    diagnose(model, graph, feat, labels=torch.zeros(60, dtype=torch.long))
    assert torch.equal(feat.grad, torch.ones(60, 8))


def test_vanishing_xavier_outputs_and_a_healthy_balanced_start(graph):
    torch.manual_seed(0)
    feat = torch.randn(60, 16)
    xavier = diagnose(GCN(16, 16, 3, num_layers=30, init="xavier"), graph, feat)
    assert xavier.verdict().startswith("outputs vanish by layer")
    assert "gnn_he" in xavier.verdict()
    balanced = diagnose(GCN(16, 16, 3, num_layers=30, init="bal_o"), graph, feat)
    assert not any(p.startswith("outputs") for p in balanced.problems())
    assert np.nanmax(balanced.groups.imbalance) < 1e-6


def test_group_statistics_follow_balancing(graph):
    torch.manual_seed(0)
    model, feat = GCN(8, 16, 3, num_layers=4, init="he"), torch.randn(60, 8)
    found = diagnose(model, graph, feat)
    assert np.nanmax(found.groups.imbalance) > 0.1
    assert any("out of balance" in p for p in found.problems())
    analyze_and_balance(model, graph, feat, mode="preserve")
    assert np.nanmax(diagnose(model, graph, feat).groups.imbalance) < 1e-6


def test_relative_gradients_are_gradient_over_weight_norms(graph):
    torch.manual_seed(0)
    model, feat = GCN(8, 16, 3, num_layers=3), torch.randn(60, 8)
    report = analyze(model, graph, feat)
    model(graph, feat).pow(2).sum().backward()
    stats = group_statistics(model, report)
    group = report.groups[0]
    inward = [(name, e) for name in group.parameters for e in [group.exponents(name)]]
    weight_sq = grad_sq = 0.0
    params = dict(model.named_parameters())
    for name, exponents in inward:
        mask = torch.as_tensor(exponents > 0)
        weight_sq += float(params[name].detach()[mask].double().pow(2).sum())
        grad_sq += float(params[name].grad[mask].double().pow(2).sum())
    assert stats.relative_gradient_in[0] == pytest.approx((grad_sq / weight_sq) ** 0.5,
                                                          rel=1e-9)


def test_groups_touching_a_frozen_parameter_have_no_relative_gradient(graph):
    """A frozen layer takes no gradient: its groups' sides read 0 ("not moving") and
    pulled the medians of the summary down; they are NaN, as where no gradient was taken."""
    torch.manual_seed(0)
    model, feat = GCN(8, 16, 3, num_layers=4), torch.randn(60, 8)
    model.layers[3].weight.requires_grad_(False)
    report = analyze(model, graph, feat)
    model(graph, feat).pow(2).sum().backward()
    stats = group_statistics(model, report)
    touching = np.array([any(name.startswith("layers.3.") for name in g.parameters)
                         for g in report.groups])
    assert touching.any() and not touching.all()
    assert np.isnan(stats.relative_gradient_in[touching]).all()
    assert np.isnan(stats.relative_gradient_out[touching]).all()
    assert np.isfinite(stats.relative_gradient_in[~touching]).all()
    assert np.isfinite(stats.imbalance).all()  # the weights are still there


def test_a_model_without_graph_layers_is_watched_by_its_parameter_modules():
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert [name for name, _ in watched_layers(mlp)] == ["0", "2"]
    found = diagnose(mlp, torch.randn(10, 4))
    assert len(found.layers) == 2 and len(found.groups.names) == 8


def test_bad_arguments_are_named(graph):
    model, feat = GCN(8, 16, 3, num_layers=2), torch.randn(60, 8)
    with pytest.raises(TypeError, match="needs an nn.Module"):
        diagnose("model", graph, feat)
    with pytest.raises(TypeError, match="report must be a SymmetryReport .* got str"):
        diagnose(model, graph, feat, report="report")
    with pytest.raises(ValueError, match="labels must be integer classes"):
        diagnose(model, graph, feat, labels=torch.rand(60))
    with pytest.raises(ValueError, match="mask must be a boolean vector"):
        diagnose(model, graph, feat, labels=torch.zeros(60, dtype=torch.long),
                 mask=torch.ones(59, dtype=torch.bool))

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 2)

        def forward(self, x):
            return self.lin(x), x

    with pytest.raises(TypeError, match="output is a tensor, got tuple"):
        diagnose(Pair(), feat)


@pytest.mark.parametrize("labels, mask, match", [
    (torch.full((60,), 3), None, r"labels must be classes 0\.\.2 of the output's 3 columns, "
                                 r"got labels 3\.\.3"),
    (torch.full((60,), -1), None, r"got labels -1\.\.-1 \(leave unlabelled nodes out with "
                                  "mask"),
    (torch.zeros(60, 1, dtype=torch.long), None, r"labels must be a 1-D tensor .* got shape "
                                                 r"\(60, 1\)"),
    (torch.zeros(60, dtype=torch.bool), None, "labels must be integer classes"),
    ([0] * 60, None, "labels must be a torch.Tensor, got list"),
    (None, [True] * 60, "mask must be a torch.Tensor, got list"),
    (torch.zeros(60, dtype=torch.long), torch.zeros(60, dtype=torch.bool),
     "mask selects no row of the output"),
    (None, torch.zeros(60, dtype=torch.bool), "mask selects no row of the output")])
def test_bad_labels_and_masks_are_named_before_torch_fails(graph, labels, mask, match):
    model, feat = GCN(8, 16, 3, num_layers=2), torch.randn(60, 8)
    with pytest.raises((ValueError, TypeError), match=match):
        diagnose(model, graph, feat, labels=labels, mask=mask)


def test_labels_need_an_output_with_a_row_per_node():
    class Total(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x).sum()

    with pytest.raises(ValueError, match=r"labels need an output of one row of class scores "
                                         r"per node, got shape \(\)"):
        diagnose(Total(), torch.randn(10, 4), labels=torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match=r"mask needs an output of one row per node"):
        diagnose(Total(), torch.randn(10, 4), mask=torch.ones(10, dtype=torch.bool))


@pytest.mark.parametrize("bad,match", [
    (float("nan"), "input 2 has 1 NaN or infinite entries of 480"),
    (float("inf"), "input 2 has 1 NaN or infinite entries of 480")])
def test_non_finite_features_are_refused(graph, bad, match):
    feat = torch.randn(60, 8)
    feat[3, 5] = bad
    with pytest.raises(ValueError, match=match):
        diagnose(GCN(8, 16, 3, num_layers=2), graph, feat)


def test_an_empty_graph_or_tensor_is_refused():
    empty = dgl.graph(([], []), num_nodes=0)
    with pytest.raises(ValueError, match="input 1 is a graph without nodes"):
        diagnose(GCN(8, 16, 3, num_layers=2), empty, torch.randn(0, 8))
    with pytest.raises(ValueError, match=r"input 1 is an empty tensor of shape \(0, 4\)"):
        diagnose(nn.Linear(4, 2), torch.randn(0, 4))


def test_a_model_that_makes_non_finite_outputs_is_told_so():
    class Overflow(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)) * 1e200 * 1e200)  # inf in float32

    found = diagnose(Overflow(), torch.randn(10, 4), groups=False)
    assert not np.isfinite(found.layers[1].output_moment)
    assert found.verdict().startswith("outputs are not finite (E[h^2] = ")
    assert "from layer 2 of 2 (b)" in found.verdict()


def test_a_collapse_at_the_first_layer_is_measured_against_the_input():
    torch.manual_seed(0)
    complete = dgl.graph((torch.arange(30).repeat_interleave(30), torch.arange(30).repeat(30)))
    feat = torch.randn(30, 8)  # mean pairwise cosine about 0
    found = diagnose(GCN(8, 16, 3, num_layers=3), complete, feat, groups=False)
    assert found.input_cosine == pytest.approx(_brute_cosine(feat), abs=1e-12)
    assert found.layers[0].cosine > 0.999  # every node averages all nodes: one direction
    assert found.verdict().startswith("node features collapse to one direction by layer 1 ")
    alike = torch.ones(30, 8) + 1e-3 * feat  # the input is collapsed already: not the model
    assert not any("collapse" in p for p in diagnose(GCN(8, 16, 3, num_layers=3), complete,
                                                       alike, groups=False).problems())


def test_non_finite_gradients_are_a_problem():
    class Root(nn.Module):  # d sqrt(u)/du is infinite at u = 0: NaN gradients, finite outputs
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.b(h) + torch.sqrt(h[:, :2] * 0)

    found = diagnose(Root(), torch.randn(10, 4), groups=False)
    assert all(np.isfinite(s.output_moment) for s in found.layers)
    assert np.isnan(found.layers[0].gradient_moment) and found.layers[0].gradient_reached
    assert found.verdict().startswith("gradients are not finite (E[g^2] = nan) at layer 1 of "
                                      "2 (a)")


def test_a_layer_no_gradient_reaches_is_not_a_problem():
    frozen = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).requires_grad_(False)
    found = diagnose(frozen, torch.randn(10, 4), groups=False)
    assert not any(s.gradient_reached for s in found.layers)
    assert found.verdict().startswith("no problem found")


def test_a_verdict_on_one_node_does_not_claim_the_features_stay_apart():
    """With one node no cosine is defined: the verdict says so instead of "stay apart"."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    verdict = diagnose(model, torch.randn(1, 4), groups=False).verdict()
    assert verdict.startswith("no problem found") and "stay apart" not in verdict
    assert "cosine is undefined" in verdict
    assert "stay apart" in diagnose(model, torch.randn(10, 4), groups=False).verdict()


def test_outputs_that_are_all_zero_from_the_first_layer_are_a_problem():
    dead = nn.Linear(4, 3)
    nn.init.zeros_(dead.weight), nn.init.zeros_(dead.bias)
    found = diagnose(dead, torch.randn(10, 4), groups=False)
    assert found.verdict().startswith("outputs are all zero at layer 1 of 1 (Linear)")


def test_layers_returning_a_tuple_are_watched_by_their_first_element(graph):
    class Attention(nn.Module):  # DGL's GATConv(get_attention=True): (features, attention)
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList([dgl.nn.GATConv(8, 4, 2), dgl.nn.GATConv(8, 3, 1)])

        def forward(self, g, x):
            x = torch.relu(self.convs[0](g, x, get_attention=True)[0].flatten(1))
            return self.convs[1](g, x, get_attention=True)[0].flatten(1)

    torch.manual_seed(0)
    model, feat = Attention(), torch.randn(60, 8)
    found = diagnose(model, graph, feat, groups=False)
    assert [s.name for s in found.layers] == ["convs.0", "convs.1"]
    first = model.convs[0](graph, feat)
    assert found.layers[0].output_moment == pytest.approx(float(first.double().pow(2).mean()))
    assert found.layers[0].cosine == pytest.approx(_brute_cosine(first.detach().flatten(1)))


def test_command_line_writes_a_diagnosis_per_scheme(tmp_path, capsys):
    assert main(["diagnose", "--dataset", "synthetic", "--layers", "6", "--hidden", "8",
                 "--init", "xavier", "bal_o", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("verdict:") == 2
    saved = json.loads((tmp_path / "diagnosis_bal_o.json").read_text())
    assert len(saved["layers"]) == 6 and saved["verdict"] in printed
    assert (tmp_path / "diagnosis_xavier.png").stat().st_size > 0


def test_command_line_refuses_before_building(tmp_path, capsys):
    assert main(["diagnose", "--dataset", "synthetic", "--model", "sage", "--init",
                 "ll_ortho", "--out", str(tmp_path)]) == 2
    assert "--init ll_ortho" in capsys.readouterr().err
