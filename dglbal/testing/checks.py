"""Checks that the symmetries found by :func:`dglbal.analyze` are real and complete.

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
from typing import Any, List, Optional, Sequence, Tuple

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from dglbal.balance.conservation import NEGLIGIBLE, relative_residuals, residual_terms
from dglbal.balance.index import check_report_matches
from dglbal.symmetry import SymmetryReport, analyze, output_tensors

from .graphs import describe_inputs, input_sets

__all__ = ["NEGLIGIBLE", "delta_terms", "relative_delta", "as_double",
           "blackbox_symmetry_dimension", "check_complete", "check_symmetries", "check_noether",
           "check_rescale_invariance"]


def as_double(value: Any) -> Any:
    """Cast floating tensors (also inside tuples, lists and a graph's features) to float64.

    Parameters
    ----------
    value : object
        A tensor, a tuple or list of values, a DGL graph, or anything else.

    Returns
    -------
    object
        The same structure with floating tensors in float64 (a graph as a ``local_var()`` copy
        with its floating node and edge features cast); integer tensors and other values as
        they were.

    Examples
    --------
    >>> import torch
    >>> as_double((torch.ones(2), torch.arange(2)))
    (tensor([1., 1.], dtype=torch.float64), tensor([0, 1]))
    """
    if isinstance(value, torch.Tensor):
        return value.double() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(as_double(v) for v in value)
    if isinstance(value, dgl.DGLGraph):
        local = value.local_var()
        for frame in (local.srcdata, local.dstdata, local.edata):
            for key, tensor in list(frame.items()):
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                    frame[key] = tensor.double()
        return local
    return value


def _outputs(out: Any) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in output_tensors(out)])


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


def _prepare(model: nn.Module, inputs: Sequence[Any], report: Optional[SymmetryReport]):
    model64 = _double_model(model)
    inputs64 = as_double(tuple(inputs))
    if report is None:
        report = analyze(model64, *inputs64)
    check_report_matches(dict(model64.named_parameters()), report, model)
    return model64, inputs64, report


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
    ``backward``): :func:`dglbal.balance.conservation.residual_terms`."""
    return residual_terms(model, report)


def relative_delta(model: nn.Module, report: SymmetryReport) -> np.ndarray:
    """|delta_g| relative to its scale, floored at ``NEGLIGIBLE`` (1e-3) of the largest group's:
    :func:`dglbal.balance.conservation.relative_residuals`, as a numpy array."""
    return relative_residuals(model, report).numpy()


def _group_label(group: Any) -> str:
    return f"group {group.name!r} (parameters {', '.join(group.parameters) or 'none'})"


def _relative_change(out: torch.Tensor, reference: torch.Tensor) -> float:
    """||out - reference|| / ||reference||; 0 when both are 0, inf when only the reference
    is (a change of something that was 0 is not hidden)."""
    change = float((out - reference).norm())
    scale = float(reference.norm())
    return change / scale if scale > 0 else (0.0 if change == 0 else math.inf)


def _worst_single_group(model64: nn.Module, inputs64: Tuple[Any, ...], report: SymmetryReport,
                        reference: torch.Tensor) -> Tuple[float, Any]:
    """Rescale each group alone (lambda = 2): the largest relative change and its group."""
    worst, blamed = -1.0, report.groups[0]
    for group in report.groups:
        lambdas = torch.ones(len(report.groups), dtype=torch.float64)
        lambdas[group.index] = 2.0
        error = _relative_change(_outputs(report.rescale_(_copy(model64), lambdas)(*inputs64)),
                                 reference)
        if error > worst:
            worst, blamed = error, group
    return worst, blamed


def check_rescale_invariance(model: nn.Module, *inputs: Any,
                             report: Optional[SymmetryReport] = None, trials: int = 2,
                             rtol: float = 1e-9, seed: int = 0) -> SymmetryReport:
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
        How many random draws of lambdas (log-normal, one per group).
    rtol : float, default 1e-9
        The largest relative change of the outputs allowed.
    seed : int, default 0
        Seed of the lambdas.

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
        If a count is below 1 or ``rtol`` is negative or not finite (a check that could not
        fail).

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
    model64, inputs64, report = _prepare(model, inputs, report)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        reference = _outputs(model64(*inputs64))
        for trial in range(trials):
            lambdas = torch.exp(torch.randn(len(report.groups), generator=generator,
                                            dtype=torch.float64))
            rescaled = report.rescale_(_copy(model64), lambdas)
            error = _relative_change(_outputs(rescaled(*inputs64)), reference)
            if not error <= rtol:
                alone, group = _worst_single_group(model64, inputs64, report, reference)
                raise AssertionError(
                    f"not a symmetry: outputs changed by {error:.2e} (relative, rtol "
                    f"{rtol:.0e}) after rescaling along all {len(report.groups)} groups "
                    f"(random lambdas, trial {trial}); {_group_label(group)} alone (lambda = 2) "
                    f"changes them by {alone:.2e}; inputs: {describe_inputs(inputs)}")
    return report


@torch.enable_grad()
def check_noether(model: nn.Module, *inputs: Any, report: Optional[SymmetryReport] = None,
                  rtol: float = 1e-9, seed: int = 0) -> SymmetryReport:
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
        If a count is below 1 or ``rtol`` is negative or not finite (a check that could not
        fail).

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
    model64, inputs64, report = _prepare(model, inputs, report)
    with _TrueEmbeddingGradients():
        out = _outputs(model64(*inputs64))
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed),
                          dtype=torch.float64)
    (weights * out).sum().backward()
    relative = relative_delta(model64, report)
    worst = float(relative.max()) if len(relative) else 0.0
    if not worst <= rtol:
        group = report.groups[int(relative.argmax())]
        raise AssertionError(f"Noether's identity fails: sum_k e_k theta_k dL/dtheta_k = "
                             f"{worst:.2e} (relative, rtol {rtol:.0e}) for {_group_label(group)}; "
                             f"inputs: {describe_inputs(inputs)}")
    return report


