"""dglbal.Rebalancer: the function is kept, gradients and optimizer state follow the orbit."""
import copy
import warnings

import dgl.nn.pytorch as dglnn
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import dglbal
from dglbal.nn import GAT, GCN
from dglbal.balance.rebalance import Rebalancer
from dglbal.testing.graphs import Stack, input_sets
from dglbal.testing.models import DGL_MODELS
from dglbal.testing.strategies import layer_specs, random_stack
from dglbal.testing.strategies import random_models

OPTIMIZERS = {
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "adam-amsgrad": lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01),
}
GRADIENT_LIKE = {"momentum_buffer": 1, "exp_avg": 1, "exp_avg_sq": 2, "max_exp_avg_sq": 2}


def _perturbed(model):
    """Off any zero or structured init, in float64."""
    model = model.double()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


def _loss(model, graph, feat):
    out = model(graph, feat)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    return (weights * out).sum() + (out ** 2).mean()


def check_rebalance_is_a_symmetry(model, graph, feat, optimizer_name, criterion):
    """Rebalance after a few optimizer steps: outputs and loss unchanged, every parameter
    entry k multiplied by r_k = prod_g lambda_g ** e_gk, its gradient and first moments by
    1 / r_k, its second moments by 1 / r_k ** 2."""
    model = _perturbed(model)
    report = dglbal.analyze(model, graph, feat)
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())
    for _ in range(2):
        optimizer.zero_grad()
        _loss(model, graph, feat).backward()
        optimizer.step()
    optimizer.zero_grad()
    loss = _loss(model, graph, feat)
    loss.backward()
    out = model(graph, feat).detach()
    params = dict(model.named_parameters())
    before = {n: (p.detach().clone(), p.grad.clone(),
                  {k: v.clone() for k, v in optimizer.state[p].items() if k in GRADIENT_LIKE})
              for n, p in params.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebalancer = Rebalancer(model, report, criterion=criterion, every=1, sweeps=3,
                                optimizer=optimizer)
    # a model without groups is told so once; one with groups hears nothing
    assert [str(w.message) for w in caught] == (
        [] if len(report.groups) else
        [f"{type(model).__name__} has no rescale group to rebalance; "
         "Rebalancer.step() will do nothing"])
    assert rebalancer.step()
    lambdas = rebalancer.last_factors
    torch.testing.assert_close(model(graph, feat).detach(), out, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(_loss(model, graph, feat).detach(), loss.detach(), rtol=1e-10,
                               atol=1e-12)
    factors = report.log_factors(lambdas.log())
    for name, p in params.items():
        theta, grad, state = before[name]
        r = factors[name].exp().view_as(p) if name in factors else torch.ones_like(p)
        torch.testing.assert_close(p.detach(), theta * r, rtol=1e-12, atol=0)
        torch.testing.assert_close(p.grad, grad / r, rtol=1e-12, atol=0)
        for key, value in state.items():
            torch.testing.assert_close(optimizer.state[p][key], value / r ** GRADIENT_LIKE[key],
                                       rtol=1e-12, atol=0)
    if len(report.groups):
        assert float((lambdas.log()).abs().max()) > 1e-6  # it did move along the orbit


@pytest.mark.parametrize("name", sorted(DGL_MODELS))
@pytest.mark.parametrize("criterion", ["relative_gradients", "norms"])
def test_dgl_models_keep_their_function(name, criterion):
    graph, feat = input_sets(5, count=1)[0]
    # not hash(name): it changes with PYTHONHASHSEED, and a failure could not be rerun
    optimizer = sorted(OPTIMIZERS)[sorted(DGL_MODELS).index(name) % len(OPTIMIZERS)]
    check_rebalance_is_a_symmetry(DGL_MODELS[name][0](), graph, feat, optimizer, criterion)


@given(layer_specs(), st.sampled_from(sorted(OPTIMIZERS)),
       st.sampled_from(["relative_gradients", "norms"]))
def test_random_architectures_keep_their_function(arch, optimizer, criterion):
    specs, activation = arch
    torch.manual_seed(0)
    graph, feat = input_sets(4, count=1)[0]
    check_rebalance_is_a_symmetry(random_stack(specs, activation, in_feats=4), graph, feat,
                                  optimizer, criterion)


@given(random_models(), st.sampled_from(sorted(OPTIMIZERS)))
def test_dglbal_builders_keep_their_function(model, optimizer):
    graph, feat = model.probe_inputs()
    check_rebalance_is_a_symmetry(model, graph, feat.double(), optimizer, "relative_gradients")


def _trained_gat(**kwargs):
    torch.manual_seed(0)
    model = _perturbed(GAT(6, 8, 3, num_layers=5, **kwargs))
    graph, feat = model.probe_inputs()
    _loss(model, graph, feat).backward()
    return model, graph, feat


@pytest.mark.parametrize("criterion", ["relative_gradients", "norms"])
@pytest.mark.parametrize("make", [
    lambda: GAT(6, 8, 3, num_layers=5),
    lambda: GCN(6, 8, 3, num_layers=5, skip=True, bias=True),
])
def test_enough_sweeps_equalize_the_criterion(make, criterion):
    torch.manual_seed(0)
    model = _perturbed(make())
    graph, feat = model.probe_inputs()
    _loss(model, graph, feat.double()).backward()
    rebalancer = Rebalancer(model, criterion=criterion, sweeps=400, clamp=(1e-5, 1e5))
    assert float(rebalancer.imbalance().nan_to_num().max()) > 0.1
    rebalancer.rebalance_()
    assert float(rebalancer.imbalance().nan_to_num().max()) < 1e-8
    assert rebalancer.history[-1]["imbalance_after_max"] < 1e-8


def test_zero_sums_and_nan_gradients_leave_a_group_alone():
    model, graph, feat = _trained_gat()
    with torch.no_grad():
        # Neuron 0 of layer 1 has no outgoing weight at all: nothing to balance against.
        model.layers[2].fc_src.weight[:, 0] = 0
        model.layers[1].attn[..., 0] = 0
        model.layers[2].fc_src.weight.grad[:, 0] = 0
        # Neuron 3 of layer 2 has a NaN gradient.
        model.layers[2].fc_src.weight.grad[3, 1] = float("nan")
    report = dglbal.analyze(model)
    names = [g.name for g in report.groups]
    rebalancer = Rebalancer(model, report, sweeps=1)
    with pytest.warns(RuntimeWarning, match="1 parameter entries have a non-finite gradient"):
        factors = rebalancer.rebalance_()
    assert rebalancer.history[0]["nonfinite_entries"] == 1
    assert torch.isfinite(factors).all()
    assert float(factors[names.index("layers.1.fc_src channel 0")]) == 1.0
    assert float(factors[names.index("layers.2.fc_src channel 3")]) == 1.0
    assert int((factors != 1).sum()) > len(names) // 2



def test_an_infinite_parameter_with_a_finite_gradient_leaves_its_groups_alone():
    """grad / inf = 0 is no relative gradient of 0: the entry is counted as non-finite and
    its two groups (the neurons it joins) are not rescaled, under either criterion."""
    for criterion in ("relative_gradients", "norms"):
        model, graph, feat = _trained_gat()
        with torch.no_grad():
            model.layers[2].fc_src.weight[3, 1] = float("inf")
        report = dglbal.analyze(model)
        names = [g.name for g in report.groups]
        rebalancer = Rebalancer(model, report, criterion=criterion, sweeps=1)
        with pytest.warns(RuntimeWarning, match="1 parameter entries have a non-finite"):
            factors = rebalancer.rebalance_()
        assert rebalancer.history[0]["nonfinite_entries"] == 1
        assert float(factors[names.index("layers.1.fc_src channel 1")]) == 1.0
        assert float(factors[names.index("layers.2.fc_src channel 3")]) == 1.0
        assert int((factors != 1).sum()) > len(names) // 2

def test_zero_entries_are_left_out_of_relative_gradients():
    """Zeroed attention (BalO) has no relative gradient; the weights still balance."""
    model, graph, feat = _trained_gat()
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.zero_()
    rebalancer = Rebalancer(model, sweeps=300, clamp=(1e-5, 1e5))
    both_sides = rebalancer.imbalance() < 1  # dead neurons have a zero sum on one side
    assert int(both_sides.sum()) > len(both_sides) // 2
    rebalancer.rebalance_()
    assert float(rebalancer.imbalance()[both_sides].max()) < 1e-8
    assert all(float(layer.attn.abs().max()) == 0 for layer in model.layers)


def test_factors_are_clamped_per_sweep():
    model, graph, feat = _trained_gat()
    one = Rebalancer(model, sweeps=1, clamp=(0.9, 1.1)).rebalance_()
    assert float(one.min()) >= 0.9 - 1e-12 and float(one.max()) <= 1.1 + 1e-12
    assert float(one.min()) < 0.9 + 1e-12 or float(one.max()) > 1.1 - 1e-12  # the clamp bit
    three = Rebalancer(model, sweeps=3, clamp=(0.9, 1.1)).rebalance_()
    assert float(three.min()) >= 0.9 ** 3 - 1e-12 and float(three.max()) <= 1.1 ** 3 + 1e-12


def test_acts_on_the_first_call_and_then_every_kth():
    model, graph, feat = _trained_gat()
    rebalancer = Rebalancer(model, every=3, sweeps=1)
    acted = [rebalancer.step() for _ in range(7)]
    assert acted == [True, False, False, True, False, False, True]
    assert [h["call"] for h in rebalancer.history] == [1, 4, 7]


def test_frozen_parameters_block_their_groups():
    model, graph, feat = _trained_gat()
    frozen = model.layers[2].fc_src.weight
    frozen.requires_grad_(False)
    before = frozen.detach().clone()
    rebalancer = Rebalancer(model, sweeps=2)
    factors = rebalancer.rebalance_()
    assert torch.equal(frozen, before)
    names = [g.name for g in rebalancer.report.groups]
    blocked = [names.index(n) for n in rebalancer.frozen_groups]
    touched = {n.split(" ")[0] for n in rebalancer.frozen_groups}
    assert touched == {"layers.1.fc_src", "layers.2.fc_src"}
    assert torch.all(factors[blocked] == 1) and not torch.all(factors == 1)


def test_bad_arguments_are_named():
    model = GAT(6, 8, 3, num_layers=3)
    with pytest.raises(ValueError, match="criterion"):
        Rebalancer(model, criterion="gradients")
    with pytest.raises(ValueError, match="every"):
        Rebalancer(model, every=0)
    with pytest.raises(ValueError, match=r"sweeps must be a positive integer, got 2.0 \(float\)"):
        Rebalancer(model, sweeps=2.0)
    numpy_counts = Rebalancer(model, every=np.int64(10), sweeps=np.int32(2))  # integers too
    assert (numpy_counts.every, numpy_counts.sweeps) == (10, 2)
    assert type(numpy_counts.every) is int
    with pytest.raises(ValueError, match="clamp"):
        Rebalancer(model, clamp=(2.0, 3.0))
    with pytest.raises(TypeError, match="RMSprop.*supported"):
        Rebalancer(model, optimizer=torch.optim.RMSprop(model.parameters()))
    other = GAT(6, 8, 3, num_layers=3)  # its optimizer's state would never be rescaled
    with pytest.raises(ValueError, match="Rebalancer: the optimizer holds none of the model"):
        Rebalancer(model, optimizer=torch.optim.Adam(other.parameters()))
    # one optimizer per part: the other's state would not be rescaled, say so
    first = model.layers[0].parameters()
    with pytest.warns(UserWarning, match=r"Adam does not hold \d+ trainable parameter"):
        Rebalancer(model, optimizer=torch.optim.Adam(first))
    with pytest.warns(UserWarning, match=r"SGD does not hold \d+ trainable parameter"):
        Rebalancer(model).attach(torch.optim.SGD(model.layers[0].parameters(), lr=0.1))
    with pytest.raises(ValueError, match="another model"):
        Rebalancer(GAT(6, 4, 3, num_layers=3), dglbal.analyze(model))
    stack = Stack(dglnn.GraphConv(5, 4), dglnn.GraphConv(4, 3))
    with pytest.raises(TypeError, match="report=dglbal.analyze"):
        Rebalancer(stack)


def test_a_model_without_symmetry_warns_and_does_nothing():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, graph, x):
            return self.net(x)

    wrapped = Wrapped()
    graph, feat = input_sets(4, count=1)[0]
    report = dglbal.analyze(wrapped, graph, feat.float())
    with pytest.warns(UserWarning, match="no rescale group"):
        rebalancer = Rebalancer(wrapped, report)
    before = [p.detach().clone() for p in wrapped.parameters()]
    assert rebalancer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, wrapped.parameters()))


