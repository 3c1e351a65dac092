"""Checks that the symmetries found by :func:`dglbal.analyze` are real: every group leaves the
outputs unchanged (:func:`check_rescale_invariance`) and Noether's identity holds
(:func:`check_noether`). Whether any are missing: :mod:`.completeness`.

Use them in your own test suite::

    from dglbal.testing import check_rescale_invariance, check_noether
    check_rescale_invariance(model, graph, feat)   # raises AssertionError on failure

All checks run on a float64 copy of the model in eval mode (dropout off, normalizations on
their running statistics: random dropout masks are not what a symmetry check is about), with
every parameter trainable (the symmetries do not depend on which parameters are frozen). The
model passed in is left unchanged, its mode and ``requires_grad`` flags included. The checks
that differentiate enable autograd themselves: they also work under ``torch.no_grad()``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from dglbal.balance.residuals import NEGLIGIBLE, relative_residuals, residual_terms
from dglbal.balance._checks import check_report_matches
from dglbal.symmetry import SymmetryReport, analyze, output_tensors
from dglbal.symmetry.arguments import describe_inputs, keyword_inputs

from .graphs import as_double, describe_graph

__all__ = ["VacuousCheckError", "NEGLIGIBLE", "LAMBDA_SPREADS", "delta_terms", "relative_delta",
           "check_noether", "check_rescale_invariance"]


def _output_list(out: Any) -> List[torch.Tensor]:
    """Each output tensor, flattened: compared one by one, so that an output a million times
    smaller than another is not measured against the larger one's norm. Integer and boolean
    outputs (an argmax) are compared as float64: a symmetry leaves them unchanged too."""
    return [t.reshape(-1) if t.is_floating_point() else t.reshape(-1).double()
            for t in output_tensors(out)]


def _outputs(out: Any) -> torch.Tensor:
    """Every output, flattened into one vector (:func:`_output_list`, concatenated)."""
    return torch.cat(_output_list(out))


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy. Tensors computed from parameters and kept as attributes (the ``weight``
    of the hook-based ``torch.nn.utils.weight_norm``, recomputed before every forward) cannot
    be deep-copied: the copy gets them detached."""
    computed = [(m, k, v) for m in model.modules() for k, v in vars(m).items()
                if isinstance(v, torch.Tensor) and v.grad_fn is not None]
    for m, k, v in computed:
        setattr(m, k, v.detach())
    try:
        return copy.deepcopy(model)
    finally:
        for m, k, v in computed:
            setattr(m, k, v)


def _double_model(model: nn.Module) -> nn.Module:
    """A float64 copy in eval mode with every parameter trainable (see the module doc)."""
    copied = _copy(model).double().eval()
    for p in copied.parameters():
        p.requires_grad_(True)
    return copied


class VacuousCheckError(ValueError):
    """The check could not fail on these inputs: the model's outputs are empty (a graph of
    no nodes) or, for the symmetry and Noether checks, all zero (a zero-initialised head, a
    lone node without in-edges). A property over drawn inputs rejects such an example
    (``hypothesis.reject()``), as :func:`~dglbal.testing.check_model` does."""


@dataclass(frozen=True)
class _Prepared:
    """What every check starts from: the float64 eval-mode copy, the float64 inputs
    (positional and keyword), the report, the copy's outputs on the inputs (each tensor
    flattened), and the inputs described for messages (``where``)."""
    model64: nn.Module
    inputs64: Tuple[Any, ...]
    keywords64: Dict[str, Any]
    report: SymmetryReport
    outputs: List[torch.Tensor]
    where: str

    def run(self, module: nn.Module) -> List[torch.Tensor]:
        """``module``'s outputs on the float64 inputs, each tensor flattened."""
        return _output_list(module(*self.inputs64, **self.keywords64))


def _prepare(model: nn.Module, inputs: Sequence[Any], report: Optional[SymmetryReport],
             forward_kwargs: Optional[Mapping[str, Any]] = None) -> _Prepared:
    keywords = keyword_inputs(forward_kwargs)
    where = f"inputs: {describe_inputs(inputs, keywords, graph=describe_graph)}"
    model64 = _double_model(model)
    inputs64, keywords64 = as_double(tuple(inputs)), as_double(keywords)
    with torch.no_grad():
        outputs = _output_list(model64(*inputs64, **keywords64))
    if not any(t.numel() for t in outputs):
        raise VacuousCheckError(f"the model's outputs on these inputs have no entries, so no "
                                f"check can fail; give inputs with nodes ({where})")
    if report is None:
        report = analyze(model64, *inputs64, forward_kwargs=keywords64)
    check_report_matches(dict(model64.named_parameters()), report, model)
    return _Prepared(model64, inputs64, keywords64, report, outputs, where)


