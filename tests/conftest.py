"""Shared test setup: hypothesis profiles, `ci` (default, fast) and `thorough`
(HYPOTHESIS_PROFILE=thorough), and fixtures used by several test modules."""
import os
from typing import Callable, List

import pytest
import torch
from hypothesis import HealthCheck, settings
from torch.cuda.amp import grad_scaler as torch_grad_scaler

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def interrupt_run_once(monkeypatch) -> Callable[..., List[int]]:
    """A Ctrl-C in the middle of a sweep, for the tests that check finished runs are kept.

    ``interrupt_run_once(module, on_call)`` replaces ``module.run_once`` by one that records
    each run's seed and raises KeyboardInterrupt once, during call number ``on_call``; it
    returns the recorded seeds (clear the list to see which runs a resumed command trains).
    """
    def install(module, on_call: int) -> List[int]:
        real_run_once, calls, pressed = module.run_once, [], []

        def interrupted(*args, **kwargs):
            calls.append(args[2])
            if len(calls) == on_call and not pressed:
                pressed.append(True)
                raise KeyboardInterrupt
            return real_run_once(*args, **kwargs)

        monkeypatch.setattr(module, "run_once", interrupted)
        return calls

    return install


def _non_finite_check_and_unscale_(grads, found_inf, inv_scale):
    """torch._amp_foreach_non_finite_check_and_unscale_ (CUDA only in torch 2.2), in torch."""
    for grad in grads:
        if not bool(torch.isfinite(grad).all()):
            found_inf.fill_(1.0)
        grad.mul_(inv_scale)


def _update_scale_(scale, growth_tracker, found_inf, growth, backoff, interval):
    """torch._amp_update_scale_ (CUDA only in torch 2.2), in torch."""
    if bool(found_inf):
        scale.mul_(backoff)
        growth_tracker.zero_()
    else:
        growth_tracker.add_(1)
        if int(growth_tracker) == interval:
            scale.mul_(growth)
            growth_tracker.zero_()
    return scale


class _Replicator(torch_grad_scaler._MultiDeviceReplicator):
    """torch 2.2's per-device copies of the scale, without the assertion that it is on CUDA."""

    def __init__(self, master_tensor):
        self.master = master_tensor
        self._per_device_tensors = {}


@pytest.fixture
def grad_scaler(monkeypatch):
    """``make(**kwargs)`` gives torch's own ``torch.cuda.amp.GradScaler`` running on the CPU.

    torch 2.2's scaler refuses CPU tensors only in assertions (``scale``, its per-device
    copies of the scale) and in its two fused kernels; those are done here in torch, and
    everything that decides what ``scaler.step(optimizer)`` does (unscale before the step,
    skip it on inf/NaN, the ``_step_supports_amp_scaling`` path, the stages) is torch's code.
    """
    monkeypatch.setattr(torch_grad_scaler, "amp_definitely_not_available", lambda: False)
    monkeypatch.setattr(torch, "_amp_foreach_non_finite_check_and_unscale_",
                        _non_finite_check_and_unscale_)
    monkeypatch.setattr(torch, "_amp_update_scale_", _update_scale_)
    monkeypatch.setattr(torch_grad_scaler, "_MultiDeviceReplicator", _Replicator)

    class CPUGradScaler(torch.cuda.amp.GradScaler):
        def scale(self, outputs):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(outputs.dtype)

    return CPUGradScaler
