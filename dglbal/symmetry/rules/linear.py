"""Exponent rules for linear maps (linear, matmul, mv, dot, bmm, einsum), the fused form
beta * input + alpha * product of ``addmm`` (:func:`scaled_sum`), and affine normalizations.

A weight used as a linear map keeps its exponent in outer form ``row[o] - col[j]`` (see
:mod:`~dglbal.symmetry.core.groups`): no symbol per entry. Products of two traced tensors, and
inputs whose exponents vary along their leading axes, are handled entry by entry.
"""
from __future__ import annotations

import string
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch

from ..context import TraceContext
from ..core.algebra import NEURON
from ..core.fields import as_array
from ..core.groups import FieldExponent, OuterExponent
from .helpers import arg, conservative, hold_at_zero, op_name, ops
from .registry import register_op_rule
from .torch_ops import add

__all__ = ["input_channels", "linear", "matmul", "scaled_sum", "addmm", "einsum",
           "layer_norm", "channel_norm"]


def input_channels(ctx: TraceContext, x: torch.Tensor) -> Optional[np.ndarray]:
    """The exponents of x's last axis when x's field does not vary along its other axes
    (the usual node-by-feature layout); None otherwise."""
    field = as_array(ctx.field(x), x.dim())
    if any(s > 1 for s in field.shape[:-1]):
        return None
    return np.broadcast_to(field.reshape(-1), (x.shape[-1],)).copy()


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


def _bias(ctx, bias: torch.Tensor, field: np.ndarray) -> None:
    """b[o] is added to out[..., o]: its exponents are those of out's last axis, which then
    must not vary along out's other axes (a batch axis whose slices have other scales)."""
    name = ctx.param_name(bias)
    if name is not None and name not in ctx.exponents and bias.dim() == 1:
        field = as_array(field, 1)
        rows = field.reshape(-1, field.shape[-1]) if field.shape[-1] else field.reshape(1, 0)
        own = np.broadcast_to(rows[0], tuple(bias.shape)).copy()  # (a layer of width 0: none)
        ctx.exponents[name] = FieldExponent(own)
        if field.size > own.size:
            ctx.equal(field, own)
    else:
        ctx.equal(field, ctx.field(bias))


