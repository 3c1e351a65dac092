"""Per-op exponent rules for torch functions and Tensor methods.

Each rule is ``rule(ctx, func, args, kwargs, out)``. Ops without a rule are treated as not
homogeneous: their inputs and outputs are held at exponent 0 and the op is reported.
"""
from __future__ import annotations

from numbers import Number
from typing import Any, Iterable, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .algebra import NEURON
from .context import TraceContext
from .fields import as_array, collapse
from .groups import FieldExponent, OuterExponent
from .registry import register_op_rule


def _ops(*names: str, namespaces: Sequence[Any] = (torch, torch.Tensor, F)) -> List[Any]:
    """Every torch function / Tensor method / functional op with one of these names."""
    found = []
    for name in names:
        for namespace in namespaces:
            func = getattr(namespace, name, None)
            if func is not None and func not in found:
                found.append(func)
    return found


def _tensors(values: Iterable) -> List[torch.Tensor]:
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(_tensors(v))
    return out


def _outputs(out) -> List[torch.Tensor]:
    return _tensors(out if isinstance(out, (list, tuple)) else [out])


def _is_value(x) -> bool:
    return isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())


def _zero_scalar(x) -> bool:
    return isinstance(x, Number) and x == 0


def conservative(ctx: TraceContext, func, args, kwargs, out, report: bool = True) -> None:
    """The op is not homogeneous: inputs and outputs held at exponent 0."""
    if report:
        ctx.report_unsupported(op_name(func))
    for t in _tensors(list(args) + list(kwargs.values())):
        if ctx.is_tracked(t):
            name = ctx.param_name(t)
            if name is not None:
                ctx.require_param_zero(name)
            else:
                ctx.require_zero(ctx.field(t))
    for t in _outputs(out):
        ctx.set_field(t, None)


def op_name(func) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    owner = getattr(func, "__objclass__", None)
    if owner is not None or name.startswith("__"):
        return f"Tensor.{name}"
    module = getattr(func, "__module__", None) or "torch"
    return f"{module.replace('torch.nn.functional', 'F').replace('torch._C._nn', 'F')}.{name}"


# --- fields move with their entries -------------------------------------------------------

@register_op_rule(*_ops("relu", "relu_", "leaky_relu", "leaky_relu_", "dropout", "dropout_",
                        "feature_alpha_dropout", "clone", "contiguous", "detach", "to", "float",
                        "double", "half", "bfloat16", "type", "type_as", "cpu", "cuda", "abs",
                        "neg", "negative", "__neg__", "__abs__", "copy_", "requires_grad_"))
def passthrough(ctx, func, args, kwargs, out):
    """Positively homogeneous elementwise ops (and copies): the field moves unchanged."""
    source = args[1] if func in _COPY_INTO else args[0]
    ctx.set_field(out, ctx.field(source))


_COPY_INTO = set(_ops("copy_"))


@register_op_rule(*_ops("clamp", "clamp_", "clip", "clamp_min", "clamp_min_"))
def clamp(ctx, func, args, kwargs, out):
    """clamp(x, min=0) is ReLU; any other bound is not homogeneous."""
    low = kwargs.get("min", args[1] if len(args) > 1 else None)
    high = kwargs.get("max", args[2] if len(args) > 2 else None)
    if _zero_scalar(low) and high is None:
        passthrough(ctx, func, args, {}, out)
    else:
        conservative(ctx, func, args, kwargs, out)


def _field_tensor(ctx, x: torch.Tensor) -> torch.Tensor:
    field = as_array(ctx.field(x), x.dim())
    return torch.from_numpy(np.ascontiguousarray(field)).expand(x.shape)


def _swap_values(ctx, value):
    if _is_value(value):
        return _field_tensor(ctx, value)
    if isinstance(value, (list, tuple)):
        return type(value)(_swap_values(ctx, v) for v in value)
    return value


_VIEWS = set(_ops("view"))


