"""Division guards: ``z / torch.where(n == 0, c, n)`` with ``n`` a norm of ``z``.

``where(n == 0, c, n)`` alone is not homogeneous: where n = 0 it is c, which no rescaling
moves. Dividing ``z`` by it is, exactly, when z = 0 wherever n = 0: there the quotient is
z / c = 0 before and after any rescaling. That holds when n is a p-norm of z (p > 0,
``torch.norm``, ``Tensor.norm``, ``torch.linalg.vector_norm``) over some axes kept with
``keepdim=True`` (or over all axes): a p-norm is 0 exactly where its slice of z is 0, and
broadcasting pairs each entry of z with its own slice. So the quotient has the exponents of
``z / n`` (F.normalize without its eps). Recognised: the test written ``n == 0``,
``n.eq(0)``, ``n != 0``, ``n > 0`` or ``n <= 0`` (a norm is never negative), the guard
written ``torch.where`` (either branch order) or ``n.masked_fill(n == 0, c)``, with a fill
``c`` that does not depend on parameters, and the division ``z / guard`` (``div``,
``true_divide``, ``/``).

The trace records the three steps, gives the guard the field of n, and keeps it only if the
guard is used for nothing but such divisions of z, and neither z, n nor the guard were
written in place in between (version counters). Otherwise the guard's field is held at 0,
as for any fill with a non-zero constant, and named. A guard ``n.clamp(min=eps)`` is not
exact (where 0 < n < eps the quotient is z / eps): it stays refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch

__all__ = ["DivisionGuards"]


@dataclass
class _Norm:
    norm: torch.Tensor
    source: torch.Tensor
    source_version: int
    version: int


@dataclass
class _Test:
    test: torch.Tensor
    norm: torch.Tensor
    version: int  # the norm's
    zero_when_true: bool  # True for n == 0, n <= 0; False for n != 0, n > 0
    test_version: int


@dataclass
class _Guard:
    value: torch.Tensor
    norm: _Norm
    version: int
    op: int
    key: str
    field: np.ndarray
    module: str
    reason: str
    divisions: Set[int] = dataclass_field(default_factory=set)


class DivisionGuards:
    """The norms, zero tests and guards of one trace (the tensors are kept alive: their ids
    are the keys)."""

    def __init__(self) -> None:
        self._norms: Dict[int, _Norm] = {}
        self._tests: Dict[int, _Test] = {}
        self._guards: Dict[int, _Guard] = {}

    def norm(self, out: torch.Tensor, source: torch.Tensor, p: float, whole_slices: bool) -> None:
        """``out`` is a p-norm of ``source``; ``whole_slices``: over all axes, or with the
        reduced axes kept (so that it broadcasts against ``source`` slice by slice)."""
        positive = p in ("fro", None) or (isinstance(p, (int, float)) and not isinstance(
            p, bool) and p > 0)
        if positive and whole_slices and isinstance(out, torch.Tensor):
            self._norms[id(out)] = _Norm(out, source, source._version, out._version)

    def _current_norm(self, n) -> Optional[_Norm]:
        record = self._norms.get(id(n)) if isinstance(n, torch.Tensor) else None
        if record is None or record.norm is not n or n._version != record.version:
            return None
        return record

    def test(self, out: torch.Tensor, operands: Sequence[object], name: str,
             zero: List[bool]) -> None:
        """A comparison ``operands[0] <op> operands[1]``; ``zero[i]``: operand i is the
        constant 0. Recorded when it tests a norm against 0."""
        if len(operands) != 2 or zero[0] == zero[1] or not isinstance(out, torch.Tensor):
            return
        position = 0 if zero[1] else 1  # where the norm is
        norm = operands[position]
        if self._current_norm(norm) is None:
            return
        name = name.strip("_")
        flipped = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}
        if position == 1:
            name = flipped.get(name, name)
        senses = {"eq": True, "le": True, "ne": False, "gt": False}  # n >= 0
        if name in senses:
            self._tests[id(out)] = _Test(out, norm, norm._version, senses[name], out._version)

    def guarded_norm(self, condition: object, when_true: object,
                     when_false: object) -> Optional[torch.Tensor]:
        """The norm n when ``where(condition, when_true, when_false)`` is a guard of n."""
        test = self._tests.get(id(condition)) if isinstance(condition, torch.Tensor) else None
        if test is None or test.test is not condition or test.norm._version != test.version \
                or condition._version != test.test_version:  # either written in place since
            return None
        kept = when_false if test.zero_when_true else when_true
        return test.norm if kept is test.norm else None

    def guard(self, value: torch.Tensor, norm: torch.Tensor, op: int, key: str,
              field: np.ndarray, module: str, reason: str) -> None:
        """``value`` guards ``norm`` (made by op ``op`` in ``module``, a trace key ``key``)
        and got the field ``field``; ``reason`` names it if it has to be held at 0."""
        self._guards[id(value)] = _Guard(value, self._norms[id(norm)], value._version, op, key,
                                         field, module, reason)

    def division(self, numerator: object, divisor: object, op: int) -> bool:
        """Whether op ``op``, ``numerator / divisor``, divides the source of a guarded norm
        by its guard (then it is recorded as a use that keeps the guard exact)."""
        guard = self._guards.get(id(divisor)) if isinstance(divisor, torch.Tensor) else None
        if guard is None or guard.value is not divisor or divisor._version != guard.version:
            return False
        norm = guard.norm
        if numerator is not norm.source or numerator._version != norm.source_version:
            return False
        guard.divisions.add(op)
        return True

    def unkept(self, flow: Iterable[Tuple[int, tuple, tuple, bool]]
               ) -> List[Tuple[int, np.ndarray, str, str]]:
        """(op, field, module, reason) of every guard read by anything but its divisions:
        hold its field at 0."""
        readers: Dict[str, Set[int]] = {}
        for op, ins, _, _ in flow:
            for key in ins:
                readers.setdefault(key, set()).add(op)
        return [(g.op, g.field, g.module, g.reason) for g in self._guards.values()
                if not readers.get(g.key, set()) <= g.divisions]
