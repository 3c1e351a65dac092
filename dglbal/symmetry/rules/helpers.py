"""Helpers shared by the rule tables: finding torch ops by name, reading arguments, and the
conservative fallback for ops that are not positively homogeneous."""
from __future__ import annotations

from numbers import Number
from typing import Any, Iterable, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .context import TraceContext, Value
from .fields import as_array


def ops(*names: str, namespaces: Sequence[Any] = (torch, torch.Tensor, F)) -> List[Any]:
    """Every torch function / Tensor method / functional op with one of these names."""
    found = []
    for name in names:
        for namespace in namespaces:
            func = getattr(namespace, name, None)
            if func is not None and func not in found:
                found.append(func)
    return found


def values(items: Iterable) -> List[Any]:
    """Tensors and TorchScript objects among (nested lists / tuples of) arguments."""
    out = []
    for v in items:
        if isinstance(v, Value):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(values(v))
    return out


def outputs(out) -> List[Any]:
    return values(out if isinstance(out, (list, tuple)) else [out])


def is_value(x) -> bool:
    """A floating (or complex) tensor: one that can carry an exponent."""
    return isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())


def zero_scalar(x) -> bool:
    return isinstance(x, Number) and x == 0


def arg(args, kwargs, position: int, name: str, default=None):
    """An argument given by position or by keyword."""
    return args[position] if len(args) > position else kwargs.get(name, default)


def op_name(func) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    owner = getattr(func, "__objclass__", None)
    if owner is not None or name.startswith("__"):
        return f"Tensor.{name}"
    if isinstance(func, torch._ops.OpOverloadPacket):
        return f"torch.ops.{func._qualified_op_name.replace('::', '.')}"
    module = getattr(func, "__module__", None) or "torch"
    return f"{module.replace('torch.nn.functional', 'F').replace('torch._C._nn', 'F')}.{name}"


def hold_at_zero(ctx: TraceContext, x) -> None:
    """Exponent 0 for a tensor, parameter or TorchScript object the op reads."""
    if ctx.is_tracked(x):
        name = ctx.param_name(x)
        if name is not None:
            ctx.require_param_zero(name)
        else:
            ctx.require_zero(ctx.field(x))


def conservative(ctx: TraceContext, func, args, kwargs, out, report: bool = True,
                 reason: str = "") -> None:
    """The op is not homogeneous: inputs and outputs held at exponent 0 (and named)."""
    tracked = [v for v in values(list(args) + list(kwargs.values())) if ctx.is_tracked(v)]
    if report and tracked:
        ctx.report_unsupported(op_name(func) + (f" ({reason})" if reason else ""))
    for v in tracked:
        hold_at_zero(ctx, v)
    for v in outputs(out):
        ctx.set_field(v, None)


def field_tensor(ctx: TraceContext, x: torch.Tensor) -> torch.Tensor:
    """The field of x as an int64 tensor of x's shape (a broadcast view)."""
    field = as_array(ctx.field(x), x.dim())
    return torch.from_numpy(np.ascontiguousarray(field)).expand(x.shape)


def swap_values(ctx: TraceContext, value):
    """Arguments with every floating tensor replaced by its field tensor."""
    if is_value(value):
        return field_tensor(ctx, value)
    if isinstance(value, (list, tuple)):
        return type(value)(swap_values(ctx, v) for v in value)
    return value


def dims(ndim: int, dim) -> List[int]:
    """Normalized, sorted axes (all axes for None)."""
    if dim is None:
        return list(range(ndim))
    dims_ = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % ndim for d in dims_) if ndim else []


def equal_along(ctx: TraceContext, field: np.ndarray, axes: Iterable[int]) -> np.ndarray:
    """Impose equal exponents along the axes; returns the field with those axes of size 1."""
    reference = field
    for d in axes:
        reference = reference.take([0], axis=d)
    if reference.shape != field.shape:
        ctx.equal(field, reference)
    return reference