def _refuse_zero_outputs(outputs: Sequence[torch.Tensor], where: str) -> None:
    """Outputs that are 0 everywhere stay 0 under any rescaling (a zero-initialised head
    multiplies whatever the groups do): a symmetry check could not fail on them."""
    if not any(bool(t.count_nonzero()) for t in outputs):
        raise VacuousCheckError(
            f"the model's outputs on these inputs are all zero (a zero-initialised output "
            f"layer?), so no rescaling can change them and the check could not fail; check the "
            f"model at a point with non-zero outputs, e.g. after perturbing its parameters as "
            f"check_model does ({where})")


def _check_options(model: Any, **counts_and_tolerances: Any) -> None:
    """A check that cannot fail, or cannot pass, is refused: a model that is not a module, a
    count below 1 (``trials``, ``steps``, ``in_feats``), a negative or non-finite ``rtol``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, value in counts_and_tolerances.items():
        if name == "rtol":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    0 <= value < math.inf):
                raise ValueError(f"rtol must be a finite number >= 0, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _check_input_sets(input_sets: Sequence[Sequence[Any]]) -> None:
    if not isinstance(input_sets, (list, tuple)) or not input_sets:
        raise ValueError("input_sets must be a non-empty list of input tuples, e.g. "
                         f"[(graph, feat)], got {input_sets!r}")
    for inputs in input_sets:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("input_sets must be a list of input tuples, e.g. [(graph, feat)]; "
                             f"an element is a {type(inputs).__name__}")


class _TrueEmbeddingGradients(TorchFunctionMode):
    """``F.embedding`` without ``padding_idx``: the same forward values, and autograd's
    gradient of the padding row becomes the true derivative (with ``padding_idx`` autograd
    returns 0 there, although the forward pass reads the row)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is F.embedding:
            args = args[:2] + (None,) + tuple(args[3:]) if len(args) > 2 else args
            kwargs.pop("padding_idx", None)
        return func(*args, **kwargs)


def delta_terms(model: nn.Module, report: SymmetryReport) -> Tuple[np.ndarray, np.ndarray]:
    """Per group, delta_g and its scale sum_k |e_gk theta_k grad_k| (float64, after
    ``backward``): :func:`dglbal.balance.residuals.residual_terms`."""
    return residual_terms(model, report)


def relative_delta(model: nn.Module, report: SymmetryReport) -> np.ndarray:
    """|delta_g| relative to its scale, floored at ``NEGLIGIBLE`` (1e-3) of the largest group's:
    :func:`dglbal.balance.residuals.relative_residuals`, as a numpy array."""
    return relative_residuals(model, report).numpy()


LAMBDA_SPREADS = (1.0, 3.0)
"""Standard deviations of log(lambda) in :func:`check_rescale_invariance`'s trials, in turn:
factors near 1, then up to about e^9 (float64 keeps true symmetries exact to ~1e-14 there)."""


def _group_label(group: Any) -> str:
    return f"group {group.name!r} (parameters {', '.join(group.parameters) or 'none'})"


