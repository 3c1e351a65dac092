"""Property tests of the conservation law on random graphs and random architectures."""
import dgl
import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from dglbal import analyze
from dglbal.balance.balancing import FlatExponents, group_norms, balance_constants
from dglbal.testing.checks import check_conservation
from dglbal.testing.strategies import random_graphs, random_models


def _perturbed(model):
    """Move every parameter off its (possibly zero or structured) initial value."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model


def _features(graph):
    return torch.randn(graph.num_nodes(), 5, generator=torch.Generator().manual_seed(1))


@given(random_models(), random_graphs())
def test_conservation_law(model, graph):
    check_conservation(_perturbed(model), graph, _features(graph))


@given(random_models(init="bal_o"), random_graphs())
def test_balanced_orthogonal_is_balanced(model, graph):
    report = analyze(model, graph, _features(graph))
    norms = group_norms(model, report)
    relative = balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])
    assert float(relative.max()) < 1e-6


@given(random_models(init="bal_x"), random_graphs())
def test_balanced_xavier_is_balanced(model, graph):
    report = analyze(model, graph, _features(graph))
    norms = group_norms(model, report)
    live = (norms["incoming"] > 0) & (norms["outgoing"] > 0)
    relative = balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])
    assert float(relative[live].max()) < 1e-6


@given(random_models(), random_graphs())
def test_a_non_symmetry_drifts_at_first_order(model, graph):
    """The drift check can fail: flip the outgoing signs of a group and c drifts by
    -2 lr sum theta grad, while the real c_g moves by lr^2 sum e grad^2 only."""
    model = _perturbed(model).double()
    feat = _features(graph).double()
    report = analyze(model, graph, feat)
    projection = torch.randn(graph.num_nodes(), 3, generator=torch.Generator().manual_seed(2),
                             dtype=torch.float64)
    (projection * model(graph, feat)).sum().backward()
    flat = FlatExponents(model, report)
    grads = np.concatenate([p.grad.reshape(-1).numpy() for p in flat.params])
    activity = np.bincount(flat.group, weights=np.abs(flat.theta[flat.entry] * grads[flat.entry]),
                           minlength=flat.num_groups)
    g = int(activity.argmax())
    entries, values = flat.group_entries(g)
    lr = 1e-4
    theta, grad = flat.theta[entries], grads[entries]
    stepped = theta - lr * grad
    real = np.sum(values * (stepped ** 2 - theta ** 2)) - lr ** 2 * np.sum(values * grad ** 2)
    fake = np.sum(np.abs(values) * (stepped ** 2 - theta ** 2)) - lr ** 2 * np.sum(grad ** 2)
    scale = np.sum(theta ** 2)
    assert abs(real) <= 1e-12 * scale
    assert abs(fake) > 1e3 * max(abs(real), 1e-15 * scale)
