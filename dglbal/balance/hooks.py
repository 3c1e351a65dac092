"""Running the monitor and the rebalancer inside the user's training loop.

:class:`StepAttachable` gives :class:`~dglbal.ConservationMonitor` and
:class:`~dglbal.Rebalancer` their ``attach(optimizer)``: an optimizer step pre-hook
(``optimizer.register_step_pre_hook``) that runs their per-step action just before every
``optimizer.step()``, so on the step, not on each backward (gradient accumulation), after
DDP's all-reduce, and only on steps that happen. Under ``torch.cuda.amp.GradScaler``,
``scaler.step(optimizer)`` unscales the gradients before it calls ``optimizer.step()`` and
does not call it when they hold an inf or NaN: the hook sees unscaled gradients and a
skipped step is not counted. Optimizers that unscale inside their own step (fused Adam:
``_step_supports_amp_scaling``) get ``grad_scale`` and ``found_inf`` from the scaler as
attributes; the hook skips the step when ``found_inf`` is set and refuses still-scaled
gradients (call ``scaler.unscale_(optimizer)`` before ``scaler.step``).

:class:`ScalarWriter` is what the scalars are written to: anything with TensorBoard's
``add_scalar(tag, value, global_step)``.
"""
from __future__ import annotations

import sys
import weakref
from typing import Any, Mapping, Optional, Protocol, Sequence

import torch

from .optimizer_state import held_parameter_ids

__all__ = ["ScalarWriter", "StepAttachable", "StepHandle", "check_holds_parameters", "check_tag",
           "check_writer", "gradients_finite", "runs_step_hooks", "write_scalars"]


