"""Keyword inputs: every public function that runs a model takes ``forward_kwargs`` and calls
``model(*inputs, **forward_kwargs)``, treats them as inputs (data, cast to float64 by the
checks, named in messages) and refuses anything but a mapping of argument names."""
import dgl
import pytest
import torch
import torch.nn.functional as F
from dgl.nn import GraphConv
from hypothesis import settings
from torch import nn

import dglbal
from dglbal.init import balanced_orthogonal_, balanced_xavier_, looks_linear_
from dglbal.symmetry import ModelRunError
from dglbal.testing import (blackbox_symmetry_dimension, check_balancing, check_complete,
                            check_conservation, check_monitor, check_noether,
                            check_model, check_rescale_invariance, check_training)
from dglbal.testing.strategies import edge_weights
from dglbal.testing.strategies import inputs as graph_inputs


class KeywordGCN(nn.Module):
    """Two DGL GraphConv layers; the edge weights (and a shift) come by keyword only."""

    def __init__(self):
        super().__init__()
        self.a, self.b = GraphConv(5, 8, norm="both"), GraphConv(8, 3, norm="both")

    def forward(self, graph, feat, *, edge_weight, shift=0.0):
        hidden = F.relu(self.a(graph, feat, edge_weight=edge_weight) + shift)
        return self.b(graph, hidden, edge_weight=edge_weight)


class PositionalGCN(KeywordGCN):
    """The same function with the edge weights passed by position."""

    def forward(self, graph, feat, edge_weight):
        return super().forward(graph, feat, edge_weight=edge_weight)


def _inputs(seed=0, nodes=12):
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(0, nodes, (40,), generator=generator)
    dst = torch.randint(0, nodes, (40,), generator=generator)
    graph = dgl.add_self_loop(dgl.graph((src, dst), num_nodes=nodes))
    feat = torch.randn(nodes, 5, generator=generator)
    weight = torch.rand(graph.num_edges(), generator=generator) + 0.5
    return graph, feat, weight


def _model(cls=KeywordGCN):
    torch.manual_seed(0)
    return cls()