def _entrywise_product(ctx, fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Field of a @ b for fields of a (..., i, j) and b (..., j, k), entry by entry."""
    inner = max(fa.shape[-1], fb.shape[-2])
    fa = np.broadcast_to(fa[..., :, :, None], fa.shape[:-1] + (inner, 1))
    fb = np.broadcast_to(fb[..., None, :, :], fb.shape[:-2] + (1, inner, fb.shape[-1]))
    full = np.broadcast_shapes(fa.shape, fb.shape)
    target = ctx.fresh(full[:-2] + (1, full[-1]), label="product")
    ctx.define(np.broadcast_to(target, full), [(1, fa), (1, fb)])
    return target[..., 0, :]


def _matrix_field(ctx, x: torch.Tensor) -> np.ndarray:
    """x's field with at least two axes (a vector as one row)."""
    return as_array(ctx.field(x), max(x.dim(), 2))


@register_op_rule(*ops("linear"))
def linear(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """F.linear(x, W, b): W[o, j] gets exponent row[o] - col[j], b[o] gets row[o]."""
    x, weight = args[0], arg(args, kwargs, 1, "weight")
    bias = arg(args, kwargs, 2, "bias")
    if isinstance(weight, torch.Tensor) and weight.dim() == 1:  # x @ w: one output per row
        matmul(ctx, torch.matmul, (x, weight), {}, out)
        if bias is not None:
            _bias(ctx, bias, ctx.field(out))
        return
    col = input_channels(ctx, x)
    if col is not None:
        field = _with_rows(out, _matrix_rows(ctx, weight, col, transposed=False))
    else:
        field = _entrywise_product(ctx, _matrix_field(ctx, x), _matrix_field(ctx, weight).T)
    if bias is not None:
        _bias(ctx, bias, field)
    ctx.set_field(out, field)


@register_op_rule(*ops("matmul", "mm", "__matmul__", "bmm", "__rmatmul__", "mv", "dot"))
def matmul(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """x @ W with a 2-D W in outer form when x's rows share exponents; else entry by entry
    (``mv``: a matrix times a vector, ``dot``: two vectors)."""
    a, b = (args[1], args[0]) if func.__name__ == "__rmatmul__" else (args[0], args[1])
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return conservative(ctx, func, args, kwargs, out)
    if a.dim() == 1 or b.dim() == 1:  # vectors: as matrices with one row / column
        fa, fb = _matrix_field(ctx, a), _matrix_field(ctx, b)
        fb = fb.reshape(-1, 1) if b.dim() == 1 else fb
        field = _entrywise_product(ctx, fa, fb)
        field = field[..., 0, :] if a.dim() == 1 else field
        return ctx.set_field(out, field[..., 0] if b.dim() == 1 else field)
    col = input_channels(ctx, a) if b.dim() == 2 else None
    if col is not None:
        rows = _matrix_rows(ctx, b, col, transposed=True)
        return ctx.set_field(out, _with_rows(out, rows))
    ctx.set_field(out, _entrywise_product(ctx, _matrix_field(ctx, a), _matrix_field(ctx, b)))


def scaled_sum(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any,
               product: Callable[[], None], alpha: str = "alpha") -> None:
    """beta * input + alpha * product, the form of ``addmm`` and its kin: ``product()`` gives
    ``out`` the product's field, then input (``args[0]``) is added as in a sum. A scale that
    is a zero constant (see :meth:`~dglbal.symmetry.context.TraceContext.zero_constant`)
    drops its term, whose exponents are then free. Refused: the deprecated calls with the
    scales first (``addmm(beta, input, mat1, mat2)``), a scale computed from parameters
    (read as a number, out of autograd's sight) and a result written into input.

    Parameters
    ----------
    ctx, func, args, kwargs, out
        As a rule receives them; ``args`` starts with input and the two factors.
    product : callable
        Sets the field of ``out`` to that of the product (another rule, called on the
        factors).
    alpha : str, default "alpha"
        The keyword of the product's scale (``value`` for ``addcmul``).
    """
    scales = arg(args, kwargs, 3, "beta", 1), kwargs.get(alpha, 1)
    if len(args) < 3 or not all(isinstance(a, torch.Tensor) for a in args[:3]):
        return conservative(ctx, func, args, kwargs, out, reason="a deprecated form, the "
                            "scales first")
    if any(ctx.is_tracked(s) for s in scales) or out is args[0]:
        return conservative(ctx, func, args, kwargs, out, reason="a scale computed from "
                            "parameters, or the result written into input")
    keep_input, keep_product = (not ctx.zero_constant(s) for s in scales)
    if not keep_product:
        return ctx.set_field(out, ctx.field(args[0]) if keep_input else None)
    product()
    if keep_input:
        add(ctx, func, [out, args[0]], {}, out)


@register_op_rule(torch.addmm, torch.Tensor.addmm, torch.addmv, torch.Tensor.addmv,
                  torch.baddbmm, torch.Tensor.baddbmm)
def addmm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """addmm(input, mat1, mat2, beta, alpha) = beta * input + alpha * mat1 @ mat2: the product
    as in :func:`matmul`, then input added as in a sum (a bias, a residual), by
    :func:`scaled_sum`. Also ``addmv`` (a matrix times a vector), ``baddbmm`` (batches),
    ``torch.sparse.addmm`` and ``sampled_addmm`` (the product at sampled positions)."""
    scaled_sum(ctx, func, args, kwargs, out, lambda: matmul(ctx, func, args[1:3], {}, out))


def _einsum_terms(equation: str, operands: Sequence[torch.Tensor]):
    """Letters of each operand and of the output, with '...' spelled out."""
    equation = equation.replace(" ", "")
    inputs, _, output = equation.partition("->")
    specs = inputs.split(",")
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in equation]
    ellipsis = max((t.dim() - len(s.replace("...", "")) for s, t in zip(specs, operands)
                    if "..." in s), default=0)
    filler = "".join(spare[:ellipsis])
    letters = [s.replace("...", filler[ellipsis - (t.dim() - len(s.replace("...", ""))):])
               for s, t in zip(specs, operands)]
    if "->" in equation:
        out = output.replace("...", filler)
    else:
        counts = {c: "".join(letters).count(c) for c in "".join(letters)}
        out = filler + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in filler))
    return letters, out


def _einsum_linear(ctx, letters: Sequence[str], out_letters: str,
                   operands: Sequence[Any], out: torch.Tensor) -> Optional[np.ndarray]:
    """The output field of ``einsum('...c,co->...o', x, W)`` (or ``'...c,oc->...o'``) with W a
    2-D parameter, as :func:`matmul` (or :func:`linear`) gives it: W in outer form. None for
    any other equation, or when x's exponents vary along its leading axes."""
    if len(operands) != 2 or not all(isinstance(t, torch.Tensor) for t in operands):
        return None
    (x_spec, w_spec), (x, weight) = letters, operands
    if weight.dim() != 2 or ctx.param_name(weight) is None or not x_spec:
        return None
    inner = x_spec[-1]
    outer = w_spec.replace(inner, "")
    if inner not in w_spec or len(outer) != 1 or out_letters != x_spec[:-1] + outer:
        return None
    col = input_channels(ctx, x)
    if col is None:
        return None
    return _with_rows(out, _matrix_rows(ctx, weight, col, transposed=w_spec[0] == inner))


