"""Fixtures of the balance tests: torch's GradScaler on the CPU, torch.compile's patch of the
optimizer classes undone."""
import sys

import pytest
import torch
from torch.cuda.amp import grad_scaler as torch_grad_scaler


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
    copies of the scale) and in its two fused kernels; those are done here in torch, and everything that decides what
    ``scaler.step(optimizer)`` does (unscale before the step, skip it on inf/NaN, the
    ``_step_supports_amp_scaling`` path, the stages) is torch's code.
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


@pytest.fixture
def compile_patch_undone():
    """torch 2.2's torch.compile takes the step-hook wrapper off every torch.optim class for
    the rest of the process (torch._dynamo's TorchPatcher); put the classes back afterwards,
    so that later tests see torch as a fresh process does."""
    classes = [c for c in vars(torch.optim).values()
               if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)]
    saved = {(c, name): c.__dict__[name] for c in classes for name in ("step", "_init_group")
             if name in c.__dict__}
    # It also marks a step not wrapped yet as wrapped (``step.hooked = True``).
    marks = {step: vars(step).get("hooked") for (_, name), step in saved.items()
             if name == "step"}
    yield
    for (cls, name), value in saved.items():
        setattr(cls, name, value)
    for step, mark in marks.items():
        if mark is None:
            vars(step).pop("hooked", None)
        else:
            step.hooked = mark
    # It patches once per process: the next torch.compile patches again, as in a fresh one.
    patcher = getattr(sys.modules.get("torch._dynamo.eval_frame"), "TorchPatcher", None)
    if patcher is not None and hasattr(patcher.patch, "cache_clear"):
        patcher.patch.cache_clear()
