"""The layout of a rebalancing sweep (:mod:`.rebalance`): groups split into levels in forward
order such that groups of one level share no parameter entry, and the state of a sweep.

Per level, each block of :class:`~.sums.GroupSums` keeps the part of its triplets whose group
is in the level (a weight in outer form: its rows or its columns). A sweep's state keeps, per
weight, the log factor so far of each output channel (``a``) and input channel (``b``), so
a group's sum over a weight is a row or column sum of ``mass * exp(power (a[o] + b[j]))``:
one matrix-vector product, no per-entry index.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from .sums import ChannelPart, GroupSums

__all__ = ["forward_levels", "Level", "SweepState"]


def forward_levels(sums: GroupSums, skip: np.ndarray) -> np.ndarray:
    """A level per group, in forward order, such that groups of one level share no entry
    (-1 for the groups in ``skip``, which take no part).

    A group's level is one more than the highest level of the earlier groups it shares an
    entry with: for a layered network, level = layer. In a weight in outer form, a row
    group shares entries with the other groups of its rows and with every column group.
    """
    levels = np.full(sums.num_groups, -1, dtype=np.int64)
    # Per group: (kind, block or None, positions); kind 0 rows, 1 columns, 2 sparse.
    members: List[List[Tuple[int, int, np.ndarray]]] = [[] for _ in range(sums.num_groups)]
    for b, block in enumerate(sums.outer):
        for kind, part in enumerate((block.rows, block.cols)):
            _collect(members, kind, b, part)
    _collect(members, 2, -1, sums.sparse.part)
    channel = [[np.full(size, -1, dtype=np.int64) for size in block.shape]
               for block in sums.outer]
    highest = [[-1, -1] for _ in sums.outer]
    touched = np.full(sums.sparse.size, -1, dtype=np.int64)
    for g in np.flatnonzero(~skip).tolist():
        level = -1
        for kind, b, positions in members[g]:
            seen = touched[positions] if kind == 2 else channel[b][kind][positions]
            level = max(level, int(seen.max(initial=-1)),
                        highest[b][1 - kind] if kind < 2 else -1)
        level += 1
        levels[g] = level
        for kind, b, positions in members[g]:
            if kind == 2:
                touched[positions] = level
            else:
                channel[b][kind][positions] = level
                highest[b][kind] = max(highest[b][kind], level)
    return levels


def _collect(members, kind: int, block: int, part: ChannelPart) -> None:
    position, group, _ = part.numpy
    if not len(group):
        return
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for lo, hi in zip(starts.tolist(), np.r_[starts[1:], len(group)].tolist()):
        members[int(group[lo])].append((kind, block, position[lo:hi]))


class Level:
    """The groups of one level and, per block, its triplets there (groups renamed to their
    place in ``groups``)."""

    def __init__(self, sums: GroupSums, groups: np.ndarray, levels_of: np.ndarray,
                 level: int) -> None:
        self.size = len(groups)
        self.groups = torch.as_tensor(groups, dtype=torch.long, device=sums.device)
        local = np.full(sums.num_groups, -1, dtype=np.int64)
        local[groups] = np.arange(len(groups))

        def part_of(part: ChannelPart):
            pick = np.flatnonzero(levels_of[part.numpy[1]] == level)
            return part.subset(pick, local[part.numpy[1][pick]]) if len(pick) else None

        self.outer: List[Tuple[int, int, ChannelPart]] = []
        for b, block in enumerate(sums.outer):
            for kind, part in enumerate((block.rows, block.cols)):
                mine = part_of(part)
                if mine is not None:
                    self.outer.append((b, kind, mine))
        self.sparse = part_of(sums.sparse.part)


class SweepState:
    """The masses of one rebalance as it proceeds: per weight in outer form its mass matrix
    and the log factors ``a`` (rows) and ``b`` (columns) so far; for the sparse block, the
    masses and log factors of its entries.

    Parameters
    ----------
    sums : GroupSums
        The blocks.
    mass : torch.Tensor
        The flat per-entry mass at the start (not modified).
    power : float
        The power of lambda the mass scales with.
    """

    def __init__(self, sums: GroupSums, mass: torch.Tensor, power: float) -> None:
        self.sums, self.power = sums, power
        self.matrices = [block.matrix(mass) for block in sums.outer]
        self.logs = [[mass.new_zeros(size) for size in block.shape] for block in sums.outer]
        self.sparse_mass = mass[sums.sparse.entries]
        self.sparse_log = mass.new_zeros(sums.sparse.size)
        # Per weight and half: the product with the other half's scales, and whether that
        # half has moved since (a weight with one half of groups never recomputes it).
        self._products: List[List[Optional[torch.Tensor]]] = [[None, None] for _ in sums.outer]

    def _channel_sums(self, b: int, kind: int) -> torch.Tensor:
        """Per row (kind 0) or column (kind 1) of weight b: its current mass."""
        product = self._products[b][kind]
        if product is None:
            other = torch.exp(self.power * self.logs[b][1 - kind])
            matrix = self.matrices[b]
            product = matrix @ other if kind == 0 else matrix.T @ other
            self._products[b][kind] = product
        return torch.exp(self.power * self.logs[b][kind]) * product

    def _sums(self, size: int, outer, sparse) -> Tuple[torch.Tensor, torch.Tensor]:
        """(incoming, outgoing) over the given parts, ``size`` groups."""
        incoming, outgoing = (self.sparse_log.new_zeros(size) for _ in range(2))
        mass = [(part, self._channel_sums(b, kind)) for b, kind, part in outer]
        if sparse is not None and len(sparse):
            mass.append((sparse, self.sparse_mass * torch.exp(self.power * self.sparse_log)))
        for part, per_position in mass:
            selected = per_position[part.position]
            incoming.index_add_(0, part.group, part.weights["in"] * selected)
            outgoing.index_add_(0, part.group, part.weights["out"] * selected)
        return incoming, outgoing

    def level_sums(self, level: Level) -> Tuple[torch.Tensor, torch.Tensor]:
        """(incoming, outgoing) of the level's groups, in the order of ``level.groups``."""
        return self._sums(level.size, level.outer, level.sparse)

    def totals(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(incoming, outgoing) of every group."""
        outer = [(b, kind, part) for b, block in enumerate(self.sums.outer)
                 for kind, part in enumerate((block.rows, block.cols)) if len(part)]
        return self._sums(self.sums.num_groups, outer, self.sums.sparse.part)

    def shift(self, level: Level, log_lambda: torch.Tensor) -> None:
        """Rescale the level's groups by exp(log_lambda) (local order)."""
        for b, kind, part in level.outer:
            self.logs[b][kind].index_add_(0, part.position,
                                          part.weights["value"] * log_lambda[part.group])
            self._products[b][1 - kind] = None
        if level.sparse is not None:
            part = level.sparse
            self.sparse_log.index_add_(0, part.position,
                                       part.weights["value"] * log_lambda[part.group])

    def factors(self, index) -> List[torch.Tensor]:
        """The factor exp((E t)_k) so far of every entry, per parameter of ``index`` (flat, in
        the sweep's dtype; a weight's as the outer product of its channels'). Not in the
        parameter's dtype: a channel's factor may leave the range of float16 where the
        entry's does not (exp(a[o]) = 1e5, exp(b[j]) = 1e-5), and one rounding, where the
        factor is applied, keeps the function closest."""
        outer = {block.start: (block, logs) for block, logs in zip(self.sums.outer, self.logs)}
        sparse, bounds = self.sums.sparse, self.sums.sparse_bounds
        out = []
        for i, (p, start) in enumerate(zip(index.params, index.offsets[:-1].tolist())):
            if start in outer and p.numel():
                block, (rows, cols) = outer[start]
                rows, cols = torch.exp(rows), torch.exp(cols)
                out.append(torch.outer(cols, rows) if block.transposed
                           else torch.outer(rows, cols))
                continue
            log = self.sparse_log.new_zeros(p.numel())
            lo, hi = bounds[i], bounds[i + 1]
            log[sparse.entries[lo:hi] - start] = self.sparse_log[lo:hi]
            out.append(torch.exp(log))
        return out
