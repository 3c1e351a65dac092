"""Recording one op of a trace: the ``TorchFunctionMode`` that hands each torch call touching a
parameter-dependent tensor to its rule, and the helpers the tracer's other hooks share.

It keeps the trace sound where data leaves the visible flow: ops with integer, boolean or
history-free results, or non-tensor results, are marked escaping (their constraints are
kept); an in-place write that changes a field updates the fields of every traced tensor that
shares its memory (views), entry by entry through their strides.
"""
from __future__ import annotations

import contextlib
import sys
from types import FrameType
from typing import Any, Callable, Iterator, List, Optional

import numpy as np
import torch
from torch._C._functorch import get_unwrapped, is_functorch_wrapped_tensor
from torch.overrides import TorchFunctionMode

from .context import TraceContext
from .core.fields import as_array
from .rules.helpers import conservative, op_name, outputs, values
from .rules.indexing import move
from .rules.registry import OP_RULES, RuleError, is_gate
from .rules.torch_ops import METADATA, passthrough
from .signatures import positional

__all__ = ["OpRecorder", "mark_data", "escapes", "rule_for", "called_from_dgl"]

_IN_PLACE = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__setitem__"}


def mark_data(ctx: TraceContext, out) -> None:
    """Outputs of ops on data only are data (also when autograd tracks them)."""
    for value in outputs(out):
        ctx.set_field(value, None)


