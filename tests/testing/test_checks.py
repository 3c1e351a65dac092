"""The check helpers blame the right thing."""
import math
from typing import Callable

import dgl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dglbal import analyze, balance_constants
from dglbal.balance.balancing import balance_
from dglbal.balance.conservation import ConservationMonitor
from dglbal.nn import GAT, GCN
from dglbal.testing import (blackbox_symmetry_dimension, check_balancing, check_complete,
                            check_conservation, check_monitor, check_noether,
                            check_rescale_invariance, check_symmetries, check_training)
from dglbal.testing.checks import NEGLIGIBLE, delta_terms, relative_delta
from dglbal.testing.graphs import as_double
from dglbal.testing.graphs import input_sets
from dglbal.testing.strategies import random_stack


def _graph_and_features(nodes=10):
    """25 random edges plus self-loops, and features. The edges come from a seeded torch
    generator: dgl.rand_graph under dgl.seed(0) draws other edges under another thread count
    (OMP_NUM_THREADS=1 against 2; some tests change DGL's), which made these tests depend on
    their order."""
    generator = torch.Generator().manual_seed(0)
    src, dst = torch.randint(0, nodes, (2, 25), generator=generator)
    torch.manual_seed(0)
    return dgl.add_self_loop(dgl.graph((src, dst), num_nodes=nodes)), torch.randn(nodes, 5)


def _gat(**kwargs):
    torch.manual_seed(0)
    return GAT(5, 4, 3, num_layers=3, **kwargs)


def test_dropout_in_train_mode_is_not_blamed_on_the_symmetry():
    model = _gat(feat_drop=0.5, attn_drop=0.5).train()
    graph, feat = _graph_and_features()
    check_rescale_invariance(model, graph, feat)
    check_conservation(model, graph, feat, steps=1)
    assert model.training and all(m.training for m in model.modules())  # mode as it was


def test_check_noether_with_a_frozen_parameter():
    model = _gat()
    model.layers[1].fc_src.weight.requires_grad_(False)
    graph, feat = _graph_and_features()
    check_noether(model, graph, feat)
    assert not model.layers[1].fc_src.weight.requires_grad  # left as it was


@pytest.mark.parametrize("input_sets, message", [
    ([], "non-empty list of input tuples"),
    (None, "non-empty list of input tuples"),
    ("graph", "non-empty list of input tuples"),
])
def test_check_complete_without_inputs_is_a_clear_error(input_sets, message):
    with pytest.raises(ValueError, match=message):
        check_complete(_gat(), input_sets)


def test_inputs_not_wrapped_in_a_list_of_tuples_are_a_clear_error():
    graph, feat = _graph_and_features()
    with pytest.raises(ValueError, match="an element is a DGLGraph"):
        check_complete(_gat(), (graph, feat))
    with pytest.raises(ValueError, match="input tuples"):
        blackbox_symmetry_dimension(_gat(), [], analyze(_gat()))


def test_a_report_from_another_model_is_refused_naming_the_parameter():
    graph, feat = _graph_and_features()
    gat, gcn = _gat(), GCN(5, 4, 3, num_layers=3)
    wider = GAT(5, 6, 3, num_layers=3)
    with pytest.raises(ValueError, match=r"another model: it has parameter 'layers\.0\.attn'"):
        check_rescale_invariance(gcn, graph, feat, report=analyze(gat))
    with pytest.raises(ValueError, match=r"parameter 'layers\.0\.attn' has shape \(1, 1, 6\) "
                                         r"here, \(1, 1, 4\) in the report"):
        balance_(wider, analyze(gat), "preserve")
    with pytest.raises(ValueError, match="another model"):
        balance_constants(gcn, analyze(gat))
    with pytest.raises(ValueError, match="another model"):
        ConservationMonitor(gcn, analyze(gat))


def test_a_report_from_a_twin_model_is_fine():
    twin_a, twin_b = _gat(), GAT(5, 4, 3, num_layers=3)
    graph, feat = _graph_and_features()
    check_rescale_invariance(twin_b, graph, feat, report=analyze(twin_a))


def test_monitor_record_before_backward_is_a_clear_error():
    model = _gat()
    monitor = ConservationMonitor(model, analyze(model))
    with pytest.raises(RuntimeError, match=r"no parameter has a gradient; call it after "
                                           r"loss\.backward\(\)"):
        monitor.record()
    assert monitor.history["delta"] == []
    graph, feat = _graph_and_features()
    model(graph, feat).sum().backward()
    monitor.record()
    assert len(monitor.history["delta"]) == 1 and max(monitor.history["delta"][0]) < 1e-4


