"""Per-group statistics of a model's rescale symmetries: how far from balance each neuron
group is, and how fast its incoming and outgoing weights move relative to their size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
from torch import nn

from dglbal.balance.index import ExponentIndex
from dglbal.balance.sums import GroupSums
from dglbal.symmetry import SymmetryReport

__all__ = ["GroupStats", "group_statistics"]


@dataclass
class GroupStats:
    """Balance and relative gradients of every group (arrays of one value per group).

    Parameters
    ----------
    names, imbalance, relative_gradient_in, relative_gradient_out
        The attributes below, in this order (:func:`~dglbal.diagnose` makes it).

    Attributes
    ----------
    names : list of str
        The groups' names, as in the report.
    imbalance : np.ndarray
        |c_g| / (I_g + O_g) with c_g = I_g - O_g: 0 for a balanced group, 1 when all the
        group's weight sits on one side (NaN for a group without weight).
    relative_gradient_in, relative_gradient_out : np.ndarray
        sqrt(sum of squared gradients / sum of squared weights) over the group's incoming
        (outgoing) entries: how fast each side moves relative to its size under SGD; the
        Dynamic Rescaling paper balances these (NaN where a side has no weight, no gradient
        was taken, or the group touches a frozen parameter, ``requires_grad=False``).

    Examples
    --------
    >>> from dglbal import diagnose
    >>> from dglbal.nn import GCN
    >>> model = GCN(8, 16, 3, num_layers=4)
    >>> diagnosis = diagnose(model, *model.probe_inputs())
    >>> stats = diagnosis.groups
    >>> stats.names[0], stats.imbalance.shape
    ('layers.0 channel 0', (48,))
    """

    names: list
    imbalance: np.ndarray
    relative_gradient_in: np.ndarray
    relative_gradient_out: np.ndarray


def _side_sums(sums: GroupSums, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per group: sum |e| values^2 over its incoming (e > 0) and its outgoing (e < 0) entries."""
    incoming, outgoing = sums.incoming_outgoing(torch.from_numpy(values ** 2))
    return incoming.numpy(), outgoing.numpy()


def group_statistics(model: nn.Module, report: SymmetryReport,
                     with_gradients: bool = True) -> GroupStats:
    """:class:`GroupStats` of ``model`` from ``report`` (its analysis), reading the gradients
    left by the last backward pass when ``with_gradients``.

    Parameters
    ----------
    model : nn.Module
        The model ``report`` describes.
    report : SymmetryReport
        Its analysis (:func:`dglbal.analyze`).
    with_gradients : bool
        Also the relative gradients of each group's incoming and outgoing weights (they need
        a backward pass first).

    Returns
    -------
    GroupStats
        Per group: the imbalance and, with gradients, the relative gradients.

    Examples
    --------
    >>> import dglbal
    >>> from dglbal.nn import GCN
    >>> model = GCN(8, 16, 3, num_layers=3, init="bal_o")
    >>> stats = group_statistics(model, dglbal.analyze(model), with_gradients=False)
    >>> bool(stats.imbalance.max() < 1e-4)  # BalO starts balanced
    True
    """
    index = ExponentIndex(model, report)
    sums = GroupSums(index, torch.device("cpu"), torch.float64)
    incoming, outgoing = _side_sums(sums, index.numpy_parameters())
    with np.errstate(divide="ignore", invalid="ignore"):
        imbalance = np.abs(incoming - outgoing) / (incoming + outgoing)
        if with_gradients:
            grads_in, grads_out = _side_sums(sums, index.numpy_gradients())
            rel_in, rel_out = np.sqrt(grads_in / incoming), np.sqrt(grads_out / outgoing)
            # a frozen parameter takes no gradient: its group's sides would read as still
            rel_in[index.frozen] = rel_out[index.frozen] = np.nan
        else:
            rel_in = rel_out = np.full(index.num_groups, np.nan)
    return GroupStats([g.name for g in report.groups], imbalance, rel_in, rel_out)
