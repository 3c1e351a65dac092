"""Checks of the conservation law along training and of the monitor that watches it: with
:func:`~dglbal.testing.balancing.check_balancing`, the parts of :func:`check_conservation`,
each callable alone.

Like the checks of :mod:`.checks` they run on float64 copies (the model passed in is left
unchanged) and raise ``AssertionError`` naming the group, its parameters, the inputs (graph
nodes and edges) and the measured error. Tolerances are float64 rounding: sums of a few
thousand terms of size ``I_g + O_g`` are exact to ~1e-13 relative, so 1e-9 leaves four orders
of magnitude, while a real violation is of the order of the learning rate (1e-3) or more. The
drift of c_g along SGD steps is measured against I_g + O_g plus the steps' own terms
(2 lr sum |e theta grad| + lr^2 sum |e| grad^2), since it carries their rounding: a large
step (features of scale 1e3, lr 1e-2) moves the norms far more than I_g + O_g.
"""
from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from dglbal.balance.balancing import FlatExponents
from dglbal.balance.conservation import ConservationMonitor
from dglbal.symmetry import SymmetryReport

from .balancing import check_balancing
from .checks import (NEGLIGIBLE, _check_options, _copy, _group_label, _prepare, _worst,
                     check_noether, check_rescale_invariance, delta_terms, relative_delta)

__all__ = ["check_training", "check_monitor", "check_conservation"]


def _projection(outputs: List[torch.Tensor], seed: int) -> torch.Tensor:
    """A random linear loss L = <projection, outputs>: every output counts."""
    size = sum(t.numel() for t in outputs)
    return torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _per_group(flat: FlatExponents, weights: np.ndarray) -> np.ndarray:
    return np.bincount(flat.group, weights=weights, minlength=flat.num_groups)


def _sgd_drift(flat: FlatExponents, lr: float) -> Tuple[np.ndarray, np.ndarray]:
    """What one SGD step (after ``backward``) adds to c_g when delta_g = 0,
    lr^2 sum_k e_gk grad_k^2 (exactly), and the scale of the step's terms,
    2 lr sum_k |e_gk theta_k grad_k| + lr^2 sum_k |e_gk| grad_k^2.

    The drift measured carries the rounding of the first-order term -2 lr delta_g (delta_g is
    zero only up to the float64 rounding of its terms), so it is compared with that scale as
    well as with I_g + O_g: with features of scale 1e3, lr sum |theta grad| can exceed
    I_g + O_g a thousandfold, while a real first-order drift is of that scale itself."""
    value, theta = flat.value, flat.theta[flat.entry]
    grad = flat.numpy_gradients()[flat.entry]
    drift = lr ** 2 * _per_group(flat, value * grad ** 2)
    scale = (2 * lr * _per_group(flat, np.abs(value * theta * grad))
             + lr ** 2 * _per_group(flat, np.abs(value) * grad ** 2))
    return drift, scale


