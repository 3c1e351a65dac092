"""What analyze accepts: wrappers it looks through (torch.compile, DataParallel, DDP), models
it refuses up front (not a module, no parameters, on the meta device) and models that raise."""
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.symmetry import ModelRunError, RuleError, register_module_rule
from dglbal.symmetry.rules.registry import MODULE_RULES
from dglbal.testing.checks import check_rescale_invariance
from dglbal.testing.graphs import input_sets


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)

    def forward(self, graph, x):
        return self.b(F.relu(self.a(x)))


def _inputs():
    return input_sets(5, count=1, num_nodes=9, seed=99)[0]


def _same_groups(wrapped_report, plain_report):
    """Same groups under the same names: the wrapper's prefix is not in the report."""
    assert wrapped_report.parameter_order == plain_report.parameter_order
    assert len(wrapped_report.groups) == len(plain_report.groups)
    for name in plain_report.parameter_order:
        for g_wrapped, g_plain in zip(wrapped_report.groups, plain_report.groups):
            assert torch.equal(g_wrapped.exponents(name), g_plain.exponents(name))


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("wrap,note", [
    (torch.compile, "torch.compile"),
    (nn.DataParallel, "DataParallel"),
    (lambda m: nn.DataParallel(torch.compile(m)), "torch.compile"),
])
def test_wrapped_models_are_analysed_as_the_module_they_wrap(wrap, note):
    model = Head().double()
    plain = dglbal.analyze(model, *_inputs())
    wrapped = wrap(model)
    report = dglbal.analyze(wrapped, *_inputs())
    assert report.unsupported == [] and any(note in n for n in report.notes)
    assert note in str(report)
    _same_groups(report, plain)
    # One report fits the module and its wrapper: rescale_ sees through the wrapper too.
    lambdas = torch.exp(torch.randn(len(report.groups), dtype=torch.float64))
    graph, x = input_sets(5, count=2)[1]
    with torch.no_grad():
        before = model(graph, x)
        weight = model.a.weight.clone()
        report.rescale_(wrapped, lambdas)
        assert not torch.equal(model.a.weight, weight)
        assert torch.allclose(model(graph, x), before, rtol=1e-9, atol=1e-12)
        plain.rescale_(wrapped, lambdas.reciprocal())
        assert torch.allclose(model.a.weight, weight, rtol=1e-12, atol=0)


def test_distributed_data_parallel_is_unwrapped(process_group):
    model = Head().double()
    report = dglbal.analyze(nn.parallel.DistributedDataParallel(model), *_inputs())
    assert any("DistributedDataParallel" in n for n in report.notes)
    _same_groups(report, dglbal.analyze(model, *_inputs()))


def test_meta_models_are_refused_naming_the_parameters():
    with torch.device("meta"):
        model = Head()
    graph, x = _inputs()
    for features in (x, x.to("meta")):
        with pytest.raises(ValueError, match=r"meta device \(a.weight, a.bias.*to_empty"):
            dglbal.analyze(model, graph, features)
    model.to_empty(device="cpu")
    for m in (model.a, model.b):
        m.reset_parameters()
    assert len(dglbal.analyze(model.double(), graph, x).groups) == 4


def test_meta_buffer_is_refused():
    model = Head()
    model.register_buffer("scale", torch.ones(4, device="meta"))
    with pytest.raises(ValueError, match=r"meta device \(scale\)"):
        dglbal.analyze(model, *_inputs())


@pytest.mark.parametrize("model,error,match", [
    ("not a model", TypeError, "model must be a torch.nn.Module, got str"),
    (nn.ReLU(), ValueError, "ReLU has no parameters"),
])
def test_what_is_not_a_model_with_parameters_is_refused(model, error, match):
    with pytest.raises(error, match=match):
        dglbal.analyze(model, *_inputs())


def test_a_model_that_raises_is_named_with_the_inputs_it_got():
    graph, x = _inputs()
    with pytest.raises(ModelRunError,
                       match=r"Head raised TypeError.*DGLGraph of 9 nodes, \d+ edges; ndarray"):
        dglbal.analyze(Head().double(), graph, x.numpy())
    with pytest.raises(ModelRunError, match=r"Head raised RuntimeError.*Tensor\(9, 7\)"):
        dglbal.analyze(Head().double(), graph, torch.randn(9, 7, dtype=torch.float64))

    class Broken(Head):
        def forward(self, graph, x):
            raise KeyError("feat")

    with pytest.raises(ModelRunError, match="KeyError") as caught:
        dglbal.analyze(Broken(), graph, x)
    assert isinstance(caught.value.__cause__, KeyError)


def test_tuple_and_dict_outputs_keep_every_output_invariant():
    class Two(Head):
        def forward(self, graph, x):
            h = F.relu(self.a(x))
            return {"logits": self.b(h), "hidden": (h, np.float64(1.0))}

    report = dglbal.analyze(Two().double(), *_inputs())
    assert report.groups == []  # the hidden output is seen: its neurons are not free
    check_rescale_invariance(Two(), *_inputs(), report=report)


def test_compiled_submodules_are_run_eagerly():
    class Outer(Head):
        def __init__(self):
            super().__init__()
            self.mid = torch.compile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))

        def forward(self, graph, x):
            return self.b(self.mid(F.relu(self.a(x))))

    report = dglbal.analyze(Outer().double(), *_inputs())
    assert len(report.groups) == 8 and report.unsupported == []
    assert any("mid" in n and "eagerly" in n for n in report.notes)


def _scaled_by_its_peak(t):
    return t * t.abs().amax(0)


_COMPILED_PEAK = torch.compile(_scaled_by_its_peak)


