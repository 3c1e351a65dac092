"""Init-mode balancing of models with skip connections: the channels of the residual stream
are the first neurons, and ``beta`` sets their incoming norms."""
import copy
import warnings

import pytest
import torch

from dglbal import analyze, balance_constants
from dglbal.balance.balancing import balance_, group_norms
from dglbal.nn import GAT, GCN

BUILDERS = [GCN, GAT]


def _skip_model(builder, num_layers=4, branches=0.0):
    """A skip model in float64; ``branches`` > 0 moves the (fixup: zero) branch weights."""
    torch.manual_seed(0)
    model = builder(8, 6, 3, num_layers=num_layers, skip=True, init="looks_linear").double()
    with torch.no_grad():
        for layer in model.layers[1:-1]:
            for p in layer.parameters():
                p.add_(branches * torch.randn_like(p))
    return model


def _stream_norms(model, report):
    """Incoming norms of the residual stream's groups (those of the first layer's channels)."""
    stream = [g.index for g in report.groups if g.name.startswith("layers.0")]
    assert len(stream) == 6
    return group_norms(model, report)["incoming"][stream]


def _relative_c(model, report):
    norms = group_norms(model, report)
    return float((balance_constants(model, report).abs()
                  / (norms["incoming"] + norms["outgoing"])).max())


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("beta", [2.0, 8.0])
def test_beta_sets_the_residual_streams_incoming_norms(builder, beta, recwarn):
    model = _skip_model(builder)
    report = analyze(model)
    balance_(model, report, "init", beta=beta)
    torch.testing.assert_close(_stream_norms(model, report),
                               torch.full((6,), beta, dtype=torch.float64))
    assert _relative_c(model, report) < 1e-10
    assert not [w for w in recwarn if "beta" in str(w.message)]


@pytest.mark.parametrize("beta", [2.0, 8.0])
def test_balanced_orthogonal_skip_models_follow_balance_beta(beta):
    model = GCN(8, 6, 3, num_layers=4, skip=True, init="bal_o", balance_beta=beta)
    rows = model.layers[0].weight.detach().double().square().sum(0)  # GraphConv: (in, out)
    torch.testing.assert_close(rows, torch.full_like(rows, beta))


@pytest.mark.parametrize("builder", BUILDERS)
def test_nonzero_branches_reach_beta_and_balance_and_stay(builder):
    model = _skip_model(builder, num_layers=6, branches=0.5)
    report = analyze(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        balance_(model, report, "init", beta=2.0)
    torch.testing.assert_close(_stream_norms(model, report),
                               torch.full((6,), 2.0, dtype=torch.float64), rtol=1e-8, atol=0)
    assert _relative_c(model, report) < 1e-9
    again = copy.deepcopy(model)
    balance_(again, report, "init", beta=2.0)  # a balanced model with the norm asked: kept
    for p, q in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-8)


def test_beta_out_of_reach_within_max_sweeps_is_a_warning():
    model = _skip_model(GCN, num_layers=6, branches=0.5)
    with pytest.warns(UserWarning, match=r"beta=2\.0 could not be applied exactly: \d+ of the "
                                         r"6 first neurons .*skip branches.*max_sweeps ran out"):
        summary = balance_(model, analyze(model), "init", beta=2.0, max_sweeps=1)
    assert summary.sweeps == 1


def test_beta_none_keeps_the_streams_norms():
    model = _skip_model(GCN)
    report = analyze(model)
    before = _stream_norms(model, report)
    balance_(model, report, "init", beta=None)
    torch.testing.assert_close(_stream_norms(model, report), before)
