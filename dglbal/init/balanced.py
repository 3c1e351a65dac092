"""The balanced schemes of "Are GATs Out of Balance?" (Table 1): BalX and BalO, on any model
the analyser handles."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import nn

from dglbal.balance import BalanceReport, analyze_and_balance, balance_
from dglbal.symmetry import SymmetryReport, analyze

from .layers import graph_layers, init_layer_
from .tensor import looks_linear_blocks_, looks_linear_orthogonal_, orthogonal_
from .weights import feature_maps

__all__ = ["balanced_xavier_", "balanced_orthogonal_", "looks_linear_"]


def _zero_biases_and_residuals_(model: nn.Module) -> None:
    """Biases and residual (``res_fc``) weights start at zero so that balance holds."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".res_fc." in f".{name}":
                p.zero_()


def balanced_xavier_(model: nn.Module, *example_inputs: Any, beta: Optional[float] = 2.0,
                     forward_kwargs: Optional[Mapping[str, Any]] = None) -> BalanceReport:
    """BalX: Xavier feature weights, zero attention, balanced (init mode) with ``beta`` = 2.

    Graph layers get DGL's Xavier initialization, other parameters keep theirs; biases and
    residual weights start at zero. The first neurons' incoming squared norm is set to
    ``beta`` (2, the squared row norm of Xavier's hidden layers with the ReLU gain).
    ``beta=None`` keeps Xavier's first-layer norms: for 1433 inputs and width 64 they are
    about 3.8, balancing carries that norm through every layer, and a 20-layer GAT under SGD
    diverges. Works on any model :func:`dglbal.analyze` handles.

    Parameters
    ----------
    model : nn.Module
        The model, changed in place.
    *example_inputs
        Inputs to run it on once (a graph and features); dglbal's builders make their own
        when they are omitted.
    beta : float, optional
        The first neurons' incoming squared norm; ``None`` keeps Xavier's.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward (as for :func:`dglbal.analyze`).

    Returns
    -------
    BalanceReport
        The symmetries found and how balancing ended.

    Raises
    ------
    ValueError
        What :func:`dglbal.analyze_and_balance` refuses (a non-finite or non-positive
        ``beta``, NaN parameters, a result that would overflow).

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GCN
    >>> g = dgl.add_self_loop(dgl.rand_graph(20, 60))
    >>> model = GCN(5, 8, 3, num_layers=4)
    >>> report = balanced_xavier_(model, g, torch.randn(20, 5))
    >>> len(report.groups)
    24
    """
    for layer in graph_layers(model):
        init_layer_(layer, "xavier")
    _zero_biases_and_residuals_(model)
    return analyze_and_balance(model, *example_inputs, mode="init", beta=beta,
                               forward_kwargs=forward_kwargs)


def balanced_orthogonal_(model: nn.Module, *example_inputs: Any, beta: float = 2.0,
                         forward_kwargs: Optional[Mapping[str, Any]] = None) -> BalanceReport:
    """BalO: looks-linear orthogonal weights, zero attention, balanced with ``beta`` = 2.

    Each weight used as a linear map gets the looks-linear form of its role in the analyser's
    view: data to hidden neurons the first-layer form, hidden to hidden the hidden form,
    hidden to output the last-layer form (other weights: plain orthogonal). Weights that
    are blocks of one map of a graph layer (SAGEConv's ``[fc_self | fc_neigh]``) are drawn
    as that one map (:func:`dglbal.init.tensor.looks_linear_blocks_`). Biases and residual
    weights start at zero.

    Parameters
    ----------
    model : nn.Module
        The model, changed in place.
    *example_inputs
        Inputs to run it on once (a graph and features); dglbal's builders make their own
        when they are omitted.
    beta : float
        The first neurons' incoming squared norm.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward (as for :func:`dglbal.analyze`).

    Returns
    -------
    BalanceReport
        The symmetries found and how balancing ended.

    Raises
    ------
    ValueError
        An odd width that the looks-linear form halves, or what
        :func:`dglbal.analyze_and_balance` refuses.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = GAT(16, 8, 3, num_layers=5)
    >>> report = balanced_orthogonal_(model)
    >>> len(report.groups)
    32
    """
    report = looks_linear_(model, *example_inputs, forward_kwargs=forward_kwargs)
    return BalanceReport(report, balance_(model, report, "init", beta=beta))


def looks_linear_(model: nn.Module, *example_inputs: Any,
                  forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """LLortho on any model the analyser handles: BalO's draw, not balanced.

    The weights :func:`balanced_orthogonal_` draws before it balances (see there): the
    looks-linear form of each weight's role in the analyser's view, blocks of one map of a
    graph layer drawn as that map, biases and residual weights at zero; attention vectors
    are left as they are. The unbalanced arm of an orthogonality-against-balance ablation.

    Parameters
    ----------
    model : nn.Module
        The model, changed in place.
    *example_inputs
        Inputs to run it on once (a graph and features); dglbal's builders make their own
        when they are omitted.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward (as for :func:`dglbal.analyze`).

    Returns
    -------
    SymmetryReport
        The analyser's report of ``model``.

    Raises
    ------
    ValueError
        An odd width that the looks-linear form halves, or what :func:`dglbal.analyze`
        refuses.

    Examples
    --------
    >>> from dglbal.nn import GIN
    >>> report = looks_linear_(GIN(16, 8, 3, num_layers=4))
    >>> sorted({role for role, _ in report.weight_roles.values()})
    ['first', 'hidden', 'last']
    """
    report = analyze(model, *example_inputs, forward_kwargs=forward_kwargs)
    params = dict(model.named_parameters())
    with torch.no_grad():
        drawn = _draw_multi_block_maps(model, report.weight_roles)
        for name, (position, transposed) in report.weight_roles.items():
            if name in drawn:
                continue
            weight = params[name].t() if transposed else params[name]
            if position == "none":
                orthogonal_(weight)
            else:
                looks_linear_orthogonal_(weight, position)
    _zero_biases_and_residuals_(model)
    return report


def _draw_multi_block_maps(model: nn.Module, roles: dict) -> set:
    """Looks-linear draws of the graph layers' maps of several blocks whose blocks the
    analyser gives one role (untransposed, not ``none``); returns the names drawn."""
    names = {id(p): name for name, p in model.named_parameters()}
    drawn = set()
    for layer in graph_layers(model):
        for blocks in feature_maps(layer):
            block_names = [names.get(id(block)) for block in blocks]
            found = {roles.get(name) for name in block_names}
            if len(blocks) < 2 or len(found) != 1:
                continue
            role = found.pop()
            if role is None or role[1] or role[0] == "none":
                continue
            looks_linear_blocks_(blocks, role[0])
            drawn.update(block_names)
    return drawn
