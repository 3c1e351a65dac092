"""Init-mode balancing: Procedure 2.6 of "Are GATs Out of Balance?" on a report's groups.

The attention-like gates are set to zero, the first neurons get incoming squared norm
``beta``, then each group, in forward order, has its outgoing weights scaled to its incoming
norm.

The first neurons are the groups that no other group feeds, where group k feeds group g when
a weight is outgoing under k and incoming under g. In a plain stack they are the first
layer's neurons. The channels of a residual stream feed each other through the branches (a
branch weight is incoming to the channel it writes and outgoing from the channel it reads),
so they are first together when nothing outside them feeds them: they are the groups of a
source component of the feeding graph (strongly connected: each reaches every other). With
the branches at zero (fixup skips) one walk gives them incoming norm ``beta`` and balance.
With nonzero branches it cannot: a first neuron's incoming weights include branch weights
outgoing from the others, and the function-preserving steps that finish the balance move
the first neurons off ``beta``. :func:`dglbal.balance.balance_` then alternates walks and
those steps while that brings them closer (:func:`beta_missed`), and
:func:`warn_if_beta_missed` says how far they end if it cannot.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dglbal.symmetry import SymmetryReport
from dglbal.symmetry.core.groups import OuterEntries

from .flat import FlatExponents

__all__ = ["BETA_RTOL", "beta_missed", "feeding_graph", "first_groups", "walk_",
           "warn_if_beta_missed", "zero_gates"]

BETA_RTOL = 1e-9
"""How far (relative) a first neuron's incoming norm may be from ``beta``: balancing itself
reaches |c_g| < 1e-10 (I_g + O_g)."""


def _feeds(position: np.ndarray, group: np.ndarray, value: np.ndarray, size: int,
           num_groups: int) -> sp.csr_matrix:
    """(k, g) is nonzero when some position is outgoing under k and incoming under g."""
    def indicator(pick: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(int(pick.sum())), (position[pick], group[pick])),
                             shape=(size, num_groups))
    return (indicator(value < 0).T @ indicator(value > 0)).tocsr()


def _across(outgoing: Tuple[np.ndarray, ...], incoming: Tuple[np.ndarray, ...],
            num_groups: int) -> sp.csr_matrix:
    """Every outgoing group of one half of an outer-form weight feeds every incoming group of
    the other: each output channel meets each input channel in one entry."""
    _, out_group, out_value = outgoing
    _, in_group, in_value = incoming
    sources = np.unique(out_group[out_value < 0])
    targets = np.unique(in_group[in_value > 0])
    rows, cols = np.repeat(sources, len(targets)), np.tile(targets, len(sources))
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_groups, num_groups))


def feeding_graph(flat: FlatExponents) -> sp.csr_matrix:
    """The groups' feeding graph: (k, g) nonzero when group k feeds group g.

    Weights in outer form are read by channel, without expanding their entries.

    Parameters
    ----------
    flat : FlatExponents
        The index of the parameters' exponents.

    Returns
    -------
    scipy.sparse.csr_matrix
        A (groups, groups) matrix.
    """
    n = flat.num_groups
    graph = sp.csr_matrix((n, n))
    for entries, size in zip(flat.exponents, np.diff(flat.offsets).tolist()):
        if isinstance(entries, OuterEntries):
            graph = graph + _feeds(*entries.rows, entries.n_out, n) \
                + _feeds(*entries.cols, entries.n_in, n) \
                + _across(entries.rows, entries.cols, n) + _across(entries.cols, entries.rows, n)
        else:
            graph = graph + _feeds(*entries.triplets(), size, n)
    return graph


def first_groups(flat: FlatExponents) -> np.ndarray:
    """Per group: is it one of the first neurons (fed by no group outside its strongly
    connected component of :func:`feeding_graph`)?

    Parameters
    ----------
    flat : FlatExponents
        The index of the parameters' exponents.

    Returns
    -------
    np.ndarray
        A boolean mask over the groups.
    """
    graph = feeding_graph(flat).tocoo()
    _, component = connected_components(graph, directed=True, connection="strong")
    first = np.ones(flat.num_groups, dtype=bool)
    first[graph.col[component[graph.row] != component[graph.col]]] = False
    return first


def _outgoing_only_gates(report: SymmetryReport) -> List[str]:
    """Gate parameters that never carry a positive exponent: attention vectors."""
    params = report.table.params
    return [name for name in report.gates
            if name in params and not np.any(params[name].values() > 0)]


def zero_gates(flat: FlatExponents, report: SymmetryReport) -> List[str]:
    """Set the working copy's trainable attention-like gates to zero (step 1 of the procedure).

    Parameters
    ----------
    flat : FlatExponents
        The working copy, changed in place.
    report : SymmetryReport
        The report ``flat`` was made of (its gates).

    Returns
    -------
    list of str
        The gates set to zero.
    """
    zeroed = [name for name in _outgoing_only_gates(report)
              if flat.params[flat.names.index(name)].requires_grad]
    for name in zeroed:
        flat.zero(name)
    return zeroed


def walk_(flat: FlatExponents, first: np.ndarray, beta: Optional[float]) -> np.ndarray:
    """One walk over the groups in forward order, on ``flat.theta``: a first neuron's incoming
    norm set to ``beta``, then every group's outgoing norm to its incoming one.

    Parameters
    ----------
    flat : FlatExponents
        The working copy, changed in place; frozen groups are left alone.
    first : np.ndarray
        Per group, whether it is a first neuron (:func:`first_groups`).
    beta : float or None
        The first neurons' incoming squared norm; None keeps them.

    Returns
    -------
    np.ndarray
        Per group, whether its incoming norm was set to ``beta``.
    """
    started = np.zeros(flat.num_groups, dtype=bool)
    theta = flat.theta
    for g in np.flatnonzero(~flat.frozen):
        entries, values = flat.group_entries(g)
        inward, outward = entries[values > 0], entries[values < 0]
        mass_in = float(np.sum(values[values > 0] * theta[inward] ** 2))
        if beta is not None and first[g] and mass_in > 0:
            theta[inward] *= np.sqrt(beta / mass_in)
            mass_in, started[g] = beta, True
        mass_out = float(np.sum(-values[values < 0] * theta[outward] ** 2))
        if mass_in > 0 and mass_out > 0:
            theta[outward] *= np.sqrt(mass_in / mass_out)
    return started


def beta_missed(incoming: np.ndarray, started: np.ndarray, beta: Optional[float]
                ) -> np.ndarray:
    """Per group: was its incoming norm set to ``beta``, and is it now further from it than
    ``BETA_RTOL`` (relative)?

    Parameters
    ----------
    incoming : np.ndarray
        I_g now.
    started : np.ndarray
        Per group, whether the walk set its incoming norm to ``beta`` (:func:`walk_`).
    beta : float or None
        The ``beta`` asked for (None: nothing is missed).

    Returns
    -------
    np.ndarray
        A boolean mask over the groups.
    """
    if beta is None:
        return np.zeros(len(incoming), dtype=bool)
    return started & (np.abs(incoming - beta) > BETA_RTOL * beta)


def warn_if_beta_missed(report: SymmetryReport, incoming: np.ndarray, started: np.ndarray,
                        beta: Optional[float]) -> None:
    """Warn when first neurons' incoming norms end off ``beta`` (:func:`beta_missed`).

    That can happen when first neurons feed each other through nonzero weights (the skip
    branches of a residual stream): the module doc says why.

    Parameters
    ----------
    report : SymmetryReport
        The report (group names).
    incoming : np.ndarray
        I_g after balancing.
    started : np.ndarray
        Per group, whether the walk set its incoming norm to ``beta``.
    beta : float or None
        The ``beta`` asked for.
    """
    missed = beta_missed(incoming, started, beta)
    if missed.any():
        ends, example = incoming[missed], report.groups[np.flatnonzero(missed)[0]].name
        warnings.warn(
            f"beta={beta!r} could not be applied exactly: {int(missed.sum())} of the "
            f"{int(started.sum())} first neurons (e.g. {example!r}) end with incoming "
            f"squared norms from {ends.min():.3g} to {ends.max():.3g}. They feed each other "
            "through nonzero weights (skip branches of a residual stream), and balancing "
            "moves them off beta (walks and balancing alternated until they came no closer "
            "or max_sweeps ran out); start such branches at zero (fixup) for beta to hold",
            UserWarning, stacklevel=4)