def _relative_change(out: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> float:
    """The largest ||out - reference|| / ||reference|| over the output tensors; 0 when both
    are 0, inf when only the reference is (a change of something that was 0 is not hidden)."""
    worst = 0.0
    for part, base in zip(out, reference):
        change, scale = float((part - base).norm()), float(base.norm())
        worst = max(worst, change / scale if scale > 0 else (0.0 if change == 0 else math.inf))
    return worst


def _worst(values: np.ndarray) -> Tuple[float, int]:
    """(largest value, its index); NaN counts as the largest (a diverged value is not hidden)."""
    if not len(values):
        return 0.0, -1
    nan = np.flatnonzero(np.isnan(values))
    index = int(nan[0]) if len(nan) else int(np.argmax(values))
    return float(values[index]), index


def _worst_single_group(prepared: _Prepared) -> Tuple[float, Any]:
    """Rescale each group alone (lambda = 2): the largest relative change and its group."""
    report = prepared.report
    worst, blamed = -1.0, report.groups[0]
    for group in report.groups:
        lambdas = torch.ones(len(report.groups), dtype=torch.float64)
        lambdas[group.index] = 2.0
        error = _relative_change(
            prepared.run(report.rescale_(_copy(prepared.model64), lambdas)), prepared.outputs)
        if error > worst:
            worst, blamed = error, group
    return worst, blamed


def check_rescale_invariance(model: nn.Module, *inputs: Any,
                             report: Optional[SymmetryReport] = None, trials: int = 2,
                             rtol: float = 1e-9, seed: int = 0,
                             forward_kwargs: Optional[Mapping[str, Any]] = None
                             ) -> SymmetryReport:
    """Rescale along every group at once with random lambdas: the outputs must not change.

    ``inputs`` may differ from those the report was made with (the symmetries do not depend
    on the graph). Returns the report. On failure the ``AssertionError`` names the group that
    changes the outputs most when rescaled alone, its parameters, the inputs (graph nodes and
    edges) and the relative change measured.

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
    trials : int, default 2
        How many random draws of lambdas (log-normal, one per group), alternating the spreads
        of ``LAMBDA_SPREADS``: the wide draws cross kinks far from 0 (ReLU6's at 6) that
        unit-scale rescaling leaves untouched.
    rtol : float, default 1e-9
        The largest relative change of the outputs allowed.
    seed : int, default 0
        Seed of the lambdas.
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
        If the outputs change by more than ``rtol``.
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
    >>> report = check_rescale_invariance(model, x)
    >>> len(report.groups)  # the four hidden ReLU neurons
    4
    """
    _check_options(model, trials=trials, rtol=rtol)
    prepared = _prepare(model, inputs, report, forward_kwargs)
    report, reference = prepared.report, prepared.outputs
    _refuse_zero_outputs(reference, prepared.where)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for trial in range(trials):
            spread = LAMBDA_SPREADS[trial % len(LAMBDA_SPREADS)]
            lambdas = torch.exp(spread * torch.randn(len(report.groups), generator=generator,
                                                     dtype=torch.float64))
            rescaled = report.rescale_(_copy(prepared.model64), lambdas)
            error = _relative_change(prepared.run(rescaled), reference)
            if not error <= rtol:
                alone, group = _worst_single_group(prepared)
                raise AssertionError(
                    f"not a symmetry: outputs changed by {error:.2e} (relative, rtol "
                    f"{rtol:.0e}) after rescaling along all {len(report.groups)} groups "
                    f"(random lambdas, trial {trial}); {_group_label(group)} alone (lambda = 2) "
                    f"changes them by {alone:.2e}; {prepared.where}")
    return report


@torch.enable_grad()
def check_noether(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                  rtol: float = 1e-9, seed: int = 0,
                  forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """The infinitesimal check: sum_k e_k theta_k dL/dtheta_k = 0 per group, random loss L
    (the true derivative: padding rows of embedding tables included). On failure the
    ``AssertionError`` names the worst group, its parameters, the inputs and the residual
    relative to sum_k |e_k theta_k dL/dtheta_k| (see ``relative_delta`` below).

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
    rtol : float, default 1e-9
        The largest relative residual allowed.
    seed : int, default 0
        Seed of the random loss (a random linear projection of the outputs).
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
        If a group's residual exceeds ``rtol``.
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
    >>> len(check_noether(model, x).groups)
    4
    """
    _check_options(model, rtol=rtol)
    prepared = _prepare(model, inputs, report, forward_kwargs)
    model64, report = prepared.model64, prepared.report
    _refuse_zero_outputs(prepared.outputs, prepared.where)
    with _TrueEmbeddingGradients():
        parts = prepared.run(model64)
    generator = torch.Generator().manual_seed(seed)
    loss = sum((torch.randn(part.shape, generator=generator, dtype=torch.float64) * part).sum()
               / max(float(part.detach().norm()), 1e-300)  # each output at its own scale:
               for part in parts)                        # a small output's groups still count
    loss.backward()
    relative = relative_delta(model64, report)
    worst = float(relative.max()) if len(relative) else 0.0
    if not worst <= rtol:
        group = report.groups[int(relative.argmax())]
        raise AssertionError(f"Noether's identity fails: sum_k e_k theta_k dL/dtheta_k = "
                             f"{worst:.2e} (relative, rtol {rtol:.0e}) for {_group_label(group)}; "
                             f"{prepared.where}")
    return report
