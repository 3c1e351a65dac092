"""Helpers for rule authors: finding torch ops by name, reading arguments, the conservative
fallback for ops that are not positively homogeneous, and the fields of node and edge
features in DGL's message passing (:func:`feature_field`, :func:`message_field`,
:func:`set_feature_field`), which rules for custom message-passing kernels reuse."""
from __future__ import annotations

from numbers import Number
from typing import Any, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..context import TraceContext, Value
from ..core.fields import Field, as_array

__all__ = ["ops", "values", "outputs", "is_value", "zero_scalar", "arg", "op_name",
           "hold_at_zero", "conservative", "field_tensor", "swap_values", "dims", "equal_along",
           "feature_field", "message_field", "set_feature_field"]


def ops(*names: str, namespaces: Sequence[Any] = (torch, torch.Tensor, F)) -> List[Any]:
    """Every torch function / Tensor method / functional op with one of these names.

    Parameters
    ----------
    *names : str
        Op names, such as ``"softmax"``.
    namespaces : sequence, default (torch, torch.Tensor, torch.nn.functional)
        Where to look the names up.

    Returns
    -------
    list
        The ops found, each once.
    """
    found = []
    for name in names:
        for namespace in namespaces:
            func = getattr(namespace, name, None)
            if callable(func) and func not in found:  # torch.float is a dtype, not an op
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


def outputs(out: Any) -> List[Any]:
    """The tensors and TorchScript objects an op returned (one, or a list / tuple of them)."""
    return values(out if isinstance(out, (list, tuple)) else [out])


def is_value(x: Any) -> bool:
    """A floating (or complex) tensor: one that can carry an exponent."""
    return isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())


def zero_scalar(x: Any) -> bool:
    """The Python number 0."""
    return isinstance(x, Number) and x == 0


def arg(args: Sequence[Any], kwargs: dict, position: int, name: str, default: Any = None
        ) -> Any:
    """An argument given by position or by keyword."""
    return args[position] if len(args) > position else kwargs.get(name, default)


def op_name(func: Any) -> str:
    """A readable name of an op for reports: ``torch.relu``, ``F.linear``, ``Tensor.add_``."""
    name = getattr(func, "__name__", None) or repr(func)
    owner = getattr(func, "__objclass__", None)
    if owner is not None or name.startswith("__"):
        return f"Tensor.{name}"
    if isinstance(func, torch._ops.OpOverloadPacket):
        return f"torch.ops.{func._qualified_op_name.replace('::', '.')}"
    module = getattr(func, "__module__", None) or "torch"
    if module == F.__name__ and name.startswith("_") and getattr(F, name[1:], None) is func:
        name = name[1:]  # F.threshold is defined as F._threshold
    return f"{module.replace('torch.nn.functional', 'F').replace('torch._C._nn', 'F')}.{name}"


def hold_at_zero(ctx: TraceContext, x: Any) -> None:
    """Exponent 0 for a tensor, parameter or TorchScript object the op reads."""
    if ctx.is_tracked(x):
        name = ctx.param_name(x)
        if name is not None:
            ctx.require_param_zero(name)
        else:
            ctx.require_zero(ctx.field(x))


def conservative(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any,
                 report: bool = True, reason: str = "") -> None:
    """The rule for ops that are not homogeneous: inputs and outputs held at exponent 0.

    Parameters
    ----------
    ctx : TraceContext
        The trace.
    func, args, kwargs, out
        The op, its arguments and its result, as a rule receives them.
    report : bool, default True
        Name the op in ``report.unsupported`` (when it reads a traced value).
    reason : str, optional
        Why the op is not homogeneous, added to the report.
    """
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


def swap_values(ctx: TraceContext, value: Any) -> Any:
    """Arguments with every floating tensor replaced by its field tensor."""
    if is_value(value):
        return field_tensor(ctx, value)
    if isinstance(value, (list, tuple)):
        return type(value)(swap_values(ctx, v) for v in value)
    return value


def dims(ndim: int, dim: Any) -> List[int]:
    """Normalized, sorted axes (all axes for None)."""
    if dim is None:
        return list(range(ndim))
    dims_ = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % ndim for d in dims_) if ndim else []


def equal_along(ctx: TraceContext, field: np.ndarray, axes: Iterable[int]) -> np.ndarray:
    """Impose equal exponents along the axes; returns the field with those axes of size 1."""
    reference = field
    for d in axes:
        if reference.shape[d] == 0:  # nothing is read along it: a result of exponent 0
            shape = list(reference.shape)
            shape[d] = 1
            reference = np.zeros(shape, dtype=np.int64)
        else:
            reference = reference.take([0], axis=d)
    if reference.shape != field.shape:
        ctx.equal(field, reference)
    return reference


# --- node and edge features (DGL's message passing) ---------------------------------------

def feature_field(ctx: TraceContext, x: Any) -> Field:
    """Per-feature exponents of a node or edge tensor, shared by every node / edge.

    Node and edge axes carry no exponent of their own: features must not vary along them,
    which this states as a constraint.

    Parameters
    ----------
    ctx : TraceContext
        The trace.
    x : torch.Tensor or None
        Node or edge features, first axis the nodes / edges.

    Returns
    -------
    numpy.ndarray or None
        The field without the node / edge axis; None for data or a missing operand.
    """
    if not isinstance(x, torch.Tensor):
        return None
    field = ctx.field(x)
    if field is None:
        return None
    field = as_array(field, x.dim())
    ctx.equal(field, field[:1])
    return field[0]


def message_field(ctx: TraceContext, op: str, lhs: Any, rhs: Any) -> Field:
    """The per-feature field of a message made by one of DGL's binary ops.

    Parameters
    ----------
    ctx : TraceContext
        The trace.
    op : str
        DGL's name of the op: ``copy_lhs``, ``copy_rhs``, ``add`` and ``sub`` (equal
        exponents), ``mul`` and ``div`` (exponents add / subtract), ``dot`` (a product summed
        over the last axis: equal exponents along it).
    lhs, rhs : torch.Tensor or None
        Node or edge features of the two ends (see :func:`feature_field`).

    Returns
    -------
    numpy.ndarray or None
        The message's field without the edge axis; None for data.

    Raises
    ------
    KeyError
        For an op the rule does not know.
    """
    fl, fr = feature_field(ctx, lhs), feature_field(ctx, rhs)
    if op == "copy_lhs":
        return fl
    if op == "copy_rhs":
        return fr
    if op in ("add", "sub"):
        ctx.equal(fl, fr)
        return fl if fr is None else fr if fl is None else np.broadcast_to(
            fl, np.broadcast_shapes(fl.shape, fr.shape))
    if op in ("mul", "div", "dot"):
        product = ctx.combine([(1, fl), (-1 if op == "div" else 1, fr)])
        if op == "dot" and product is not None:
            product = as_array(product, product.ndim)
            ctx.equal(product, product[..., :1])
            product = product[..., :1]
        return product
    raise KeyError(op)


def set_feature_field(ctx: TraceContext, out: Any, field: Optional[np.ndarray]) -> None:
    """Give node or edge features ``out`` a per-feature field, shared by every node / edge.

    Parameters
    ----------
    ctx : TraceContext
        The trace.
    out : torch.Tensor
        The op's result, first axis the nodes / edges.
    field : numpy.ndarray or None
        Its field without that axis (as :func:`feature_field` and :func:`message_field` return
        it); None for data.
    """
    ctx.set_field(out, None if field is None else field[None, ...])
