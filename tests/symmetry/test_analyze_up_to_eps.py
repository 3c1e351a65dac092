"""``analyze(..., up_to_eps=True)``: symmetries that hold up to the eps of normalizations,
``x + eps`` and ``clamp(min=eps)``, reported apart. What is tested is the statement the
report makes: rescaling along an approximate group by lambda computes exactly the model whose
eps is ``eps * lambda ** -p``; so the change vanishes with eps (exact at eps = 0), and for a
LayerNorm the normalized values move by at most sqrt(n) * |eps - eps'| / (2 var)."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.testing.checks import check_rescale_invariance
from dglbal.testing.graphs import input_sets


class Normalized(nn.Module):
    """relu(W1 x) -> W2 -> a normalization with ``self.eps`` -> relu -> W3."""

    def __init__(self, kind, eps=1e-3):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(5, 6), nn.Linear(6, 4), nn.Linear(4, 3)
        self.kind, self.eps = kind, eps
        self.ln = nn.LayerNorm(4, eps=eps)
        self.bn = nn.BatchNorm1d(4, eps=eps)

    def set_eps(self, eps):
        self.eps = self.ln.eps = self.bn.eps = eps

    def forward(self, graph, x):
        h = self.l2(F.relu(self.l1(x)))
        if self.kind == "layer_norm":
            h = self.ln(h)
        elif self.kind == "batch_norm":
            h = self.bn(h)
        elif self.kind == "graph_norm":  # a hand-written GraphNorm: sqrt(var + eps)
            centred = h - h.mean(0, keepdim=True)
            h = centred / (centred.pow(2).mean(0, keepdim=True) + self.eps).sqrt()
        elif self.kind == "clamp":
            h = h / h.norm(dim=1, keepdim=True).clamp(min=self.eps)
        elif self.kind == "normalize":
            h = F.normalize(h, dim=1, eps=self.eps)
        return self.l3(F.relu(h))


KINDS = {"layer_norm": 1, "batch_norm": 4, "graph_norm": 4, "clamp": 1,  # approximate groups
         "normalize": 1}
NORMS = ("clamp", "normalize")  # eps bounds a norm: p = 1


def _inputs(count=1):
    return input_sets(5, count=count, num_nodes=9, seed=5)


def _rescaled(model, groups, lam):
    """A copy with every parameter times lam ** (sum of the groups' exponents)."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            total = sum(g.exponents(name) for g in groups)
            p.mul_(torch.as_tensor(lam, dtype=torch.float64) ** total)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_exact_groups_do_not_depend_on_the_flag(kind):
    model = Normalized(kind).double().train()
    graph, x = _inputs()[0]
    plain = dglbal.analyze(model, graph, x)
    relaxed = dglbal.analyze(model, graph, x, up_to_eps=True)
    assert [g.name for g in relaxed.groups] == [g.name for g in plain.groups]
    for mine, theirs in zip(relaxed.groups, plain.groups):
        for name in plain.parameter_order:
            assert torch.equal(mine.exponents(name), theirs.exponents(name))
    assert plain.approximate_groups == [] and len(relaxed.approximate_groups) == KINDS[kind]
    assert relaxed.unsupported == plain.unsupported


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lam", [0.3, 4.0])
def test_rescaling_acts_as_a_new_eps(kind, lam):
    """Along all approximate groups at once (one lambda): the model with eps * lam ** -p,
    to 1e-10; with eps = 0 the groups are exact symmetries."""
    model = Normalized(kind).double().train()
    if kind in NORMS:  # rows of norm near eps: the bound acts
        with torch.no_grad():
            model.l2.weight.mul_(1e-3)
            model.l2.bias.mul_(1e-3)
    graph, x = _inputs()[0]
    report = dglbal.analyze(model, graph, x, up_to_eps=True)
    groups = report.approximate_groups
    (power,) = {p for g in groups for _, p in g.eps.values()}
    (eps,) = {e for g in groups for e, _ in g.eps.values()}
    assert eps == model.eps and power == (1.0 if kind in NORMS else 2.0)
    moved = copy.deepcopy(model)
    moved.set_eps(eps * lam ** -power)
    for graph, x in _inputs(2):
        rescaled = _rescaled(model, groups, lam)(graph, x)
        assert torch.allclose(rescaled, moved(graph, x), rtol=1e-10, atol=1e-12)
        assert not torch.allclose(rescaled, model(graph, x), rtol=1e-6)  # eps is felt
    exact = copy.deepcopy(model)
    exact.set_eps(0.0)
    for graph, x in _inputs(2):
        assert torch.allclose(_rescaled(exact, groups, lam)(graph, x), exact(graph, x),
                              rtol=1e-10, atol=1e-12)


def test_change_vanishes_with_eps_and_layer_norm_bound_holds():
    """|delta z| <= sqrt(n) |eps - eps'| / (2 var) per normalized entry, and the output
    change shrinks in proportion to eps."""
    graph, x = _inputs()[0]
    lam, changes = 3.0, []
    first = Normalized("layer_norm").double()
    with torch.no_grad():
        first.ln.weight.fill_(1.0)
        first.ln.bias.zero_()
    for eps in (1e-4, 1e-5):
        model = copy.deepcopy(first)
        model.set_eps(eps)
        report = dglbal.analyze(model, graph, x, up_to_eps=True)
        group, = report.approximate_groups
        (_, power), = group.eps.values()
        rescaled = _rescaled(model, [group], lam)
        seen = {}
        for name, m in (("before", model), ("after", rescaled)):
            m.ln.register_forward_hook(lambda mod, args, out, name=name: seen.update(
                {name: (args[0], out)}))
            m(graph, x)
        z_in, z_before = seen["before"]
        z_after = seen["after"][1]
        var = z_in.var(-1, unbiased=False, keepdim=True)
        bound = math.sqrt(4) * abs(eps - eps * lam ** -power) / (2 * var)
        assert torch.all((z_after - z_before).abs() <= bound + 1e-12)
        changes.append(float((rescaled(graph, x) - model(graph, x)).abs().max()))
    assert 5 < changes[0] / changes[1] < 20  # about 10: linear in eps


def test_eval_batch_norm_has_no_approximate_group():
    """Running statistics: an affine map, not scale-invariant even up to eps."""
    model = Normalized("batch_norm").double().eval()
    report = dglbal.analyze(model, *_inputs()[0], up_to_eps=True)
    assert report.approximate_groups == []
    assert "approximate groups" in str(dglbal.analyze(model.train(), *_inputs()[0],
                                                      up_to_eps=True))


def test_large_constant_is_not_an_eps():
    """x + 1 is no eps: still refused, no approximate group."""
    class PlusOne(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)

        def forward(self, graph, x):
            return self.b(F.relu(self.a(x)) + 1.0)

    report = dglbal.analyze(PlusOne().double(), *_inputs()[0], up_to_eps=True)
    assert report.approximate_groups == [] and report.groups == []


def test_up_to_eps_must_be_a_bool():
    with pytest.raises(TypeError, match="up_to_eps must be True or False"):
        dglbal.analyze(Normalized("layer_norm"), *_inputs()[0], up_to_eps="yes")


def test_exact_groups_still_pass_the_exact_checks():
    model = Normalized("layer_norm").double()
    graph, x = _inputs()[0]
    report = dglbal.analyze(model, graph, x, up_to_eps=True)
    check_rescale_invariance(model, graph, x, report=report)
