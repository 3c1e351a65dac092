"""The check of balancing along a report's groups (a part of
:func:`~dglbal.testing.check_conservation`): preserve mode keeps the outputs, both modes reach
c = 0 within ``BALANCED`` and are idempotent. Like the other checks it runs on a float64 copy.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from dglbal.balance.balancing import balance_, balance_constants, group_norms
from dglbal.symmetry import SymmetryReport

from .checks import _check_options, _copy, _group_label, _prepare, _relative_change, _worst

__all__ = ["BALANCED", "check_balancing"]

#: the tolerance balancing is asked for, and its contract checked: |c_g| <= tol (I_g + O_g).
BALANCED = 1e-8


def check_balancing(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                    forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """Balancing along the report's groups, asked for ``tol=1e-8``: ``mode="preserve"`` keeps
    the outputs (1e-10 relative) and reaches |c_g| <= 1e-8 (I_g + O_g) on every live group,
    ``mode="init"`` reaches it too, and both are idempotent. A model without groups has
    nothing to balance and passes.

    Parameters
    ----------
    model : nn.Module
        The model to check; it is left as it was (the checks run on a float64 copy).
    *inputs
        What ``model(*inputs)`` takes, e.g. ``graph, feat``; they may differ from the inputs the
        report was made with (the symmetries do not depend on the graph).
    report : SymmetryReport, optional
        :func:`dglbal.analyze`'s report of ``model``; by default the model is analysed (in
        float64) on ``inputs``.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward, e.g. ``{"edge_weight": w}`` (cast to
        float64 like ``inputs``).

    Returns
    -------
    SymmetryReport
        The report checked.

    Raises
    ------
    AssertionError
        If balancing leaves a live group above the tolerance, preserve mode changes the outputs,
        or a second balancing moves the parameters.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If the outputs on ``inputs`` are empty (an empty graph): a check that could not fail.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> len(check_balancing(model, x).groups)
    4
    """
    _check_options(model)
    prepared = _prepare(model, inputs, report, forward_kwargs)
    report, where = prepared.report, prepared.where
    if not report.groups:
        return report
    for mode in ("preserve", "init"):
        balanced = _copy(prepared.model64)
        summary = balance_(balanced, report, mode, tol=BALANCED)
        live = np.array([g.name not in summary.dead_groups for g in report.groups])
        norms = group_norms(balanced, report)
        relative = (balance_constants(balanced, report).abs()
                    / (norms["incoming"] + norms["outgoing"]).clamp(min=1e-300)).numpy()
        worst, g = _worst(np.where(live, relative, 0.0))
        if not worst <= BALANCED:
            raise AssertionError(f"{mode} balancing left |c_g| / (I_g + O_g) = {worst:.2e} for "
                                 f"{_group_label(report.groups[g])}; {where}")
        if mode == "preserve":
            with torch.no_grad():
                change = _relative_change(prepared.run(balanced), prepared.outputs)
            if not change <= 1e-10 or math.isnan(change):
                raise AssertionError(f"preserve balancing changed the outputs by {change:.2e} "
                                     f"(relative); {where}")
        snapshot = [p.detach().clone() for p in balanced.parameters()]
        balance_(balanced, report, mode, tol=BALANCED)
        moved = max((float((p - q).abs().max()) for p, q in zip(balanced.parameters(), snapshot)
                     if p.numel()), default=0.0)
        if not moved <= BALANCED:
            raise AssertionError(f"{mode} balancing is not idempotent (moved {moved:.2e}); "
                                 f"{where}")
    return report
