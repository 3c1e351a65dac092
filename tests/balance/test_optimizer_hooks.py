"""Rebalancer.attach / ConservationMonitor.attach: the optimizer's step pre-hook does exactly
what the manual calls before optimizer.step() do, step by step (parameters, optimizer state,
histories), under gradient accumulation, zero_grad(set_to_none=True), several param groups,
LR schedulers and GradScaler (skipped steps included); and the hook's refusals."""
import copy

import pytest
import torch
import torch.nn.functional as F

import dglbal
from dglbal.balance.hooks import gradients_finite, runs_step_hooks
from dglbal.nn import GAT

STEPS = 5


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    model = GAT(8, 8, 3, num_layers=3)
    return model, dglbal.analyze(model)


def _adam(model):
    return torch.optim.Adam(model.parameters(), lr=0.01), None


def _sgd_step_lr(model):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


def _adamw_two_groups(model):
    weights = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": weights, "weight_decay": 0.01},
                                   {"params": others, "lr": 0.003, "weight_decay": 0.0}],
                                  lr=0.01)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (1 + s))


def _loss(model, step, micro, poison=False):
    graph, feat = model.probe_inputs()
    labels = torch.randint(0, 3, (feat.shape[0],),
                           generator=torch.Generator().manual_seed(10 * step + micro))
    loss = F.cross_entropy(model(graph, feat), labels)
    return loss * float("inf") if poison else loss


def _state_tensors(optimizer):
    state = optimizer.state_dict()["state"]
    return [(i, k, v) for i in sorted(state) for k, v in sorted(state[i].items())]


def _train(model, report, make_optimizer, *, attach, accumulate=1, scaler=None, poisoned=()):
    """STEPS optimizer steps; returns per-step snapshots and the two histories."""
    optimizer, scheduler = make_optimizer(model)
    rebalancer = dglbal.Rebalancer(model, report, every=2, sweeps=3,
                                   optimizer=None if attach else optimizer)
    monitor = dglbal.ConservationMonitor(model, report)
    if attach:
        monitor.attach(optimizer)
        rebalancer.attach(optimizer)
    snapshots = []
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        for micro in range(accumulate):
            loss = _loss(model, step, micro, poison=step in poisoned and micro == 0)
            (scaler.scale(loss) if scaler else loss).backward()
        if scaler is not None:
            scaler.unscale_(optimizer)
        if not attach and (scaler is None or gradients_finite(optimizer)):
            monitor.record()
            rebalancer.step()
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        snapshots.append(([p.detach().clone() for p in model.parameters()],
                          copy.deepcopy(_state_tensors(optimizer))))
    return snapshots, rebalancer, monitor


def _assert_identical(base_model, report, **kwargs):
    runs = [_train(copy.deepcopy(base_model), report, attach=attach, **kwargs)
            for attach in (True, False)]
    (hooked, rebalancer, monitor), (manual, manual_rebalancer, manual_monitor) = runs
    for step, ((params, state), (params_m, state_m)) in enumerate(zip(hooked, manual)):
        assert all(torch.equal(p, q) for p, q in zip(params, params_m)), f"step {step}"
        assert len(state) == len(state_m) and all(
            (i, k) == (j, l) and torch.equal(torch.as_tensor(v), torch.as_tensor(w))
            for (i, k, v), (j, l, w) in zip(state, state_m)), f"optimizer state, step {step}"
    assert rebalancer.history == manual_rebalancer.history and rebalancer.history
    assert max(h["lambda_max"] for h in rebalancer.history) > 1  # it did rescale
    assert monitor.history == manual_monitor.history
    return rebalancer, monitor


@pytest.mark.parametrize("make_optimizer,accumulate", [
    (_adam, 1), (_sgd_step_lr, 3), (_adamw_two_groups, 2)],
    ids=["adam", "sgd-momentum-steplr-accumulate3", "adamw-two-groups-lambdalr-accumulate2"])
def test_attached_hooks_do_what_the_manual_calls_do(base, make_optimizer, accumulate):
    rebalancer, monitor = _assert_identical(*base, make_optimizer=make_optimizer,
                                            accumulate=accumulate)
    # Once per optimizer step, not per backward: every=2 over 5 steps acts on steps 1, 3, 5.
    assert rebalancer.calls == STEPS and [h["call"] for h in rebalancer.history] == [1, 3, 5]
    assert len(monitor.history["c"]) == STEPS


def test_under_grad_scaler_the_hooks_see_unscaled_gradients_and_skip_skipped_steps(
        base, grad_scaler):
    scaler = grad_scaler(init_scale=2.0 ** 10, growth_interval=2)
    rebalancer, monitor = _assert_identical(*base, make_optimizer=_sgd_step_lr, accumulate=2,
                                            scaler=scaler, poisoned=(1,))
    assert scaler.get_scale() != 2.0 ** 10  # the scaler did back off (and grow)
    assert rebalancer.calls == STEPS - 1 and len(monitor.history["c"]) == STEPS - 1
    # Unscaled: the relative gradient norms are those of the unscaled gradients (O(1), not
    # O(scale)), and no record holds an inf.
    rel = [v for row in monitor.history["rel_grad"] for v in row.values()]
    assert all(0 < v < 100 for v in rel)


