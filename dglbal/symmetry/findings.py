"""What the analyser says about single ops: refusals (``report.unsupported``) and notes
(``report.notes``).

A *refusal* is an op the analyser could not treat as positively homogeneous (an activation
such as tanh, a normalization, an op without a rule, a constant added): it held what the op
reads at exponent 0. What that cost is measured while the constraints are solved: the
exponents the op pinned that no constraint stated before it had fixed (outputs first, then
the ops in forward order), named by the neurons or parameters they belong to. A refusal that
pinned nothing cost nothing; it becomes a note.

A *note* is informational: the op's rule states exactly what the op requires, and nothing
was given up for safety (rows chosen by an index tensor share one exponent, a sort or an
argmax needs one common scale along the compared axis), or the trace says how the model was
read (wrappers looked through, a refusal that cost nothing).
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .core.algebra import AUXILIARY, SymbolTable

__all__ = ["Finding", "REFUSAL", "NOTE", "sort_findings"]

REFUSAL, NOTE = "refusal", "note"


class Finding(str):
    """One entry of ``report.unsupported`` or ``report.notes``: its readable text (a ``str``,
    so ``"tanh" in entry`` works), and its parts.

    Parameters
    ----------
    detail : str
        What was refused or noted, and why.
    op, module : str, optional
        The op and the module path.
    cost : int, optional
        For refusals: the exponents it pinned.
    pinned : dict, optional
        ``{label: count}`` of those exponents.

    Attributes
    ----------
    op : str
        The op or module type (``"torch.tanh"``, ``"F.layer_norm"``), "" if not one op.
    module : str
        The path of the module it ran in ("" at the top level).
    detail : str
        What was refused or noted, and why.
    cost : int or None
        For refusals: how many exponents it pinned that nothing before it had fixed (the
        symmetries it may have cost); None when that is not known (whole-model entries).
    pinned : dict
        {neuron or parameter label: count} of those exponents (``"conv1.fc"``: its output
        channels; a parameter name: its own entries).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> report = analyze(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
    ...                  torch.randn(5, 3))
    >>> finding = report.unsupported[0]
    >>> "tanh" in finding, finding.op, finding.cost, finding.pinned
    (True, 'torch.tanh', 4, {'0': 4})
    """

    op: str
    module: str
    detail: str
    cost: Optional[int]
    pinned: Dict[str, int]

    def __new__(cls, detail: str, op: str = "", module: str = "", cost: Optional[int] = None,
                pinned: Optional[Dict[str, int]] = None) -> "Finding":
        text = f"{detail} in {module}" if module else detail
        if cost:
            labels = ", ".join(f"{label}: {n}" for label, n in (pinned or {}).items())
            text += f"; pinned {cost} exponent{'s' if cost != 1 else ''} ({labels})"
        self = super().__new__(cls, text)
        self.op, self.module, self.detail = op, module, detail
        self.cost, self.pinned = cost, dict(pinned or {})
        return self

    def __reduce__(self):  # pickles (and copies) with its parts
        return (Finding, (self.detail, self.op, self.module, self.cost, self.pinned))


def _pinned(symbols: SymbolTable, pivots: Iterable[int]) -> Dict[str, int]:
    labels: Counter = Counter()
    for symbol in pivots:
        label = symbols.label(symbol)[0] if symbols.kind(symbol) != AUXILIARY else ""
        labels[label or "intermediate values"] += 1
    return dict(labels)


def sort_findings(reports: Sequence[Tuple[int, str, str, str, str]], shown: set,
                  ranges: Dict[int, List[Tuple[int, int]]], pivot_order: Sequence[int],
                  symbols: SymbolTable, always: int) -> Tuple[List[Finding], List[Finding]]:
    """(refusals, notes) from the trace's reports.

    Parameters
    ----------
    reports : sequence of (op id, kind, op name, module, detail)
        ``kind`` is ``REFUSAL`` or ``NOTE``.
    shown : set
        The op ids whose reports count (ops that reach an output or escape).
    ranges : dict
        {op id: [(rank before, rank after)]} for each constraint of a refusal, as applied.
    pivot_order : sequence of int
        The pivots of the elimination in the order they were made (rank r made the r-th).
    symbols : SymbolTable
        For the labels of the pinned exponents.
    always : int
        The op id of whole-model entries (their cost is not known).
    """
    refusals: List[Finding] = []
    notes: List[Finding] = []
    for op, kind, name, module, detail in reports:
        if op not in shown:
            continue
        if kind == NOTE:
            entry, into = Finding(detail, name, module), notes
        elif op == always:
            entry, into = Finding(detail, name, module), refusals
        else:
            pivots = [p for start, stop in ranges.get(op, ()) for p in pivot_order[start:stop]]
            if pivots:
                entry = Finding(detail, name, module, len(pivots), _pinned(symbols, pivots))
                into = refusals
            else:
                entry = Finding(f"{detail} (held at exponent 0 what other constraints had "
                                "already fixed: it cost nothing)", name, module, 0)
                into = notes
        if entry not in into:
            into.append(entry)
    return refusals, notes