def _atoms(shapes: Sequence[Tuple[int, ...]]) -> np.ndarray:
    """Slices in which rescalings act: rows and columns of matrices, entries of the rest."""
    columns: List[np.ndarray] = []
    offset, total = 0, sum(int(np.prod(s)) for s in shapes)
    for shape in shapes:
        size = int(np.prod(shape))
        index = np.arange(size).reshape(shape)
        slices = ([index[i, :] for i in range(shape[0])] + [index[:, j] for j in range(shape[1])]
                  if len(shape) == 2 else [np.array([k]) for k in range(size)])
        for entries in slices:
            column = np.zeros(total)
            column[offset + entries.reshape(-1)] = 1.0
            columns.append(column)
        offset += size
    return np.stack(columns, axis=1)


def _rank(matrix: np.ndarray, tol: float = 1e-6) -> int:
    """Numerical rank with an absolute tolerance (columns here have norms of order 1)."""
    if matrix.size == 0:
        return 0
    return int((np.linalg.svd(matrix, compute_uv=False) > tol).sum())


def _redraw_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


def _measured(model64: nn.Module, input_sets, report: SymmetryReport) -> List[str]:
    """Every parameter the outputs depend on in autograd, and any the report gives exponents."""
    params = dict(model64.named_parameters())
    reached = set()
    for inputs in input_sets:
        with _TrueEmbeddingGradients():
            out = _outputs(model64(*as_double(tuple(inputs))))
        grads = torch.autograd.grad(out.sum(), list(params.values()), allow_unused=True)
        reached.update(n for n, g in zip(params, grads) if g is not None)
    return [n for n in params if n in reached or n in report.table.entries]


