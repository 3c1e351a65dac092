"""Division guards: ``z / torch.where(n == 0, c, n)`` with n a norm of z is exact (where n = 0,
z = 0 too), in every spelling of the test; a guard used otherwise, of another tensor or of a
value that is not a norm stays refused, and ``clamp(min=eps)`` is refused as holding only up
to eps. Inputs with zero rows make the guard's fill branch run."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.testing.checks import check_noether, check_rescale_invariance
from dglbal.testing.graphs import input_sets


def _pinsage(z):
    z_norm = z.norm(2, 1, keepdim=True)
    z_norm = torch.where(z_norm == 0, torch.tensor(1.0).to(z_norm), z_norm)
    return z / z_norm


def _eq_method(z):
    n = torch.linalg.vector_norm(z, dim=1, keepdim=True)
    return z / torch.where(n.eq(0), 1.0, n)


def _positive(z):
    n = torch.norm(z, dim=-1, keepdim=True)
    return torch.div(z, torch.where(n > 0, n, 1))


def _zero_on_the_left(z):
    n = z.norm(dim=1, keepdim=True)
    return z / torch.where(0 == n, 2.0, n)


def _masked_fill(z):
    n = z.norm(p=1, dim=1, keepdim=True)
    return z / n.masked_fill(n == 0, 1.0)


def _whole_tensor(z):
    n = z.norm()
    return z / torch.where(n != 0, n, torch.ones_like(n))


EXACT = [_pinsage, _eq_method, _positive, _zero_on_the_left, _masked_fill, _whole_tensor]


def _reused(z):  # the guard also added: where n = 0 it is 1, which does not scale
    n = z.norm(dim=1, keepdim=True)
    r = torch.where(n == 0, 1.0, n)
    return z / r + r


def _other_numerator(z):  # divides a tensor whose norm it is not
    n = z.norm(dim=1, keepdim=True)
    return (2 * z) / torch.where(n == 0, 1.0, n)


def _written_in_place(z):  # the numerator changed after its norm was taken
    n = z.norm(dim=1, keepdim=True)
    r = torch.where(n == 0, 1.0, n)
    z = z.clone()
    z.add_(0.5)
    return z / r


def _test_written_in_place(z):  # the test no longer says where n is 0
    n = z.norm(dim=1, keepdim=True)
    zero = n == 0
    zero.logical_or_(torch.ones_like(zero))  # now 1 everywhere: z / 1
    return z / torch.where(zero, 1.0, n)


def _not_a_norm(z):  # a sum is 0 where z is not
    n = z.sum(1, keepdim=True)
    return z / torch.where(n == 0, 1.0, n)


def _without_keepdim(z):  # broadcast by hand: the pairing of slices is not checked
    n = z.norm(dim=1)
    return z / torch.where(n == 0, 1.0, n)[:, None]


def _negative_p(z):  # a norm with p < 0 is 0 where any entry is
    n = z.norm(p=-1, dim=1, keepdim=True)
    return z / torch.where(n == 0, 1.0, n)


REFUSED = [_reused, _other_numerator, _written_in_place, _test_written_in_place, _not_a_norm,
           _without_keepdim, _negative_p]


class Normalized(nn.Module):
    """relu(W2 relu(W1 x)) normalised per row by ``step``, then W3; no biases before the
    guard, so zero feature rows give zero rows of z (n = 0: the guard's fill runs)."""

    def __init__(self, step):
        super().__init__()
        self.l1, self.l2 = nn.Linear(5, 6, bias=False), nn.Linear(6, 4, bias=False)
        self.l3 = nn.Linear(4, 3)
        self.step = step

    def forward(self, graph, x):
        return self.l3(self.step(F.relu(self.l2(F.relu(self.l1(x))))))


def _inputs_with_zero_rows(count=2):
    sets = input_sets(5, count=count, num_nodes=9, seed=7)
    for _, x in sets:
        x[::3] = 0.0
    return sets


@pytest.mark.parametrize("step", EXACT, ids=lambda f: f.__name__.strip("_"))
def test_guard_of_a_norm_is_exact(step):
    model = Normalized(step).double()
    (graph, x), other = _inputs_with_zero_rows()
    report = dglbal.analyze(model, graph, x)
    assert len(report.groups) == 6 + 1  # l1's neurons, and one common scale of l2
    assert report.unsupported == [] and report.notes == []
    for inputs in ((graph, x), other):
        check_rescale_invariance(model, *inputs, report=report)
    check_noether(model, *other, report=report)


@pytest.mark.parametrize("step", REFUSED, ids=lambda f: f.__name__.strip("_"))
def test_guard_used_otherwise_is_not_claimed(step):
    model = Normalized(step).double()
    (graph, x), other = _inputs_with_zero_rows()
    report = dglbal.analyze(model, graph, x)
    assert len(report.groups) == 6  # l2's common scale is lost
    for inputs in ((graph, x), other):
        check_rescale_invariance(model, *inputs, report=report)


def test_guard_used_otherwise_is_named_with_what_it_pinned():
    report = dglbal.analyze(Normalized(_other_numerator).double(),
                            *_inputs_with_zero_rows(1)[0])
    entry, = report.unsupported
    assert "division guard" in entry and entry.op == "torch.where"
    assert entry.cost == 1 and entry.pinned == {"l2": 1}


def test_clamp_guard_is_refused_as_holding_up_to_eps():
    """z / clamp(n, min=eps) differs from the rescaled model where 0 < n < eps."""
    def clamped(z):
        return z / z.norm(dim=1, keepdim=True).clamp(min=1e-3)

    model = Normalized(clamped).double()
    graph, x = _inputs_with_zero_rows(1)[0]
    report = dglbal.analyze(model, graph, x)
    assert len(report.groups) == 6
    assert any("only up to eps" in u and "torch.where(n == 0, 1, n)" in u
               for u in report.unsupported), report.unsupported
    # The refusal is needed: rows of norm below eps make the claimed rescaling visible.
    with torch.no_grad():
        small = x * 1e-6
        before = model(graph, small)
        model.l2.weight.mul_(1e3)
        assert not torch.allclose(model(graph, small), before, rtol=1e-6)


def test_norm_with_p_zero_counts_entries_and_carries_no_exponent():
    """||z||_0 (the number of non-zero entries) does not change under any positive scaling:
    multiplying by it keeps every channel's own scale."""
    def counted(z):
        return z * z.norm(p=0, dim=1, keepdim=True)

    model = Normalized(counted).double()
    (graph, x), other = _inputs_with_zero_rows()
    report = dglbal.analyze(model, graph, x)
    assert len(report.groups) == 6 + 4
    check_rescale_invariance(model, *other, report=report)


@pytest.mark.parametrize("op", ["normalize", "cosine_similarity"])
def test_normalizing_with_a_large_eps_is_not_claimed(op):
    """F.normalize divides by max(||z||, eps), cosine_similarity clamps the norms: with the
    default eps taken as exact, with a large one only up to eps (a rescaling moves rows
    across it)."""
    def step(z, eps):
        if op == "normalize":
            return F.normalize(z, dim=1, eps=eps)
        return F.cosine_similarity(z, z.flip(0), dim=1, eps=eps)[:, None].expand(-1, 4)

    (graph, x), other = _inputs_with_zero_rows()
    default = Normalized(lambda z: step(z, 1e-12 if op == "normalize" else 1e-8)).double()
    assert len(dglbal.analyze(default, graph, x).groups) == 7
    large = Normalized(lambda z: step(z, 10.0)).double()
    report = dglbal.analyze(large, graph, x)
    assert len(report.groups) == 6 and any("eps" in u for u in report.unsupported)
    check_rescale_invariance(large, *other, report=report)