def test_monitor_sets_aside_groups_that_touch_a_frozen_parameter():
    """A frozen weight does not follow the gradient: its groups conserve nothing, and the
    monitor must not report them as violations of Theorem 2.2."""
    model = _gat().double()
    model.layers[2].fc_src.weight.requires_grad_(False)
    report = analyze(model)
    monitor = ConservationMonitor(model, report)
    graph, feat = _graph_and_features()
    model(graph, feat.double()).sum().backward()
    monitor.record()
    frozen = {g.name for g in report.groups if "layers.2.fc_src.weight" in g.parameters}
    assert frozen and set(monitor.frozen_groups) == frozen
    delta = dict(zip((g.name for g in report.groups), monitor.history["delta"][0]))
    assert all(math.isnan(delta[name]) for name in frozen)
    assert max(v for name, v in delta.items() if name not in frozen) < 1e-9
    assert monitor.c_drift() == [0.0]
    assert all(report.groups[g].name not in frozen for g in monitor.tracked)


def test_monitor_records_without_a_host_round_trip(monkeypatch):
    """record() runs every epoch: it must stay on the model's device (no copy to the host,
    no synchronization); reading the history copies once."""
    model = _gat()
    monitor = ConservationMonitor(model, analyze(model))
    graph, feat = _graph_and_features()
    model(graph, feat).sum().backward()

    def refuse(*args, **kwargs):
        raise AssertionError("ConservationMonitor.record() copied a tensor to the host")

    with monkeypatch.context() as patch:
        for method in ("cpu", "numpy", "item", "tolist", "__float__"):
            patch.setattr(torch.Tensor, method, refuse)
        monitor.record()
    assert len(monitor.history["c"]) == 1 and len(monitor.history["rel_grad"]) == 1


@pytest.mark.parametrize("check", [check_noether, check_training, check_monitor,
                                   check_conservation], ids=lambda c: c.__name__)
def test_checks_differentiate_also_under_no_grad(check):
    model = GCN(5, 4, 2, num_layers=3)
    with torch.no_grad():
        check(model, *_graph_and_features())


def test_checks_copy_models_with_hook_based_weight_norm():
    """Its ``weight`` attribute is computed from weight_g / weight_v: deepcopy refuses it."""
    model = GCN(5, 4, 2, num_layers=3)
    with pytest.warns(UserWarning, match="deprecated"):
        torch.nn.utils.weight_norm(model.layers[0])
    check_noether(model, *_graph_and_features())
    check_rescale_invariance(model, *_graph_and_features())


def test_checks_write_no_gradient_into_the_callers_inputs():
    """Features that require grad: the checks differentiate a float64 copy, and the
    caller's tensor gets no ``.grad`` from them (before: Noether's and the training checks'
    backward passes accumulated into ``feat.grad``, float32 or float64)."""
    graph, feat = _graph_and_features(nodes=30)  # on 10 nodes the black box finds one extra
    # (data-dependent) symmetry of that small graph, which check_complete reports
    for dtype in (torch.float32, torch.float64):
        feat = feat.detach().to(dtype).requires_grad_(True)
        check_conservation(GCN(5, 4, 2, num_layers=3), graph, feat, steps=1)
        check_complete(GCN(5, 4, 2, num_layers=2), [(graph, feat)], points=1)
        assert feat.grad is None


def test_check_symmetries_leaves_the_model_as_it_was():
    """Like every check, on a float64 copy in eval mode (before: the caller's model was
    converted to float64 in place, and analysed in its own mode)."""
    model = GCN(5, 4, 2, num_layers=2, dropout=0.5).train()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    check_symmetries(model, 5, expected_groups=4, complete=False)
    assert model.training
    after = model.state_dict()
    assert all(after[name].dtype == p.dtype and torch.equal(after[name], p)
               for name, p in before.items())
    model(*_graph_and_features())  # still runs on float32 features


@pytest.mark.parametrize("check", [check_rescale_invariance, check_noether, check_training,
                                   check_monitor, check_balancing, check_conservation])
def test_an_empty_graph_is_refused_not_passed(check):
    """On a graph of no nodes the outputs are empty and every check passed, even with a
    false report (a ReLU twin's for a GELU model): it could not fail. Refused instead."""
    relu = GCN(5, 4, 2, num_layers=2)
    gelu = GCN(5, 4, 2, num_layers=2, activation=F.gelu)
    gelu.load_state_dict(relu.state_dict())
    report = analyze(relu, *_graph_and_features())
    empty = dgl.add_self_loop(dgl.graph(([], []), num_nodes=0))
    with pytest.raises(ValueError, match="outputs on these inputs have no entries"):
        check(gelu, empty, torch.randn(0, 5), report=report)


