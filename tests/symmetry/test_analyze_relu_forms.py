"""ReLU written with other ops (max, clamp, where, a mask, threshold) is positively
homogeneous exactly when its constant is 0; a constant that is only 0 for the example inputs
(data) is not trusted, and non-zero constants are named with a correct reason."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.testing import check_symmetries
from dglbal.testing.checks import check_rescale_invariance
from dglbal.testing.graphs import input_sets


class Act(nn.Module):
    """x -> b(act(a(x))): 4 hidden neurons, each a symmetry when act is ReLU."""

    def __init__(self, act):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
        self.act = act

    def forward(self, graph, x):
        return self.b(self.act(self, x, self.a(x)))


RELU_FORMS = {
    "maximum_zero_tensor": lambda m, x, h: torch.maximum(h, torch.tensor(0.0, dtype=h.dtype)),
    "maximum_zeros_like": lambda m, x, h: torch.maximum(h, torch.zeros_like(h)),
    "fmax_new_zeros": lambda m, x, h: torch.fmax(h, h.new_zeros(1)),
    "clamp_min": lambda m, x, h: torch.clamp_min(h, 0),
    "clamp_min_keyword": lambda m, x, h: torch.clamp(h, min=0.0),
    "clamp_zero_tensor": lambda m, x, h: h.clamp(min=torch.zeros(())),
    "clamp_max_zero": lambda m, x, h: torch.clamp(h, max=0),  # -relu(-h)
    "where_scalar": lambda m, x, h: torch.where(h > 0, h, 0),
    "where_zeros_like": lambda m, x, h: torch.where(h > 0, h, torch.zeros_like(h)),
    "mask_product": lambda m, x, h: h * (h > 0),
    "threshold": lambda m, x, h: F.threshold(h, 0, 0),
    "threshold_tensor_method": lambda m, x, h: torch.threshold(h, 0.0, 0.0),
    "threshold_in_place": lambda m, x, h: F.threshold(h, 0, 0, inplace=True),
    "threshold_module": lambda m, x, h: nn.Threshold(0, 0)(h),
    "where_reversed": lambda m, x, h: torch.where(h <= 0, 0, h),
    "minimum_zero": lambda m, x, h: torch.minimum(h, torch.zeros(())),  # -relu(-h)
    "zero_buffer": lambda m, x, h: torch.maximum(h, m.floor),
    "filled_buffer": lambda m, x, h: torch.maximum(h, h.new(4).fill_(0)),
    "zero_attribute": lambda m, x, h: torch.maximum(h, m.zero),
    "expanded_zero": lambda m, x, h: torch.maximum(h, torch.zeros(1).to(h).expand_as(h)),
    "new_tensor": lambda m, x, h: torch.where(h > 0, h, h.new_tensor(0.0)),
    # Not ReLU, but homogeneous the same way: a max over every other node, masked with -inf.
    "masked_max": lambda m, x, h: F.relu(h) + torch.where(
        (torch.arange(len(h)) % 2 == 0)[:, None], h, float("-inf")).amax(0, keepdim=True),
}


@pytest.mark.parametrize("form", RELU_FORMS)
def test_relu_forms_keep_every_hidden_neuron(form):
    model = Act(RELU_FORMS[form])
    model.register_buffer("floor", torch.zeros(4))
    model.zero = torch.zeros(())  # a plain tensor attribute: the model's own, not an input
    report = check_symmetries(model, 5, expected_groups=4)
    assert report.unsupported == []


NON_ZERO = {
    "threshold_level": (lambda m, x, h: F.threshold(h, 0.1, 0), "threshold=0.1"),
    "threshold_value": (lambda m, x, h: F.threshold(h, 0, 0.5), "value=0.5"),
    "threshold_module": (lambda m, x, h: nn.Threshold(0.1, 20)(h),
                         "F.threshold (threshold=0.1 and value=20"),
    "maximum_one": (lambda m, x, h: torch.maximum(h, torch.tensor(1.0, dtype=h.dtype)),
                    "the constant 1"),
    "where_half": (lambda m, x, h: torch.where(h > 0, h, 0.5), "the constant 0.5"),
    "clamp_min_tenth": (lambda m, x, h: h.clamp(min=0.1), "min=0.1"),
    "clamp_max_one": (lambda m, x, h: torch.clamp_max(h, 1.0), "max=1"),
    "fill_nonzero_tensor": (lambda m, x, h: h.masked_fill(h < 0, torch.tensor(0.2)),
                            "fill value"),
    "buffer_of_ones": (lambda m, x, h: torch.maximum(h, m.floor + 1), "non-zero constant"),
    # Zero in the example inputs only: a feature column is data, not a constant.
    "zero_data_column": (lambda m, x, h: torch.maximum(h, x[:, :1]), "data tensor"),
}


def _zero_column_inputs():
    graph, x = input_sets(5, count=1, num_nodes=9, seed=99)[0]
    x = x.clone()
    x[:, 0] = 0.0
    return graph, x


@pytest.mark.parametrize("form", NON_ZERO)
def test_non_zero_constants_are_refused_with_their_reason(form):
    act, reason = NON_ZERO[form]
    model = Act(act).double()
    model.register_buffer("floor", torch.zeros(4, dtype=torch.float64))
    report = dglbal.analyze(model, *_zero_column_inputs())
    assert len(report.groups) == 0
    assert any(reason in u for u in report.unsupported), report.unsupported
    for other in input_sets(5, count=2):
        check_rescale_invariance(model, *other, report=report)


def test_a_constant_overwritten_with_data_is_data_again():
    """zeros, then data added in place (through a view): not a zero constant any more."""
    def act(m, x, h):
        floor = torch.zeros(len(h), 4, dtype=h.dtype)
        floor[:, :1].add_(x[:, :1])
        return torch.maximum(h, floor)

    model = Act(act).double()
    report = dglbal.analyze(model, *_zero_column_inputs())
    for other in input_sets(5, count=2):
        check_rescale_invariance(model, *other, report=report)
    # Constness is per tensor: the whole floor is data now, and every column is held.
    assert len(report.groups) == 0
    assert any("data tensor" in u for u in report.unsupported), report.unsupported


def test_a_constant_written_through_its_data_alias_is_data_again():
    def act(m, x, h):
        floor = torch.zeros(len(h), 4, dtype=h.dtype)
        floor.data.add_(x[:, :1])  # a new tensor object, the same memory
        return torch.maximum(h, floor)

    report = dglbal.analyze(Act(act).double(), *_zero_column_inputs())
    assert len(report.groups) == 0 and report.unsupported


def test_random_tensors_are_never_constants():
    """A dropout mask of zeros (p=1) is not a constant: another run draws another."""
    def act(m, x, h):
        return torch.maximum(h, F.dropout(torch.ones_like(h), p=1.0))

    report = dglbal.analyze(Act(act).double(), *_zero_column_inputs())
    assert len(report.groups) == 0 and report.unsupported
