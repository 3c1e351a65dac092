"""Sums over the groups of a report, in torch on the model's device, without a per-entry index.

A weight in outer form (:class:`dglbal.symmetry.core.groups.OuterEntries`) has exponent
``E[o, j] = A[o] + B[j]``, each group on whole output channels (rows) or whole input channels
(columns). The sum over a group of ``e * x`` for a per-entry quantity ``x`` is then ``e``
times a row or column sum of ``x``: one pass over the weight, no (entry, group) triplets.
Other parameters (biases, attention vectors, irregular exponents) keep their triplets.
:class:`GroupSums` holds both kinds of block for the parameters of an
:class:`~dglbal.balance.index.ExponentIndex`; balancing, the monitor and the rebalancer use
it.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from dglbal.symmetry.core.groups import OuterEntries

__all__ = ["ChannelPart", "OuterBlock", "SparseBlock", "GroupSums", "WEIGHTINGS"]

WEIGHTINGS = ("value", "abs", "in", "out")
"""How a sum weighs an entry with exponent e: e, |e|, e where e > 0 (incoming), -e where
e < 0 (outgoing)."""


class ChannelPart:
    """Triplets (position, group, value) as tensors, with the weights of :data:`WEIGHTINGS`.

    ``position`` is a channel (of an outer block) or a flat entry (of a sparse block)."""

    def __init__(self, position: np.ndarray, group: np.ndarray, value: np.ndarray,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.position = torch.as_tensor(position, dtype=torch.long, device=device)
        self.group = torch.as_tensor(group, dtype=torch.long, device=device)
        value = torch.as_tensor(value, dtype=dtype, device=device)
        self.weights = {"value": value, "abs": value.abs(), "in": value.clamp(min=0),
                        "out": (-value).clamp(min=0)}
        self.numpy = (np.asarray(position, dtype=np.int64), np.asarray(group, dtype=np.int64),
                      np.asarray(value, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.numpy[1])

    def subset(self, pick: np.ndarray, group: np.ndarray) -> "ChannelPart":
        """The triplets at indices ``pick``, with groups renamed to ``group``."""
        position, _, value = self.numpy
        tensor = self.weights["value"]
        return ChannelPart(position[pick], group, value[pick], tensor.device, tensor.dtype)


class OuterBlock:
    """A weight in outer form over ``flat[start:stop]``: ``rows`` (output channels) and
    ``cols`` (input channels) as :class:`ChannelPart`."""

    def __init__(self, start: int, entries: OuterEntries, device: torch.device,
                 dtype: torch.dtype) -> None:
        self.shape = (entries.n_out, entries.n_in)
        self.transposed = entries.transposed
        self.start, self.stop = start, start + entries.n_out * entries.n_in
        self.rows = ChannelPart(*entries.rows, device, dtype)
        self.cols = ChannelPart(*entries.cols, device, dtype)

    def matrix(self, flat: torch.Tensor) -> torch.Tensor:
        """The weight's slice of a flat vector as an (out, in) matrix (a view)."""
        chunk = flat[self.start:self.stop]
        if self.transposed:
            return chunk.view(self.shape[1], self.shape[0]).T
        return chunk.view(self.shape)


class SparseBlock:
    """Parameters with triplets: ``entries`` the flat entries they reach (distinct), ``part``
    the triplets (place in ``entries``, group, value)."""

    def __init__(self, flat: np.ndarray, group: np.ndarray, value: np.ndarray,
                 device: torch.device, dtype: torch.dtype) -> None:
        entries, local = np.unique(flat, return_inverse=True)
        self.entries_numpy = entries
        self.entries = torch.as_tensor(entries, dtype=torch.long, device=device)
        self.size = len(entries)
        self.part = ChannelPart(local.reshape(-1), group, value, device, dtype)


def _add(out: torch.Tensor, part: ChannelPart, weighting: str, per_position: torch.Tensor
         ) -> None:
    if len(part):
        out.index_add_(0, part.group, part.weights[weighting] * per_position[part.position])


class GroupSums:
    """The blocks of an index's parameters, on the model's device.

    Parameters
    ----------
    index : ExponentIndex
        The index (its parameters' exponents and offsets).
    device, dtype : optional
        Where the sums run and in what (default: the index's device and dtype).
    """

    def __init__(self, index, device: Optional[torch.device] = None,
                 dtype: Optional[torch.dtype] = None) -> None:
        self.num_groups = index.num_groups
        self.device = index.device if device is None else device
        self.dtype = index.dtype if dtype is None else dtype
        self.outer: List[OuterBlock] = []
        sparse = []
        for start, entries in zip(index.offsets[:-1].tolist(), index.exponents):
            if isinstance(entries, OuterEntries):
                self.outer.append(OuterBlock(start, entries, self.device, self.dtype))
            else:
                flat, group, value = entries.triplets()
                sparse.append((flat + start, group, value))
        columns = [np.concatenate(c) if sparse else np.zeros(0, dtype=d)
                   for c, d in zip(zip(*sparse) if sparse else ((), (), ()),
                                   (np.int64, np.int64, np.float64))]
        self.sparse = SparseBlock(*columns, self.device, self.dtype)
        # Parameter i's sparse entries are sparse.entries[bounds[i]:bounds[i + 1]].
        self.sparse_bounds = np.searchsorted(self.sparse.entries_numpy, index.offsets).tolist()

    def reduce(self, flat: torch.Tensor, weighting: str = "value") -> torch.Tensor:
        """Per group: sum over its entries k of w(e_gk) * flat[k], w one of
        :data:`WEIGHTINGS`.

        Parameters
        ----------
        flat : torch.Tensor
            A flat per-entry quantity laid out like the index's parameters, in ``dtype``.
        weighting : str
            How an entry's exponent weighs it.

        Returns
        -------
        torch.Tensor
            One sum per group.
        """
        out = flat.new_zeros(self.num_groups)
        for block in self.outer:
            matrix = block.matrix(flat)
            if len(block.rows):
                _add(out, block.rows, weighting, matrix.sum(1))
            if len(block.cols):
                _add(out, block.cols, weighting, matrix.sum(0))
        _add(out, self.sparse.part, weighting, flat[self.sparse.entries])
        return out

    def incoming_outgoing(self, flat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(sum over e > 0 of e * flat, sum over e < 0 of |e| * flat) per group."""
        return self.reduce(flat, "in"), self.reduce(flat, "out")