@register_op_rule(*ops("einsum"))
def einsum(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """out[o] = sum over the other letters of a product: exponents add, equal over sums. A
    weight applied as a linear map (``'...c,oc->...o'``) keeps the outer form."""
    equation = args[0]
    operands = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else \
        list(args[1:])
    letters, out_letters = _einsum_terms(equation, operands)
    if any(len(set(s)) != len(s) for s in letters):
        return conservative(ctx, func, args, kwargs, out, reason="repeated index")
    linear_field = _einsum_linear(ctx, letters, out_letters, operands, out)
    if linear_field is not None:
        return ctx.set_field(out, linear_field)
    alphabet: List[str] = list(out_letters) + sorted(set("".join(letters)) - set(out_letters))
    terms, sizes = [], {c: 1 for c in alphabet}
    for spec, x in zip(letters, operands):
        field = ctx.field(x)
        if field is None:
            continue
        field = as_array(field, len(spec))
        for c, size in zip(spec, field.shape):
            sizes[c] = max(sizes[c], size)
        moved = field.transpose([spec.index(c) for c in alphabet if c in spec])
        terms.append(moved.reshape([field.shape[spec.index(c)] if c in spec else 1
                                    for c in alphabet]))
    if not terms:
        return ctx.set_field(out, None)
    full = tuple(sizes[c] for c in alphabet)
    kept = tuple(sizes[c] if c in out_letters else 1 for c in alphabet)
    target = ctx.fresh(kept, label="product")
    ctx.define(np.broadcast_to(target, full), [(1, t) for t in terms])
    ctx.set_field(out, target.reshape(kept[:len(out_letters)]))


_UP_TO_EPS = ("statistics of the input: scale-invariant only up to eps={eps:g} "
              "(approximate groups: analyze(..., up_to_eps=True))")


def _affine_norm(ctx, func, x, weight, bias, channel_shape: Sequence[int], out,
                 reason: str, eps: Optional[float] = None, axes: Sequence[int] = ()) -> None:
    """Normalizations break the chain (input exponent 0); the affine scale starts neurons.
    With ``eps`` the op is invariant up to it under one common scale along ``axes`` (an eps
    site, see :mod:`~dglbal.symmetry.approximate`)."""
    ctx.report_unsupported(f"{op_name(func)} ({reason})")
    if eps is not None and ctx.is_tracked(x) and ctx.param_name(x) is None:
        ctx.pin_up_to_eps(as_array(ctx.field(x), x.dim()), axes, eps, 2, op_name(func))
    else:
        hold_at_zero(ctx, x)
    if weight is None:
        if bias is not None:
            hold_at_zero(ctx, bias)
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


@register_op_rule(*ops("layer_norm"))
def layer_norm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """F.layer_norm: invariant up to eps under one common scale of the normalized axes."""
    x, shape = args[0], args[1]
    weight, bias = arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias")
    eps = arg(args, kwargs, 4, "eps", 1e-5)
    _affine_norm(ctx, func, x, weight, bias, (1,) * (x.dim() - len(shape)) + tuple(shape), out,
                 f"scale-invariant only up to eps={eps:g} (approximate groups: analyze(..., "
                 "up_to_eps=True))", eps, range(x.dim() - len(shape), x.dim()))


@register_op_rule(*ops("batch_norm", "instance_norm", "group_norm"))
def channel_norm(ctx: TraceContext, func: Any, args: Sequence[Any], kwargs: dict, out: Any) -> None:
    """F.batch_norm / instance_norm on statistics of the input: invariant up to eps under one
    scale per channel (batch norm) or per sample and channel (instance norm); group norm
    under one common scale. On running statistics (eval mode): an affine map of x, held at
    exponent 0, with no approximate symmetry."""
    x, name = args[0], getattr(func, "__name__", "")
    if func in (torch.batch_norm, torch.instance_norm):  # aten order: (x, weight, bias,
        args = (x, *args[3:5], *args[1:3], *args[5:])     # running_mean, running_var, ...)
    if name == "group_norm":
        weight, bias = arg(args, kwargs, 2, "weight"), arg(args, kwargs, 3, "bias")
        eps, axes = arg(args, kwargs, 4, "eps", 1e-5), range(x.dim())
    else:
        weight, bias = arg(args, kwargs, 3, "weight"), arg(args, kwargs, 4, "bias")
        eps = arg(args, kwargs, 7, "eps", 1e-5)
        axes = [0] + list(range(2, x.dim())) if name == "batch_norm" else range(2, x.dim())
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    batch_statistics = arg(args, kwargs, 5, "training" if name == "batch_norm" else
                           "use_input_stats", name == "instance_norm")
    if name != "group_norm" and not batch_statistics and \
            arg(args, kwargs, 1, "running_mean") is not None:
        return _affine_norm(ctx, func, x, weight, bias, shape, out,
                            "eval mode, running statistics: (x - running_mean) / "
                            "sqrt(running_var + eps) is an affine map of x, homogeneous only at "
                            "exponent 0 and not scale-invariant, even up to eps")
    _affine_norm(ctx, func, x, weight, bias, shape, out, _UP_TO_EPS.format(eps=eps), eps, axes)