def test_a_fused_style_optimizer_under_grad_scaler(base, grad_scaler):
    """Optimizers that unscale inside their step (_step_supports_amp_scaling) get grad_scale and
    found_inf from torch's scaler: the hook refuses scaled gradients, and after an explicit
    scaler.unscale_ it acts, or skips the step the optimizer skips."""
    class FusedStyleSGD(torch.optim.SGD):
        _step_supports_amp_scaling = True

        def step(self, closure=None):
            if bool(self.found_inf):
                return None
            if self.grad_scale is not None:
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.div_(self.grad_scale)
            return super().step(closure)

    model = copy.deepcopy(base[0])
    optimizer = FusedStyleSGD(model.parameters(), lr=0.01)
    monitor = dglbal.ConservationMonitor(model, base[1])
    monitor.attach(optimizer)
    scaler = grad_scaler(init_scale=2.0 ** 10)
    scaler.scale(_loss(model, 0, 0)).backward()
    with pytest.raises(RuntimeError, match=r"unscale_\(optimizer\) before scaler.step"):
        scaler.step(optimizer)
    for step, poison in enumerate((False, True, False)):
        scaler = grad_scaler(init_scale=2.0 ** 10)
        optimizer.zero_grad()
        scaler.scale(_loss(model, step, 0, poison=poison)).backward()
        scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
    assert len(monitor.history["c"]) == 2  # the poisoned step was skipped


def test_detach_and_context_manager(base):
    model = copy.deepcopy(base[0])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    monitor = dglbal.ConservationMonitor(model, base[1])

    def one_step():
        optimizer.zero_grad()
        _loss(model, 0, 0).backward()
        optimizer.step()

    handle = monitor.attach(optimizer)
    assert monitor.attached
    one_step()
    handle.remove()
    handle.remove()  # twice: nothing
    one_step()
    assert len(monitor.history["c"]) == 1 and not monitor.attached
    with monitor.attach(optimizer):
        one_step()
    one_step()
    assert len(monitor.history["c"]) == 2


def test_attach_refuses_what_would_act_wrongly(base):
    model, report = copy.deepcopy(base[0]), base[1]
    optimizer = torch.optim.Adam(model.parameters())
    rebalancer = dglbal.Rebalancer(model, report)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got list"):
        rebalancer.attach([optimizer])
    other = torch.optim.Adam(copy.deepcopy(model).parameters())
    with pytest.raises(ValueError, match="holds none of the model's parameters"):
        rebalancer.attach(other)
    with pytest.raises(TypeError, match="cannot carry the state of Rprop"):
        rebalancer.attach(torch.optim.Rprop(model.parameters()))
    assert not rebalancer.attached and rebalancer.optimizer is None
    rebalancer.attach(optimizer)
    with pytest.raises(RuntimeError, match="already attached"):
        rebalancer.attach(optimizer)
    with pytest.raises(ValueError, match="carries the state of the optimizer given"):
        dglbal.Rebalancer(model, report, optimizer=optimizer).attach(
            torch.optim.Adam(model.parameters()))


def test_a_closure_step_is_refused_with_the_way_out(base):
    model = copy.deepcopy(base[0])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    dglbal.Rebalancer(model, base[1], optimizer=optimizer).attach(optimizer)

    def closure():
        optimizer.zero_grad()
        loss = _loss(model, 0, 0)
        loss.backward()
        return loss

    before = [p.detach().clone() for p in model.parameters()]
    for call in (lambda: optimizer.step(closure), lambda: optimizer.step(closure=closure)):
        with pytest.raises(RuntimeError, match=r"call step\(\) in the closure after backward"):
            call()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_unknown_optimizer_state_is_refused_before_anything_moves(base):
    model = copy.deepcopy(base[0])
    optimizer = torch.optim.Adam(model.parameters())
    rebalancer = dglbal.Rebalancer(model, base[1], optimizer=optimizer)
    _loss(model, 0, 0).backward()
    optimizer.step()
    last = list(model.parameters())[-1]
    optimizer.state[last]["mystery"] = torch.ones_like(last)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TypeError, match="'mystery' of Adam"):
        rebalancer.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_subclass_calling_super_step_acts_once_per_step(base):
    """torch runs step hooks again for super().step() once the parent class's step is
    wrapped (any instance of it does that); the hook acts on the outer step only."""
    class LoggingSGD(torch.optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    model = copy.deepcopy(base[0])
    torch.optim.SGD(model.parameters(), lr=0.01)  # wraps SGD.step
    optimizer = LoggingSGD(model.parameters(), lr=0.01)
    monitor = dglbal.ConservationMonitor(model, base[1])
    monitor.attach(optimizer)
    for step in range(3):
        optimizer.zero_grad()
        _loss(model, step, 0).backward()
        optimizer.step()
    assert len(monitor.history["c"]) == 3


def test_attach_refuses_when_torch_would_not_run_the_hook(base):
    """torch 2.2's torch.compile turns optimizer step hooks off for torch.optim's classes, for
    the rest of the process: attach says so instead of never acting."""
    torch.compile(torch.nn.Linear(2, 2))
    optimizer = torch.optim.SGD(copy.deepcopy(base[0]).parameters(), lr=0.01)
    if runs_step_hooks(optimizer):
        pytest.skip("this torch keeps optimizer step hooks after torch.compile")
    monitor = dglbal.ConservationMonitor(base[0], base[1])
    with pytest.raises(RuntimeError, match=r"torch.compile turns them off.*call record\(\) by"):
        monitor.attach(optimizer)
    assert not monitor.attached
