"""What :func:`~dglbal.diagnose` is given: the checks of its inputs, labels and mask, the
input features' cosine, and the loss of its backward pass."""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

import torch
import torch.nn.functional as F

from .layers import mean_pairwise_cosine

__all__ = ["check_inputs", "check_targets", "input_cosine", "diagnosis_loss"]


def input_cosine(inputs: tuple) -> float:
    """The mean pairwise cosine of the first input that is a floating-point matrix of two rows
    or more (the node features), NaN without one."""
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() >= 2 \
                and x.shape[0] > 1:
            return mean_pairwise_cosine(x)
    return math.nan


def check_inputs(inputs: tuple, keywords: Mapping[str, Any]) -> None:
    """Refuse inputs (positional, then keyword) whose statistics would be NaN: what is
    measured is the model."""
    named = [(f"input {position}", x) for position, x in enumerate(inputs, start=1)]
    named += [(f"keyword input {name!r}", x) for name, x in keywords.items()]
    for name, x in named:
        if isinstance(x, torch.Tensor):
            if x.numel() == 0:
                raise ValueError(f"diagnose: {name} is an empty tensor of shape "
                                 f"{tuple(x.shape)}: there is nothing to measure")
            if x.is_floating_point() or x.is_complex():
                bad = int((~torch.isfinite(x)).sum())
                if bad:
                    raise ValueError(f"diagnose: {name} has {bad} NaN or infinite "
                                     f"entries of {x.numel()}; pass finite features")
        elif callable(getattr(x, "num_nodes", None)) and x.num_nodes() == 0:
            raise ValueError(f"diagnose: {name} is a graph without nodes: there is "
                             "nothing to measure")


def check_targets(labels: Optional[torch.Tensor], mask: Optional[torch.Tensor]) -> None:
    """Refuse labels and masks of the wrong kind before the forward pass."""
    for name, value in (("labels", labels), ("mask", mask)):
        if value is not None and not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if labels is not None:
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integer classes, one per output row; got "
                             f"{tuple(labels.shape)} {labels.dtype}")
        if labels.dim() != 1:
            raise ValueError(f"labels must be a 1-D tensor of integer classes, one per output "
                             f"row; got shape {tuple(labels.shape)}")


def diagnosis_loss(labels: Optional[torch.Tensor], mask: Optional[torch.Tensor],
                   seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``loss(output)``: the cross-entropy of ``labels`` over ``mask``, or without
    labels a fixed random projection (seed ``seed``) of the output's rows."""
    def loss(output: torch.Tensor) -> torch.Tensor:
        # (nodes, 1, classes) is one row of scores; (nodes, heads, classes) is not
        if labels is not None and (output.dim() < 2 or output.shape[1:-1].numel() != 1):
            raise ValueError(f"labels need an output of one row of class scores per node, got "
                             f"shape {tuple(output.shape)}"
                             + (" (average or concatenate the heads first)"
                                if output.dim() > 2 else ""))
        if mask is not None and output.dim() == 0:
            raise ValueError("mask needs an output of one row per node, got shape ()")
        rows = output if mask is None else _masked(output, mask, "mask")
        if mask is not None and rows.shape[0] == 0:
            raise ValueError("mask selects no row of the output: there is no loss to "
                             "backpropagate")
        if labels is None:
            generator = torch.Generator().manual_seed(seed)
            projection = torch.randn(rows.shape, generator=generator, dtype=torch.float64)
            return (rows.double() * projection.to(rows.device)).sum() / math.sqrt(rows.numel())
        target = labels if mask is None else _masked(labels, mask, "mask")
        if target.shape[0] != rows.shape[0]:
            raise ValueError(f"labels must be integer classes, one per output row; got "
                             f"{tuple(labels.shape)} {labels.dtype} for an output of "
                             f"{output.shape[0]} rows")
        scores = rows.reshape(rows.shape[0], -1)
        low, high, classes = int(target.min()), int(target.max()), scores.shape[1]
        if low < 0 or high >= classes:
            raise ValueError(f"labels must be classes 0..{classes - 1} of the output's "
                             f"{classes} columns, got labels {low}..{high}"
                             + (" (leave unlabelled nodes out with mask)" if low < 0 else ""))
        return F.cross_entropy(scores, target.to(scores.device))
    return loss


def _masked(tensor: torch.Tensor, mask: torch.Tensor, name: str) -> torch.Tensor:
    if mask.dtype != torch.bool or mask.shape != tensor.shape[:1]:
        raise ValueError(f"{name} must be a boolean vector with one entry per output row "
                         f"({tensor.shape[0]}), got {tuple(mask.shape)} {mask.dtype}")
    return tensor[mask.to(tensor.device)]