class ScalarWriter(Protocol):
    """Anything with ``add_scalar(tag, scalar_value, global_step)``, as
    ``torch.utils.tensorboard.SummaryWriter``."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None
                   ) -> Any:
        ...


def check_writer(writer: Any, owner: str) -> None:
    """Refuse a ``writer`` without a callable ``add_scalar`` (``None`` is no writer).

    Raises
    ------
    TypeError
        Naming ``owner``'s ``writer`` argument and what it got.
    """
    if isinstance(writer, type):
        raise TypeError(f"{owner}: writer must be an instance with add_scalar, got the class "
                        f"{writer.__name__} (pass {writer.__name__}(...))")
    if writer is not None and not callable(getattr(writer, "add_scalar", None)):
        raise TypeError(f"{owner}: writer must have an add_scalar(tag, value, step) method "
                        f"(a torch.utils.tensorboard.SummaryWriter, say), got "
                        f"{type(writer).__name__}")


def check_tag(tag: Any, owner: str) -> None:
    """Refuse a ``tag`` (the scalars' name prefix) that is not a non-empty string.

    Raises
    ------
    ValueError
        Naming ``owner``'s ``tag`` argument.
    """
    if not isinstance(tag, str) or not tag.strip("/"):
        raise ValueError(f"{owner}: tag must be a non-empty string (the scalars' name prefix), "
                         f"got {tag!r}")


def write_scalars(writer: Optional[ScalarWriter], tag: str, values: Mapping[str, float],
                  step: int) -> None:
    """``writer.add_scalar(f"{tag}/{name}", value, step)`` for every value (nothing without a
    writer)."""
    if writer is not None:
        for name, value in values.items():
            writer.add_scalar(f"{tag}/{name}", value, step)


def check_holds_parameters(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor],
                           owner: str) -> None:
    """Refuse an optimizer that holds none of ``params`` (the model's): the optimizer of
    another model, or one made before the parameters were replaced.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer given.
    params : sequence of torch.Tensor
        The model's parameters.
    owner : str
        Who refuses, for the message (``"Rebalancer"``, ``"Rebalancer.attach"``).

    Raises
    ------
    ValueError
        Naming ``owner``'s ``optimizer`` argument.
    """
    held = held_parameter_ids(optimizer)
    if not any(id(p) in held for p in params):
        raise ValueError(f"{owner}: the optimizer holds none of the model's parameters; pass "
                         "the optimizer that trains this model")


def gradients_finite(optimizer: torch.optim.Optimizer) -> bool:
    """Whether every gradient of the optimizer's parameters is finite (what ``GradScaler``
    checks before it lets a step happen). One device sync per device.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer.

    Returns
    -------
    bool
        False when a gradient holds an inf or NaN.
    """
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    grads = [g.coalesce()._values() if g.is_sparse else g for g in grads]
    flags = [torch.isfinite(g).all() for g in grads]
    return all(bool(torch.stack([f for f in flags if f.device == device]).all())
               for device in {f.device for f in flags})


def _nested_step(optimizer: torch.optim.Optimizer) -> bool:
    """Is this hook run by a step inside another step of the same optimizer?

    torch wraps the ``step`` of every optimizer class it has seen, so a subclass whose ``step``
    calls ``super().step()`` runs the step hooks twice per step. The frame that called the
    hook is torch's wrapper; an outer call of the same wrapper on the same optimizer, further
    up the stack, means this one is nested. (No state: a step that raised leaves nothing.)
    """
    wrapper = sys._getframe(2)  # 0: here, 1: the hook, 2: torch's step wrapper
    frame = wrapper.f_back
    while frame is not None:
        if frame.f_code is wrapper.f_code and frame.f_locals.get("self") is optimizer:
            return True
        frame = frame.f_back
    return False


# The code of the wrapper torch puts around an optimizer class's step to run its hooks.
_HOOK_WRAPPER = torch.optim.Optimizer.profile_hook_step(lambda *args, **kwargs: None).__code__


def runs_step_hooks(optimizer: torch.optim.Optimizer) -> bool:
    """Will torch run step hooks for ``optimizer``?

    Not after ``torch.compile`` in torch 2.2: its ``TorchPatcher`` takes the hook-running
    wrapper off the step of every ``torch.optim`` class for the rest of the process.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer.

    Returns
    -------
    bool
        Whether its class's ``step`` is torch's hook-running wrapper.
    """
    return getattr(type(optimizer).step, "__code__", None) is _HOOK_WRAPPER


class StepHandle:
    """What ``attach`` returns: ``remove()`` detaches (also as a context manager)."""

    def __init__(self, owner: "StepAttachable", optimizer: torch.optim.Optimizer) -> None:
        self._owner = weakref.ref(owner)
        self._hook = optimizer.register_step_pre_hook(owner._step_pre_hook)

    def remove(self) -> None:
        """Stop running before the optimizer's steps (again: nothing)."""
        self._hook.remove()
        owner = self._owner()
        if owner is not None and owner._attachment is self:
            owner._attachment = None

    def __enter__(self) -> "StepHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class StepAttachable:
    """Mixin: ``attach(optimizer)`` runs ``self._on_step()`` before every step."""

    _attachment: Optional[StepHandle] = None
    _manual_call = "step"  # what the user calls by hand instead: named in messages

    def attach(self, optimizer: torch.optim.Optimizer) -> StepHandle:
        """Run before every ``optimizer.step()`` (see the module doc); returns a handle whose
        ``remove()`` detaches.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimizer that updates the model.

        Returns
        -------
        StepHandle
            ``handle.remove()`` (or ``with rebalancer.attach(opt): ...``) detaches.

        Raises
        ------
        TypeError
            ``optimizer`` is not a ``torch.optim.Optimizer``.
        ValueError
            It holds none of the model's parameters.
        RuntimeError
            Already attached (remove the handle first): a second hook would act twice a step.
            Or torch would not run the hook (see ``dglbal.balance.hooks.runs_step_hooks``).
        """
        owner = type(self).__name__
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{owner}.attach: optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        if self._attachment is not None:
            raise RuntimeError(f"{owner}.attach: already attached to an optimizer; call "
                               "handle.remove() on the handle attach() returned first")
        if not runs_step_hooks(optimizer):
            raise RuntimeError(f"{owner}.attach: torch does not run step hooks for "
                               f"{type(optimizer).__name__} in this process (torch 2.2's "
                               "torch.compile turns them off for torch.optim's classes); call "
                               f"{self._manual_call}() "
                               "by hand after backward() and before optimizer.step()")
        check_holds_parameters(optimizer, self._index.params, f"{owner}.attach")
        self._adopt(optimizer)
        self._attachment = StepHandle(self, optimizer)
        return self._attachment

    @property
    def attached(self) -> bool:
        """Whether an ``attach`` is in force."""
        return self._attachment is not None

    def _adopt(self, optimizer: torch.optim.Optimizer) -> None:
        """Take note of the optimizer being attached to (check it, or carry its state)."""

    def _on_step(self) -> None:
        raise NotImplementedError

    def _step_pre_hook(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict
                       ) -> None:
        """The hook: always returns None (torch takes any other value as new step arguments)."""
        if _nested_step(optimizer):
            return None  # a subclass's step calling super().step(): acted on the outer call
        owner = type(self).__name__
        # torch passes step's own arguments: (optimizer, closure) or closure=...
        if (len(args) > 1 and args[1] is not None) or kwargs.get("closure") is not None:
            raise RuntimeError(f"{owner}.attach: optimizer.step(closure) computes the gradients "
                               "inside the step, after this hook; call "
                               f"{self._manual_call}() "
                               "in the closure after backward() instead of attaching")
        found_inf = getattr(optimizer, "found_inf", None)  # set by GradScaler for fused steps
        grad_scale = getattr(optimizer, "grad_scale", None)
        if isinstance(found_inf, torch.Tensor) and bool(found_inf):
            return None  # the optimizer will skip this step
        if isinstance(grad_scale, torch.Tensor):
            raise RuntimeError(f"{owner}.attach: {type(optimizer).__name__} unscales the "
                               "gradients inside its step (GradScaler with a fused "
                               "optimizer); call scaler.unscale_(optimizer) before "
                               "scaler.step(optimizer) so that the hook sees unscaled gradients")
        self._on_step()
        return None