@torch.enable_grad()
def blackbox_symmetry_dimension(model: nn.Module, input_sets: Sequence[Sequence[Any]],
                                report: SymmetryReport, points: int = 8, rtol: float = 1e-9,
                                seed: int = 0) -> Tuple[int, int]:
    """(black-box dimension, symbolic dimension) of the rescale symmetries, measured.

    The black box is the nullspace of J[m, s] = sum_{k in slice s} theta_k dF_m/dtheta_k over
    slices s (rows / columns of matrices, entries of other parameters), with rows F_m random
    projections of the outputs on every input set. Use small models: J is dense.

    Every parameter of the model is measured, whether or not the report lists it: one the
    analyser dropped counts with exponent 0 in every group, so a symmetry lost that way is
    found. Left out are parameters no output depends on at all (unused ones, unless the report
    gives them exponents). ``F.embedding`` runs without ``padding_idx`` (same outputs), so that
    the padding rows, which the forward pass reads, get their true gradient.

    Rescale exponents do not depend on the parameter values; the rows of J are therefore
    stacked over ``points`` parameter points (the model's own and random N(0, 1) draws), which
    intersects their nullspaces. At a single point J also vanishes along directions that are
    no symmetry: a ReLU channel dead on every input, attention logits whose LeakyReLU keeps
    one sign in every neighbourhood, translations that look like rescalings to first order
    (a bias before a softmax, per-head biases that are averaged), linearly dependent inputs
    of a linear layer. Those directions depend on the point and drop out of the intersection.
    Invariances up to eps (LayerNorm, BatchNorm) do not: leave normalizations out. Nor do
    rows of a table that no input selects: use inputs that read every row, as a workload would.

    Parameters
    ----------
    model : nn.Module
        The model (measured on a float64 copy).
    input_sets : sequence of tuples
        Input tuples ``(graph, feat, ...)`` of ``model``; the rows of J are stacked over them.
    report : SymmetryReport
        The report whose groups give the symbolic dimension.
    points : int, default 8
        Parameter points the nullspaces are intersected over.
    rtol : float, default 1e-9
        Singular values below ``rtol`` times the largest count as zero.
    seed : int, default 0
        Seed of the random points and projections.

    Returns
    -------
    tuple of int
        ``(blackbox, symbolic)``: the dimension of the measured symmetry space and the rank of
        the report's groups.

    Raises
    ------
    ValueError
        If ``input_sets`` is not a non-empty list of input tuples, or ``report`` is not a report
        of ``model``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> x = torch.randn(5, 3)
    >>> blackbox_symmetry_dimension(model, [(x,)], analyze(model, x))
    (4, 4)
    """
    _check_input_sets(input_sets)
    generator = torch.Generator().manual_seed(seed)
    model64 = _double_model(model)
    check_report_matches(dict(model64.named_parameters()), report, model)
    names = _measured(model64, input_sets, report)
    shapes = [tuple(dict(model64.named_parameters())[n].shape) for n in names]
    atoms = _atoms(shapes)
    rows_per_set = int(np.ceil((2 * atoms.shape[1] + 16) / max(len(input_sets), 1)))
    rows = []
    for point in range(points):
        current = model64 if point == 0 else _redraw_(_double_model(model), generator)
        params = dict(current.named_parameters())
        theta = torch.cat([params[n].detach().reshape(-1) for n in names]).numpy()
        for inputs in input_sets:
            with _TrueEmbeddingGradients():
                out = _outputs(current(*as_double(tuple(inputs))))
            for _ in range(rows_per_set):
                projection = torch.randn(out.shape, generator=generator, dtype=torch.float64)
                grads = torch.autograd.grad((projection * out).sum(), [params[n] for n in names],
                                            retain_graph=True, allow_unused=True)
                flat = torch.cat([(g if g is not None else torch.zeros_like(params[n])).reshape(-1)
                                  for g, n in zip(grads, names)]).numpy()
                row = flat * theta
                rows.append(row / max(np.abs(row).max(), 1e-300))
    jacobian = np.stack(rows) @ atoms
    _, values, vt = np.linalg.svd(jacobian)
    rank = int((values > rtol * values.max()).sum())
    null = vt[rank:].T
    blackbox = _rank(atoms @ null) if null.size else 0  # null is orthonormal, atoms 0/1
    symbolic = np.stack([np.concatenate([g.exponents(n).reshape(-1).numpy() for n in names])
                         for g in report.groups], axis=1) if report.groups else np.zeros((0, 0))
    return blackbox, _rank(symbolic)