class CompiledFunction(Head):
    """A ReLU layer read by a ``torch.compile``'d function (not a module): degree 2."""

    def forward(self, graph, x):
        return self.b(_COMPILED_PEAK(F.relu(self.a(x))))


def test_compiled_functions_are_run_eagerly():
    """Only compiled submodules turned dynamo off: a compiled function was traced by dynamo
    under the analyser's function mode and the process aborted ("terminate called after
    throwing an instance of 'pybind11::error_already_set'", a rule failing on FakeTensors)."""
    model = CompiledFunction().double()
    report = dglbal.analyze(model, *_inputs())
    assert len(report.groups) == 4 and report.unsupported == []
    check_rescale_invariance(model, *input_sets(5, count=1, seed=3)[0], report=report,
                             trials=4)


def test_inputs_computed_with_autograd_are_data():
    graph, x = _inputs()
    x = x.clone().requires_grad_() * 2  # a non-leaf input, made outside the model
    report = dglbal.analyze(Head().double(), graph, x)
    assert len(report.groups) == 4 and report.unsupported == []


@pytest.mark.parametrize("call,error,match", [
    (lambda r, m: r.rescale_(nn.Linear(2, 2), torch.ones(4)), ValueError,
     "made for another model: parameter 'a.weight'"),
    (lambda r, m: r.rescale_("model", torch.ones(4)), TypeError, "torch.nn.Module, got str"),
    (lambda r, m: r.rescale_(m, torch.tensor([float("inf"), 1, 1, 1])), ValueError,
     "positive and finite"),
    (lambda r, m: r.rescale_(m, "abcd"), TypeError, "lambdas must be a tensor"),
    (lambda r, m: r.log_factors(torch.zeros(2)), ValueError, "one value per group"),
    (lambda r, m: r.groups[0].exponents("a.wieght"), ValueError, "no parameter 'a.wieght'"),
])
def test_report_methods_refuse_bad_arguments_before_changing_anything(call, error, match):
    model = Head().double()
    report = dglbal.analyze(model, *_inputs())
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(error, match=match):
        call(report, model)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize("script", [
    lambda m: m.__setattr__("b", torch.jit.script(m.b)) or m,
    lambda m: torch.jit.trace(m, _inputs()[1]),
])
def test_torchscript_modules_are_named_and_held(script):
    class Plain(Head):
        def forward(self, x):
            return self.b(F.relu(self.a(x)))

    model = script(Plain().double())
    report = dglbal.analyze(model, _inputs()[1])
    assert report.groups == []  # nothing inside TorchScript is seen: a's neurons meet it
    assert any("TorchScript module" in u for u in report.unsupported), report.unsupported


def test_a_failing_rule_is_named_not_blamed_on_the_model():
    class Doubler(nn.Module):
        def forward(self, x):
            return 2 * x

    class Net(Head):
        def __init__(self):
            super().__init__()
            self.d = Doubler()

        def forward(self, graph, x):
            return self.b(self.d(F.relu(self.a(x))))

    @register_module_rule(Doubler)
    def broken(ctx, module, args, kwargs, out):
        raise ZeroDivisionError("oops")

    try:
        with pytest.raises(RuleError, match=r"rule for Doubler in d failed with "
                                            r"ZeroDivisionError: oops"):
            dglbal.analyze(Net().double(), *_inputs())
    finally:
        MODULE_RULES.pop(Doubler)


def test_an_empty_parameter_is_no_crash():
    class Empty(Head):
        def __init__(self):
            super().__init__()
            self.nothing = nn.Parameter(torch.zeros(0, 4))

        def forward(self, graph, x):
            return self.b(F.relu(self.a(x))) + self.nothing.sum()

    model = Empty().double()
    report = dglbal.analyze(model, *_inputs())
    check_rescale_invariance(model, *input_sets(5, count=1)[0], report=report)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_a_layer_of_width_zero_is_no_crash():
    """Linear(2, 0)'s bias has no entry: the bias rule once failed reshaping the empty field
    (a RuleError quoting numpy); the neurons before it keep their groups."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(),
                          nn.Linear(2, 0)).double()
    report = dglbal.analyze(model, torch.randn(5, 4, dtype=torch.float64))
    assert [group.name for group in report.groups] == [f"0 channel {c}" for c in range(3)]


def test_rescale_refuses_lambdas_that_overflow_the_dtype_and_changes_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).half()
    report = dglbal.analyze(model, torch.randn(5, 3).half())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"overflow torch.float16 \(the model is left unchanged"):
        report.rescale_(model, torch.full((4,), 1e9))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # A factor beyond float16's range whose products fit: computed in float64, not as inf.
    lambdas = torch.tensor([1e5, 1.0, 1.0, 1.0])
    with torch.no_grad():
        report.rescale_(model, lambdas)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    expected = before["0.weight"][0].double() * 1e5
    torch.testing.assert_close(model[0].weight[0].double(), expected.half().double())


def test_an_integer_parameter_is_data_and_named():
    class Counted(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
            self.steps = nn.Parameter(torch.tensor(3), requires_grad=False)

        def forward(self, x):
            return self.b(F.relu(self.a(x))) * self.steps

    model = Counted()
    report = dglbal.analyze(model, torch.randn(5, 3))
    assert len(report.groups) == 4
    assert report.unsupported == ["integer parameter steps (torch.int64): not rescaled, held at "
                                  "exponent 0 as data"]
    assert not model.steps.requires_grad
    dglbal.analyze_and_balance(model, torch.randn(5, 3))  # balancing leaves it alone
    assert int(model.steps) == 3
