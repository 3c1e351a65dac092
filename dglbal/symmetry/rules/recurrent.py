"""Module rules for recurrent layers (LSTM, GRU, RNN and their cells).

The recurrence squashes through sigmoids and tanh, so hidden states and outputs have
exponent 0. The input-to-hidden weights of the first layer are still linear in the input:
their columns absorb the scales of the channels that feed them (``W_ih[g, j]`` gets
``-col[j]``), which keeps the symmetries of the neurons in front of the layer.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..context import TraceContext
from ..core.fields import as_array
from ..core.groups import OuterExponent
from .helpers import equal_along, hold_at_zero, outputs
from .registry import register_module_rule

__all__ = ["recurrent"]


def _absorb(ctx, name: str, col: np.ndarray) -> None:
    """W_ih[g, j] = 0 - col[j]: the weight undoes the input scales."""
    rows = np.zeros(ctx.params[name].shape[0], dtype=np.int64)
    exponent = ctx.exponents.get(name)
    if exponent is None:
        ctx.exponents[name] = OuterExponent(rows, col)
    elif isinstance(exponent, OuterExponent) and not exponent.transposed:
        ctx.equal(exponent.row, rows)
        ctx.equal(exponent.col, col)
    else:
        ctx.define(ctx.param_field(name), [(-1, col[None, :])])


@register_module_rule(nn.RNNBase, nn.RNNCellBase)
def recurrent(ctx: TraceContext, module: nn.Module, args: Sequence[Any], kwargs: dict,
              out: Any) -> None:
    """Input weights of the first layer absorb the input's channel scales; the rest is 0."""
    x = args[0] if args else kwargs.get("input")
    col = None
    if isinstance(x, torch.Tensor) and ctx.is_tracked(x):
        # The input weights are shared over time steps and batch: one exponent per channel.
        field = as_array(ctx.field(x), x.dim())
        col = equal_along(ctx, field, range(x.dim() - 1)).reshape(-1)
        col = np.broadcast_to(col, (x.shape[-1],)).copy()
    if col is None:
        for tensor in outputs(x):  # also a PackedSequence
            hold_at_zero(ctx, tensor)
    ctx.report_unsupported(f"{type(module).__name__} recurrence (not homogeneous: held at "
                           "exponent 0; the input weights absorb the input scales)")
    for name, _ in module.named_parameters():
        full = ctx.param_name(getattr(module, name))
        first = name in ("weight_ih", "weight_ih_l0", "weight_ih_l0_reverse")
        if first and col is not None:
            _absorb(ctx, full, col)
        else:
            ctx.require_param_zero(full)
    for value in list(args[1:]) + [v for k, v in kwargs.items() if k != "input"]:
        for tensor in outputs(value):
            hold_at_zero(ctx, tensor)
    for tensor in outputs(out):
        ctx.set_field(tensor, None)