@register_op_rule(*_ops(
    "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose",
    "t", "expand", "expand_as", "repeat", "tile", "narrow", "select", "__getitem__",
    "index_select", "gather", "take", "take_along_dim", "split", "chunk", "unbind", "cat",
    "concat", "concatenate", "stack", "hstack", "vstack", "flip", "roll", "movedim", "moveaxis",
    "swapaxes", "swapdims", "pad", "index_copy", "scatter", "diagonal", "tensor_split",
    "repeat_interleave", "broadcast_to"))
def move(ctx, func, args, kwargs, out):
    """Ops that only move entries: apply the same op to the fields."""
    if func in _VIEWS and len(args) > 1 and isinstance(args[1], torch.dtype):
        return conservative(ctx, func, args, kwargs, out)
    call = torch.Tensor.reshape if func in _VIEWS else func
    moved = call(*_swap_values(ctx, args), **_swap_values(ctx, kwargs))
    for tensor, field in zip(_outputs(out), _outputs(moved)):
        ctx.set_field(tensor, collapse(field.numpy()))


@register_op_rule(*_ops("__setitem__"))
def setitem(ctx, func, args, kwargs, out):
    """x[index] = value: the written entries take the value's exponents (0 for constants)."""
    target, index, value = args
    field = _field_tensor(ctx, target).clone()
    field[index] = _field_tensor(ctx, value) if _is_value(value) else 0
    ctx.set_field(target, collapse(field.numpy()))


@register_op_rule(*_ops("masked_fill", "masked_fill_"))
def masked_fill(ctx, func, args, kwargs, out):
    """Filling with 0 is homogeneous of every degree; any other constant is not."""
    value = args[2] if len(args) > 2 else kwargs.get("value")
    if _zero_scalar(value):
        passthrough(ctx, func, args, {}, out)
    else:
        conservative(ctx, func, args, kwargs, out)


# --- sums, products, powers -----------------------------------------------------------------

def _operands(args, kwargs):
    """The two operands of a binary op, the second possibly given as ``other=``."""
    return [args[0], args[1] if len(args) > 1 else kwargs.get("other")]


@register_op_rule(*_ops("add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_",
                        "subtract", "__sub__", "__rsub__", "__isub__", "maximum", "minimum",
                        "fmax", "fmin"))
def add(ctx, func, args, kwargs, out):
    """Sums need equal exponents; a constant (nonzero scalar or data tensor) pins them to 0."""
    operands = _operands(args, kwargs)
    tracked = [o for o in operands if ctx.is_tracked(o)]
    pinned = any(not ctx.is_tracked(o) and not _zero_scalar(o) for o in operands)
    fields = [ctx.field(o) for o in tracked]
    if pinned:
        for f in fields:
            ctx.require_zero(f)
        return ctx.set_field(out, None)
    for f in fields[1:]:
        ctx.equal(fields[0], f)
    ctx.set_field(out, fields[0] if fields else None)


@register_op_rule(*_ops("where"))
def where(ctx, func, args, kwargs, out):
    """where(cond, x, y): both branches need equal exponents (a nonzero constant pins 0)."""
    if len(args) < 3:
        return conservative(ctx, func, args, kwargs, out)
    add(ctx, func, args[1:3], {}, out)


_DIVISIONS = set(_ops("div", "div_", "divide", "true_divide", "__truediv__", "__itruediv__"))
_REVERSED_DIVISIONS = set(_ops("__rtruediv__"))


@register_op_rule(*_ops("mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__"),
                  *_DIVISIONS, *_REVERSED_DIVISIONS)
def multiply(ctx, func, args, kwargs, out):
    """Products add exponents, quotients subtract them."""
    if kwargs.get("rounding_mode") is not None:
        return conservative(ctx, func, args, kwargs, out)
    a, b = _operands(args, kwargs)
    if func in _REVERSED_DIVISIONS:  # b / a
        terms = [(1, ctx.field(b)), (-1, ctx.field(a))]
    else:
        terms = [(1, ctx.field(a)), (-1 if func in _DIVISIONS else 1, ctx.field(b))]
    ctx.set_field(out, ctx.combine(terms))


