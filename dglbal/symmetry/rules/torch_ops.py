"""Exponent rules for elementwise torch ops: activations, copies, sums, products, powers.

Each rule is ``rule(ctx, func, args, kwargs, out)``. Ops without a rule are treated as not
homogeneous: their inputs and outputs are held at exponent 0 and the op is reported. Other
families live in :mod:`.indexing`, :mod:`.reduction`, :mod:`.linear`, :mod:`.recurrent`,
:mod:`.dgl_sparse`, :mod:`.dgl_message_passing` and :mod:`.hgt`.
"""
from __future__ import annotations

from numbers import Number
from typing import Any, Optional, Sequence

import torch

from ..approximate import EPS_MAX
from ..context import TraceContext
from ..core.fields import as_array
from .helpers import arg, conservative, hold_at_zero, op_name, ops
from .registry import register_op_rule

__all__ = ["passthrough", "as_text", "clamp", "threshold", "masked_fill", "add", "where",
           "division_guard", "eps_constant", "multiply", "power", "prelu", "leaves_torch",
           "COPY_INTO", "DIVISIONS", "METADATA"]

COPY_INTO = set(ops("copy_"))


@register_op_rule(*ops("relu", "relu_", "leaky_relu", "leaky_relu_", "dropout", "dropout_",
                       "feature_alpha_dropout", "clone", "contiguous", "detach", "to", "float",
                       "double", "half", "bfloat16", "type", "type_as", "cpu", "cuda", "abs",
                       "neg", "negative", "__neg__", "__abs__", "copy_", "requires_grad_",
                       "detach_", "__deepcopy__", "tril", "tril_", "triu", "triu_"))
