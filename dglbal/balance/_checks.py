"""What the balancing entry points check about their arguments: the model (seen through
``torch.compile`` / ``DataParallel`` / DDP wrappers), that the report describes it and that
its parameters do not share memory (read by :class:`.index.ExponentIndex`), the state dicts
their ``load_state_dict`` receives; and what :func:`dglbal.balance.balance_` checks before
and after it moves any weight: its options, finite parameters, a model without symmetry, a
finite result; and the options of :class:`dglbal.balance.Rebalancer`. Each refusal names the
argument."""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport
from dglbal.symmetry.arguments import unwrap
from dglbal.symmetry.memory import share_memory

__all__ = ["model_parameters", "check_model_and_report", "check_report_matches",
           "check_unshared_memory", "check_state_keys", "check_balance_arguments",
           "check_finite_parameters", "check_result_is_finite", "warn_if_no_groups", "CRITERIA",
           "check_rebalance_arguments"]


def model_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    """The named parameters of ``model``, seen through ``torch.compile``, ``DataParallel`` and
    ``DistributedDataParallel`` wrappers (names without ``_orig_mod.`` / ``module.``), as in
    :func:`dglbal.analyze`'s report.

    Parameters
    ----------
    model : nn.Module
        The model, wrapped or not.

    Returns
    -------
    dict of str to nn.Parameter
        The wrapped module's ``named_parameters()``.
    """
    return dict(unwrap(model)[0].named_parameters())