_POWERS = {"sqrt": 0.5, "rsqrt": -0.5, "reciprocal": -1, "square": 2}


@register_op_rule(*_ops("pow", "pow_", "__pow__", "float_power", *_POWERS))
def power(ctx, func, args, kwargs, out):
    """x ** p multiplies the exponents by p (p a number)."""
    name = getattr(func, "__name__", "")
    exponent = _POWERS.get(name, args[1] if len(args) > 1 else kwargs.get("exponent"))
    if not isinstance(exponent, Number) or not ctx.is_tracked(args[0]):
        return conservative(ctx, func, args, kwargs, out)
    ctx.set_field(out, ctx.combine([(exponent, ctx.field(args[0]))]))


# --- reductions ---------------------------------------------------------------------------

def _dims(ndim: int, dim) -> List[int]:
    if dim is None:
        return list(range(ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % ndim for d in dims) if ndim else []


def reduce_field(ctx, x: torch.Tensor, dim, keepdim: bool):
    """Reducing over axes needs equal exponents along them; returns the reduced field."""
    field = ctx.field(x)
    if field is None:
        return None
    field = as_array(field, x.dim())
    dims = _dims(x.dim(), dim)
    reference = field
    for d in dims:
        reference = reference.take([0], axis=d)
    ctx.equal(field, reference)
    return reference if keepdim else reference.reshape(
        [s for i, s in enumerate(reference.shape) if i not in dims])


@register_op_rule(*_ops("sum", "mean", "nansum", "nanmean", "amax", "amin", "max", "min",
                        "norm", "linalg_vector_norm"))
def reduction(ctx, func, args, kwargs, out):
    """Sum / mean / max / min / norm over axes (max(x, y) of two tensors is a sum-like op)."""
    x = args[0]
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return add(ctx, func, args, kwargs, out)
    name = getattr(func, "__name__", "")
    position = 2 if name == "norm" else 1
    dim = kwargs.get("dim", args[position] if len(args) > position else None)
    if isinstance(dim, torch.dtype):
        dim = None
    keepdim = kwargs.get("keepdim", args[position + 1] if len(args) > position + 1 and
                         isinstance(args[position + 1], bool) else False)
    field = reduce_field(ctx, x, dim, keepdim)
    outputs = _outputs(out)
    ctx.set_field(outputs[0], field)
    for indices in outputs[1:]:  # max / min with dim also return indices
        ctx.set_field(indices, None)


# --- linear maps ----------------------------------------------------------------------------

def _input_channels(ctx, x: torch.Tensor) -> np.ndarray:
    """The exponents of x's last axis; x must not vary along its other axes."""
    field = as_array(ctx.field(x), x.dim())
    lead = field.reshape(-1, field.shape[-1])
    ctx.equal(lead, lead[:1])
    return np.broadcast_to(lead[0], (x.shape[-1],)).copy()


def _weight_rows(ctx, name: str, col: np.ndarray, transposed: bool) -> np.ndarray:
    """Exponents of the output channels of weight ``name`` applied to inputs ``col``."""
    weight = ctx.params[name]
    n_out = weight.shape[1] if transposed else weight.shape[0]
    exponent = ctx.exponents.get(name)
    if exponent is None:
        row = ctx.fresh((n_out,), NEURON, ctx.neuron_label(name))
        ctx.exponents[name] = OuterExponent(row, col, transposed)
        return row
    if isinstance(exponent, OuterExponent) and exponent.transposed == transposed:
        if np.array_equal(col, exponent.col):
            return exponent.row
        # Shared weight on other inputs: col - old col must be one constant c; rows shift by c.
        shift = ctx.fresh((1,), label="shared weight")
        ctx.define(shift, [(1, col[:1]), (-1, exponent.col[:1])])
        ctx.define(col[None, :], [(1, exponent.col[None, :]), (1, shift[:, None])])
        row = ctx.fresh((n_out,), label="shared weight")
        ctx.define(row, [(1, exponent.row), (1, shift)])
        return row
    entries = ctx.param_field(name)
    matrix = entries.T if transposed else entries  # (out, in)
    row = ctx.fresh((n_out,), label="linear")
    ctx.define(np.broadcast_to(row[:, None], matrix.shape).copy(),
                          [(1, matrix), (1, col[None, :])])
    return row


def _matrix_rows(ctx, weight: torch.Tensor, col: np.ndarray, transposed: bool) -> np.ndarray:
    """Output exponents for a weight that is a parameter, a traced tensor, or data."""
    name = ctx.param_name(weight)
    if name is not None and weight.dim() == 2:
        return _weight_rows(ctx, name, col, transposed)
    n_out = weight.shape[-1] if transposed else weight.shape[0]
    field = ctx.field(weight)
    if field is None:  # data matrix: inputs must share one exponent
        ctx.equal(col, col[:1])
        return np.broadcast_to(col[:1], (n_out,)).copy()
    matrix = as_array(field, 2)
    matrix = np.broadcast_to(matrix.T if transposed else matrix, (n_out, len(col)))
    row = ctx.fresh((n_out,), label="linear")
    ctx.define(np.broadcast_to(row[:, None], matrix.shape).copy(),
                          [(1, matrix), (1, col[None, :])])
    return row


def _with_rows(x: torch.Tensor, rows: np.ndarray) -> np.ndarray:
    return rows.reshape((1,) * (x.dim() - 1) + (len(rows),))


@register_op_rule(*_ops("linear"))
def linear(ctx, func, args, kwargs, out):
    """F.linear(x, W, b): W[o, j] gets exponent row[o] - col[j], b[o] gets row[o]."""
    x, weight = args[0], args[1] if len(args) > 1 else kwargs["weight"]
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    rows = _matrix_rows(ctx, weight, _input_channels(ctx, x), transposed=False)
    field = _with_rows(out, rows)
    if bias is not None:
        _bias(ctx, bias, field)
    ctx.set_field(out, field)


def _bias(ctx, bias: torch.Tensor, field: np.ndarray) -> None:
    name = ctx.param_name(bias)
    if name is not None and name not in ctx.exponents and bias.dim() == 1:
        ctx.exponents[name] = FieldExponent(field.reshape(-1).copy())
    else:
        ctx.equal(field, ctx.field(bias))


@register_op_rule(*_ops("matmul", "mm", "__matmul__"))
def matmul(ctx, func, args, kwargs, out):
    """x @ W with a 2-D W (GraphConv's (in, out) weight); other products entry by entry."""
    a, b = args[0], args[1]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and b.dim() == 2 and a.dim() >= 1:
        rows = _matrix_rows(ctx, b, _input_channels(ctx, a), transposed=True)
        return ctx.set_field(out, _with_rows(out, rows))
    batched_matmul(ctx, func, args, kwargs, out)


@register_op_rule(*_ops("bmm"))
def batched_matmul(ctx, func, args, kwargs, out):
    """General products: out[..., i, k] = sum_j a[..., i, j] b[..., j, k], entry by entry."""
    a, b = args[0], args[1]
    if a.dim() < 2 or b.dim() < 2:
        return conservative(ctx, func, args, kwargs, out)
    fa = as_array(ctx.field(a), a.dim())
    fb = as_array(ctx.field(b), b.dim())
    inner = a.shape[-1]
    fa = np.broadcast_to(fa[..., :, :, None], fa.shape[:-1] + (inner, 1))
    fb = np.broadcast_to(fb[..., None, :, :], fb.shape[:-2] + (1, inner, fb.shape[-1]))
    full = np.broadcast_shapes(fa.shape, fb.shape)
    target = ctx.fresh(full[:-2] + (1, full[-1]), label="product")
    ctx.define(np.broadcast_to(target, full), [(1, fa), (1, fb)])
    ctx.set_field(out, target[..., 0, :])


# --- special layers -------------------------------------------------------------------------

@register_op_rule(*_ops("prelu"))
def prelu(ctx, func, args, kwargs, out):
    """PReLU is homogeneous in x; its slope is a pure number (exponent 0)."""
    weight = args[1]
    name = ctx.param_name(weight)
    if name is not None:
        ctx.require_param_zero(name)
    else:
        ctx.require_zero(ctx.field(weight))
    ctx.set_field(out, ctx.field(args[0]))


def _affine_norm(ctx, func, x, weight, bias, channel_shape: Sequence[int], out) -> None:
    """Normalizations break the chain (input exponent 0); the affine scale starts neurons."""
    ctx.report_unsupported(f"{op_name(func)} (scale-invariant only up to eps)")
    ctx.require_zero(ctx.field(x))
    if weight is None:
        if bias is not None:
            ctx.require_zero(ctx.field(bias))
        return ctx.set_field(out, None)
    name = ctx.param_name(weight)
    if name is not None and name not in ctx.exponents:
        ctx.exponents[name] = FieldExponent(ctx.fresh(tuple(weight.shape), NEURON, name))
    field = ctx.field(weight)
    if field is None:
        return ctx.set_field(out, None)
    field = np.broadcast_to(field, tuple(weight.shape)).reshape(tuple(channel_shape))
    if bias is not None:
        _bias(ctx, bias, field.reshape(tuple(bias.shape)))
    ctx.set_field(out, field)


@register_op_rule(*_ops("layer_norm"))
def layer_norm(ctx, func, args, kwargs, out):
    x, shape = args[0], args[1]
    weight = args[2] if len(args) > 2 else kwargs.get("weight")
    bias = args[3] if len(args) > 3 else kwargs.get("bias")
    _affine_norm(ctx, func, x, weight, bias, (1,) * (x.dim() - len(shape)) + tuple(shape), out)


@register_op_rule(*_ops("batch_norm", "instance_norm", "group_norm"))
def channel_norm(ctx, func, args, kwargs, out):
    x = args[0]
    if getattr(func, "__name__", "") == "group_norm":
        weight, bias = (args[2] if len(args) > 2 else kwargs.get("weight"),
                        args[3] if len(args) > 3 else kwargs.get("bias"))
    else:
        weight = args[3] if len(args) > 3 else kwargs.get("weight")
        bias = args[4] if len(args) > 4 else kwargs.get("bias")
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    _affine_norm(ctx, func, x, weight, bias, shape, out)


@register_op_rule(*_ops("softmax", "log_softmax", "_softmax"))
def softmax(ctx, func, args, kwargs, out):
    """Softmax is shift-invariant, not scale-invariant: its input must have exponent 0."""
    conservative(ctx, func, args, kwargs, out)


# --- comparisons and values leaving the graph ----------------------------------------------

@register_op_rule(*_ops("gt", "lt", "ge", "le", "eq", "ne", "greater", "less", "__gt__",
                        "__lt__", "__ge__", "__le__", "__eq__", "__ne__", "sign", "signbit",
                        "argmax", "argmin", "isnan", "isinf", "isfinite"))
def compare(ctx, func, args, kwargs, out):
    """Signs and comparisons with 0 or among equal exponents do not change under rescaling."""
    operands = [a for a in args[:2] if isinstance(a, (torch.Tensor, Number))]
    if len(operands) == 2:
        add(ctx, func, operands, {}, None)
    for t in _outputs(out):
        ctx.set_field(t, None)


METADATA = {"dim", "size", "numel", "is_contiguous", "data_ptr", "untyped_storage", "stride",
            "element_size", "storage_offset", "__len__", "is_floating_point", "get_device",
            "__format__", "__repr__", "__hash__", "nelement", "ndimension", "register_hook",
            "retain_grad", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
            "randn_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor",
            "is_complex", "is_nonzero", "has_names", "_is_view", "is_shared", "is_pinned",
            "__reduce_ex__", "__deepcopy__", "__get__"}
