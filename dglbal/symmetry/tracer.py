"""Recording a forward pass: torch calls, DGL's sparse Functions and registered modules.

The tracer runs the model once, eagerly, and hands every op that touches a parameter-
dependent tensor to its rule. Three hooks do the recording:

- a ``TorchFunctionMode`` for torch functions and Tensor methods;
- temporary wrappers around the ``apply`` of DGL's autograd Functions (message passing,
  edge softmax), during which the torch calls made inside DGL are muted;
- forward hooks on modules, for the current module path and for modules with a rule.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List

import torch
from dgl.backend.pytorch import sparse
from torch import nn
from torch.overrides import TorchFunctionMode

from .context import TraceContext
from .dgl_rules import GATES
from .registry import DGL_RULES, OP_RULES, module_rule_for
from .torch_rules import METADATA, _outputs, _tensors, conservative, move, passthrough, softmax

_SOFTMAX_RULES = {softmax}


def _dgl_functions() -> List[type]:
    return [cls for _, cls in inspect.getmembers(sparse, inspect.isclass)
            if issubclass(cls, torch.autograd.Function) and cls is not torch.autograd.Function
            and cls.__module__ == sparse.__name__]


def _mark_data(ctx: TraceContext, out) -> None:
    """Outputs of ops on data only are data, even when autograd tracks them."""
    for tensor in _outputs(out):
        if tensor.requires_grad:
            ctx.set_field(tensor, None)


class _OpRecorder(TorchFunctionMode):
    def __init__(self, ctx: TraceContext) -> None:
        super().__init__()
        self.ctx = ctx

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        ctx = self.ctx
        if ctx.muted:
            return out
        tensors = _tensors(list(args) + list(kwargs.values()))
        inputs = [t for t in tensors if ctx.known(t) or ctx.is_tracked(t)]
        if not inputs:
            _mark_data(ctx, out)
            return out
        name = getattr(func, "__name__", "")
        if name in METADATA and not (name == "__get__" and isinstance(out, torch.Tensor)):
            return out
        ctx.begin_op()
        gate = False
        if not any(ctx.is_tracked(t) for t in inputs):
            _mark_data(ctx, out)  # derived from parameters, but with exponent 0
        elif name == "__get__":
            self._attribute(func, args, out)
        else:
            rule = OP_RULES.get(func, conservative)
            rule(ctx, func, args, kwargs, out)
            gate = rule in _SOFTMAX_RULES
        ctx.record_flow(inputs, _outputs(out), gate=gate)
        return out

    def _attribute(self, func, args, out) -> None:
        """Tensor attributes: ``x.data`` keeps the field, ``x.T`` / ``x.mT`` move it."""
        if not isinstance(out, torch.Tensor):
            return
        attribute = getattr(getattr(func, "__self__", None), "__name__", "")
        if attribute in ("data", "real"):
            passthrough(self.ctx, func, args, {}, out)
        elif attribute in ("T", "mT"):
            move(self.ctx, lambda x: getattr(x, attribute), args, {}, out)
        else:
            self.ctx.set_field(out, None)


class Tracer:
    """Context manager: while active, ``model(...)`` is recorded into ``ctx``."""

    def __init__(self, ctx: TraceContext, model: nn.Module) -> None:
        self.ctx = ctx
        self.model = model
        self._handles: List[Any] = []
        self._patched: List[tuple] = []
        self._pending: Dict[int, tuple] = {}

    # -- DGL autograd Functions ------------------------------------------------------------
    def _wrap(self, cls: type):
        original = cls.apply
        ctx = self.ctx

        def apply(*args):
            ctx.muted += 1
            try:
                out = original(*args)
            finally:
                ctx.muted -= 1
            if ctx.muted:
                return out
            ctx.muted += 1  # the rule's own torch calls are not part of the model
            try:
                self._apply_rule(cls, args, out)
            finally:
                ctx.muted -= 1
            return out

        return apply

    def _apply_rule(self, cls: type, args: tuple, out) -> None:
        ctx = self.ctx
        inputs = [t for t in _tensors(args) if ctx.known(t) or ctx.is_tracked(t)]
        if not inputs:
            return _mark_data(ctx, out)
        ctx.begin_op()
        if not any(ctx.is_tracked(t) for t in inputs):
            _mark_data(ctx, out)
        else:
            rule = DGL_RULES.get(cls)
            try:
                if rule is None:
                    raise KeyError(cls.__name__)
                rule(ctx, args, out)
            except KeyError:  # no rule, or an op / reducer the rule does not know
                ctx.report_unsupported(f"dgl.{cls.__name__}")
                conservative(ctx, cls, args, {}, out, report=False)
        ctx.record_flow(inputs, _outputs(out), gate=cls in GATES)

    # -- modules ----------------------------------------------------------------------------
    def _pre_hook(self, name: str):
        def hook(module, args, kwargs):
            self.ctx.module_path.append(name)
            if module_rule_for(module) is not None:
                if not self.ctx.muted:
                    self._pending[id(module)] = (args, kwargs)
                self.ctx.muted += 1
        return hook

    def _post_hook(self):
        def hook(module, args, kwargs, out):
            rule = module_rule_for(module)
            if rule is not None:
                pending = self._pending.pop(id(module), None)
                if pending is not None and self.ctx.muted == 1:
                    self._module_rule(rule, module, pending, out)
                self.ctx.muted -= 1
            self.ctx.module_path.pop()
        return hook

    def _module_rule(self, rule, module: nn.Module, pending: tuple, out) -> None:
        ctx = self.ctx
        args, kwargs = pending
        inputs = [t for t in _tensors(list(args) + list(kwargs.values()))
                  if ctx.known(t) or ctx.is_tracked(t)]
        ctx.begin_op()
        rule(ctx, module, args, kwargs, out)
        ctx.record_flow(inputs + list(module.parameters()), _outputs(out))

    def __enter__(self) -> "Tracer":
        for cls in _dgl_functions():
            self._patched.append((cls, cls.__dict__.get("apply")))
            cls.apply = self._wrap(cls)
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(
                self._pre_hook(name), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post_hook(), with_kwargs=True))
        self._mode = _OpRecorder(self.ctx)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for handle in self._handles:
            handle.remove()
        for cls, own in self._patched:
            if own is None:
                del cls.apply
            else:
                cls.apply = own