def test_half_precision_channel_factors_beyond_float16_keep_the_weights_finite():
    """A neuron's factor of 9e4 is beyond float16 (max 65504) while every rescaled weight is
    not (incoming 3e-6 -> 0.3, outgoing 1e4 -> 0.1): the factors are applied from the sweep's
    float64 and rounded once, so the weights stay finite and the function is kept."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.ReLU(),
                          nn.Linear(6, 3)).half()
    with torch.no_grad():
        model[0].weight.mul_(1e-5)
        model[0].bias.mul_(1e-5)
        model[2].weight.mul_(3e4)
    x = torch.linspace(-1, 1, 24).view(6, 4)
    rebalancer = Rebalancer(model, dglbal.analyze(model, x.half()), criterion="norms",
                            sweeps=1, clamp=(1e-5, 1e5))
    before = copy.deepcopy(model).double()(x.double()).detach()
    factors = rebalancer.rebalance_()
    assert float(factors.max()) > 65504
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    after = copy.deepcopy(model).double()(x.double()).detach()
    torch.testing.assert_close(after, before, rtol=1e-2, atol=1e-3 * float(before.abs().max()))


MLP_X = torch.linspace(-1, 1, 40, dtype=torch.float64).view(10, 4)


def _mlp():
    """A float64 ReLU MLP with biases, seeded."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(),
                         nn.Linear(5, 2)).double()


