"""Rebalancer and ConservationMonitor when the model changes under them: parameters frozen or
unfrozen after they were made, parameters replaced by load_state_dict(assign=True), steps
without gradients. Each is compared with the manual equivalent (a fresh object)."""

import pytest
import torch
from torch import nn

import dglbal
from dglbal.balance.rebalance import Rebalancer

X = torch.linspace(-1, 1, 24, dtype=torch.float64).view(6, 4)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.ReLU(),
                         nn.Linear(6, 3)).double()


def _backward(model):
    model.zero_grad()
    (model(X) ** 2).sum().backward()


def _equal(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def _rebalanced(model, rebalancer=None, **kwargs):
    rebalancer = rebalancer or Rebalancer(model, dglbal.analyze(model, X), every=1, **kwargs)
    _backward(model)
    assert rebalancer.step()
    return rebalancer


@pytest.mark.parametrize("criterion", ["relative_gradients", "norms"])
def test_frozen_after_construction_is_left_alone_like_frozen_before(criterion):
    model, manual = _mlp(), _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1, criterion=criterion)
    model[2].weight.requires_grad_(False)
    manual[2].weight.requires_grad_(False)
    frozen = model[2].weight.detach().clone()
    _rebalanced(model, rebalancer)
    fresh = _rebalanced(manual, criterion=criterion)
    assert torch.equal(model[2].weight, frozen)
    assert _equal(model, manual)
    assert rebalancer.frozen_groups == fresh.frozen_groups != []
    assert torch.equal(rebalancer.last_factors, fresh.last_factors)
    # Unfrozen again: rebalanced again, like a rebalancer made with everything trainable.
    model[2].weight.requires_grad_(True)
    manual[2].weight.requires_grad_(True)
    _rebalanced(model, rebalancer)
    _rebalanced(manual, criterion=criterion)
    assert not torch.equal(model[2].weight, frozen)
    assert _equal(model, manual) and rebalancer.frozen_groups == []


def test_monitor_records_groups_frozen_later_as_nan():
    model = _mlp()
    report = dglbal.analyze(model, X)
    monitor = dglbal.ConservationMonitor(model, report)
    model[0].weight.requires_grad_(False)
    _backward(model)
    monitor.record()
    fresh = dglbal.ConservationMonitor(model, report)
    fresh.record()
    c, c_fresh = (torch.tensor(m.history["c"][0]) for m in (monitor, fresh))
    assert torch.equal(c.isnan(), c_fresh.isnan()) and bool(c.isnan().any())
    assert monitor.frozen_groups == fresh.frozen_groups


def _assigned(model, seed):
    """load_state_dict(assign=True) with other values: every parameter a new tensor."""
    state = {k: v.clone() for k, v in _mlp(seed).state_dict().items()}
    model.load_state_dict(state, assign=True)


def test_parameters_replaced_by_assign_are_the_ones_rebalanced():
    model, manual = _mlp(), _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1)
    old = [p for p in model.parameters()]
    old_values = [p.detach().clone() for p in old]
    _assigned(model, seed=5)
    _assigned(manual, seed=5)
    before = [p.detach().clone() for p in model.parameters()]
    _rebalanced(model, rebalancer)
    _rebalanced(manual)
    assert all(torch.equal(p, q) for p, q in zip(old, old_values))  # orphans untouched
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # moved
    assert _equal(model, manual)


def test_assign_with_a_stale_optimizer_is_refused():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1, optimizer=optimizer)
    _assigned(model, seed=5)
    _backward(model)
    with pytest.raises(RuntimeError, match="optimizer does not hold the model's parameter"):
        rebalancer.step()
    rebalancer.optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rebalancer.calls = 0  # the refused call counted; make the next one due
    assert rebalancer.step()


def test_monitor_follows_parameters_replaced_by_assign():
    model, manual = _mlp(), _mlp()
    report = dglbal.analyze(model, X)
    monitor = dglbal.ConservationMonitor(model, report)
    _assigned(model, seed=5)
    _assigned(manual, seed=5)
    _backward(model)
    _backward(manual)
    monitor.record()
    fresh = dglbal.ConservationMonitor(manual, report)
    fresh.record()
    assert monitor.history["c"] == fresh.history["c"]
    assert monitor.history["delta"] == fresh.history["delta"]
    assert monitor.history["rel_grad"] == fresh.history["rel_grad"]


