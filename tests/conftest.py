"""Shared test setup: the test kit's pytest plugin, whose hypothesis profiles the suite runs
under (`quick` by default, see pyproject.toml; `thorough` with DGLBAL_PROFILE=thorough or
HYPOTHESIS_PROFILE=thorough, the older name, which some tests also read to widen their own
sweeps), and fixtures used by several test modules."""
import hashlib
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Callable, List, Sequence

import pytest
import torch
from torch.cuda.amp import grad_scaler as torch_grad_scaler

# The plugin is registered by the package's pytest11 entry point; naming it here also loads
# it from a checkout whose installed entry points predate it (a no-op when it is loaded).
pytest_plugins = ["dglbal.testing.pytest_plugin", "pytester"]

if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
    os.environ.setdefault("DGLBAL_PROFILE", "thorough")

SHARED_DATA = Path(os.environ.get("DGLBAL_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
"""The local datasets: ``$DGLBAL_DATA``, else ``../shared/data`` beside the checkout."""

PLANETOID_FEATURES_SHA256 = {
    "cora": "e9e64fcce18b3886dcaa8e5f2adfefd8efd5fb4b78477c2c1c894a3ec41a62a2",
    "citeseer": "156debd74a0a4aaf6b75bd7195badc679e3bf9f47d408cd4dda44aea64012edc",
}
"""SHA-256 of the float32 bytes of ``load_dataset(name).ndata["feat"]`` (DGL's row-normalized
features, row-normalized again), as the committed Cora and Citeseer results were run on."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_data(*files): skip unless each file or folder exists under the local "
                   "data directory ($DGLBAL_DATA, else ../shared/data)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_data"):
        missing = [name for name in mark.args if not (SHARED_DATA / name).exists()]
        if missing:
            pytest.skip(f"no {', '.join(missing)} under {SHARED_DATA} (set DGLBAL_DATA)")


@pytest.fixture
def shared_data() -> Path:
    """The local data directory (see ``SHARED_DATA``); mark the test ``needs_data``."""
    return SHARED_DATA


@pytest.fixture
def assert_pinned_planetoid_features() -> Callable[[str, torch.Tensor], None]:
    """Assert that features of Cora or Citeseer are the ones :data:`PLANETOID_FEATURES_SHA256`
    pins, to the bit."""
    def check(name: str, feat: torch.Tensor) -> None:
        assert feat.dtype == torch.float32
        digest = hashlib.sha256(feat.contiguous().numpy().tobytes()).hexdigest()
        assert digest == PLANETOID_FEATURES_SHA256[name], f"{name}'s features changed"
    return check


def _optimizer_classes() -> list:
    return [c for c in vars(torch.optim).values()
            if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)]


# torch 2.2's torch.compile takes the step-hook wrapper (and with it the no_grad of
# ``step``) off every torch.optim class for the rest of the process (torch._dynamo's
# TorchPatcher). The state before any test ran, put back after every test that compiled, so
# that each test sees torch as a fresh process does whatever ran before it.
_PRISTINE_OPTIMIZERS = {(c, name): c.__dict__[name] for c in _optimizer_classes()
                        for name in ("step", "_init_group") if name in c.__dict__}
_PRISTINE_MARKS = {step: vars(step).get("hooked")
                   for (_, name), step in _PRISTINE_OPTIMIZERS.items() if name == "step"}


@pytest.fixture(autouse=True)
def compile_patch_undone():
    """Undo torch.compile's patch of the optimizer classes after the test (see above)."""
    yield
    if all(cls.__dict__.get(name) is value for (cls, name), value
           in _PRISTINE_OPTIMIZERS.items()) and all(
            vars(step).get("hooked") == mark for step, mark in _PRISTINE_MARKS.items()):
        return
    for (cls, name), value in _PRISTINE_OPTIMIZERS.items():
        setattr(cls, name, value)
    for step, mark in _PRISTINE_MARKS.items():
        if mark is None:
            vars(step).pop("hooked", None)
        else:
            step.hooked = mark
    patcher = getattr(sys.modules.get("torch._dynamo.eval_frame"), "TorchPatcher", None)
    if patcher is not None and hasattr(patcher.patch, "cache_clear"):
        patcher.patch.cache_clear()  # the next torch.compile patches again, as in a fresh one


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


@pytest.fixture
def run_processes() -> Callable[..., List[int]]:
    """``run_processes(target, args_per_process, timeout)``: start one spawned process per
    argument tuple, wait at most ``timeout`` seconds for each, kill what is still alive, and
    return the exit codes (None for a killed process)."""
    def run(target, args_per_process: Sequence[tuple], timeout: float) -> List[int]:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=target, args=args) for args in args_per_process]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                worker.join(timeout=timeout)
            return [worker.exitcode for worker in workers]
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.kill()
                    worker.join()

    return run
