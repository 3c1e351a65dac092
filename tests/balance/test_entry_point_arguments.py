"""Probes of the balance wing's public entry points: arguments of the wrong type or value, a
model on the meta device, undefined quantities, are refused up front with an error naming
the argument; a diverged model is not hidden by the monitor's summaries."""
import math

import pytest
import torch
from torch import nn

import dglbal
from dglbal.balance import group_norms, relative_residuals
from dglbal.balance.rebalance import Rebalancer

X = torch.linspace(-1, 1, 24).view(6, 4)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


ENTRY_POINTS = {
    "balance_": lambda m, r: dglbal.balance_(m, r, "preserve"),
    "balance_constants": dglbal.balance_constants,
    "group_norms": group_norms,
    "conservation_residuals": dglbal.conservation_residuals,
    "Rebalancer": Rebalancer,
    "ConservationMonitor": dglbal.ConservationMonitor,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_wrong_types_of_model_and_report_are_named(entry):
    model = _mlp()
    report = dglbal.analyze(model, X)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        ENTRY_POINTS[entry]("model", report)
    with pytest.raises(TypeError, match="report must be the SymmetryReport.*got str"):
        ENTRY_POINTS[entry](model, "report")


@pytest.mark.parametrize("entry", ["balance_", "Rebalancer", "ConservationMonitor"])
def test_a_model_on_the_meta_device_is_refused(entry):
    report = dglbal.analyze(_mlp(), X)
    with torch.device("meta"):
        model = _mlp()
    with pytest.raises(ValueError, match="'0.weight' is on the meta device"):
        ENTRY_POINTS[entry](model, report)


@pytest.mark.parametrize("function", [dglbal.conservation_residuals, relative_residuals])
def test_residuals_without_any_gradient_are_undefined_not_zero(function):
    model = _mlp()
    with pytest.raises(RuntimeError, match="no parameter has a gradient"):
        function(model, dglbal.analyze(model, X))


@pytest.mark.parametrize("clamp", [(1,), "ab", (0.5, 2, 3), None])
def test_a_malformed_clamp_is_named(clamp):
    model = _mlp()
    with pytest.raises(ValueError, match="clamp must be two numbers"):
        Rebalancer(model, dglbal.analyze(model, X), clamp=clamp)


@pytest.mark.parametrize("kwargs, message", [
    (dict(threshold=-1), "threshold must be a finite number >= 0"),
    (dict(threshold=math.nan), "threshold must be a finite number >= 0"),
    (dict(threshold="0.05"), "threshold must be a finite number >= 0"),
    (dict(tracked_groups=-1), "tracked_groups must be an integer >= 0"),
    (dict(tracked_groups=2.5), "tracked_groups must be an integer >= 0"),
])
def test_bad_monitor_arguments_are_named(kwargs, message):
    model = _mlp()
    with pytest.raises(ValueError, match=message):
        dglbal.ConservationMonitor(model, dglbal.analyze(model, X), **kwargs)


def test_monitor_outputs_refuse_a_directory(tmp_path):
    model = _mlp()
    monitor = dglbal.ConservationMonitor(model, dglbal.analyze(model, X))
    for write in (monitor.save_json, monitor.plot):
        with pytest.raises(ValueError, match="is a directory; pass a file name"):
            write(tmp_path)


def test_monitor_summaries_show_a_diverged_model_but_not_frozen_groups():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    model[4].weight.requires_grad_(False)  # the second layer's groups: NaN by design, left out
    monitor = dglbal.ConservationMonitor(model, dglbal.analyze(model, X))
    for poison in (False, False, True):
        if poison:
            with torch.no_grad():
                model[0].weight[0, 0] = math.nan
        model.zero_grad()
        model(X).square().sum().backward()
        monitor.record()
    drift = monitor.c_drift()
    assert drift[:2] == [0.0, 0.0] and math.isnan(drift[2])
    assert any(math.isnan(v) for v in monitor.history["c"][0])  # the frozen groups


def test_a_rebalancer_state_with_bad_factors_is_refused():
    model = _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X))
    state = rebalancer.state_dict()
    state["last_factors"] = torch.ones(2)
    with pytest.raises(ValueError, match="last_factors must be None or a tensor of shape"):
        rebalancer.load_state_dict(state)
