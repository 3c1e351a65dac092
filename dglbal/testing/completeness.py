"""Checks that the symmetries found by :func:`dglbal.analyze` are complete: the rescale
symmetries a black box measures (the null space of the outputs' Jacobian restricted to
rescalings of rows, columns and entries) are exactly those the groups span
(:func:`blackbox_symmetry_dimension`, :func:`check_complete`); :func:`check_symmetries` runs
these with the checks of :mod:`.checks` on random graphs. Same conventions as :mod:`.checks`
(a float64 copy in eval mode; the model passed in is left unchanged).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from dglbal.balance._checks import check_report_matches
from dglbal.symmetry import SymmetryReport, analyze
from dglbal.symmetry.arguments import describe_inputs, keyword_inputs

from .checks import (_TrueEmbeddingGradients, _check_input_sets, _check_options, _double_model,
                     _outputs, check_noether, check_rescale_invariance)
from .graphs import as_double, describe_graph, input_sets

__all__ = ["blackbox_symmetry_dimension", "check_complete", "check_symmetries"]

_KeywordSets = Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None]
_Inputs = List[Tuple[Tuple[Any, ...], Dict[str, Any]]]


def _keyword_sets(input_sets: Sequence[Sequence[Any]], forward_kwargs: _KeywordSets
                  ) -> List[Dict[str, Any]]:
    """The keyword inputs of every input set: ``forward_kwargs`` is one mapping for every
    set or a sequence of one mapping per set."""
    _check_input_sets(input_sets)
    if forward_kwargs is None or isinstance(forward_kwargs, Mapping):
        keyword_sets = [forward_kwargs] * len(input_sets)
    elif isinstance(forward_kwargs, (list, tuple)):
        if len(forward_kwargs) != len(input_sets):
            raise ValueError(f"forward_kwargs holds {len(forward_kwargs)} mappings for "
                             f"{len(input_sets)} input sets; give one per input set, or one "
                             f"mapping for all")
        keyword_sets = list(forward_kwargs)
    else:
        raise TypeError(f"forward_kwargs must be a dict of keyword arguments for the model's "
                        f"forward, or a list of one per input set, got "
                        f"{type(forward_kwargs).__name__}")
    return [keyword_inputs(keywords) for keywords in keyword_sets]


def _float64_inputs(input_sets: Sequence[Sequence[Any]], keyword_sets: List[Dict[str, Any]]
                    ) -> _Inputs:
    """``(positional, keyword)`` inputs of every input set, cast to float64."""
    return [(as_double(tuple(inputs)), as_double(keywords))
            for inputs, keywords in zip(input_sets, keyword_sets)]


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


def _measured(model64: nn.Module, inputs64: _Inputs, report: SymmetryReport) -> List[str]:
    """Every parameter the outputs depend on in autograd, and any the report gives exponents."""
    params = dict(model64.named_parameters())
    reached = set()
    for inputs, keywords in inputs64:
        with _TrueEmbeddingGradients():
            out = _outputs(model64(*inputs, **keywords))
        grads = torch.autograd.grad(out.sum(), list(params.values()), allow_unused=True)
        reached.update(n for n, g in zip(params, grads) if g is not None)
    return [n for n in params if n in reached or n in report.table.entries]


def blackbox_symmetry_dimension(model: nn.Module, input_sets: Sequence[Sequence[Any]],
                                report: SymmetryReport, points: int = 8, rtol: float = 1e-9,
                                seed: int = 0, forward_kwargs: _KeywordSets = None
                                ) -> Tuple[int, int]:
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
    forward_kwargs : mapping of str to object, or a sequence of them, optional
        Keyword arguments for ``model``'s forward: one mapping for every input set, or one
        per input set (cast to float64 like the inputs).

    Returns
    -------
    tuple of int
        ``(blackbox, symbolic)``: the dimension of the measured symmetry space and the rank of
        the report's groups.

    Raises
    ------
    TypeError
        If ``forward_kwargs`` is neither a mapping nor a list of them.
    ValueError
        If ``input_sets`` is not a non-empty list of input tuples, ``forward_kwargs`` does not
        hold one mapping per input set, or ``report`` is not a report of ``model``.

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
    inputs64 = _float64_inputs(input_sets, _keyword_sets(input_sets, forward_kwargs))
    measured, symbolic = _symmetry_spaces(model, inputs64, report, points, rtol, seed)
    return _rank(measured), _rank(symbolic)


@torch.enable_grad()
def _symmetry_spaces(model: nn.Module, inputs64: _Inputs, report: SymmetryReport,
                     points: int, rtol: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """(black-box symmetries, the report's groups) as columns over the entries of the
    measured parameters (see :func:`blackbox_symmetry_dimension`)."""
    generator = torch.Generator().manual_seed(seed)
    model64 = _double_model(model)
    check_report_matches(dict(model64.named_parameters()), report, model)
    names = _measured(model64, inputs64, report)
    shapes = [tuple(dict(model64.named_parameters())[n].shape) for n in names]
    atoms = _atoms(shapes)
    rows_per_set = int(np.ceil((2 * atoms.shape[1] + 16) / len(inputs64)))
    rows = []
    for point in range(points):
        current = model64 if point == 0 else _redraw_(_double_model(model), generator)
        params = dict(current.named_parameters())
        theta = torch.cat([params[n].detach().reshape(-1) for n in names]).numpy()
        for inputs, keywords in inputs64:
            with _TrueEmbeddingGradients():
                out = _outputs(current(*inputs, **keywords))
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
    measured = atoms @ vt[rank:].T  # orthonormal null space, atoms 0/1: columns of norm >= 1
    symbolic = np.stack([np.concatenate([g.exponents(n).reshape(-1).numpy() for n in names])
                         for g in report.groups], axis=1) if report.groups \
        else np.zeros((atoms.shape[0], 0))
    return measured, symbolic


def check_complete(model: nn.Module, input_sets: Sequence[Sequence[Any]],
                   report: Optional[SymmetryReport] = None, points: int = 8,
                   forward_kwargs: _KeywordSets = None) -> SymmetryReport:
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
    forward_kwargs : mapping of str to object, or a sequence of them, optional
        Keyword arguments for ``model``'s forward: one mapping for every input set, e.g.
        ``{"edge_weight": w}``, or one per input set, e.g. ``[{"graph": g1}, {"graph": g2}]``
        (cast to float64 like the inputs).

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
        If ``model`` is not an ``nn.Module``, or ``forward_kwargs`` is neither a mapping nor a
        list of them.
    ValueError
        If ``input_sets`` is not a non-empty list of input tuples, ``forward_kwargs`` does not
        hold one mapping per input set, or ``points`` is below 1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> len(check_complete(model, [(torch.randn(5, 3),), (torch.randn(6, 3),)]).groups)
    4
    """
    keyword_sets = _keyword_sets(input_sets, forward_kwargs)
    inputs64 = _float64_inputs(input_sets, keyword_sets)
    _check_options(model, points=points)
    if report is None:
        first, keywords = inputs64[0]
        report = analyze(_double_model(model), *first, forward_kwargs=keywords)
    blackbox, symbolic, joint = _dimensions(model, inputs64, report, points, seed=0)
    if joint > symbolic:
        blackbox, symbolic, joint = _dimensions(model, inputs64, report, 2 * points, seed=1)
    where = "inputs: " + " | ".join(describe_inputs(inputs, keywords, graph=describe_graph)
                                    for inputs, keywords in zip(input_sets, keyword_sets))
    if symbolic != len(report.groups):
        raise AssertionError(f"the {len(report.groups)} groups are not independent "
                             f"(rank {symbolic}); {where}")
    false = f"; they claim {joint - blackbox} it does not find" if joint > blackbox else ""
    if joint > symbolic:
        held = f"; held at exponent 0: {', '.join(report.unsupported)}" \
            if report.unsupported else ""
        raise AssertionError(f"incomplete: the black box finds {blackbox} independent "
                             f"rescale symmetries, the {symbolic} groups miss "
                             f"{joint - symbolic}{false}{held}; {where}")
    if joint > blackbox:
        raise AssertionError(f"false symmetries: {symbolic} groups, but the black box finds only "
                             f"{blackbox} rescale symmetries{false}; {where}")
    return report


def _dimensions(model: nn.Module, inputs64: _Inputs, report: SymmetryReport, points: int,
                seed: int) -> Tuple[int, int, int]:
    """The dimensions of the black-box symmetries, of the groups' span and of both together:
    the groups miss ``joint - symbolic`` measured symmetries and claim ``joint - blackbox``
    the black box does not find (equal dimensions alone may be two different spaces)."""
    measured, symbolic = _symmetry_spaces(model, inputs64, report, points, 1e-9, seed)
    unit = symbolic / np.maximum(np.linalg.norm(symbolic, axis=0), 1e-300)  # like measured's
    return _rank(measured), _rank(symbolic), _rank(np.concatenate([measured, unit], axis=1))


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
        A model taking ``(graph, feat)``; it is left as it was (analysed as a float64 copy in
        eval mode, like the other checks).
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
    sets = input_sets(in_feats)
    report = analyze(_double_model(model),
                     *as_double(input_sets(in_feats, count=1, num_nodes=9, seed=99)[0]))
    check_rescale_invariance(model, *sets[0], report=report)
    check_noether(model, *sets[1], report=report)
    if complete:
        check_complete(model, sets, report=report)
    if expected_groups is not None:
        if len(report.groups) != expected_groups:
            raise AssertionError(f"{type(model).__name__}: {len(report.groups)} groups found, "
                                 f"{expected_groups} expected")
    return report
