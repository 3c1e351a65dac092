"""The layout of a rebalancing sweep (:mod:`.rebalance`): groups split into levels in forward
order such that groups of one level share no parameter entry, and each level's exponent
triplets as tensors on the model's device."""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

__all__ = ["LevelTriplets", "forward_levels"]


def forward_levels(entry: np.ndarray, group: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """A level per group, in forward order, such that groups of one level share no entry.

    ``entry``/``group`` are triplet columns sorted by group, ``bounds[g]:bounds[g+1]`` the
    triplets of group g. A group's level is one more than the highest level of the earlier
    groups it shares an entry with: for a layered network, level = layer.
    """
    num_groups = len(bounds) - 1
    touched = np.full(int(entry.max()) + 1 if len(entry) else 0, -1, dtype=np.int64)
    levels = np.zeros(num_groups, dtype=np.int64)
    for g in range(num_groups):
        mine = entry[bounds[g]:bounds[g + 1]]
        levels[g] = touched[mine].max(initial=-1) + 1
        touched[mine] = levels[g]
    return levels


class LevelTriplets:
    """Triplets as torch tensors: entries, group (``local`` into ``groups``), exponent, and
    the weights |e| of the incoming and of the outgoing entries."""

    def __init__(self, entry: np.ndarray, local: np.ndarray, value: np.ndarray,
                 groups: np.ndarray, device: torch.device, dtype: torch.dtype) -> None:
        def put(array, kind=dtype):
            return torch.as_tensor(array, dtype=kind, device=device)

        self.entry = put(entry, torch.long)
        self.local = put(local, torch.long)
        self.value = put(value)
        # Column 0: the weight |e| of incoming entries, column 1: of outgoing ones.
        self.weights = put(np.stack([np.where(value > 0, value, 0.0),
                                     np.where(value < 0, -value, 0.0)], axis=1))
        self.groups = put(groups, torch.long)
        self.size = len(groups)

    def sums(self, mass: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per group: sum |e| mass over its incoming and over its outgoing entries."""
        both = mass.new_zeros(self.size, 2).index_add_(
            0, self.local, mass[self.entry].unsqueeze(1) * self.weights)
        return both[:, 0], both[:, 1]
