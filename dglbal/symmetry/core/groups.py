"""From the eliminated system to neuron groups: per-parameter exponent tables (numpy only).

A parameter's exponent is stored in one of two forms while tracing:

- :class:`OuterExponent` for a weight used as a linear map: ``E[o, j] = row[o] - col[j]``,
  with ``row`` the symbols of the output channels and ``col`` those of the input channels.
  No symbol per weight entry is created, which keeps the analysis linear in the number of
  parameters.
- :class:`FieldExponent`: one symbol per entry (attention vectors, biases, anything else).

:func:`assemble` resolves them over the free symbols and returns an :class:`ExponentTable`:
for each parameter, COO triplets (flat entry, group, exponent), one group per free symbol
that reaches a parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Tuple, Union

import numpy as np

from .algebra import Eliminator

__all__ = ["OuterExponent", "FieldExponent", "Exponent", "Triplets", "ExponentTable", "assemble",
           "weight_roles"]


@dataclass
class OuterExponent:
    """E[o, j] = row[o] - col[j]; ``transposed`` when the tensor is stored as (in, out)."""

    row: np.ndarray
    col: np.ndarray
    transposed: bool = False


@dataclass
class FieldExponent:
    """One symbol per parameter entry."""

    ids: np.ndarray


Exponent = Union[OuterExponent, FieldExponent]
Triplets = Tuple[np.ndarray, np.ndarray, np.ndarray]


def _outer_triplets(eliminator: Eliminator, exponent: OuterExponent) -> Triplets:
    n_out, n_in = len(exponent.row), len(exponent.col)
    r_pos, r_sym, r_val = eliminator.resolve_array(exponent.row)
    c_pos, c_sym, c_val = eliminator.resolve_array(exponent.col)
    # Row part: entry (o, j) for every j; column part: entry (o, j) for every o.
    rows = np.concatenate([np.repeat(r_pos, n_in), np.tile(np.arange(n_out), len(c_pos))])
    cols = np.concatenate([np.tile(np.arange(n_in), len(r_pos)), np.repeat(c_pos, n_out)])
    syms = np.concatenate([np.repeat(r_sym, n_in), np.repeat(c_sym, n_out)])
    vals = np.concatenate([np.repeat(r_val, n_in), -np.repeat(c_val, n_out)])
    flat = cols * n_out + rows if exponent.transposed else rows * n_in + cols
    return flat, syms, vals


def _merge(flat: np.ndarray, syms: np.ndarray, vals: np.ndarray) -> Triplets:
    """Sum duplicate (entry, symbol) pairs and drop zeros."""
    if len(flat) == 0:
        return flat, syms, vals
    width = int(flat.max()) + 1
    unique, inverse = np.unique(syms * width + flat, return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=vals, minlength=len(unique))
    keep = np.abs(summed) > 1e-12
    return unique[keep] % width, unique[keep] // width, summed[keep]


@dataclass
class ExponentTable:
    """Exponents of every parameter entry under every group.

    ``groups[g]`` is the free symbol behind group g (creation order = forward order);
    ``entries[name] = (flat, group, value)`` sorted by group then entry.
    """

    groups: np.ndarray
    entries: Dict[str, Triplets]
    shapes: Dict[str, Tuple[int, ...]]

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    def group_slice(self, name: str, group: int) -> Tuple[np.ndarray, np.ndarray]:
        """(flat entries, exponents) of one parameter under one group."""
        flat, grp, val = self.entries[name]
        lo, hi = np.searchsorted(grp, [group, group + 1])
        return flat[lo:hi], val[lo:hi]


def assemble(eliminator: Eliminator, exponents: Mapping[str, Exponent],
             shapes: Mapping[str, Tuple[int, ...]]) -> ExponentTable:
    """Resolve every parameter's exponent over the free symbols and number the groups."""
    raw: Dict[str, Triplets] = {}
    for name, exponent in exponents.items():
        if isinstance(exponent, OuterExponent):
            raw[name] = _merge(*_outer_triplets(eliminator, exponent))
        else:
            pos, sym, val = eliminator.resolve_array(exponent.ids)
            raw[name] = _merge(pos, sym, val)
    used = [sym for _, sym, _ in raw.values()]
    groups = np.unique(np.concatenate(used)) if used else np.zeros(0, dtype=np.int64)
    entries: Dict[str, Triplets] = {}
    for name, (flat, sym, val) in raw.items():
        grp = np.searchsorted(groups, sym)
        order = np.lexsort((flat, grp))
        entries[name] = (flat[order], grp[order], val[order])
    return ExponentTable(groups=groups, entries=entries, shapes=dict(shapes))


def weight_roles(eliminator: Eliminator, exponents: Mapping[str, Exponent]
                 ) -> Dict[str, Tuple[str, bool]]:
    """For each weight used as a linear map: its position and whether it is stored (in, out).

    ``first`` maps data to hidden neurons (its rows carry groups), ``hidden`` hidden to hidden,
    ``last`` hidden neurons to the output (its columns carry groups), ``none`` neither.
    """
    roles = {}
    for name, exponent in exponents.items():
        if isinstance(exponent, OuterExponent):
            rows = len(eliminator.resolve_array(exponent.row)[0]) > 0
            cols = len(eliminator.resolve_array(exponent.col)[0]) > 0
            position = {(True, False): "first", (True, True): "hidden",
                        (False, True): "last"}.get((rows, cols), "none")
            roles[name] = (position, exponent.transposed)
    return roles