def passthrough(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Positively homogeneous elementwise ops (and copies): the field moves unchanged. ``tril``
    and ``triu`` set entries to 0, which takes any exponent: they keep x's, as which entries
    are zeroed depends on the number of rows, which may change with the input. A cast
    (or copy) of floating values into an integer or boolean tensor truncates, and alpha
    dropout while training is affine: neither is homogeneous."""
    source = args[1] if func in COPY_INTO else args[0]
    if isinstance(out, torch.Tensor) and isinstance(source, torch.Tensor) and \
            (source.is_floating_point() or source.is_complex()) and \
            not (out.is_floating_point() or out.is_complex()):
        return conservative(ctx, func, args, kwargs, out,
                            reason=f"a cast to {out.dtype} truncates")
    if getattr(func, "__name__", "") == "feature_alpha_dropout" and \
            arg(args, kwargs, 1, "p", 0.5) > 0 and \
            arg(args, kwargs, 2, "training", kwargs.get("train", False)):
        return conservative(ctx, func, args, kwargs, out, reason="while training, alpha "
                            "dropout sets dropped entries to a nonzero constant and applies an "
                            "affine map")
    ctx.set_field(out, ctx.field(source))


@register_op_rule(*ops("__format__", "__repr__"))
def as_text(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """A traced tensor written as text (an f-string, ``repr``): its values leave the trace and
    may come back as numbers, so it is held at exponent 0 and named."""
    conservative(ctx, func, args, kwargs, out, reason="its values leave the trace as text")


def _describe(ctx: TraceContext, c: Any, scalar: str = "the constant ") -> str:
    """How a constant operand reads in a report (numbers prefixed with ``scalar``)."""
    if not isinstance(c, (torch.Tensor, Number)):
        return repr(c)
    if isinstance(c, Number) and not ctx.constants.trusts(c):
        return f"the Python number {float(c):g} (it may carry input data)"
    if isinstance(c, Number) or (c in ctx.constants and c.numel() == 1 and not c.is_meta):
        return f"{scalar}{float(c):g}"
    if c in ctx.constants:
        return "a non-zero constant tensor"
    if c.requires_grad:
        return "a tensor computed from parameters at exponent 0"
    return "a data tensor (not a constant of the model: it may differ for other inputs)"


_CLAMP_MIN, _CLAMP_MAX = set(ops("clamp_min", "clamp_min_")), set(ops("clamp_max", "clamp_max_"))


@register_op_rule(*ops("clamp", "clamp_", "clip", "clip_"), *_CLAMP_MIN, *_CLAMP_MAX)
def clamp(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """clamp(x, min=0) is ReLU and clamp(x, max=0) is -ReLU(-x): positively homogeneous of
    degree 1. Any other bound is not homogeneous."""
    if func in _CLAMP_MIN or func in _CLAMP_MAX:
        key = "min" if func in _CLAMP_MIN else "max"
        bounds = {key: arg(args, kwargs, 1, key)}
    else:
        bounds = {"min": arg(args, kwargs, 1, "min"), "max": arg(args, kwargs, 2, "max")}
    bad = {k: b for k, b in bounds.items() if b is not None and not ctx.zero_constant(b)}
    if not bad and ctx.is_tracked(args[0]):
        return passthrough(ctx, func, args, {}, out)
    reason = ", ".join(f"{k}={_describe(ctx, b, '')}" for k, b in bad.items())
    eps = eps_constant(ctx, bad["min"]) if set(bad) == {"min"} else None
    if eps is not None and ctx.is_tracked(args[0]) and ctx.param_name(args[0]) is None:
        ctx.report_unsupported(
            f"{op_name(func)} (bound {reason}: a guard that holds only up to eps (values below "
            "the bound, before or after a rescaling, become the bound); held at exponent 0 "
            "(approximate groups: analyze(..., up_to_eps=True)); an exact guard of a norm n: "
            "torch.where(n == 0, 1, n))")
        field = as_array(ctx.field(args[0]), args[0].dim())
        ctx.pin_up_to_eps(field, (), eps, 1, op_name(func))
        return ctx.set_field(out, field)
    conservative(ctx, func, args, kwargs, out,
                 reason=f"bound {reason}: clamping is homogeneous only at exponent 0 unless "
                        "the bound is 0")


@register_op_rule(*ops("threshold", "threshold_"))
def threshold(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """threshold(x, 0, 0) is ReLU; another threshold or replacement value is not
    homogeneous."""
    level, value = arg(args, kwargs, 1, "threshold"), arg(args, kwargs, 2, "value")
    if ctx.zero_constant(level) and ctx.zero_constant(value) and ctx.is_tracked(args[0]):
        return passthrough(ctx, func, args, {}, out)
    bad = [f"{k}={_describe(ctx, c, '')}" for k, c in (("threshold", level), ("value", value))
           if not ctx.zero_constant(c)]
    conservative(ctx, func, args, kwargs, out,
                 reason=f"{' and '.join(bad)}: threshold(x, t, v) is homogeneous only at "
                        "exponent 0 unless t = v = 0")


@register_op_rule(*ops("masked_fill", "masked_fill_"))
def masked_fill(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Filling with 0 or an infinity is homogeneous of every degree; other constants are not."""
    value = arg(args, kwargs, 2, "value")
    if ctx.zero_constant(value, infinities=True):
        passthrough(ctx, func, args, {}, out)
    elif not division_guard(ctx, func, arg(args, kwargs, 1, "mask"), value, args[0], out):
        conservative(ctx, func, args, kwargs, out,
                     reason=f"fill value {_describe(ctx, value, '')} pins exponent 0")


def _operands(args, kwargs):
    """The two operands of a binary op, the second possibly given as ``other=``."""
    return [args[0], args[1] if len(args) > 1 else kwargs.get("other")]


# Selections: their constant is homogeneous of every degree when it is 0 or infinite (a mask
# of -inf before a max).
_SELECTIONS = {"where": "where(cond, x, c)", "maximum": "max(x, c)", "fmax": "max(x, c)",
               "max": "max(x, c)", "minimum": "min(x, c)", "fmin": "min(x, c)",
               "min": "min(x, c)"}


_ADDITIONS = {"add", "add_", "__add__", "__radd__", "__iadd__"}


def eps_constant(ctx: TraceContext, c: Any) -> Optional[float]:
    """The value of a constant that counts as an eps: a positive number (or constant scalar
    tensor) no larger than :data:`~dglbal.symmetry.approximate.EPS_MAX`; None otherwise."""
    if isinstance(c, torch.Tensor):
        if c not in ctx.constants or c.numel() != 1 or c.is_meta or c.is_complex():
            return None
    elif not isinstance(c, Number) or isinstance(c, (bool, complex)):
        return None
    value = float(c)
    return value if 0 < value <= EPS_MAX else None


@register_op_rule(*ops("add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_",
                       "subtract", "__sub__", "__rsub__", "__isub__", "maximum", "minimum",
                       "fmax", "fmin"))
def add(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Sums, maxima and minima need equal exponents; a constant operand pins them to 0
    unless it is 0 (a number, or a constant tensor of zeros: see
    :mod:`dglbal.symmetry.constants`), or, for maxima, minima and ``where``, infinite."""
    operands = _operands(args, kwargs)
    form = _SELECTIONS.get(getattr(func, "__name__", ""))
    tracked = [o for o in operands if ctx.is_tracked(o)]
    pins = [o for o in operands if o is not None and not ctx.is_tracked(o)
            and not ctx.zero_constant(o, infinities=form is not None)]
    fields = [ctx.field(o) for o in tracked]
    eps = eps_constant(ctx, pins[0]) if len(pins) == 1 and len(tracked) == 1 and \
        getattr(func, "__name__", "") in _ADDITIONS else None
    if eps is not None and ctx.param_name(tracked[0]) is None:
        ctx.report_unsupported(f"{op_name(func)} with {_describe(ctx, pins[0])}: x + eps is "
                               "homogeneous only at exponent 0, invariant only up to eps "
                               "(approximate groups: analyze(..., up_to_eps=True))")
        field = as_array(fields[0], tracked[0].dim())
        ctx.pin_up_to_eps(field, (), eps, 1, op_name(func))
        return ctx.set_field(out, field)
    if pins:
        if any(ctx.param_name(o) is None for o in tracked):  # param + c: a reparametrization
            ctx.report_unsupported(
                f"{op_name(func)} with {_describe(ctx, pins[0])}: "
                f"{form or 'x + c (an eps, a bias)'} is homogeneous only at exponent 0 unless c "
                f"is 0{' or infinite' if form else ''}")
        for o in tracked:
            hold_at_zero(ctx, o)
        return ctx.set_field(out, None)
    for f in fields[1:]:
        ctx.equal(fields[0], f)
    ctx.set_field(out, fields[0] if fields else None)


@register_op_rule(*ops("where"))
def where(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """where(cond, x, y), or x.where(cond, y): both branches need equal exponents (a nonzero
    constant pins 0)."""
    if func is torch.Tensor.where:  # the method puts x first: x.where(condition, other)
        parts = [arg(args, kwargs, 1, "condition"), args[0], arg(args, kwargs, 2, "other")]
    else:
        parts = [arg(args, kwargs, i, name) for i, name in enumerate(("condition", "input",
                                                                      "other"))]
    if any(part is None for part in parts):  # where(cond): the indices of its nonzeros
        return conservative(ctx, func, args, kwargs, out)
    condition, when_true, when_false = parts
    if not division_guard(ctx, func, condition, when_true, when_false, out):
        add(ctx, func, [when_true, when_false], {}, out)


def division_guard(ctx: TraceContext, func: Any, condition: Any, when_true: Any,
                   when_false: Any, out: Any) -> bool:
    """``where(n == 0, c, n)`` (or ``n.masked_fill(n == 0, c)``) with n a norm: a division
    guard (see :mod:`~dglbal.symmetry.guards`). The result gets n's field, held at 0 at the
    end of the trace unless it only divides the tensor n is the norm of. Returns whether
    the op is such a guard."""
    norm = ctx.guards.guarded_norm(condition, when_true, when_false)
    fill = when_false if norm is when_true else when_true
    if norm is None or ctx.is_tracked(fill) or not ctx.is_tracked(norm) or \
            not isinstance(out, torch.Tensor):
        return False
    ctx.set_field(out, ctx.field(norm))
    ctx.guards.guard(out, norm, ctx.current_op, ctx.key(out), ctx.field(out), ctx.where,
                     f"{op_name(func)}: a division guard of a norm (n == 0 -> "
                     f"{_describe(ctx, fill, '')}) used other than as the divisor of the "
                     "tensor whose norm it is: where n = 0 it does not scale, held at "
                     "exponent 0")
    return True


DIVISIONS = set(ops("div", "div_", "divide", "true_divide", "__truediv__", "__itruediv__"))
_REVERSED_DIVISIONS = set(ops("__rtruediv__"))


@register_op_rule(*ops("mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__"),
                  *DIVISIONS, *_REVERSED_DIVISIONS)
def multiply(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Products add exponents, quotients subtract them."""
    if kwargs.get("rounding_mode") is not None:
        return conservative(ctx, func, args, kwargs, out)
    a, b = _operands(args, kwargs)
    if func in _REVERSED_DIVISIONS:  # b / a
        terms = [(1, ctx.field(b)), (-1, ctx.field(a))]
    else:
        if func in DIVISIONS:
            ctx.guards.division(a, b, ctx.current_op)
        terms = [(1, ctx.field(a)), (-1 if func in DIVISIONS else 1, ctx.field(b))]
    ctx.set_field(out, ctx.combine(terms))


_POWERS = {"sqrt": 0.5, "rsqrt": -0.5, "reciprocal": -1, "square": 2}


def _fixed_exponent(ctx: TraceContext, p: Any) -> Optional[Number]:
    """The value of an exponent the model fixes: a Python number (unless Python may hold
    input data, see :mod:`dglbal.symmetry.constants`) or a constant real tensor of one entry
    (a buffer, ``torch.tensor(2.0)``); None for any other."""
    if isinstance(p, torch.Tensor) and p in ctx.constants and p.numel() == 1 and \
            not p.is_meta and not p.is_complex():
        return p.item()
    if isinstance(p, Number) and ctx.constants.trusts(p):
        return p
    return None


@register_op_rule(*ops("pow", "pow_", "__pow__", "float_power", *_POWERS))
def power(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """x ** p multiplies the exponents by p, a number fixed by the model (a Python number while
    Python holds no input data, or a constant one-entry tensor of the model): one that may
    change with the input would change the degree."""
    name, p = getattr(func, "__name__", ""), arg(args, kwargs, 1, "exponent")
    if not ctx.is_tracked(args[0]) or ctx.is_tracked(p):  # c ** x, x ** y: not homogeneous
        return conservative(ctx, func, args, kwargs, out)
    exponent = _POWERS[name] if name in _POWERS else _fixed_exponent(ctx, p)
    if exponent is None:
        return conservative(ctx, func, args, kwargs, out, reason=f"exponent "
                            f"{_describe(ctx, p, '')}: not one number fixed by the model")
    ctx.set_field(out, ctx.combine([(exponent, ctx.field(args[0]))]))


@register_op_rule(*ops("prelu"))
def prelu(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """PReLU is homogeneous in x; its slope is a pure number (exponent 0)."""
    hold_at_zero(ctx, args[1])
    ctx.set_field(out, ctx.field(args[0]))


@register_op_rule(*ops("item", "tolist", "numpy", "__float__", "__int__", "__index__",
                       "__bool__", "__array__", "__dlpack__"))
def leaves_torch(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """Values read out as Python numbers or arrays: whatever uses them is not traced."""
    ctx.mark_escaping()
    conservative(ctx, func, args, kwargs, out, reason="its value leaves the trace")


METADATA = {"dim", "size", "numel", "is_contiguous", "data_ptr", "untyped_storage", "stride",
            "element_size", "storage_offset", "__len__", "is_floating_point", "get_device",
            "__hash__", "nelement", "ndimension", "register_hook",
            "retain_grad", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
            "randn_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor",
            "is_complex", "is_nonzero", "has_names", "_is_view", "is_shared", "is_pinned",
            "__reduce_ex__", "__get__", "new", "storage", "_typed_storage"}
