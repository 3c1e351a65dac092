"""What :func:`dglbal.balance.balance_` checks before and after it moves any weight: its
arguments, finite parameters, a model without symmetry, a finite result. (The report is
checked against the model, and frozen groups found, by :class:`.index.ExponentIndex`.)"""
from __future__ import annotations

import math
import warnings
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport

__all__ = ["check_balance_arguments", "check_finite_parameters", "check_result_is_finite",
           "warn_if_no_groups"]


def check_balance_arguments(mode: str, beta: Optional[float], tol: float, max_sweeps: int) -> None:
    if mode not in ("init", "preserve"):
        raise ValueError(f"mode must be 'init' or 'preserve', got {mode!r}")
    if beta is not None and not (isinstance(beta, (int, float)) and math.isfinite(beta)
                                 and beta > 0):
        raise ValueError(f"beta must be a positive finite number (or None), got {beta!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1:
        raise ValueError(f"max_sweeps must be an integer >= 1, got {max_sweeps!r}")


def check_finite_parameters(flat) -> None:
    """Refuse NaN or infinite parameters, and squared norms that overflow float64."""
    names, params = flat.names, flat.params
    for name, param in zip(names, params):
        if not bool(torch.isfinite(param).all()):
            bad = int((~torch.isfinite(param)).sum())
            raise ValueError(f"parameter {name!r} has {bad} non-finite entries (NaN or inf); "
                             "balancing needs finite weights")
    with np.errstate(over="ignore", invalid="ignore"):
        # I_g, O_g <= max |e| * sum theta^2: when that bound is finite, so is every norm and
        # the exact per-group pass (a scatter over every exponent entry) is not needed.
        bound = flat.largest_exponent() * float(np.dot(flat.theta, flat.theta))
        norms = flat.norms() if not np.isfinite(bound) else ()
    if not all(np.isfinite(n).all() for n in norms):
        largest = max(names, key=lambda n: float(params[names.index(n)].detach().abs().max()))
        raise ValueError(f"the squared norms overflow float64 (parameter {largest!r} holds "
                         f"values up to {float(params[names.index(largest)].abs().max()):.1e}); "
                         "balancing needs weights whose squares are finite")


def warn_if_no_groups(model: nn.Module, report: SymmetryReport) -> None:
    """A model with parameters but no provable symmetry (a tanh network, say) is not
    balanced by anything: say so instead of returning silently."""
    if len(report.groups) == 0 and any(True for _ in model.parameters()):
        why = "; ".join(report.unsupported[:3]) or "no positively homogeneous path"
        warnings.warn(f"{type(model).__name__}: found no rescale symmetry (0 groups), so "
                      f"balancing moves no weight (init mode only zeroes attention gates). "
                      f"Not homogeneous: {why}", UserWarning, stacklevel=4)


def check_result_is_finite(flat, beta: Optional[float]) -> None:
    """Every balanced parameter must be finite in its own dtype before it is written back."""
    problems: List[str] = []
    for name, param, chunk in zip(flat.names, flat.params, flat.chunks(flat.theta)):
        limit = torch.finfo(param.dtype).max if param.dtype.is_floating_point else np.inf
        if chunk.size and not (np.isfinite(chunk).all() and np.abs(chunk).max() <= limit):
            problems.append(name)
    if problems:
        hint = f"; beta={beta!r} is too large" if beta is not None else ""
        raise ValueError(f"balancing would make parameter {problems[0]!r} non-finite in its "
                         f"dtype{hint} (the model is left unchanged)")