@pytest.mark.parametrize("check", [check_rescale_invariance, check_noether, check_conservation])
def test_all_zero_outputs_are_refused_not_passed(check):
    """A zero-initialised head makes the outputs 0 whatever the groups do: a GELU model
    given its ReLU twin's report passed the symmetry checks. Refused, like an empty graph;
    perturbed parameters (as check_model draws them) make the check real and it fails."""
    relu = GCN(5, 4, 2, num_layers=2)
    gelu = GCN(5, 4, 2, num_layers=2, activation=F.gelu)
    gelu.load_state_dict(relu.state_dict())
    with torch.no_grad():
        gelu.layers[-1].weight.zero_()
    graph, feat = _graph_and_features()
    report = analyze(relu, graph, feat)
    with pytest.raises(ValueError, match="outputs on these inputs are all zero"):
        check(gelu, graph, feat, report=report)
    with torch.no_grad():
        gelu.layers[-1].weight.normal_()
    with pytest.raises(AssertionError):
        check(gelu, graph, feat, report=report)


@pytest.mark.parametrize("call,error,match", [
    (lambda g, x: check_rescale_invariance(GCN(5, 4, 2, num_layers=3), g, x, trials=0), ValueError,
     "trials must be an int >= 1, got 0"),
    (lambda g, x: check_rescale_invariance(GCN(5, 4, 2, num_layers=3), g, x, rtol=-1.0), ValueError,
     "rtol must be a finite number >= 0"),
    (lambda g, x: check_noether("model", g, x), TypeError, "torch.nn.Module, got str"),
    (lambda g, x: check_conservation(GCN(5, 4, 2, num_layers=3), g, x, steps=0), ValueError,
     "steps must be an int >= 1"),
    (lambda g, x: check_symmetries(GCN(5, 4, 2, num_layers=3), "5"), ValueError,
     "in_feats must be an int"),
    (lambda g, x: check_complete(GCN(5, 4, 2, num_layers=3), [(g, x)], points=0), ValueError,
     "points must be an int >= 1"),
    (lambda g, x: check_monitor(GCN(5, 4, 2, num_layers=3), g, x, steps=-1), ValueError,
     "steps must be an int >= 1"),
])
def test_checks_that_could_not_fail_or_pass_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(*_graph_and_features())


def test_a_neuron_masked_by_dropout_is_no_false_alarm():
    """Found by check_model under the thorough profile: in training mode, dropout can mask a
    hidden neuron almost entirely; its terms e * theta * grad are then rounding noise (~1e-17)
    and their own sum is no scale to measure delta_g against (the monitor records 0.26)."""
    graph = dgl.graph(([0, 0, 0, 0], [0, 0, 0, 1]), num_nodes=2)
    feat = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = GAT(4, 4, 2, num_layers=3, feat_drop=0.3, attn_drop=0.3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    check_monitor(model, graph, feat, steps=3)
    report = analyze(model.double(), graph, feat)
    model.train()
    torch.manual_seed(2)  # a mask under which the monitor's own ratio for a group is 0.04
    (model(graph, feat) * torch.randn(2, 2, dtype=torch.float64)).sum().backward()
    total, scale = delta_terms(model, report)
    masked = scale < NEGLIGIBLE * scale.max()
    assert masked.any() and np.abs(total[masked]).max() < 1e-15
    assert relative_delta(model, report).max() < 1e-9


def test_a_spurious_black_box_direction_is_measured_again_before_it_fails():
    """Found by the analyser's property test: GATConv, a GINConv applied twice (shared
    weights), GATConv, with leaky ReLUs. At few parameter points the black box counts
    directions that are no symmetry (8 or 9 at 4 points here, with 2 or 1 threads; 6 at the
    default 8 on these inputs);
    at twice the points it counts the 4 groups the analyser reports: no failure."""
    base = dict(residual=False, alpha=0.0, norm="none", aggregator="pool", share=False, heads=1)
    specs = [dict(base, kind="gatconv", width=2, last=False, bias=False, repeat=False),
             dict(base, kind="gin", width=2, last=False, share=True, bias=False, repeat=True),
             dict(base, kind="gatconv", width=4, last=True, bias=True, repeat=False)]
    torch.manual_seed(0)
    model = random_stack(specs, torch.nn.functional.leaky_relu, in_feats=4).double()
    sets = input_sets(4, count=1)
    report = analyze(model, *sets[0])
    found, groups = blackbox_symmetry_dimension(model, sets, report, points=4)
    assert groups == 4 and found > groups  # the exact excess depends on rounding (threads)
    check_complete(model, sets, report, points=4)


class _TwoOutputs(nn.Module):
    """Two heads of very different scales; the second's hidden units are ReLU or tanh."""

    def __init__(self, second: Callable):
        super().__init__()
        self.second = second
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 2)
        self.c, self.d = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x):
        return 1e12 * self.b(F.relu(self.a(x))), self.d(self.second(self.c(x)))


