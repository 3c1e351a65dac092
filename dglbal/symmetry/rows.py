"""Rows of a table gathered by an index tensor, each with exponents of its own.

``W[etype]``, ``pri[etype]``, ``F.embedding(etype, table)``: a row chosen by data may keep
exponents of its own (one relation's weights traded against another table's row of the same
relation) when every constraint that reaches an entry depends on its row only. Then the
example states the constraints of every row, and no other graph can add new ones. The trace
makes sure of that:

- one index: every per-row gather of the trace uses the same index values (the first seen);
  a gather by other values shares one exponent along the rows, as before;
- coverage: the example selects every row of the table, each at least twice (with rows
  selected once, "depends on the row" and "depends on the position" look alike);
- size: the gathered field has at most ``BUDGET`` entries (index length times row size), so
  the work stays bounded: on a larger example the rows share one exponent (pass a small graph
  that holds every relation);
- no mixing: a tensor whose exponents vary along its leading axis, of the index's length,
  has the same exponents in rows of the same class (parameters of that length included),
  and no op moves such rows (a slice, a reshape across rows, a view of one row). The audit
  runs on every op's inputs and outputs. What it cannot tell apart: exponents that vary by
  position in a way that happens to follow the classes on the example (blocks of a
  concatenation aligned with edge types sorted on the example).

When the audit fails, the tables' rows are tied to one exponent at the end of the trace (what
a gather does without per-row exponents: sound on every graph) and the reason is named.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from .fields import as_array

BUDGET = 1 << 18  # entries of a field gathered row by row


class RowClasses:
    """The index of the trace's per-row gathers, the tables gathered, and the audit."""

    def __init__(self) -> None:
        self.key: Optional[np.ndarray] = None  # the class of every row
        self._first: Optional[np.ndarray] = None  # the first row of each row's class
        self.tables: List[np.ndarray] = []
        self.mixed: List[str] = []

    def gather(self, field: np.ndarray, index) -> Optional[np.ndarray]:
        """The field of ``table[index]`` row by row, or None when the rows must share one
        exponent (another index, a row the example does not select, a field without rows)."""
        if not (isinstance(index, torch.Tensor) and index.dim() == 1 and field.ndim >= 1
                and field.shape[0] > 1 and index.dtype in (torch.int64, torch.int32)):
            return None
        if len(index) * (field.size // field.shape[0]) > BUDGET:
            return None
        values = index.detach().cpu().numpy().astype(np.int64) % field.shape[0]
        counts = np.bincount(values, minlength=field.shape[0])
        if len(counts) != field.shape[0] or counts.min() < 2:
            return None
        if self.key is None:
            self.key = values
            first = {}
            self._first = np.array([first.setdefault(v, i) for i, v in enumerate(values.tolist())])
        elif not np.array_equal(values, self.key):
            return None
        self.tables.append(field)
        return field[values]

    def _row_field(self, ctx, x) -> Optional[np.ndarray]:
        """x's field when it varies along x's rows and x has as many rows as the index."""
        if not (isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == len(self.key)):
            return None
        if ctx.param_name(x) is not None:  # a row per entry: positions, whatever its symbols
            self.mix("a parameter with one row per gathered entry")
            return None
        field = ctx._fields.get(id(x))
        return field if field is not None and field.shape[0] > 1 else None

    def audit(self, ctx, tensors: Sequence) -> None:
        """Rows of one class must have the same exponents (see the module docstring)."""
        if self.key is None:
            return
        for x in tensors:
            field = self._row_field(ctx, x)
            if field is not None:
                rows = field.reshape(field.shape[0], -1)
                if not np.array_equal(rows, rows[self._first]):
                    self.mix("a tensor's exponents vary along rows of one class")

    def check_move(self, ctx, call: Callable, args, kwargs) -> None:
        """An op that moves entries must keep every row of a per-row tensor where it was."""
        if self.key is None:
            return
        rows = len(self.key)

        def row_ids(x):
            if isinstance(x, (list, tuple)):
                return type(x)(row_ids(v) for v in x)
            if not (isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())):
                return x
            if self._row_field(ctx, x) is None:
                return torch.full(tuple(x.shape), -1, dtype=torch.int64)
            return torch.arange(rows).reshape((rows,) + (1,) * (x.dim() - 1)).expand(x.shape)

        ids = row_ids(list(args))
        if not any(isinstance(t, torch.Tensor) and bool((t >= 0).any())
                   for t in _tensors(ids)):
            return
        try:
            moved = call(*ids, **{k: row_ids(v) for k, v in kwargs.items()})
        except (RuntimeError, TypeError, ValueError):  # an op that integer ids cannot run
            return self.mix("an op the row check could not follow")
        for result in _tensors(moved if isinstance(moved, (list, tuple)) else [moved]):
            if not bool((result >= 0).any()):
                continue
            expected = torch.arange(rows).reshape((rows,) + (1,) * (result.dim() - 1)) \
                if result.dim() and result.shape[0] == rows else None
            if expected is None or not bool(((result == expected) | (result < 0)).all()):
                return self.mix("an op moved rows (a slice, a reshape across rows)")

    def check_view(self, field: Optional[np.ndarray]) -> None:
        """A view along the leading axis (``x[0]``, ``x[2:]``) of a per-row field."""
        if self.key is not None and field is not None and field.ndim and \
                field.shape[0] == len(self.key):
            self.mix("a view of single rows")

    def mix(self, reason: str) -> None:
        if self.tables and reason not in self.mixed:
            self.mixed.append(reason)

    def finish(self, ctx) -> None:
        """On mixing, every table gathered row by row shares one exponent along its rows."""
        if not self.mixed:
            return
        for field in self.tables:
            field = as_array(field, field.ndim)
            ctx.eliminator.equal(field, field[:1])
        ctx.unsupported.append("rows gathered by an index tensor share one exponent along the "
                               f"rows ({'; '.join(self.mixed)}): symmetries of single rows, "
                               "e.g. of one relation type, are not searched")


def _tensors(items) -> List[torch.Tensor]:
    out = []
    for item in items:
        if isinstance(item, torch.Tensor):
            out.append(item)
        elif isinstance(item, (list, tuple)):
            out.extend(_tensors(item))
    return out
