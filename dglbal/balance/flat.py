"""The float64 working copy balancing moves: :class:`FlatExponents`, an
:class:`~dglbal.balance.index.ExponentIndex` with the parameters as one flat array ``theta``,
their group norms, and the write-back into the parameters' own dtypes."""
from __future__ import annotations

import functools
from typing import List

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport

from .index import ExponentIndex
from .sums import GroupSums

__all__ = ["FlatExponents", "relative_imbalance"]


class FlatExponents(ExponentIndex):
    """An :class:`ExponentIndex` with a float64 working copy ``theta`` of the parameters, which
    balancing moves and then writes back."""

    def __init__(self, model: nn.Module, report: SymmetryReport) -> None:
        super().__init__(model, report)
        self._host = GroupSums(self, torch.device("cpu"), torch.float64)
        self.refresh()

    def refresh(self) -> "FlatExponents":
        """Re-read theta from the parameters; the index over the groups stays as it is."""
        self.theta = self.numpy_parameters()
        return self

    def norms(self) -> tuple:
        """(I_g, O_g) for every group."""
        incoming, outgoing = self._host.incoming_outgoing(torch.from_numpy(self.theta ** 2))
        return incoming.numpy(), outgoing.numpy()

    @functools.cached_property
    def touching(self) -> List[List[int]]:
        """Per group, the parameters (positions in ``names``) it touches."""
        touching: List[List[int]] = [[] for _ in range(self.num_groups)]
        for i, entries in enumerate(self.exponents):
            for g in entries.groups().tolist():
                touching[g].append(i)
        return touching

    def group_entries(self, g: int) -> tuple:
        """(flat entries, exponents) of group g, by parameter, then entry."""
        parameters = self.touching[g]
        parts = [self.exponents[i].group_slice(g) for i in parameters]
        return (np.concatenate([flat + self.offsets[i] for i, (flat, _) in
                                zip(parameters, parts)] or [np.zeros(0, dtype=np.int64)]),
                np.concatenate([value for _, value in parts] or [np.zeros(0)]))

    def zero(self, name: str) -> None:
        """Set the working copy of parameter ``name`` to 0."""
        i = self.names.index(name)
        self.theta[self.offsets[i]:self.offsets[i + 1]] = 0.0

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy theta into the parameters, each in its own dtype and on its own device."""
        for p, chunk in zip(self.params, self.chunks(self.theta)):
            p.copy_(torch.from_numpy(chunk).view_as(p).to(device=p.device, dtype=p.dtype))


def relative_imbalance(incoming: np.ndarray, outgoing: np.ndarray, groups: np.ndarray
                       ) -> float:
    """max |I_g - O_g| / (I_g + O_g) over ``groups`` (a boolean mask); a group whose norms
    are both 0 counts as balanced, one with only one of them 0 as 1.

    Parameters
    ----------
    incoming, outgoing : np.ndarray
        I_g and O_g of every group.
    groups : np.ndarray
        Which groups to measure.

    Returns
    -------
    float
        The largest relative c_g (0.0 for no group).
    """
    scale = incoming[groups] + outgoing[groups]
    c = np.abs(incoming[groups] - outgoing[groups])
    return float(np.divide(c, scale, out=np.zeros_like(c), where=scale > 0).max(initial=0.0))