def _carried_and_replayed_state(make_optimizer, steps=3):
    """Train ``steps`` steps, rebalance under the norms criterion and return, per state entry,
    (the state the rebalancer carried, the state the same optimizer reaches when the whole run
    is replayed in the rescaled coordinates: parameters r theta_t, gradients grad_t / r), the
    warnings and the ratios r."""
    model = _mlp()
    optimizer = make_optimizer(model.parameters())
    run = []
    for _ in range(steps):
        optimizer.zero_grad()
        (model(MLP_X) ** 2).mean().backward()
        run.append([(p.detach().clone(), p.grad.clone()) for p in model.parameters()])
        optimizer.step()
    before = [p.detach().clone() for p in model.parameters()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Rebalancer(model, dglbal.analyze(model, MLP_X), criterion="norms", every=1,
                   optimizer=optimizer).step()
    ratios = [p.detach() / theta for p, theta in zip(model.parameters(), before)]
    replay = _mlp()
    replayed = make_optimizer(replay.parameters())
    for point in run:
        with torch.no_grad():
            for p, (theta, grad), r in zip(replay.parameters(), point, ratios):
                p.copy_(theta * r)
                p.grad = grad / r
        replayed.step()
    pairs = [(value, replayed.state[q][key]) for p, q in zip(model.parameters(),
                                                              replay.parameters())
             for key, value in optimizer.state[p].items()
             if key in GRADIENT_LIKE or key in ("sum", "exp_inf")]
    return pairs, [str(w.message) for w in caught], ratios


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    lambda ps: torch.optim.NAdam(ps, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    lambda ps: torch.optim.Adagrad(ps, lr=0.1),
])
def test_carried_state_is_the_state_of_the_run_in_rescaled_coordinates(make_optimizer):
    pairs, caught, _ = _carried_and_replayed_state(make_optimizer)
    assert pairs and caught == []
    for carried, replayed in pairs:
        torch.testing.assert_close(carried, replayed, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make_optimizer, named", [
    (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1), "weight_decay"),
    (lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1), "weight_decay"),
    (lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1),
     "initial_accumulator_value"),
])
def test_state_that_does_not_scale_like_gradients_is_named(make_optimizer, named):
    """L2 weight decay puts weight_decay * theta (scaling like theta, not like the gradient)
    into the state, Adagrad a constant starting sum: carried like gradients, such a state is
    not the one of the run in rescaled coordinates, and the rebalancer says so."""
    pairs, caught, _ = _carried_and_replayed_state(make_optimizer)
    assert max(float((c - r).abs().max() / r.abs().max()) for c, r in pairs) > 1e-3
    assert len(caught) == 1 and named in caught[0] and "not carried exactly" in caught[0]