ENTRY_POINTS = {
    "analyze": dglbal.analyze,
    "analyze_and_balance": lambda m, *x, **k: dglbal.analyze_and_balance(
        m, *x, mode="preserve", **k),
    "balanced_xavier_": balanced_xavier_,
    "balanced_orthogonal_": balanced_orthogonal_,
    "looks_linear_": looks_linear_,
    "diagnose": dglbal.diagnose,
    "check_rescale_invariance": check_rescale_invariance,
    "check_noether": check_noether,
    "check_training": check_training,
    "check_monitor": check_monitor,
    "check_balancing": check_balancing,
    "check_conservation": check_conservation,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_runs_the_model_with_its_keyword_inputs(entry):
    graph, feat, weight = _inputs()
    result = ENTRY_POINTS[entry](_model(), graph, feat, forward_kwargs={"edge_weight": weight})
    report = result if isinstance(result, dglbal.SymmetryReport) else \
        dglbal.analyze(_model(), graph, feat, forward_kwargs={"edge_weight": weight})
    assert len(report.groups) == 8  # the hidden ReLU neurons
    if entry == "diagnose":
        assert len(result.layers) == 2 and len(result.groups.names) == 8
    with pytest.raises((TypeError, ModelRunError), match="edge_weight"):
        ENTRY_POINTS[entry](_model(), graph, feat)  # the keyword is required: it was passed


def test_keyword_inputs_give_the_groups_of_positional_ones():
    graph, feat, weight = _inputs()
    by_keyword = dglbal.analyze(_model(), graph, feat, forward_kwargs={"edge_weight": weight})
    by_position = dglbal.analyze(_model(PositionalGCN), graph, feat, weight)
    assert by_keyword.parameter_order == by_position.parameter_order
    for g_keyword, g_position in zip(by_keyword.groups, by_position.groups, strict=True):
        for name in by_keyword.parameter_order:
            assert torch.equal(g_keyword.exponents(name), g_position.exponents(name))


def test_a_float_passed_by_keyword_is_data_not_a_trusted_zero():
    """shift=0.0 by keyword may be another number for other inputs: relu(a + shift) is then
    not homogeneous, and no group is claimed; with the model's own default 0.0 it is."""
    graph, feat, weight = _inputs()
    model = _model()
    passed = dglbal.analyze(model, graph, feat,
                            forward_kwargs={"edge_weight": weight, "shift": 0.0})
    default = dglbal.analyze(model, graph, feat, forward_kwargs={"edge_weight": weight})
    assert len(passed.groups) == 0 and len(default.groups) == 8
    with pytest.raises(AssertionError, match=r"shift=float"):  # and why: at 0.5 it is false
        check_rescale_invariance(model, graph, feat, report=default,
                                 forward_kwargs={"edge_weight": weight, "shift": 0.5})


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("kwargs, match", [
    ([("edge_weight", None)], "forward_kwargs must be a dict of keyword arguments.*got list"),
    ({0: None}, "forward_kwargs' keys must be argument names.*got 0"),
])
def test_what_is_not_a_mapping_of_argument_names_is_refused(entry, kwargs, match):
    graph, feat, _ = _inputs()
    with pytest.raises(TypeError, match=match):
        ENTRY_POINTS[entry](_model(), graph, feat, forward_kwargs=kwargs)


def test_messages_name_keyword_inputs():
    graph, feat, weight = _inputs()
    with pytest.raises(ModelRunError, match=r"edge_weight=Tensor\(3,\) float32"):
        dglbal.analyze(_model(), graph, feat, forward_kwargs={"edge_weight": weight[:3]})
    bad = weight.clone()
    bad[0] = float("nan")
    with pytest.raises(ValueError, match="keyword input 'edge_weight' has 1 NaN"):
        dglbal.diagnose(_model(), graph, feat, forward_kwargs={"edge_weight": bad})


def test_completeness_runs_each_input_set_with_its_keyword_inputs():
    """check_complete and blackbox_symmetry_dimension take input sets: keyword inputs are one
    mapping per set (here the edge weights of each set's graph) or one mapping for all."""
    sets = [_inputs(seed, nodes) for seed, nodes in ((0, 12), (1, 9))]
    input_sets = [(graph, feat) for graph, feat, _ in sets]
    per_set = [{"edge_weight": weight} for _, _, weight in sets]
    report = check_complete(_model(), input_sets, forward_kwargs=per_set)
    assert len(report.groups) == 8
    assert blackbox_symmetry_dimension(_model(), input_sets, report,
                                       forward_kwargs=per_set) == (8, 8)
    graph, feat, weight = sets[0]
    shared = check_complete(_model(), [(graph, feat), (graph, 2 * feat)],
                            forward_kwargs={"edge_weight": weight})
    assert len(shared.groups) == 8
    with pytest.raises((TypeError, ModelRunError), match="edge_weight"):
        check_complete(_model(), input_sets)  # the keyword is required: it was passed


@pytest.mark.parametrize("kwargs, error, match", [
    ([{}], ValueError, "forward_kwargs holds 1 mappings for 2 input sets"),
    ("edge_weight", TypeError, "or a list of one per input set, got str"),
    ([{0: None}, {}], TypeError, "forward_kwargs' keys must be argument names"),
])
def test_completeness_refuses_keyword_sets_that_do_not_fit(kwargs, error, match):
    graph, feat, _ = _inputs()
    with pytest.raises(error, match=match):
        check_complete(_model(), [(graph, feat), (graph, feat)], forward_kwargs=kwargs)


class PositionalWrapper(nn.Module):
    """The testing guide's wrapper: check_model draws positional inputs only."""

    def __init__(self):
        super().__init__()
        self.model = KeywordGCN()

    def forward(self, graph, feat, weight):
        return self.model(graph, feat, edge_weight=weight)


def test_check_model_checks_a_keyword_forward_through_a_positional_wrapper():
    drawn = graph_inputs(5).flatmap(
        lambda inputs: edge_weights(inputs[0]).map(lambda weight: (*inputs, weight)))
    check_model(PositionalWrapper, inputs=drawn, parts=("symmetry", "noether", "training"),
                settings=settings(max_examples=3, derandomize=True))
    report = dglbal.analyze(PositionalWrapper(), *_inputs())
    assert len(report.groups) == 8
