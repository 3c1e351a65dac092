"""Balancing tells the truth."""
import dgl
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dglbal import analyze, analyze_and_balance, balance_constants, conservation_residuals
from dglbal.balance.balancing import balance_, group_norms
from dglbal.nn import GAT


def _gat(**kwargs):
    torch.manual_seed(0)
    return GAT(6, 4, 3, num_layers=3, **kwargs)


def _graph():
    dgl.seed(0)
    return dgl.add_self_loop(dgl.rand_graph(12, 30))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("mode", ["init", "preserve"])
def test_non_finite_parameters_are_refused_naming_the_parameter(bad, mode):
    model = _gat()
    with torch.no_grad():
        model.layers[1].fc_src.weight[0, 0] = bad
    before = _state(model)
    with pytest.raises(ValueError, match=r"'layers\.1\.fc_src\.weight' has 1 non-finite"):
        analyze_and_balance(model, mode=mode)
    assert all(torch.equal(v, before[k]) or torch.isnan(v).any() for k, v in _state(model).items())


def test_weights_whose_squares_overflow_are_refused():
    model = _gat().double()
    with torch.no_grad():
        model.layers[2].fc_src.weight[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"overflow float64 \(parameter 'layers\.2\.fc_src"):
        analyze_and_balance(model, mode="preserve")


@pytest.mark.parametrize("beta", [float("nan"), float("inf"), 0.0, -1.0, "2"])
def test_a_bad_beta_is_refused(beta):
    with pytest.raises(ValueError, match="beta must be a positive finite number"):
        analyze_and_balance(_gat(), mode="init", beta=beta)


def test_a_beta_whose_result_overflows_leaves_the_model_unchanged():
    model = _gat()
    before = _state(model)
    with pytest.raises(ValueError, match=r"non-finite in its dtype; beta=1e\+300 is too large"):
        analyze_and_balance(model, mode="init", beta=1e300)
    assert all(torch.equal(v, before[k]) for k, v in _state(model).items())


@pytest.mark.parametrize("max_sweeps", [-1, 0, 2.5, True])
def test_max_sweeps_below_one_is_an_error(max_sweeps):
    with pytest.raises(ValueError, match="max_sweeps must be an integer >= 1"):
        analyze_and_balance(_gat(), mode="preserve", max_sweeps=max_sweeps)


@pytest.mark.parametrize("tol", [float("nan"), -1e-6])
def test_a_bad_tolerance_is_an_error(tol):
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        analyze_and_balance(_gat(), mode="preserve", tol=tol)


@pytest.mark.parametrize("mode", ["init", "preserve"])
def test_frozen_parameters_are_left_alone_and_reported(mode):
    torch.manual_seed(0)
    model = GAT(6, 4, 3, num_layers=4)  # layers 0-1 touch the frozen weight, 2-3 do not
    frozen = model.layers[1].fc_src.weight
    frozen.requires_grad_(False)
    with torch.no_grad():
        frozen.mul_(3.0)  # out of balance, on purpose
    before = frozen.clone()
    graph, x = _graph(), torch.randn(12, 6)
    model.eval()
    out_before = model(graph, x)
    report = analyze_and_balance(model, mode=mode)
    assert torch.equal(frozen, before)
    assert report.balance.frozen_groups, "the groups touching the frozen weight are listed"
    assert "frozen parameters (requires_grad=False) left alone" in str(report)
    c = balance_constants(model, report)
    moved = [i for i, g in enumerate(report.groups) if g.name not in report.balance.frozen_groups]
    assert moved and float(c[moved].abs().max()) < 1e-4  # the others are balanced
    if mode == "preserve":
        torch.testing.assert_close(model(graph, x), out_before, rtol=1e-4, atol=1e-5)


def test_a_model_without_symmetry_warns_under_balanced_init():
    with pytest.warns(UserWarning, match=r"found no rescale symmetry \(0 groups\)"):
        model = GAT(6, 4, 3, num_layers=3, activation=torch.tanh, init="bal_x")
    assert len(analyze(model).groups) == 0


def test_a_model_with_symmetry_does_not_warn(recwarn):
    model = _gat()
    balance_(model, analyze(model), "preserve")
    assert not [w for w in recwarn if "rescale symmetry" in str(w.message)]


class _Views(nn.Module):
    """Two Parameter objects over one tensor's memory: ``w2`` is rows ``rows`` of ``w1``'s
    storage (overlapping: a view of part of it; disjoint: the rest of it)."""

    def __init__(self, overlapping: bool):
        super().__init__()
        w = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        self.w1 = nn.Parameter(w if overlapping else w[3:])
        self.w2 = nn.Parameter(w[:3])
        self.c = nn.Linear(self.w1.shape[0], 2).double()
        self.d = nn.Linear(3, 2).double()

    def forward(self, x):
        return self.c(F.relu(x @ self.w1.t())) + self.d(F.relu(x @ self.w2.t()))


_X = torch.randn(10, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("mode", ["init", "preserve"])
def test_parameters_sharing_memory_are_refused_naming_both(mode):
    model = _Views(overlapping=True)
    report = analyze(model, _X)
    before = _state(model)
    with pytest.raises(ValueError, match=r"parameters 'w1' and 'w2' share memory"):
        balance_(model, report, mode)
    assert all(torch.equal(v, before[k]) for k, v in _state(model).items())
    for read in (balance_constants, group_norms, conservation_residuals):
        with pytest.raises(ValueError, match=r"'w1' and 'w2' share memory"):
            read(model, report)


def test_disjoint_parts_of_one_storage_are_balanced_apart_keeping_the_function():
    model = _Views(overlapping=False)
    with torch.no_grad():
        before = model(_X)
    report = analyze_and_balance(model, _X, mode="preserve", tol=1e-10)
    assert report.balance.sweeps > 0 and model.w1.untyped_storage().data_ptr() == \
        model.w2.untyped_storage().data_ptr()
    torch.testing.assert_close(model(_X), before, rtol=1e-10, atol=1e-12)


def test_a_parameter_registered_twice_is_one_parameter_and_balances():
    """Tied weights: one Parameter object under two names."""
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(4, 3, bias=False)
            self.inner = nn.Linear(3, 3, bias=False)
            self.again = self.inner  # the same module, hence the same Parameter
            self.head = nn.Linear(3, 2, bias=False)

        def forward(self, x):
            return self.head(F.relu(self.again(F.relu(self.inner(F.relu(self.first(x)))))))

    torch.manual_seed(0)
    model = Tied().double()
    with torch.no_grad():
        before = model(_X)
    report = analyze_and_balance(model, _X, mode="preserve", tol=1e-10)
    assert report.balance.sweeps > 0 and report.balance.max_relative_c < 1e-10
    torch.testing.assert_close(model(_X), before, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("read", [balance_constants, group_norms])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_constants_and_norms_refuse_non_finite_parameters(read, bad):
    model = _gat()
    report = analyze(model)
    with torch.no_grad():
        model.layers[1].fc_src.weight[0, 0] = bad
    with pytest.raises(ValueError, match=r"'layers\.1\.fc_src\.weight' has 1 non-finite"):
        read(model, report)


def test_constants_refuse_squares_that_overflow():
    model = _gat().double()
    report = analyze(model)
    with torch.no_grad():
        model.layers[2].fc_src.weight[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"overflow float64 \(parameter 'layers\.2\.fc_src"):
        balance_constants(model, report)