def check_complete(model: nn.Module, input_sets: Sequence[Sequence[Any]],
                   report: Optional[SymmetryReport] = None, points: int = 8) -> SymmetryReport:
    """The groups found span the black-box symmetry space (see blackbox_symmetry_dimension).

    A black box of ``points`` parameter points can still count a direction that is no
    symmetry (one whose Jacobian rows are tiny at those points); such directions drop out at
    more points, a missed symmetry does not. A count above the groups' is therefore measured
    again at twice the points (other random draws), and only one that persists fails.

    Parameters
    ----------
    model : nn.Module
        The model to check (a float64 copy is measured); small models only, the Jacobian is
        dense.
    input_sets : sequence of tuples
        Input tuples of ``model`` that read every row of its tables, e.g.
        ``[(g1, x1), (g2, x2)]``.
    report : SymmetryReport, optional
        The report to check; by default the model is analysed on ``input_sets[0]``.
    points : int, default 8
        Parameter points of the black box (twice as many for a second look).

    Returns
    -------
    SymmetryReport
        The report checked.

    Raises
    ------
    AssertionError
        If the groups are not independent, miss a symmetry the black box finds (``held at
        exponent 0`` names the report's refusals), or claim one it does not find.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If ``input_sets`` is not a non-empty list of input tuples or ``points`` is below 1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> len(check_complete(model, [(torch.randn(5, 3),), (torch.randn(6, 3),)]).groups)
    4
    """
    _check_input_sets(input_sets)
    _check_options(model, points=points)
    report = report if report is not None else analyze(_double_model(model),
                                                       *as_double(tuple(input_sets[0])))
    blackbox, symbolic = blackbox_symmetry_dimension(model, input_sets, report, points=points)
    if blackbox > symbolic:
        blackbox, symbolic = blackbox_symmetry_dimension(model, input_sets, report,
                                                         points=2 * points, seed=1)
    where = f"inputs: {' | '.join(describe_inputs(inputs) for inputs in input_sets)}"
    if symbolic != len(report.groups):
        raise AssertionError(f"the {len(report.groups)} groups are not independent "
                             f"(rank {symbolic}); {where}")
    if blackbox > symbolic:
        held = f"; held at exponent 0: {', '.join(report.unsupported)}" \
            if report.unsupported else ""
        raise AssertionError(f"incomplete: the black box finds {blackbox} independent "
                             f"rescale symmetries, the {symbolic} groups miss "
                             f"{blackbox - symbolic}{held}; {where}")
    if blackbox < symbolic:
        raise AssertionError(f"false symmetries: {symbolic} groups, but the black box finds only "
                             f"{blackbox} rescale symmetries; {where}")
    return report


def check_symmetries(model: nn.Module, in_feats: int, expected_groups: Optional[int] = None,
                     complete: bool = True) -> SymmetryReport:
    """Analyse ``model`` (in float64) on one random graph, then check its groups on others:
    finite rescaling (:func:`check_rescale_invariance`), Noether's identity
    (:func:`check_noether`) and completeness (:func:`check_complete`); returns the report.

    ``complete=False`` for normalizations, invariant up to eps, which the black-box
    reference cannot tell from a symmetry (see :func:`blackbox_symmetry_dimension`),
    and for ops the analyser holds at 0 on purpose (unknown ops lose real symmetries).

    Parameters
    ----------
    model : nn.Module
        A model taking ``(graph, feat)``; it is converted to float64 in place.
    in_feats : int
        The width of its input features.
    expected_groups : int, optional
        The number of groups the analysis must find.
    complete : bool, default True
        Whether to run :func:`check_complete` too.

    Returns
    -------
    SymmetryReport
        The report made on the analysis graph.

    Raises
    ------
    AssertionError
        If a check fails, or the number of groups is not ``expected_groups``.
    TypeError
        If ``model`` is not an ``nn.Module``.
    ValueError
        If ``in_feats`` is not an int >= 1.

    Examples
    --------
    >>> from dglbal.nn import GCN
    >>> len(check_symmetries(GCN(4, 8, 2, num_layers=2), 4, expected_groups=8,
    ...                      complete=False).groups)
    8
    """
    _check_options(model, in_feats=in_feats)
    model = model.double()
    sets = input_sets(in_feats)
    report = analyze(model, *input_sets(in_feats, count=1, num_nodes=9, seed=99)[0])
    check_rescale_invariance(model, *sets[0], report=report)
    check_noether(model, *sets[1], report=report)
    if complete:
        check_complete(model, sets, report=report)
    if expected_groups is not None:
        if len(report.groups) != expected_groups:
            raise AssertionError(f"{type(model).__name__}: {len(report.groups)} groups found, "
                                 f"{expected_groups} expected")
    return report