def test_a_false_group_on_a_small_output_is_caught():
    """The ReLU twin's report claims the tanh head's units: each output is measured at its own
    scale, not against the norm of all outputs together (where 1e12 hid it)."""
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    relu = _TwoOutputs(F.relu).double()
    tanh = _TwoOutputs(torch.tanh).double()
    tanh.load_state_dict(relu.state_dict())
    wrong = analyze(relu, x)
    check_rescale_invariance(relu, x, report=wrong)  # true for the model it was made for
    check_noether(relu, x, report=wrong)
    with pytest.raises(AssertionError, match="not a symmetry.*'c channel"):
        check_rescale_invariance(tanh, x, report=wrong)
    with pytest.raises(AssertionError, match="Noether's identity fails.*'c channel"):
        check_noether(tanh, x, report=wrong)


def test_a_false_group_through_a_distant_kink_is_caught():
    """ReLU6 is ReLU below 6: a report made on the ReLU twin holds under rescaling near 1 on
    unit inputs, and the wide trial (log-spread 3) crosses the kink and fails it."""
    torch.manual_seed(0)
    x = torch.randn(8, 4, dtype=torch.float64)
    relu = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    relu6 = nn.Sequential(nn.Linear(4, 6), nn.ReLU6(), nn.Linear(6, 2)).double()
    relu6.load_state_dict(relu.state_dict())
    wrong = analyze(relu, x)
    check_rescale_invariance(relu, x, report=wrong)
    check_rescale_invariance(relu6, x, report=wrong, trials=1)  # near 1: the kink unseen
    with pytest.raises(AssertionError, match="not a symmetry.*trial 1"):
        check_rescale_invariance(relu6, x, report=wrong)


def test_preserve_balancing_that_changes_a_small_output_is_caught():
    """Balancing the tanh head's units along the ReLU twin's groups changes that head; the
    outputs are compared one by one, so the 1e12-times larger head cannot hide it."""
    torch.manual_seed(0)
    x = torch.randn(5, 4, dtype=torch.float64)
    relu = _TwoOutputs(F.relu).double()
    with torch.no_grad():  # unbalanced heads: balancing them moves the weights far
        relu.c.weight.mul_(5.0)
        relu.d.weight.mul_(0.2)
    tanh = _TwoOutputs(torch.tanh).double()
    tanh.load_state_dict(relu.state_dict())
    wrong = analyze(relu, x)
    check_balancing(relu, x, report=wrong)
    with pytest.raises(AssertionError, match="preserve balancing changed the outputs"):
        check_balancing(tanh, x, report=wrong)


@pytest.mark.parametrize("scale, lr", [(1e3, 1e-2), (1e4, 1e-2), (1e3, 1e-3)])
def test_large_steps_on_a_correct_model_are_no_false_alarm(scale, lr):
    """With features of scale 1e3-1e4 and lr 1e-2, one SGD step moves the norms by far more
    than I_g + O_g; the drift of c_g carries the rounding of those terms (before: measured
    against I_g + O_g alone, a GAT failed check_training at 2.5e-2 and 1.1e-4)."""
    graph, feat = _graph_and_features()
    check_training(_gat(), graph, scale * feat, lr=lr)
    check_monitor(_gat(), graph, scale * feat, lr=lr)


def test_as_double_casts_the_tensors_of_feature_dicts():
    """Heterograph features come as {node type: tensor}: cast like tuples and lists."""
    cast = as_double({"user": torch.ones(2, 3), "item": (torch.ones(1), torch.arange(2))})
    assert cast["user"].dtype == torch.float64 and cast["item"][0].dtype == torch.float64
    assert cast["item"][1].dtype == torch.int64


