"""The verdict on gradients is drawn from the layers the backward pass reached, and claims no
gradient scale it did not measure."""
import dgl
import pytest
import torch

from dglbal import diagnose
from dglbal.nn import GCN


@pytest.fixture(scope="module")
def graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(60, 240))


def _gradient_problems(found):
    return [p for p in found.problems() if p.startswith("gradients")]


def test_vanishing_gradients_are_found_when_the_first_layer_is_frozen(graph):
    """A frozen first layer takes no gradient (NaN E[g^2]); the comparison was of layer 1
    with the last, so the check gave up and a vanishing of 1e-14 against 5e-3 went unsaid."""
    torch.manual_seed(0)
    model, feat = GCN(16, 16, 3, num_layers=30, init="xavier"), torch.randn(60, 16)
    model.layers[0].weight.requires_grad_(False)
    found = diagnose(model, graph, feat, groups=False)
    assert not found.layers[0].gradient_reached and found.layers[1].gradient_reached
    problems = _gradient_problems(found)
    assert len(problems) == 1
    second, last = found.layers[1].gradient_moment, found.layers[-1].gradient_moment
    assert second / last < 1e-4
    assert problems[0].startswith(f"gradients vanish towards the input (E[g^2] {second:.2g} at "
                                  f"layer 2 against {last:.2g} at layer 30)")


def test_a_model_no_gradient_reaches_is_not_said_to_keep_its_gradient_scale(graph):
    torch.manual_seed(0)
    model, feat = GCN(16, 16, 3, num_layers=3, init="bal_o"), torch.randn(60, 16)
    model.requires_grad_(False)
    found = diagnose(model, graph, feat)
    assert not any(s.gradient_reached for s in found.layers)
    verdict = found.verdict()
    assert verdict.startswith("no problem found at initialization")
    assert "gradient scales" not in verdict
    assert "no gradient reached the layers" in verdict
    model.requires_grad_(True)
    assert "output and gradient scales stay" in diagnose(model, graph, feat).verdict()
