"""Exponent algebra: symbols and exact, incremental sparse elimination (numpy only).

A rescale symmetry multiplies every parameter entry by ``lambda ** e``. The analyser gives
every quantity of a forward pass an exponent that is a linear form over *symbols*; each op
adds linear constraints between forms. This module keeps the symbols and eliminates the
constraints as they arrive. The symbols left free afterwards span the symmetries.

Forms are dicts ``{symbol: coefficient}`` with int or ``Fraction`` coefficients, so the
exponents stay exact (a weight used twice gives exponents such as 2 or 1/2). Symbol 0 is the
constant zero and never appears in a form.
"""
from __future__ import annotations

import bisect
from fractions import Fraction
from typing import Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np

__all__ = ["Coefficient", "Form", "ZERO", "NEURON", "PARAMETER", "AUXILIARY", "SymbolTable",
           "Eliminator"]

Coefficient = Union[int, Fraction]
Form = Dict[int, Coefficient]

ZERO = 0
# Symbol kinds, in the order in which they are kept free: neurons survive elimination,
# parameter-entry symbols go next, auxiliary ones (intermediate products) first.
NEURON, PARAMETER, AUXILIARY = 0, 1, 2


def _exact(value) -> Coefficient:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, (int, np.integer)):
        return int(value)
    fraction = Fraction(float(value)).limit_denominator(1 << 20)
    return fraction.numerator if fraction.denominator == 1 else fraction


class SymbolTable:
    """Allocates symbols in blocks; each block has a kind and a label for naming.

    Symbol 0 is the constant zero; :meth:`fresh` hands out the next block.

    Examples
    --------
    >>> table = SymbolTable()
    >>> table.fresh((2, 3), PARAMETER, "fc.weight")
    array([[1, 2, 3],
           [4, 5, 6]])
    >>> table.kind(5) == PARAMETER, table.label(5)
    (True, ('fc.weight', (1, 1)))
    """

    def __init__(self) -> None:
        self._kinds: List[np.ndarray] = [np.array([AUXILIARY], dtype=np.int8)]
        self._starts: List[int] = [0]
        self._labels: List[Tuple[str, Tuple[int, ...]]] = [("zero", (1,))]
        self.size = 1

    def fresh(self, shape: Sequence[int], kind: int, label: str = "") -> np.ndarray:
        """A new block of symbols with the given array shape."""
        count = int(np.prod(shape, dtype=np.int64))
        ids = np.arange(self.size, self.size + count, dtype=np.int64).reshape(tuple(shape))
        self._starts.append(self.size)
        self._kinds.append(np.full(count, kind, dtype=np.int8))
        self._labels.append((label, tuple(int(s) for s in shape)))
        self.size += count
        return ids

    def kind(self, symbol: int) -> int:
        block = bisect.bisect_right(self._starts, symbol) - 1
        return int(self._kinds[block][symbol - self._starts[block]])

    def label(self, symbol: int) -> Tuple[str, Tuple[int, ...]]:
        """The block label and the symbol's index inside its block."""
        block = bisect.bisect_right(self._starts, symbol) - 1
        label, shape = self._labels[block]
        return label, tuple(int(i) for i in np.unravel_index(symbol - self._starts[block], shape))