class _WithPrediction(nn.Module):
    """Logits and their argmax (an integer tensor): the second output is invariant too."""

    def __init__(self, activation: Callable = F.relu):
        super().__init__()
        self.activation = activation
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 3)

    def forward(self, x):
        logits = self.b(self.activation(self.a(x)))
        return {"logits": logits, "label": logits.argmax(-1)}


def test_an_integer_output_is_compared_not_a_crash():
    """A model that also returns its prediction (argmax): the checks crashed computing the
    norm of an integer tensor (``linalg.vector_norm: Expected a floating point ...``)."""
    torch.manual_seed(0)
    x = torch.randn(6, 3)
    check_conservation(_WithPrediction(), x, steps=1)
    relu = _WithPrediction()
    gelu = _WithPrediction(F.gelu)
    gelu.load_state_dict(relu.state_dict())
    with pytest.raises(AssertionError, match="not a symmetry"):
        check_rescale_invariance(gelu, x, report=analyze(relu, x))


class _Wired(nn.Module):
    """Linear, ReLU, Linear; ``crossed`` feeds hidden unit i to the output layer's column
    3 - i. The twins have the same parameters and as many groups, but not the same ones."""

    def __init__(self, crossed: bool):
        super().__init__()
        self.crossed = crossed
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        hidden = F.relu(self.a(x))
        return self.b(hidden.flip(-1) if self.crossed else hidden)


def test_check_complete_compares_the_spans_not_only_their_dimensions():
    """The straight twin's report claims row i of a with column i of b, the crossed model's
    symmetries pair row i with column 3 - i: 4 groups, 4 black-box symmetries, spanning 6
    dimensions together. check_complete passed it (it compared the two dimensions alone)."""
    torch.manual_seed(0)
    sets = [(torch.randn(6, 3),), (torch.randn(7, 3),)]
    straight, crossed = _Wired(False), _Wired(True)
    crossed.load_state_dict(straight.state_dict())
    check_complete(crossed, sets)
    with pytest.raises(AssertionError, match="the 4 groups miss 2; they claim 2 it does not find"):
        check_complete(crossed, sets, report=analyze(straight, *sets[0]))


class _DriftAsC:
    """A wrong monitor: records c_g - c_g(first record) under ``"c"`` (the drift where the
    conserved quantity belongs). Its drifts are right, its values are not."""

    def __init__(self, model, report):
        self.inner = ConservationMonitor(model, report)

    def record(self):
        self.inner.record()

    @property
    def history(self):
        history = dict(self.inner.history)
        first = history["c"][0]
        history["c"] = [[c - c0 for c, c0 in zip(row, first)] for row in history["c"]]
        return history


def test_a_monitor_that_records_wrong_values_of_c_is_caught():
    """check_monitor compared only differences of the recorded c_g (c[-1] - c[0]), so a
    monitor recording the drift instead of c_g itself passed."""
    graph, feat = _graph_and_features()
    check_monitor(_gat(), graph, feat, steps=2)
    with pytest.raises(AssertionError, match=r"the monitor records c_g = .* the model's c_g"):
        check_monitor(_gat(), graph, feat, steps=2, monitor=_DriftAsC)


class _Truncated(_DriftAsC):
    """A wrong monitor: records only the first group's c_g and delta_g."""

    @property
    def history(self):
        history = dict(self.inner.history)
        for key in ("c", "delta"):
            history[key] = [row[:1] for row in history[key]]
        return history


class _Silent(_DriftAsC):
    """A wrong monitor: keeps no history."""

    @property
    def history(self):
        return {}


class _EverySecondStep(_DriftAsC):
    """A wrong monitor: records on every second call only."""

    def __init__(self, model, report):
        super().__init__(model, report)
        self.calls = 0

    def record(self):
        self.calls += 1
        if self.calls % 2:
            self.inner.record()

    @property
    def history(self):
        return self.inner.history


@pytest.mark.parametrize("monitor, message", [
    (_Truncated, r"records 1 values of 'c' after 1 record\(\) calls, of lengths \[1\]; the "
                 r"report has \d+ groups"),
    (_Silent, r"no history of 'c' and 'delta' after record\(\) at training step 0"),
    (_EverySecondStep, r"records 1 values of 'c' after 2 record\(\) calls"),
])
def test_a_monitor_with_malformed_records_is_named(monitor, message):
    """A monitor recording fewer groups than the report's failed with numpy's broadcasting
    error deep in the check, a missing history with a KeyError, and one skipping records was
    blamed for wrong values of c_g."""
    graph, feat = _graph_and_features()
    with pytest.raises(AssertionError, match=message):
        check_monitor(_gat(), graph, feat, steps=3, monitor=monitor)