@pytest.mark.parametrize("set_to_none", [None, True])
def test_a_due_step_without_gradients_skips_and_records_nothing(set_to_none):
    model = _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1)
    if set_to_none:
        _backward(model)
        model.zero_grad(set_to_none=True)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(RuntimeWarning, match="no parameter has a gradient"):
        assert rebalancer.step() is False
    assert rebalancer.history == [] and rebalancer.last_factors is None
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert bool(rebalancer.imbalance().isnan().all())
    with pytest.raises(RuntimeError, match="needs loss.backward"):
        rebalancer.rebalance_()
    _backward(model)
    assert rebalancer.step() and len(rebalancer.history) == 1


def test_norms_criterion_needs_no_gradient():
    model = _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1, criterion="norms")
    assert rebalancer.step() and rebalancer.history[0]["imbalance_before_max"] > 0


def test_zero_gradients_record_nan_imbalance_not_zero():
    model = _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    assert rebalancer.step()
    record = rebalancer.history[0]
    assert all(record[k] != record[k] for k in record if k.startswith("imbalance"))
    assert record["lambda_min"] == record["lambda_max"] == 1.0


def test_monitor_without_gradients_is_refused():
    model = _mlp()
    monitor = dglbal.ConservationMonitor(model, dglbal.analyze(model, X))
    with pytest.raises(RuntimeError, match="no parameter has a gradient"):
        monitor.record()
    assert monitor.history["c"] == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_moved_to_another_device_is_followed():
    """model.cuda() keeps the parameter objects: the index (its sums, on the old device)
    must be rebuilt there, and the monitor's starting values and records move along. The
    run equals one whose objects were made on the new device, records before the move
    included."""
    model, manual = _mlp(), _mlp().cuda()
    report = dglbal.analyze(model, X)
    rebalancer = Rebalancer(model, report, every=1)
    monitor = dglbal.ConservationMonitor(model, report)
    _backward(model)
    monitor.record()
    first = monitor.history["c"][0]
    model.cuda()
    _backward_on = lambda m: (m.zero_grad(), (m(X.cuda()) ** 2).sum().backward())  # noqa: E731
    _backward_on(model)
    monitor.record()
    assert rebalancer.step()
    _backward_on(manual)
    assert Rebalancer(manual, report, every=1).step()
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert _equal(model, manual)
    assert rebalancer.last_factors.device.type == "cuda"
    assert monitor.history["c"][0] == first and len(monitor.history["c"]) == 2


def _momentum_buffers(optimizer):
    """Each parameter's SGD momentum buffer, cloned."""
    return {p: s["momentum_buffer"].clone() for p, s in optimizer.state.items()}


@pytest.mark.parametrize("first", [None, torch.optim.Adam])
def test_an_optimizer_set_later_has_its_state_carried(first):
    """``rebalancer.optimizer = ...`` (what the stale-optimizer error asks for) carries that
    optimizer's state, whatever optimizer (or none) the rebalancer was made with."""
    model = _mlp()
    rebalancer = Rebalancer(model, dglbal.analyze(model, X), every=1, criterion="norms",
                            optimizer=first and first(model.parameters(), lr=0.1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _backward(model)
    optimizer.step()
    buffers, before = _momentum_buffers(optimizer), [p.detach().clone() for p in
                                                      model.parameters()]
    rebalancer.optimizer = optimizer
    assert rebalancer.step()
    for p, theta in zip(model.parameters(), before):
        torch.testing.assert_close(optimizer.state[p]["momentum_buffer"],
                                   buffers[p] * theta / p.detach(), rtol=1e-12, atol=0)
    rebalancer.optimizer = torch.optim.RMSprop(model.parameters(), lr=0.1)
    rebalancer.optimizer.step()
    with pytest.raises(TypeError, match="cannot carry the state of RMSprop"):
        rebalancer.rebalance_()