class Eliminator:
    """Exact Gaussian elimination of linear constraints ``form == 0``, one at a time.

    Every eliminated symbol (a pivot) is stored as a form over free symbols only; a reverse
    index keeps that true when a later constraint eliminates a symbol those forms use.

    Parameters
    ----------
    symbols : SymbolTable
        The symbols the constraints are stated over (their kinds choose the pivots:
        auxiliary symbols are eliminated first, neurons last).

    Examples
    --------
    >>> symbols = SymbolTable()
    >>> a, b, c = symbols.fresh((3,), NEURON).tolist()
    >>> system = Eliminator(symbols)
    >>> system.add({a: 1, b: -1}), system.add({b: 2, c: -1})   # a = b, 2 b = c
    (True, True)
    >>> system.add({a: 2, c: -1})                              # implied
    False
    >>> system.resolve(c) == {a: 2}, system.is_free(a)        # c is eliminated for a
    (True, True)
    """

    def __init__(self, symbols: SymbolTable) -> None:
        self.symbols = symbols
        self._pivot: Dict[int, Form] = {}
        self._users: Dict[int, set] = {}
        self.constraints = 0
        self.rank = 0  # constraints that were not implied by earlier ones
        # The symbols some constraint involved, as of constraint count (for untouched()).
        self._involved: Tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))

    # -- building constraints -----------------------------------------------------------
    def reduce(self, form: Form) -> Form:
        """Rewrite a form over free symbols."""
        out: Form = {}
        for sym, coef in form.items():
            if sym == ZERO or coef == 0:
                continue
            replacement = self._pivot.get(sym)
            if replacement is None:
                out[sym] = out.get(sym, 0) + coef
            else:
                for s, c in replacement.items():
                    out[s] = out.get(s, 0) + coef * c
        return {s: c for s, c in out.items() if c != 0}

    def _choose_pivot(self, form: Form) -> int:
        kind = self.symbols.kind
        return max(form, key=lambda s: (kind(s), s))

    def add(self, form: Form) -> bool:
        """Impose ``form == 0``. Returns False when it was already implied."""
        self.constraints += 1
        reduced = self.reduce(form)
        if not reduced:
            return False
        self.rank += 1
        pivot = self._choose_pivot(reduced)
        scale = reduced.pop(pivot)
        if scale in (1, -1):  # the usual case: stay in integers
            value: Form = {s: -c * scale for s, c in reduced.items()}
        else:
            value = {s: _exact(Fraction(-c) / scale) for s, c in reduced.items()}
        for user in self._users.pop(pivot, ()):
            target = self._pivot[user]
            coef = target.pop(pivot)
            for s, c in value.items():
                updated = target.get(s, 0) + coef * c
                if updated:
                    target[s] = updated
                    self._users.setdefault(s, set()).add(user)
                else:
                    target.pop(s, None)
                    self._users.get(s, set()).discard(user)
        self._pivot[pivot] = value
        for s in value:
            self._users.setdefault(s, set()).add(pivot)
        return True

    def equal(self, a: np.ndarray, b: np.ndarray) -> None:
        """Impose a == b entrywise for two broadcastable arrays of symbols."""
        a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
        differ = a != b
        for x, y in zip(a[differ].tolist(), b[differ].tolist()):
            self.add({x: 1, y: -1} if x and y else {x or y: 1})

    def zero(self, a: np.ndarray) -> None:
        """Impose a == 0 for every symbol of an array."""
        for x in np.unique(np.asarray(a)).tolist():
            if x != ZERO:
                self.add({x: 1})

    def define(self, target: np.ndarray, terms: Iterable[Tuple[Coefficient, np.ndarray]]) -> None:
        """Impose target == sum(coef * array) entrywise (all arrays broadcast to target)."""
        target = np.asarray(target)
        arrays = [(c, np.broadcast_to(np.asarray(t), target.shape)) for c, t in terms]
        for index in np.ndindex(target.shape):
            form: Form = {}
            for sym, coef in [(int(target[index]), 1)] + [(int(a[index]), -c) for c, a in arrays]:
                if sym != ZERO:
                    form[sym] = form.get(sym, 0) + coef
            if form:
                self.add(form)

    # -- reading the solution -----------------------------------------------------------
    def resolve(self, symbol: int) -> Form:
        """The form of a symbol over free symbols."""
        if symbol == ZERO:
            return {}
        pivot = self._pivot.get(symbol)
        return {symbol: 1} if pivot is None else pivot

    def resolve_array(self, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Resolve an array of symbols: COO triplets (flat position, free symbol, coefficient)."""
        flat = np.asarray(ids, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(flat, return_inverse=True)
        forms = [self.resolve(int(s)) for s in unique.tolist()]
        counts = np.array([len(f) for f in forms], dtype=np.int64)
        form_syms = np.array([s for f in forms for s in f], dtype=np.int64)
        form_vals = np.array([float(c) for f in forms for c in f.values()], dtype=np.float64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per_position = counts[inverse]
        positions = np.repeat(np.arange(len(flat), dtype=np.int64), per_position)
        offsets = np.arange(len(positions), dtype=np.int64) - np.repeat(
            np.cumsum(per_position) - per_position, per_position)
        source = np.repeat(starts[inverse], per_position) + offsets
        return positions, form_syms[source], form_vals[source]

    def pivot_order(self) -> List[int]:
        """The eliminated symbols in the order they were eliminated: the r-th constraint that
        raised the rank eliminated ``pivot_order()[r]``."""
        return list(self._pivot)

    def is_free(self, symbol: int) -> bool:
        return symbol != ZERO and symbol not in self._pivot

    def untouched(self, ids: np.ndarray) -> np.ndarray:
        """Mask of the symbols no constraint has involved: free, and in no eliminated form.

        A symbol a constraint involves is eliminated, or stays in the form of the symbol
        eliminated for it (an elimination that later cancels it in one form inserts it into a
        new one), so this is exactly "never constrained".
        """
        ids = np.asarray(ids, dtype=np.int64)
        if self._involved[0] != self.constraints:  # every change goes through add()
            involved = [s for s, users in self._users.items() if users] + list(self._pivot)
            self._involved = (self.constraints, np.unique(np.asarray(involved, dtype=np.int64)))
        involved = self._involved[1]
        where = np.minimum(np.searchsorted(involved, ids), max(len(involved) - 1, 0))
        seen = involved[where] == ids if len(involved) else np.zeros(ids.shape, dtype=bool)
        return (ids != ZERO) & ~seen