def check_model_and_report(model: nn.Module, report: SymmetryReport) -> None:
    """Refuse arguments of the wrong type, and parameters without values (``meta`` device).

    Parameters
    ----------
    model : nn.Module
        The ``model`` argument.
    report : SymmetryReport
        The ``report`` argument.

    Raises
    ------
    TypeError
        When ``model`` is not an ``nn.Module`` or ``report`` not a :class:`SymmetryReport`.
    ValueError
        When a parameter is on the ``meta`` device.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(report, SymmetryReport):
        raise TypeError(f"report must be the SymmetryReport of dglbal.analyze(model, ...), got "
                        f"{type(report).__name__}")
    for name, param in model_parameters(model).items():
        if param.is_meta:
            raise ValueError(f"parameter {name!r} is on the meta device and has no values; "
                             "materialize the model first (model.to_empty(device=...) and "
                             "initialize it)")


def check_report_matches(params: Dict[str, torch.Tensor], report: SymmetryReport,
                         model: nn.Module) -> None:
    """Refuse a report made for another model.

    Parameters
    ----------
    params : dict
        ``dict(model.named_parameters())`` (of ``model`` or of a copy of it).
    report : SymmetryReport
        The report to check.
    model : nn.Module
        The model named in the message.

    Raises
    ------
    ValueError
        When the report has a parameter the model lacks, or one of another shape.
    """
    for name in report.parameter_order:
        if name not in params:
            raise ValueError(f"the report was made for another model: it has parameter {name!r}, "
                             f"which this {type(model).__name__} lacks; run analyze on this model")
        shape = tuple(report.table.shapes.get(name, params[name].shape))
        if shape != tuple(params[name].shape):
            raise ValueError(f"the report was made for another model: parameter {name!r} has "
                             f"shape {tuple(params[name].shape)} here, {shape} in the report")


def _extent(t: torch.Tensor) -> Optional[Tuple[int, int, int]]:
    """(storage, first byte, end byte) of the memory a strided tensor's values span; None for
    an empty tensor or another layout."""
    if t.layout != torch.strided or t.numel() == 0:
        return None
    size = t.element_size()
    span = 1 + sum((n - 1) * stride for n, stride in zip(t.shape, t.stride()))
    start = t.storage_offset() * size
    return t.untyped_storage().data_ptr(), start, start + span * size


def _overlapping_pairs(params: Dict[str, torch.Tensor]) -> List[Tuple[str, str]]:
    """Pairs of parameters where writing one may change the other: strided ones whose spans
    of one storage meet, and any other layout sharing a storage (``share_memory``)."""
    spans: Dict[int, List[Tuple[str, int, int]]] = {}
    for name, param in params.items():
        extent = _extent(param)
        if extent is not None:
            spans.setdefault(extent[0], []).append((name, extent[1], extent[2]))
    pairs = [(a, b) for same in spans.values() for i, (a, start_a, end_a) in enumerate(same)
             for b, start_b, end_b in same[i + 1:] if start_a < end_b and start_b < end_a]
    others = [name for name, param in params.items() if param.layout != torch.strided]
    return pairs + [(a, b) for a in others for b in params
                    if b != a and share_memory(params[a], params[b])]


def check_unshared_memory(params: Dict[str, torch.Tensor], reported: Sequence[str]) -> None:
    """Refuse a reported parameter whose memory overlaps another parameter's.

    Two parameter objects over one memory (``nn.Parameter(w[:3])`` beside ``nn.Parameter(w)``)
    are two parameters to the analyser, rescaled apart, but writing one changes the other:
    balancing would write one over the other and change the function. The same parameter
    registered twice (tied weights) is one parameter and passes.

    Parameters
    ----------
    params : dict
        The model's named parameters.
    reported : sequence of str
        The report's parameters (those balancing may write).

    Raises
    ------
    ValueError
        Naming both parameters.
    """
    reported = set(reported)
    for a, b in _overlapping_pairs(params):
        if a in reported or b in reported:
            raise ValueError(
                f"parameters {a!r} and {b!r} share memory (one is a view of the other, or both "
                "of one tensor): they are rescaled as two parameters, and writing one changes "
                "the other. Give each its own memory (e.g. nn.Parameter(w[:3].clone())), or "
                "register one Parameter object for both (tied weights)")


def check_state_keys(state: dict, expected: Iterable[str], owner: str) -> None:
    """Refuse a state dict with missing or unexpected keys, naming them.

    Parameters
    ----------
    state : dict
        The state dict passed to ``owner.load_state_dict``.
    expected : iterable of str
        The keys ``owner.state_dict()`` writes.
    owner : str
        The class name, for the message.

    Raises
    ------
    TypeError
        When ``state`` is not a dict.
    ValueError
        When keys are missing or unexpected.
    """
    if not isinstance(state, dict):
        raise TypeError(f"{owner}.load_state_dict expects the dict of {owner}.state_dict(), "
                        f"got {type(state).__name__}")
    expected = set(expected)
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{owner}.load_state_dict: not a {owner} state dict (missing keys "
                         f"{missing}, unexpected keys {unexpected})")


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


CRITERIA = ("relative_gradients", "norms")


def check_rebalance_arguments(criterion: str, every: int, sweeps: int,
                              clamp: Sequence[float] = (1e-5, 2.0)) -> Tuple[float, float]:
    """Refuse a :class:`Rebalancer`'s bad arguments; returns ``clamp`` as two floats.

    Raises
    ------
    ValueError
        Naming the argument: ``criterion`` not in ``CRITERIA``, ``every`` or ``sweeps``
        not a positive integer, ``clamp`` not ``0 < low <= 1 <= high < inf``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    for name, value in (("every", every), ("sweeps", sweeps)):  # numpy integers are integers
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r} "
                             f"({type(value).__name__})")
    try:
        low, high = (float(c) for c in clamp)
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be two numbers (low, high), got {clamp!r}") from None
    if not 0 < low <= 1 <= high < math.inf:
        raise ValueError(f"clamp must satisfy 0 < low <= 1 <= high < inf, got {tuple(clamp)}")
    return low, high


def check_finite_parameters(flat) -> None:
    """Refuse NaN or infinite parameters, and squared norms that overflow float64."""
    names, params = flat.names, flat.params
    for name, param in zip(names, params):
        if not bool(torch.isfinite(param).all()):
            bad = int((~torch.isfinite(param)).sum())
            raise ValueError(f"parameter {name!r} has {bad} non-finite entries (NaN or inf); "
                             "balancing and the group norms need finite weights")
    with np.errstate(over="ignore", invalid="ignore"):
        # I_g, O_g <= max |e| * sum theta^2: when that bound is finite, so is every norm and
        # the exact per-group pass (a scatter over every exponent entry) is not needed.
        bound = flat.largest_exponent() * float(np.dot(flat.theta, flat.theta))
        norms = flat.norms() if not np.isfinite(bound) else ()
    if not all(np.isfinite(n).all() for n in norms):
        largest = max(names, key=lambda n: float(params[names.index(n)].detach().abs().max()))
        raise ValueError(f"the squared norms overflow float64 (parameter {largest!r} holds "
                         f"values up to {float(params[names.index(largest)].abs().max()):.1e}); "
                         "balancing and the group norms need weights whose squares are finite")


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