@torch.enable_grad()
def check_training(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                   steps: int = 3, lr: float = 1e-3, rtol: float = 1e-9, seed: int = 0,
                   forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """Along ``steps`` steps of SGD and of Adam (random linear loss), delta_g = 0 at every
    step, and every SGD step moves c_g by exactly lr^2 sum_k e_gk grad_k^2 (no first-order
    drift, so c_g is constant under gradient flow). Returns the report.

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
    steps : int, default 3
        Optimizer steps taken.
    lr : float, default 1e-3
        The learning rate.
    rtol : float, default 1e-9
        The largest relative residual allowed.
    seed : int, default 0
        Seed of the random linear loss.
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
        If delta_g exceeds ``rtol`` at some step, or an SGD step moves c_g by more than the
        lr^2 term.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If a count is below 1, ``rtol`` is negative or not finite, or the outputs on
        ``inputs`` are empty (an empty graph): checks that could not fail.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> len(check_training(model, x, steps=2).groups)
    4
    """
    _check_options(model, steps=steps, rtol=rtol)
    prepared = _prepare(model, inputs, report, forward_kwargs)
    report, where = prepared.report, prepared.where
    projection = _projection(prepared.outputs, seed)
    optimizers: List[Callable] = [torch.optim.SGD, torch.optim.Adam]
    for make in optimizers:
        trained = _copy(prepared.model64)
        optimizer = make(trained.parameters(), lr=lr)
        for step in range(steps):
            optimizer.zero_grad()
            (projection * torch.cat(prepared.run(trained))).sum().backward()
            worst, g = _worst(relative_delta(trained, report))
            if not worst <= rtol:
                raise AssertionError(
                    f"delta_g = {worst:.2e} (relative, rtol {rtol:.0e}) for "
                    f"{_group_label(report.groups[g])} at step {step} of {make.__name__}; "
                    f"{where}")
            if make is torch.optim.SGD:
                flat = FlatExponents(trained, report)
                predicted, step_scale = _sgd_drift(flat, lr)
                incoming, outgoing = flat.norms()
            optimizer.step()
            if make is torch.optim.SGD:
                after_in, after_out = flat.refresh().norms()
                drift = (after_in - after_out) - (incoming - outgoing)
                scale = incoming + outgoing + step_scale
                worst, g = _worst(np.abs(drift - predicted) / np.maximum(scale, 1e-300))
                if not worst <= rtol:
                    raise AssertionError(
                        f"SGD step {step} moved c_g of {_group_label(report.groups[g])} by "
                        f"{worst:.2e} (relative to I_g + O_g and the step's terms, rtol "
                        f"{rtol:.0e}) more than lr^2 sum e grad^2: c drifts at first order in "
                        f"lr; {where}")
    return report


@torch.enable_grad()
def check_monitor(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                  steps: int = 3, lr: float = 1e-3, rtol: float = 1e-9, seed: int = 0,
                  monitor: Callable[..., Any] = ConservationMonitor,
                  forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """Train a float64 copy in the model's own mode (``model.train()``: dropout and other
    training-time ops on, as in a training run) with SGD for ``steps`` steps, recording
    ``monitor(model, report)`` every step: it must record delta_g = 0 and the model's
    c_g = sum_k e_gk theta_k^2, drifting by exactly the lr^2 sum_k e_gk grad_k^2 of the steps
    taken.

    The report (by default made on a float64 eval-mode copy, as the other checks do) is what a
    training run monitors; an op that breaks a group only in training (noise added to
    activations, say) makes the monitor drift, and is caught here. ``monitor`` is the class
    (or factory) of the monitor, :class:`~dglbal.balance.ConservationMonitor` by default.

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
    steps : int, default 3
        Optimizer steps taken.
    lr : float, default 1e-3
        The learning rate.
    rtol : float, default 1e-9
        The largest relative residual allowed.
    seed : int, default 0
        Seed of the random linear loss.
    monitor : callable, default ConservationMonitor
        ``monitor(model, report)`` makes the monitor under test.
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
        If the monitor records a delta_g above ``rtol``, a c_g other than the model's, or a
        drift of c_g other than the lr^2 term; or if its ``history`` lacks ``"c"`` or
        ``"delta"`` or does not hold one record of every group per ``record()`` call.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If a count is below 1, ``rtol`` is negative or not finite, or the outputs on
        ``inputs`` are empty (an empty graph): checks that could not fail.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> len(check_monitor(model, x).groups)
    4
    """
    _check_options(model, steps=steps, rtol=rtol)
    prepared = _prepare(model, inputs, report, forward_kwargs)
    report, where = prepared.report, prepared.where
    trained = _copy(model).double()
    for p in trained.parameters():
        p.requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        projection = _projection(prepared.outputs, seed)
        watcher = monitor(trained, report)
        optimizer = torch.optim.SGD(trained.parameters(), lr=lr)
        expected, steps_scale = np.zeros(len(report.groups)), np.zeros(len(report.groups))
        for step in range(steps):
            optimizer.zero_grad()
            (projection * torch.cat(prepared.run(trained))).sum().backward()
            watcher.record()
            flat = FlatExponents(trained, report)
            scale = _per_group(flat, np.abs(flat.value) * flat.theta[flat.entry] ** 2)
            c, delta = _recorded(watcher, len(report.groups), step, where)
            # the monitor's relative delta of a group whose terms are rounding noise is noise:
            # those groups are measured as the other checks do (see NEGLIGIBLE)
            _, terms = delta_terms(trained, report)
            negligible = terms < NEGLIGIBLE * terms.max(initial=0.0)
            worst, g = _worst(np.where(negligible, relative_delta(trained, report), delta[-1]))
            if not worst <= rtol:
                raise AssertionError(
                    f"the monitor records delta_g = {worst:.2e} (relative, rtol {rtol:.0e}) "
                    f"for {_group_label(report.groups[g])} at training step {step} (mode "
                    f"{'train' if trained.training else 'eval'}); {where}")
            true_c = _per_group(flat, flat.value * flat.theta[flat.entry] ** 2)
            worst, g = _worst(np.abs(c[-1] - true_c) / np.maximum(scale, 1e-300))
            if not worst <= rtol:
                raise AssertionError(
                    f"the monitor records c_g = {c[-1][g]:.6e} for "
                    f"{_group_label(report.groups[g])} at training step {step}, the model's "
                    f"c_g = sum e theta^2 is {true_c[g]:.6e} ({worst:.2e} relative to "
                    f"I_g + O_g, rtol {rtol:.0e}); {where}")
            worst, g = _worst(np.abs(c[-1] - c[0] - expected)
                              / np.maximum(scale + steps_scale, 1e-300))
            if not worst <= rtol:
                raise AssertionError(
                    f"the monitor's c_g drifts: {_group_label(report.groups[g])} moved "
                    f"{worst:.2e} (relative to I_g + O_g and the steps' terms, rtol "
                    f"{rtol:.0e}) away from the lr^2 sum e grad^2 of {step} SGD steps; "
                    f"{where}")
            drift, step_scale = _sgd_drift(flat, lr)
            expected += drift
            steps_scale += step_scale
            optimizer.step()
    return report


def _recorded(watcher: Any, groups: int, step: int, where: str
              ) -> Tuple[np.ndarray, np.ndarray]:
    """The monitor's history of c and delta as (records, groups) arrays; a history without
    those keys, or with records of another length than the report's groups, is the monitor's
    failure, not numpy's."""
    history = getattr(watcher, "history", None)
    if not isinstance(history, Mapping) or not {"c", "delta"} <= set(history):
        raise AssertionError(f"the monitor has no history of 'c' and 'delta' after "
                             f"record() at training step {step} (it has "
                             f"{type(history).__name__}); {where}")
    arrays = []
    for key in ("c", "delta"):
        records = [np.asarray(r, dtype=float).reshape(-1) for r in history[key]]
        lengths = sorted({len(r) for r in records})
        if len(records) != step + 1 or lengths != [groups]:
            raise AssertionError(
                f"the monitor records {len(records)} values of {key!r} after {step + 1} "
                f"record() calls, of lengths {lengths}; the report has {groups} groups, one "
                f"record of {groups} per call expected; {where}")
        arrays.append(np.stack(records))
    return arrays[0], arrays[1]


def check_conservation(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                       steps: int = 3, lr: float = 1e-3, rtol: float = 1e-9, seed: int = 0,
                       forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """Every check of the conservation law on a float64 copy of ``model``; raises on failure.

    - the groups are symmetries: outputs unchanged under random rescaling
      (:func:`~dglbal.testing.check_rescale_invariance`) and Noether's identity
      (:func:`~dglbal.testing.check_noether`);
    - delta_g = 0 along SGD and Adam runs, and one SGD step changes c_g by exactly
      lr^2 sum_k e_gk grad_k^2 (:func:`check_training`);
    - a :class:`~dglbal.balance.ConservationMonitor` of a training run records exactly that
      (:func:`check_monitor`);
    - balancing reaches c = 0, preserve mode keeps the function, both are idempotent
      (:func:`check_balancing`).

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
    steps : int, default 3
        Optimizer steps taken.
    lr : float, default 1e-3
        The learning rate.
    rtol : float, default 1e-9
        The largest relative residual allowed.
    seed : int, default 0
        Seed of the random linear loss.
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
        If any of the checks fails; the message names the check, the group and the inputs.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If a count is below 1, ``rtol`` is negative or not finite, or the outputs on
        ``inputs`` are empty (an empty graph) or all zero (a zero-initialised head): checks
        that could not fail.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> len(check_conservation(model, x).groups)
    4

    In a test suite of yours, with a graph and features of your own:
    ``def test_my_model_conserves(): check_conservation(MyModel(), graph, features)``.
    """
    _check_options(model, steps=steps, rtol=rtol)
    kwargs = forward_kwargs
    report = check_rescale_invariance(model, *inputs, report=report, rtol=rtol * 10, seed=seed,
                                      forward_kwargs=kwargs)
    check_noether(model, *inputs, report=report, rtol=rtol, seed=seed, forward_kwargs=kwargs)
    check_training(model, *inputs, report=report, steps=steps, lr=lr, rtol=rtol, seed=seed,
                   forward_kwargs=kwargs)
    check_monitor(model, *inputs, report=report, steps=steps, lr=lr, rtol=rtol, seed=seed,
                  forward_kwargs=kwargs)
    check_balancing(model, *inputs, report=report, forward_kwargs=kwargs)
    return report
