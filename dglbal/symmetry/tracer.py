"""Recording a forward pass: torch calls, DGL's sparse Functions and registered modules.

The tracer runs the model once, eagerly, and hands every op that touches a parameter-
dependent tensor to its rule. The hooks that do the recording:

- a ``TorchFunctionMode`` for torch functions, Tensor methods and ``torch.ops`` calls
  (``dgl.sparse`` runs through those);
- ``Tensor.__getitem__``, patched for the trace: indexing with tensors skips function modes;
- ``dgl.sparse.SparseMatrix`` methods that call TorchScript directly (``val``, ``transpose``);
- temporary wrappers around the ``apply`` of DGL's autograd Functions (message passing,
  edge softmax), during which the torch calls made inside DGL are muted;
- forward hooks on modules, for the current module path and for modules with a rule.

Which ops are gates (a softmax over attention logits, DGL's edge softmax) is the registry's
to say (:func:`~dglbal.symmetry.rules.registry.is_gate`): the tracer marks their steps in the
data-flow graph, from which :func:`~dglbal.symmetry.report.find_gates` reads the gate
parameters.

Each op is recorded by :class:`~dglbal.symmetry.recorder.OpRecorder`.
"""
from __future__ import annotations

import functools
import inspect
import sys
from numbers import Number
from typing import Any, Callable, Dict, List

import dgl
import torch
from dgl.backend.pytorch import sparse
from torch import nn

from .context import TraceContext
from .recorder import OpRecorder, called_from_dgl, escapes, mark_data, rule_for
from .rules.dgl_sparse import wrap_methods
from .rules.helpers import conservative, outputs, values
from .rules.registry import DGL_RULES, is_gate, module_rule_for

__all__ = ["Tracer"]

_ORIGINAL_GETITEM = torch._C.TensorBase.__getitem__
_ORIGINAL_SETITEM = torch._C.TensorBase.__setitem__
# DGLGraph methods that hand a degree or an edge id to the caller as a Python int
_INT_RESULTS = ("in_degrees", "out_degrees", "edge_ids")


def _dgl_functions() -> List[type]:
    return [cls for _, cls in inspect.getmembers(sparse, inspect.isclass)
            if issubclass(cls, torch.autograd.Function) and cls is not torch.autograd.Function
            and cls.__module__ == sparse.__name__]


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
        inputs = [t for t in values(args) if ctx.known(t) or ctx.is_tracked(t)]
        if not inputs:
            return mark_data(ctx, out)
        ctx.begin_op(f"dgl.{cls.__name__}")
        if not any(ctx.is_tracked(t) for t in inputs):
            mark_data(ctx, out)
        else:
            rule = DGL_RULES.get(cls)
            try:
                if rule is None:
                    raise KeyError(cls.__name__)
                with rule_for(ctx, f"dgl.{cls.__name__}"):
                    rule(ctx, args, out)
            except KeyError:  # no rule, or an op / reducer the rule does not know
                ctx.report_unsupported(f"dgl.{cls.__name__}")
                conservative(ctx, cls, args, {}, out, report=False)
        ctx.record_flow(inputs, outputs(out), gate=is_gate(cls))

    # -- indexing with tensors, which skips function modes ----------------------------------
    def _getitem(self):
        recorder = self._mode

        def getitem(tensor, index):
            seen = recorder.seen
            out = _ORIGINAL_GETITEM(tensor, index)
            if recorder.seen == seen:  # the mode did not see it
                recorder.record(_ORIGINAL_GETITEM, (tensor, index), {}, out)
            return out

        getitem.original = _ORIGINAL_GETITEM
        return getitem

    def _setitem(self):
        recorder = self._mode

        def setitem(tensor, index, value):
            seen = recorder.seen
            recorder.before_write(tensor)
            _ORIGINAL_SETITEM(tensor, index, value)
            if recorder.seen == seen:
                recorder.record(_ORIGINAL_SETITEM, (tensor, index, value), {}, None, tensor)

        setitem.original = _ORIGINAL_SETITEM
        return setitem

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
        inputs = [t for t in values(list(args) + list(kwargs.values()))
                  if ctx.known(t) or ctx.is_tracked(t)]
        ctx.begin_op(type(module).__name__)
        with rule_for(ctx, type(module).__name__):
            rule(ctx, module, args, kwargs, out)
        if escapes(out):
            ctx.mark_escaping()
        ctx.record_flow(inputs + list(module.parameters()), outputs(out),
                        gate=is_gate(module))

    def __enter__(self) -> "Tracer":
        for cls in _dgl_functions():
            self._patched.append((cls, "apply", cls.__dict__.get("apply")))
            cls.apply = self._wrap(cls)
        scripted: List[str] = []
        for name, module in self.model.named_modules():
            if isinstance(module, torch.jit.ScriptModule):  # no hooks, no Python ops to see
                if not any(name.startswith(f"{outer}.") or not outer for outer in scripted):
                    scripted.append(name)
                    self.ctx.report_unsupported(
                        f"TorchScript module {name or type(module).__name__} (its ops run "
                        "outside Python: what it reads and makes is held at exponent 0)")
                continue
            self._handles.append(module.register_forward_pre_hook(
                self._pre_hook(name), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post_hook(), with_kwargs=True))
        self._mode = OpRecorder(self.ctx)
        self._patched.append((torch.Tensor, "__getitem__", torch.Tensor.__dict__.get(
            "__getitem__")))
        torch.Tensor.__getitem__ = self._getitem()
        self._patched.append((torch.Tensor, "__setitem__", torch.Tensor.__dict__.get(
            "__setitem__")))
        torch.Tensor.__setitem__ = self._setitem()
        self._patched.extend(wrap_methods(self.ctx, self._record_method))
        for name in _INT_RESULTS:
            self._patched.append((dgl.DGLGraph, name, dgl.DGLGraph.__dict__.get(name)))
            setattr(dgl.DGLGraph, name, self._counted(getattr(dgl.DGLGraph, name)))
        self._mode.__enter__()
        return self

    def _counted(self, method: Callable) -> Callable:
        """``method``, and a Python int it hands to code other than DGL's is input data
        (``g.in_degrees(0)``: another graph gives another; see ``.constants``)."""
        constants = self.ctx.constants

        @functools.wraps(method)
        def counted(*args, **kwargs):
            out = method(*args, **kwargs)
            if isinstance(out, Number) and not isinstance(out, bool) and \
                    not called_from_dgl(sys._getframe(1)):
                constants.python_holds_integers = True
            return out
        return counted

    def _record_method(self, rule: Callable[[], None], inputs: List[Any], results: List[Any]
                       ) -> None:
        self._mode.record_call(rule, inputs, results, "dgl.sparse.SparseMatrix method")

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for handle in self._handles:
            handle.remove()
        for owner, name, own in reversed(self._patched):
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
