"""The black-box reference of dglbal.testing measures every parameter the outputs depend on,
not only those the report lists, and only what autograd can see."""
import pytest
import torch
from torch import nn

import dglbal
from dglbal.symmetry import register_module_rule
from dglbal.testing import check_complete, check_rescale_invariance


def _features(count=3, rows=12, width=3):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(rows, width, generator=generator, dtype=torch.float64)
            for _ in range(count)]


class Scale(nn.Module):
    """x * s per channel: homogeneous of degree 1 in x and in s."""

    def __init__(self, width):
        super().__init__()
        self.s = nn.Parameter(torch.rand(width) + 0.5)

    def forward(self, x):
        return x * self.s


@register_module_rule(Scale)
def _forgets_its_parameter(ctx, module, args, kwargs, out):
    """A wrong user rule: the output keeps x's exponents and ``s`` gets none."""
    ctx.set_field(out, ctx.field(args[0]))


def test_a_parameter_the_report_leaves_out_is_still_measured():
    """Per hidden channel j the model has two symmetries (a.weight[j], s[j], b.weight[:, j]
    with exponents summing to 0); the forgetful rule finds one. Measuring only the reported
    parameters (s held fixed) would see one too, and pass."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), Scale(4), nn.Linear(4, 2)).double()
    sets = [(x,) for x in _features()]
    report = dglbal.analyze(model, *sets[0])
    assert "2.s" not in report.parameter_order and len(report.groups) == 4
    check_rescale_invariance(model, *sets[1], report=report)  # what it claims is true
    with pytest.raises(AssertionError, match="the black box finds 8 independent rescale "
                                             "symmetries, the 4 groups miss 4"):
        check_complete(model, sets, report=report)


class Embedded(nn.Module):
    """relu(a(x)) + table[ids]: the table's rows carry the hidden channels' exponents."""

    def __init__(self, padding_idx):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)
        self.table = nn.Embedding(5, 4, padding_idx=padding_idx)
        with torch.no_grad():
            self.table.weight.normal_()  # the padding row too: the forward pass reads it

    def forward(self, ids, x):
        return self.b(torch.relu(torch.relu(self.a(x)) + self.table(ids)))


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_padding_rows_read_by_the_inputs_are_no_symmetry(padding_idx):
    """Autograd zeroes the gradient of the padding row; a Jacobian taken as it is would call
    the row free, but rescaling it changes the outputs of the inputs that read it."""
    torch.manual_seed(0)
    model = Embedded(padding_idx).double()
    ids = torch.arange(12) % 5  # every row, the padding row included
    sets = [(ids, x) for x in _features()]
    assert len(check_complete(model, sets).groups) == 4
    with torch.no_grad():
        before = model(*sets[0])
        model.table.weight[-1] *= 2.0
        assert not torch.allclose(model(*sets[0]), before)
