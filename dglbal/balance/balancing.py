"""Balancing along the rescale symmetries: ``analyze_and_balance``.

For every group g, with incoming norm I_g = sum_{e>0} e theta^2 and outgoing norm
O_g = sum_{e<0} |e| theta^2, the conserved quantity of gradient flow is c_g = I_g - O_g.
A model is balanced when every c_g is 0.

- ``mode="init"``: Procedure 2.6 of "Are GATs Out of Balance?" on the groups
  (:mod:`.init_walk`). It zeroes the attention-like gate parameters, gives the first neurons
  incoming norm ``beta``, then walks the groups in forward order and scales each one's
  outgoing weights to its incoming norm. It changes the function: it is an initialization.
- ``mode="preserve"``: moves along the symmetry orbit to its minimum-norm point, the fixed
  point of the sweep lambda_g = (O_g / I_g) ** (1/4), until |c_g| < tol (I_g + O_g); it gets
  there by Newton steps on the orbit's norm (see ``_preserve``). The function does not
  change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport, analyze

from ._checks import (check_balance_arguments, check_finite_parameters, check_result_is_finite,
    warn_if_no_groups)
from .flat import FlatExponents, relative_imbalance
from .init_walk import beta_missed, first_groups, walk_, warn_if_beta_missed, zero_gates
from .orbit import OrbitNorm, minimize

__all__ = ["BalanceReport", "BalanceSummary", "FlatExponents", "analyze_and_balance", "balance_",
           "balance_constants", "group_norms"]


@dataclass
class BalanceSummary:
    """What balancing did.

    Parameters
    ----------
    mode : str
        ``"init"`` or ``"preserve"``.
    sweeps : int, default 0
        Newton steps (or sweeps) taken.
    dead_groups : list of str
        Groups with a zero incoming or outgoing norm, left alone.
    zeroed : list of str
        Gate parameters (attention vectors) init mode set to zero.
    max_relative_c : float, default 0.0
        max |c_g| / (I_g + O_g) over the groups balancing moved, in the model as written back
        (each parameter rounded to its own dtype).
    frozen_groups : list of str
        Groups touching a frozen parameter, left alone.
    float64_relative_c : float, default 0.0
        The same in the float64 working copy, before the rounding: what balancing reached.
        Float16 and bfloat16 models hold much less (about 1e-3).

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> summary = balance_(GAT(8, 4, 2, num_layers=3), analyze(GAT(8, 4, 2, num_layers=3)))
    >>> summary.mode, summary.zeroed
    ('init', ['layers.0.attn', 'layers.1.attn', 'layers.2.attn'])
    """

    mode: str
    sweeps: int = 0
    dead_groups: List[str] = field(default_factory=list)
    zeroed: List[str] = field(default_factory=list)
    max_relative_c: float = 0.0
    frozen_groups: List[str] = field(default_factory=list)
    float64_relative_c: float = 0.0

    def __str__(self) -> str:
        text = f"balanced ({self.mode}): max |c_g| / (I_g + O_g) = {self.max_relative_c:.1e}"
        if f"{self.float64_relative_c:.1e}" != f"{self.max_relative_c:.1e}":
            text += (f" in the parameters' dtypes ({self.float64_relative_c:.1e} in float64 "
                     "before rounding)")
        text += f" after {self.sweeps} sweeps"
        if self.zeroed:
            text += f"; zeroed gates: {', '.join(self.zeroed)}"
        if self.dead_groups:
            text += f"; {len(self.dead_groups)} dead groups left alone"
        if self.frozen_groups:
            text += (f"; {len(self.frozen_groups)} groups touching frozen parameters "
                     "(requires_grad=False) left alone")
        return text


def _preserve(flat: FlatExponents, tol: float, max_sweeps: int) -> int:
    """Move to the minimum-norm point of the symmetry orbit, where every c_g = 0.

    That point is the fixed point of the per-group sweep lambda_g = (O_g / I_g) ** (1/4), but
    sweeping needs of the order of depth^2 sweeps on deep networks. The orbit's squared norm
    is convex in t = log lambda, so damped Newton steps reach it in a few steps, each solved
    by sparse LU or, for wide layers, conjugate gradients (:mod:`dglbal.balance.orbit`).
    Each Newton step counts as one sweep. Dead and frozen groups stay at t = 0. Returns the
    number of steps.
    """
    norm = OrbitNorm(zip(flat.offsets[:-1].tolist(), flat.shapes, flat.exponents),
                     flat.num_groups)
    _, c, scale, _ = norm.evaluate(flat.theta, np.zeros(flat.num_groups))
    live = (scale + c > 0) & (scale - c > 0) & ~flat.frozen
    t, steps, _ = minimize(norm, flat.theta, live, tol, max_sweeps)
    norm.rescale(flat.theta, t)
    return steps


def _initialize(flat: FlatExponents, report: SymmetryReport, beta: Optional[float],
                tol: float, max_sweeps: int, summary: BalanceSummary) -> None:
    """Init mode: zero the gates, then the walk of :mod:`.init_walk` and preserve steps, which
    finish the balance where one walk cannot (residual streams, shared weights) without
    changing the function, as tightly as float64 allows. When that moves first neurons off
    ``beta`` (they feed each other through nonzero weights) the two alternate while the
    first neurons come closer to ``beta``, within ``max_sweeps`` steps in all."""
    summary.zeroed = zero_gates(flat, report)
    first = first_groups(flat) if beta is not None else np.zeros(flat.num_groups, dtype=bool)
    gap = np.inf
    while True:
        started = walk_(flat, first, beta)
        summary.sweeps += _preserve(flat, min(tol, 1e-10), max_sweeps - summary.sweeps)
        incoming = flat.norms()[0]
        missed = beta_missed(incoming, started, beta)
        if not missed.any() or summary.sweeps >= max_sweeps:
            break
        previous, gap = gap, float(np.abs(incoming[missed] - beta).max())
        if gap > 0.8 * previous:  # no longer coming closer
            break
    warn_if_beta_missed(report, incoming, started, beta)


def _measure(flat: FlatExponents, report: SymmetryReport, moved: np.ndarray,
             summary: BalanceSummary) -> None:
    """Fill in the summary's dead groups and imbalance from the parameters as they are now
    (after the write-back: in their own dtypes)."""
    incoming, outgoing = flat.refresh().norms()
    summary.dead_groups = [report.groups[g].name
                           for g in np.flatnonzero((incoming == 0) | (outgoing == 0))]
    summary.max_relative_c = relative_imbalance(incoming, outgoing, moved)


def balance_(model: nn.Module, report: SymmetryReport, mode: str = "init", *,
             beta: Optional[float] = 2.0, tol: float = 1e-6, max_sweeps: int = 1000
             ) -> BalanceSummary:
    """Balance ``model`` in place along the groups of ``report`` (see the module doc).

    ``beta=None`` in init mode keeps the first neurons' incoming norms. The first neurons are
    the groups no other group feeds; the channels of a residual stream, which feed each other
    through the skip branches, are first together (:mod:`dglbal.balance.init_walk`). Groups
    with a zero incoming or outgoing norm (dead neurons) are left alone and listed. Frozen
    parameters (``requires_grad=False``) are never changed: the groups that touch them are
    left alone and listed in ``frozen_groups``, and frozen gates are not zeroed. Non-finite
    parameters or ``beta`` are refused, and so are parameters sharing memory with another
    parameter and a result that would not be finite in the parameters' dtype (the model is
    then left as it was). Balancing works on a float64 copy; the summary measures the model
    as written back, each parameter in its own dtype.

    Parameters
    ----------
    model : nn.Module
        The model to balance, in place.
    report : SymmetryReport
        :func:`dglbal.analyze`'s report of ``model`` (a report of another model is refused).
    mode : {"init", "preserve"}, default "init"
        Balance as an initialization (changes the function), or keep the function.
    beta : float or None, default 2.0
        Init mode: the incoming squared norm of the first neurons; ``None`` keeps them.
    tol : float, default 1e-6
        Stop when |c_g| < tol (I_g + O_g) for every group.
    max_sweeps : int, default 1000
        The most Newton steps (or sweeps) taken.

    Returns
    -------
    BalanceSummary
        The steps taken, the largest relative c_g left (in the model, and in the float64
        copy), dead, frozen and zeroed parts.

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module`` or ``report`` not a ``SymmetryReport``.
    ValueError
        For a bad ``mode``, ``beta``, ``tol`` or ``max_sweeps``, a report of another model,
        parameters on the ``meta`` device, a parameter sharing memory with another (a view of
        it), NaN or infinite parameters, or a result that would not be finite.

    Warns
    -----
    UserWarning
        When ``model`` has no rescale symmetry, and in init mode when first neurons end off
        ``beta`` (a residual stream whose skip branches are not zero).

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3)
    >>> summary = balance_(model, analyze(model), mode="preserve", tol=1e-8)
    >>> summary.float64_relative_c < 1e-8, summary.max_relative_c < 1e-6  # float32 rounding
    (True, True)
    """
    check_balance_arguments(mode, beta, tol, max_sweeps)
    summary = BalanceSummary(mode=mode)
    flat = FlatExponents(model, report)
    check_finite_parameters(flat)
    summary.frozen_groups = list(flat.frozen_groups)
    warn_if_no_groups(model, report)
    if mode == "init":
        _initialize(flat, report, beta, tol, max_sweeps, summary)
    else:
        summary.sweeps = _preserve(flat, tol, max_sweeps)
    incoming, outgoing = flat.norms()
    moved = ~flat.frozen & (incoming > 0) & (outgoing > 0)
    summary.float64_relative_c = relative_imbalance(incoming, outgoing, moved)
    check_result_is_finite(flat, beta if mode == "init" else None)
    flat.write_back()
    _measure(flat, report, moved, summary)
    return summary


class BalanceReport(SymmetryReport):
    """A :class:`SymmetryReport` with what balancing did in ``report.balance``.

    Parameters
    ----------
    report : SymmetryReport
        The report balancing used; its groups and findings are copied.
    summary : BalanceSummary
        What balancing did, as ``report.balance`` (``report.sweeps`` and ``report.dead_groups``
        read from it).

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> report = analyze_and_balance(GAT(8, 4, 2, num_layers=3), mode="preserve")
    >>> report.balance.mode, len(report.groups)
    ('preserve', 8)
    """

    def __init__(self, report: SymmetryReport, summary: BalanceSummary) -> None:
        self.__dict__.update(report.__dict__)
        self.groups = [type(g)(self, g.index, g.name) for g in report.groups]
        self.balance = summary

    @property
    def sweeps(self) -> int:
        return self.balance.sweeps

    @property
    def dead_groups(self) -> List[str]:
        return self.balance.dead_groups

    def __str__(self) -> str:
        return f"{super().__str__()}\n  {self.balance}"

    __repr__ = __str__


def analyze_and_balance(model: nn.Module, *example_inputs: Any, mode: str = "init",
                        beta: Optional[float] = 2.0, tol: float = 1e-6,
                        max_sweeps: int = 1000,
                        forward_kwargs: Optional[Mapping[str, Any]] = None) -> BalanceReport:
    """Find the model's rescale symmetries and balance it along them, in place.

    ``mode="init"`` balances as an initialization (changes the function; ``beta`` is the
    incoming squared norm of the first neurons); ``mode="preserve"`` keeps the function and
    reaches |c_g| < tol (I_g + O_g). Parts that are not homogeneous belong to no group and are
    left untouched (``report.unsupported`` names them).

    Parameters
    ----------
    model : nn.Module
        The model to balance, in place (a ``torch.compile``, ``DataParallel`` or DDP wrapper is
        looked through).
    *example_inputs
        Inputs for ``model(*example_inputs)``; dglbal's builders may omit them (their
        ``probe_inputs()``).
    mode : {"init", "preserve"}, default "init"
        Balance as an initialization, or keep the function.
    beta : float or None, default 2.0
        Init mode: the incoming squared norm of the first neurons (``None`` keeps them).
    tol : float, default 1e-6
        Stop when |c_g| < tol (I_g + O_g) for every group.
    max_sweeps : int, default 1000
        The most Newton steps (or sweeps) taken.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward (as for :func:`dglbal.analyze`).

    Returns
    -------
    BalanceReport
        :func:`dglbal.analyze`'s report with what balancing did in ``report.balance``.

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module``, or ``forward_kwargs`` is not a mapping of
        argument names.
    ValueError
        For a bad ``mode``, ``beta``, ``tol`` or ``max_sweeps``, parameters on the ``meta``
        device, a parameter sharing memory with another, NaN or infinite parameters, or a
        result that would not be finite (the model is then left unchanged).

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = GAT(16, 8, 3, num_layers=4)
    >>> report = analyze_and_balance(model, mode="preserve")
    >>> bool(balance_constants(model, report).abs().max() < 1e-4)
    True
    """
    report = analyze(model, *example_inputs, forward_kwargs=forward_kwargs)
    summary = balance_(model, report, mode, beta=beta, tol=tol, max_sweeps=max_sweeps)
    return BalanceReport(report, summary)


def balance_constants(model: nn.Module, report: SymmetryReport) -> torch.Tensor:
    """The conserved quantities c_g = sum_k e_gk theta_k ** 2 = I_g - O_g.

    Parameters
    ----------
    model : nn.Module
        The model, as it is now.
    report : SymmetryReport
        :func:`dglbal.analyze`'s report of it (a report of another model is refused).

    Returns
    -------
    torch.Tensor
        c_g for every group, float64 on the CPU.

    Raises
    ------
    TypeError, ValueError
        As :func:`balance_` for the model and the report (their types, a report of another
        model, ``meta`` parameters, parameters sharing memory), and for NaN or infinite
        parameters or squares that overflow float64 (which would make c_g NaN or infinite).

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3)
    >>> report = analyze_and_balance(model)
    >>> float(balance_constants(model, report).abs().max()) < 1e-4
    True
    """
    incoming, outgoing = _checked(model, report).norms()
    return torch.from_numpy(incoming - outgoing)


def group_norms(model: nn.Module, report: SymmetryReport) -> Dict[str, torch.Tensor]:
    """The incoming and outgoing squared norms I_g and O_g of every group.

    Parameters
    ----------
    model, report
        As for :func:`balance_constants`.

    Returns
    -------
    dict of str to torch.Tensor
        ``{'incoming': I_g, 'outgoing': O_g}``, float64 on the CPU.

    Raises
    ------
    TypeError, ValueError
        As for :func:`balance_constants`.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3)
    >>> norms = group_norms(model, analyze(model))
    >>> sorted(norms), tuple(norms["incoming"].shape)
    (['incoming', 'outgoing'], (8,))
    """
    incoming, outgoing = _checked(model, report).norms()
    return {"incoming": torch.from_numpy(incoming), "outgoing": torch.from_numpy(outgoing)}


def _checked(model: nn.Module, report: SymmetryReport) -> FlatExponents:
    """The model's working copy, its parameters checked finite (``check_finite_parameters``)."""
    flat = FlatExponents(model, report)
    check_finite_parameters(flat)
    return flat
