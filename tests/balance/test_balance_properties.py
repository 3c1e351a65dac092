"""Property tests of the conservation law on random graphs and random architectures, drawn by
the public test kit (dglbal.testing.strategies)."""
import numpy as np
import torch
from hypothesis import assume, given, reject
from hypothesis import strategies as st

from dglbal import analyze
from dglbal.balance.balancing import FlatExponents, group_norms, balance_constants
from dglbal.testing import VacuousCheckError, check_conservation
from dglbal.testing.strategies import graphs, inputs, random_graphs, random_models

# Erdos-Renyi and Barabasi-Albert graphs (power-law degrees, isolated nodes), and small drawn
# edge lists with duplicate edges; every node of these has an in-edge, so the analyser sees
# every edge-wise parameter (on a graph without edges it holds them at 0 and names them)
GRAPHS = st.one_of(random_graphs(), graphs(zero_in_degree=False))


def _perturbed(model):
    """Move every parameter off its (possibly zero or structured) initial value."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model


@given(random_models(), inputs(5, graph=GRAPHS))
def test_conservation_law(model, drawn):
    try:
        check_conservation(_perturbed(model), *drawn)
    except VacuousCheckError:
        reject()  # all-zero outputs on the drawn input: nothing to check there


@given(random_models(init="bal_o"), inputs(5, graph=GRAPHS))
def test_balanced_orthogonal_is_balanced(model, drawn):
    report = analyze(model, *drawn)
    norms = group_norms(model, report)
    relative = balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])
    assert float(relative.max()) < 1e-6


@given(random_models(init="bal_x"), inputs(5, graph=GRAPHS))
def test_balanced_xavier_is_balanced(model, drawn):
    report = analyze(model, *drawn)
    norms = group_norms(model, report)
    live = (norms["incoming"] > 0) & (norms["outgoing"] > 0)
    relative = balance_constants(model, report).abs() / (norms["incoming"] + norms["outgoing"])
    assert float(relative[live].max()) < 1e-6


@given(random_models(), inputs(5, graph=GRAPHS))
def test_a_non_symmetry_drifts_at_first_order(model, drawn):
    """The drift check can fail: flip the outgoing signs of a group and c drifts by
    -2 lr sum theta grad, while the real c_g moves by lr^2 sum e grad^2 only."""
    model = _perturbed(model).double()
    graph, feat = drawn[0], drawn[1].double()
    report = analyze(model, graph, feat)
    projection = torch.randn(graph.num_nodes(), 3, generator=torch.Generator().manual_seed(2),
                             dtype=torch.float64)
    (projection * model(graph, feat)).sum().backward()
    flat = FlatExponents(model, report)
    grads = np.concatenate([p.grad.reshape(-1).numpy() for p in flat.params])
    activity = np.bincount(flat.group, weights=np.abs(flat.theta[flat.entry] * grads[flat.entry]),
                           minlength=flat.num_groups)
    assume(activity.max() > 0)  # on a graph of one node every hidden ReLU may be dead
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