def test_adamax_state_is_carried_up_to_its_eps():
    """Adamax keeps exp_inf = max(beta2 exp_inf, |grad| + eps): the eps inside does not scale
    like the gradients, so the carried exp_inf is off by at most eps |1 - 1/r| (documented, no
    warning: it matters only where |grad| is of the order of eps)."""
    eps = 1e-3
    pairs, caught, ratios = _carried_and_replayed_state(
        lambda ps: torch.optim.Adamax(ps, lr=0.01, eps=eps))
    bound = eps * max(float((1 - 1 / r).abs().max()) for r in ratios)
    errors = [float((carried - replayed).abs().max()) for carried, replayed in pairs]
    assert caught == [] and bound > 0
    assert max(errors) <= bound * (1 + 1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("criterion", ["relative_gradients", "norms"])
def test_the_history_measures_the_model_after_rounding(dtype, criterion):
    """The imbalance recorded after a rebalance is the model's, in its dtype (a bfloat16 MLP
    holds about 1e-3), not the float64 sweep's (about 1e-16)."""
    model = _mlp().to(dtype)
    rebalancer = Rebalancer(model, dglbal.analyze(model, MLP_X.to(dtype)), criterion=criterion,
                            every=1, sweeps=20)
    (model(MLP_X.to(dtype)).float() ** 2).mean().backward()
    assert rebalancer.step()
    measured = rebalancer.imbalance()
    measured = measured[measured.isfinite()]
    assert float(measured.max()) > 1e-12  # rounding leaves some
    assert rebalancer.history[-1]["imbalance_after_max"] == float(measured.max())
    assert rebalancer.history[-1]["imbalance_after_median"] == float(measured.quantile(0.5))