def called_from_dgl(frame: Optional[FrameType]) -> bool:
    """Whether the first caller outside torch and this analyser is DGL's own code or
    dglbal's layers (whose Python numbers are their literals, see ``.constants``)."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("torch.", "dglbal.symmetry.")) and module != "torch":
            return module == "dgl" or module.startswith(("dgl.", "dglbal.nn."))
        frame = frame.f_back
    return False


def _transformed(items) -> bool:
    """Whether a tensor among ``items`` is wrapped by a ``torch.func`` transform (``vmap``'s
    batched tensors, ``grad``'s): ops on them work per sample, on shapes the rules do not see.
    They are not recorded: what they read is held at exponent 0 (``OpRecorder._transform``),
    and what the transform returns is a tensor the trace did not see (see ``.untraced``)."""
    return any(isinstance(v, torch.Tensor) and is_functorch_wrapped_tensor(v)
               for v in values(items))


def _unwrapped(v):
    """The plain tensor under a transform's wrappers (a batched input: the input itself)."""
    while isinstance(v, torch.Tensor) and is_functorch_wrapped_tensor(v):
        v = get_unwrapped(v)
    return v


def escapes(out) -> bool:
    """Results the autograd graph cannot follow: integers, booleans, no history, non-tensors."""
    results = outputs(out)
    return not results or any(not isinstance(r, torch.Tensor) or r.grad_fn is None
                              for r in results)


@contextlib.contextmanager
def rule_for(ctx: TraceContext, what: str) -> Iterator[None]:
    """A rule that fails is named (op and module), not passed off as the model's error."""
    try:
        yield
    except RuleError:
        raise
    except Exception as error:
        where = f" in {ctx.module_path[-1]}" if ctx.module_path and ctx.module_path[-1] else ""
        raise RuleError(f"the analyser's rule for {what}{where} failed with "
                        f"{type(error).__name__}: {error}") from error


def _hold_if_emptied(ctx: TraceContext, inputs: List[Any], out) -> None:
    """An op that makes an empty tensor from non-empty traced ones (a gather over no edges):
    the exponents it would pass on cannot be seen here, so its inputs are held at 0."""
    empty = [r for r in outputs(out) if isinstance(r, torch.Tensor) and r.numel() == 0
             and (r.is_floating_point() or r.is_complex())]
    read = [v for v in inputs if isinstance(v, torch.Tensor) and v.numel() > 0]
    if empty and read:
        ctx.hold_empty(empty[0], [ctx.field(v) for v in read])


def _in_place_target(name: str, args, kwargs):
    if kwargs.get("out") is not None:
        return kwargs["out"]
    if name in _IN_PLACE or (name.endswith("_") and not name.endswith("__")):
        return args[0] if args and isinstance(args[0], torch.Tensor) else None
    return None


def _same_field(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return np.array_equal(*np.broadcast_arrays(a, b))
    except ValueError:
        return False


class OpRecorder(TorchFunctionMode):
    """The function mode of a trace: each torch call goes to its rule (see the module doc)."""

    def __init__(self, ctx: TraceContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.seen = 0  # indexing ops the mode has handled: tells the patches what it missed
        self._inner: dict = {}  # by id: made inside a transform, or already held there

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        func = getattr(func, "original", func)  # the patched Tensor.__getitem__ / __setitem__
        name = getattr(func, "__name__", "")
        if name in ("__getitem__", "__setitem__"):
            self.seen += 1
        target = None if self.ctx.muted else _in_place_target(name, args, kwargs)
        self.before_write(target)
        out = func(*args, **kwargs)
        self.record(func, args, kwargs, out, target)
        return out

    def before_write(self, target) -> None:
        """An in-place op is about to change ``target``: note what it holds now."""
        ctx = self.ctx
        if target is None or ctx.muted or _transformed([target]):
            return  # a transform's tensor (grad's requires_grad_()): not recorded
        if not ctx.known(target):
            ctx.set_field(target, ctx.field(target))
        ctx.free_before_write.clear()
        if ctx.zero_constant(target, infinities=True):
            ctx.free_before_write.add(id(target))

    def record(self, func, args, kwargs, out, target=None) -> None:
        ctx = self.ctx
        if ctx.muted:
            return
        if _transformed(list(args) + list(kwargs.values()) + outputs(out)):
            return self._transform(func, values(list(args) + list(kwargs.values())), out)
        name = getattr(func, "__name__", "")
        args, kwargs = positional(func, args, kwargs)  # rules read leading arguments by position
        arguments = values(list(args) + list(kwargs.values()))
        # Values that enter Python as numbers (a bool only steers control flow).
        to_python = name not in METADATA and out is not None and not isinstance(out, bool) \
            and not outputs(out)
        ctx.constants.called_from_dgl = (to_python or ctx.constants.python_holds_integers) \
            and called_from_dgl(sys._getframe(1))
        ctx.constants.note(name, arguments, outputs(out), target, to_python=to_python,
                           reads_numbers=ctx.constants.reads_untrusted(
                               list(args) + list(kwargs.values())))
        inputs = [v for v in arguments if ctx.known(v) or ctx.is_tracked(v)]
        if not inputs:
            return mark_data(ctx, out)
        if name in METADATA and not (name == "__get__" and isinstance(out, torch.Tensor)):
            return
        ctx.begin_op(op_name(func))
        before = ctx.field(target) if target is not None else None
        gate, aliases = False, []
        ctx.muted += 1  # the rules' own torch calls are not part of the model
        try:
            if not any(ctx.is_tracked(v) for v in inputs):
                mark_data(ctx, out)  # derived from parameters, but with exponent 0
            elif name == "__get__":
                self._attribute(func, args, out)
            else:
                rule = OP_RULES.get(func, conservative)
                with rule_for(ctx, op_name(func)):
                    rule(ctx, func, args, kwargs, out)
                _hold_if_emptied(ctx, inputs, out)
                gate = is_gate(func)
            if target is not None:  # whatever wrote it: its views now read the new values
                aliases = self._update_aliases(func, target, before)
        finally:
            ctx.muted -= 1
            if target is not None:
                ctx.free_before_write.clear()
        if escapes(out) and target is None:
            ctx.mark_escaping()
        written = [target] + aliases if target is not None else []  # in place: new values
        ctx.record_flow(inputs, outputs(out) + written, gate=gate)

    def _transform(self, func, arguments: List[Any], out) -> None:
        """An op inside a ``torch.func`` transform (not recorded, see ``_transformed``): the
        traced tensors and parameters it reads are held at exponent 0, named and kept (under
        ``no_grad`` what the transform returns has no autograd history to find them by)."""
        ctx = self.ctx
        read = [v for v in map(_unwrapped, arguments) if id(v) not in self._inner
                and (ctx.known(v) or ctx.is_tracked(v))]
        self._inner.update((id(v), v) for v in read + list(map(_unwrapped, outputs(out))))
        if not read:
            return
        ctx.begin_op(op_name(func))
        ctx.report_unsupported(f"{op_name(func)} inside torch.func.vmap or grad (per sample, "
                               "not recorded): what it reads is held at exponent 0")
        for v in read:
            name = ctx.param_name(v)
            if name is not None:
                ctx.require_param_zero(name)
            else:
                ctx.require_zero(ctx.field(v))
        ctx.mark_escaping()
        ctx.record_flow(read, [])

    def _update_aliases(self, func, target: torch.Tensor, before) -> List[torch.Tensor]:
        """An in-place write gave the target new values: tensors sharing its memory (views
        of it, or it of them) see them too, and the new exponents at the entries it wrote.
        Returns them: written by the op, whether or not their exponents changed."""
        ctx = self.ctx
        after = ctx.field(target)
        others = ctx.aliases(target)
        if not others or _same_field(before, after):
            return others
        layouts = {t.layout for t in others + [target]}
        if any(t.dtype != target.dtype for t in others) or layouts != {torch.strided}:
            # reinterpreted bytes, or a sparse tensor's values: give up
            ctx.report_unsupported(f"in-place {op_name(func)} on memory shared with a tensor "
                                   "of another dtype or layout: held at exponent 0")
            ctx.mark_escaping()
            for field in [before, after] + [ctx.field(t) for t in others]:
                ctx.require_zero(field)
            return others
        size = target.untyped_storage().nbytes() // target.element_size()
        storage = torch.arange(size)

        def positions(t: torch.Tensor) -> np.ndarray:
            return storage.as_strided(t.shape, t.stride(), t.storage_offset()).numpy()

        written = np.full(size, -1, dtype=np.int64)  # -1: not written (symbols are >= 0)
        written[positions(target)] = np.broadcast_to(as_array(after, target.dim()),
                                                     tuple(target.shape))
        for t in others:
            seen = written[positions(t)]
            hit = seen != -1
            if hit.any():
                field = np.broadcast_to(as_array(ctx.field(t), t.dim()), tuple(t.shape)).copy()
                field[hit] = seen[hit]
                ctx.set_field(t, field)
        return others

    def _attribute(self, func, args, out) -> None:
        """Tensor attributes: ``x.data``, ``x.real`` and ``x.imag`` keep the field (a real
        scale commutes with taking parts), ``x.T``, ``x.mT``, ``x.H`` and ``x.mH`` move it
        (conjugation too commutes); any other attribute of a traced tensor (``x.grad``) is
        held at exponent 0 and named."""
        if not isinstance(out, torch.Tensor):
            return
        attribute = getattr(getattr(func, "__self__", None), "__name__", "")
        if attribute in ("data", "real", "imag"):
            passthrough(self.ctx, func, args, {}, out)
        elif attribute in ("T", "mT", "H", "mH"):
            move(self.ctx, lambda x: getattr(x, attribute), args, {}, out)
        else:
            conservative(self.ctx, func, args, {}, out,
                         reason=f"the attribute .{attribute} of a traced tensor")

    def record_call(self, rule: Callable[[], None], inputs: List[Any], results: List[Any],
                    name: str) -> None:
        """Record a call the function mode does not see, with a rule given as a closure."""
        ctx = self.ctx
        if ctx.muted:
            return
        ctx.constants.called_from_dgl = False  # whoever called the last recorded op
        inputs = [v for v in inputs if ctx.known(v) or ctx.is_tracked(v)]
        if not inputs:
            return mark_data(ctx, results)
        ctx.begin_op(name)
        ctx.muted += 1
        try:
            with rule_for(ctx, name):
                rule()
        finally:
            ctx.muted -= 1
        ctx.record_flow(inputs, results)
