"""From the eliminated system to neuron groups: per-parameter exponent tables (numpy only).

A parameter's exponent is stored in one of two forms while tracing:

- :class:`OuterExponent` for a weight used as a linear map: ``E[o, j] = row[o] - col[j]``,
  with ``row`` the symbols of the output channels and ``col`` those of the input channels.
  No symbol per weight entry is created, which keeps the analysis linear in the number of
  parameters.
- :class:`FieldExponent`: one symbol per entry (attention vectors, biases, anything else).

:func:`assemble` resolves them over the free symbols and returns an :class:`ExponentTable`,
one group per free symbol that reaches a parameter. A weight stays in outer form there
(:class:`OuterEntries`: per output channel and per input channel, its groups and values), so
nothing is made per weight entry; other parameters hold COO triplets (:class:`SparseEntries`).
Either expands to triplets (flat entry, group, value) on demand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, Mapping, Tuple, Union

import numpy as np

from .algebra import Eliminator

__all__ = ["OuterExponent", "FieldExponent", "Exponent", "Triplets", "OuterEntries",
           "SparseEntries", "Entries", "ExponentTable", "assemble", "weight_roles"]


@dataclass
class OuterExponent:
    """A weight used as a linear map, while tracing: E[o, j] = row[o] - col[j].

    Parameters
    ----------
    row : np.ndarray
        int64 symbols of the output channels.
    col : np.ndarray
        int64 symbols of the input channels.
    transposed : bool, default False
        Whether the tensor is stored as (in, out) (GraphConv's weight).

    Examples
    --------
    >>> import numpy as np
    >>> OuterExponent(row=np.array([3, 4]), col=np.array([1, 2, 5])).row
    array([3, 4])
    """

    row: np.ndarray
    col: np.ndarray
    transposed: bool = False


@dataclass
class FieldExponent:
    """Any other parameter, while tracing: one symbol per entry.

    Parameters
    ----------
    ids : np.ndarray
        int64 symbols, of the parameter's shape (0: exponent 0).

    Examples
    --------
    >>> import numpy as np
    >>> FieldExponent(ids=np.array([7, 8, 0])).ids.shape
    (3,)
    """

    ids: np.ndarray


Exponent = Union[OuterExponent, FieldExponent]
Triplets = Tuple[np.ndarray, np.ndarray, np.ndarray]

_ZERO = 1e-12  # summed exponents at most this far from 0 are 0


def _merge(flat: np.ndarray, syms: np.ndarray, vals: np.ndarray) -> Triplets:
    """Sum duplicate (entry, symbol) pairs and drop zeros; sorted by symbol, then entry."""
    if len(flat) == 0:
        return flat, syms, vals
    width = int(flat.max()) + 1
    unique, inverse = np.unique(syms * width + flat, return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=vals, minlength=len(unique))
    keep = np.abs(summed) > _ZERO
    return unique[keep] % width, unique[keep] // width, summed[keep]


def _by_group(position: np.ndarray, group: np.ndarray, value: np.ndarray) -> Triplets:
    """Triplets sorted by group, then position (a sort over channels, not entries)."""
    order = np.lexsort((position, group))
    return position[order], group[order], value[order]


def _segments(group: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of equal values of a sorted array."""
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else \
        np.zeros(0, dtype=np.int64)
    return starts, np.diff(np.r_[starts, len(group)]).astype(np.int64)


def _spread(position: np.ndarray, value: np.ndarray, lengths: np.ndarray, other: int,
            own_stride: int, other_stride: int) -> Tuple[np.ndarray, np.ndarray]:
    """Entries and values of channels ``position`` of one axis (runs of ``lengths``, one run
    per group, each sorted), each channel covering the ``other`` channels of the other axis;
    flat entry = channel * own_stride + other channel * other_stride. Sorted by run, then
    entry."""
    across = np.arange(other, dtype=np.int64) * other_stride
    if own_stride > other_stride:  # each channel is a contiguous block of entries
        return (position[:, None] * own_stride + across[None, :]).reshape(-1), \
            np.repeat(value, other)
    # The other axis is the major one: per run, by other channel, then by channel.
    per_run = lengths * other
    run = np.repeat(np.arange(len(lengths)), per_run)
    inner = np.arange(int(per_run.sum()), dtype=np.int64) - (np.cumsum(per_run) - per_run)[run]
    pick = (np.cumsum(lengths) - lengths)[run] + inner % lengths[run]
    return across[inner // lengths[run]] + position[pick] * own_stride, value[pick]


class SparseEntries:
    """A parameter's exponents as COO triplets (flat entry, group, value), sorted by group,
    then entry."""

    def __init__(self, flat: np.ndarray, group: np.ndarray, value: np.ndarray) -> None:
        self.flat, self.group, self.value = flat, group, value

    def triplets(self) -> Triplets:
        return self.flat, self.group, self.value

    def groups(self) -> np.ndarray:
        """The groups present, sorted."""
        return np.unique(self.group)

    def values(self) -> np.ndarray:
        """Every value an entry has under some group (with repeats)."""
        return self.value

    def group_slice(self, group: int) -> Tuple[np.ndarray, np.ndarray]:
        lo, hi = np.searchsorted(self.group, [group, group + 1])
        return self.flat[lo:hi], self.value[lo:hi]

    def combine(self, t: np.ndarray, numel: int) -> np.ndarray:
        """(E t)_k = sum_g e_gk t_g for every entry k of the parameter (flat, float64)."""
        return np.bincount(self.flat, weights=self.value * t[self.group], minlength=numel)

    def negative(self, numel: int) -> np.ndarray:
        """Per entry (flat): is its exponent negative under some group?"""
        mask = np.zeros(numel, dtype=bool)
        mask[self.flat[self.value < 0]] = True
        return mask

    def renumber(self, new: np.ndarray) -> "SparseEntries":
        """Groups renamed by ``new`` (-1: dropped), sorted again."""
        grp = new[self.group]
        keep = grp >= 0
        return SparseEntries(*_by_group(self.flat[keep], grp[keep], self.value[keep]))


class OuterEntries:
    """A weight's exponents in outer form: ``E[o, j] = sum over row triplets of o + sum over
    column triplets of j``, each half's groups disjoint from the other's.

    ``rows`` holds (output channel, group, value), ``cols`` (input channel, group, value),
    each sorted by group, then channel; ``transposed`` when the weight is stored (in, out).
    """

    def __init__(self, rows: Triplets, cols: Triplets, shape: Tuple[int, int],
                 transposed: bool) -> None:
        self.rows, self.cols, self.transposed = rows, cols, transposed
        self.n_out, self.n_in = (shape[1], shape[0]) if transposed else shape
        # Flat entry = o * out_stride + j * in_stride.
        self.out_stride, self.in_stride = (1, self.n_out) if transposed else (self.n_in, 1)

    def _halves(self):
        """(triplets, size of the other axis, own stride, other stride) per half."""
        yield self.rows, self.n_in, self.out_stride, self.in_stride
        yield self.cols, self.n_out, self.in_stride, self.out_stride

    def triplets(self) -> Triplets:
        """Every entry's exponent under every group, sorted by group, then entry."""
        parts = []
        for (pos, grp, val), other, own_stride, other_stride in self._halves():
            entry, value = _spread(pos, val, _segments(grp)[1], other, own_stride, other_stride)
            parts.append((entry, np.repeat(grp, other), value))
        group = np.concatenate([parts[0][1], parts[1][1]])
        if len(group) > 1 and np.any(group[1:] < group[:-1]):
            # Interleave whole runs (each group lives in one half): order the runs by group.
            starts, lengths = _segments(group)
            order = np.argsort(group[starts], kind="stable")
            first = np.repeat(starts[order], lengths[order])
            offsets = np.arange(len(group)) - np.repeat(
                np.r_[0, np.cumsum(lengths[order])[:-1]], lengths[order])
            pick = first + offsets
        else:
            pick = slice(None)
        return (np.concatenate([parts[0][0], parts[1][0]])[pick], group[pick],
                np.concatenate([parts[0][2], parts[1][2]])[pick])

    def groups(self) -> np.ndarray:
        """The groups present, sorted."""
        return np.union1d(self.rows[1], self.cols[1])

    def values(self) -> np.ndarray:
        """Every value an entry has under some group (with repeats)."""
        return np.concatenate([self.rows[2], self.cols[2]])

    def group_slice(self, group: int) -> Tuple[np.ndarray, np.ndarray]:
        for (pos, grp, val), other, own_stride, other_stride in self._halves():
            lo, hi = np.searchsorted(grp, [group, group + 1])
            if hi > lo:
                return _spread(pos[lo:hi], val[lo:hi], np.array([hi - lo]), other, own_stride,
                               other_stride)
        return np.zeros(0, dtype=np.int64), np.zeros(0)

    def row_column_sums(self, t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(E t) as a[o] + b[j]: the sums a over the output channels, b over the inputs."""
        return tuple(np.bincount(pos, weights=val * t[grp], minlength=size)
                     for (pos, grp, val), size in zip((self.rows, self.cols),
                                                      (self.n_out, self.n_in)))

    def combine(self, t: np.ndarray, numel: int) -> np.ndarray:
        """(E t)_k = sum_g e_gk t_g for every entry k of the weight (flat, float64)."""
        a, b = self.row_column_sums(t)
        dense = np.add.outer(b, a) if self.transposed else np.add.outer(a, b)
        return dense.reshape(-1)

    def negative(self, numel: int) -> np.ndarray:
        """Per entry (flat): is its exponent negative under some group?"""
        halves = []
        for (pos, _, val), size in zip((self.rows, self.cols), (self.n_out, self.n_in)):
            mask = np.zeros(size, dtype=bool)
            mask[pos[val < 0]] = True
            halves.append(mask)
        dense = np.logical_or.outer(halves[1], halves[0]) if self.transposed else \
            np.logical_or.outer(halves[0], halves[1])
        return dense.reshape(-1)

    def renumber(self, new: np.ndarray) -> "OuterEntries":
        """Groups renamed by ``new`` (-1: dropped), sorted again."""
        halves = []
        for pos, grp, val in (self.rows, self.cols):
            renamed = new[grp]
            keep = renamed >= 0
            halves.append(_by_group(pos[keep], renamed[keep], val[keep]))
        shape = (self.n_in, self.n_out) if self.transposed else (self.n_out, self.n_in)
        return OuterEntries(halves[0], halves[1], shape, self.transposed)


Entries = Union[OuterEntries, SparseEntries]


class _TripletView(Mapping):
    """{parameter: (flat, group, value)}, expanded from the compact form on each access."""

    def __init__(self, params: Mapping[str, Entries]) -> None:
        self._params = params

    def __getitem__(self, name: str) -> Triplets:
        return self._params[name].triplets()

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


@dataclass
class ExponentTable:
    """Exponents of every parameter entry under every group.

    ``groups[g]`` is the free symbol behind group g (creation order = forward order);
    ``params[name]`` is the parameter's ``OuterEntries`` or ``SparseEntries`` (this module);
    ``entries[name] = (flat, group, value)`` expands it, sorted by group then entry.

    Parameters
    ----------
    groups : np.ndarray
        int64, the free symbol behind each group.
    params : dict
        {parameter name: OuterEntries or SparseEntries}.
    shapes : dict
        {parameter name: shape}.

    Examples
    --------
    >>> from dglbal.nn import GCN
    >>> from dglbal.symmetry import analyze
    >>> table = analyze(GCN(4, 3, 2, num_layers=2)).table
    >>> table.num_groups, type(table.params["layers.0.weight"]).__name__
    (3, 'OuterEntries')
    >>> flat, group, value = table.entries["layers.0.weight"]   # expanded on demand
    >>> len(flat), sorted(set(value.tolist()))
    (12, [1.0])
    """

    groups: np.ndarray
    params: Dict[str, Entries]
    shapes: Dict[str, Tuple[int, ...]]

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    @property
    def entries(self) -> Mapping[str, Triplets]:
        return _TripletView(self.params)

    def group_slice(self, name: str, group: int) -> Tuple[np.ndarray, np.ndarray]:
        """(flat entries, exponents) of one parameter under one group."""
        return self.params[name].group_slice(group)

    def subset(self, keep: np.ndarray) -> "ExponentTable":
        """The table restricted to groups ``keep`` (renumbered in that order)."""
        keep = np.asarray(keep, dtype=np.int64)
        new = np.full(len(self.groups), -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        return ExponentTable(groups=self.groups[keep],
                             params={n: e.renumber(new) for n, e in self.params.items()},
                             shapes=dict(self.shapes))


def _outer(eliminator: Eliminator, exponent: OuterExponent) -> Tuple[str, tuple]:
    """("outer", (rows, cols)) over free symbols, or ("sparse", triplets) when a symbol is in
    both halves (its row and column parts may cancel entry by entry) or the weight is
    empty."""
    r_pos, r_sym, r_val = eliminator.resolve_array(exponent.row)
    c_pos, c_sym, c_val = eliminator.resolve_array(exponent.col)
    n_out, n_in = len(exponent.row), len(exponent.col)
    if n_out and n_in and not np.intersect1d(r_sym, c_sym).size:
        halves = []
        for pos, sym, val in ((r_pos, r_sym, r_val), (c_pos, c_sym, -c_val)):
            keep = np.abs(val) > _ZERO
            halves.append((pos[keep], sym[keep], val[keep]))
        return "outer", tuple(halves)
    rows = np.concatenate([np.repeat(r_pos, n_in), np.tile(np.arange(n_out), len(c_pos))])
    cols = np.concatenate([np.tile(np.arange(n_in), len(r_pos)), np.repeat(c_pos, n_out)])
    syms = np.concatenate([np.repeat(r_sym, n_in), np.repeat(c_sym, n_out)])
    vals = np.concatenate([np.repeat(r_val, n_in), -np.repeat(c_val, n_out)])
    flat = cols * n_out + rows if exponent.transposed else rows * n_in + cols
    return "sparse", _merge(flat, syms, vals)


def assemble(eliminator: Eliminator, exponents: Mapping[str, Exponent],
             shapes: Mapping[str, Tuple[int, ...]]) -> ExponentTable:
    """Resolve every parameter's exponent over the free symbols and number the groups.

    Linear in the parameters: a weight in outer form costs its channels, not its entries.
    """
    raw: Dict[str, Tuple[str, tuple]] = {}
    for name, exponent in exponents.items():
        if isinstance(exponent, OuterExponent):
            raw[name] = _outer(eliminator, exponent)
        else:
            raw[name] = "sparse", _merge(*eliminator.resolve_array(exponent.ids))
    used = [part[1] for kind, parts in raw.values()
            for part in (parts if kind == "outer" else (parts,))]
    groups = np.unique(np.concatenate(used)) if used else np.zeros(0, dtype=np.int64)
    params: Dict[str, Entries] = {}
    for name, (kind, parts) in raw.items():
        if kind == "outer":
            rows, cols = ((pos, np.searchsorted(groups, sym), val) for pos, sym, val in parts)
            params[name] = OuterEntries(_by_group(*rows), _by_group(*cols), shapes[name],
                                        exponents[name].transposed)
        else:
            flat, sym, val = parts  # sorted by symbol, then entry: so by group, then entry
            params[name] = SparseEntries(flat, np.searchsorted(groups, sym), val)
    return ExponentTable(groups=groups, params=params, shapes=dict(shapes))


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
