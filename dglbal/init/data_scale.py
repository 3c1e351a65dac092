"""Data-aware balanced initialization (``bal_o_data``): BalO with its logit scale set from data.

BalO's looks-linear network computes a linear function of its input at initialization, so
its first logits are as small as the input: row-normalized Cora features have norm ~0.25,
the first layer keeps ~sqrt(32/1433) of it, and a 10-layer GAT starts with logits ~0.02.
SGD then sits on a plateau for hundreds of epochs. Scaling the input (or only the first
layer) would fix the scale but unbalance the network.

The rule used here keeps the balance. Multiply *every* weight of a bias-free, positively
homogeneous network of depth L (ReLU, zero attention, no skips) by the same s > 0:

- every conserved quantity c_g = I_g - O_g is a sum of squared weights with exponents
  +-1, so it becomes s^2 c_g: a balanced network (c_g = 0) stays balanced;
- the output is multiplied by s^L.

So, with ``spread`` the root mean square over nodes of the logits' standard deviation
across classes (what the softmax sees: a per-node shift of the logits does not matter),
measured once on the data, ``s = (target / spread) ** (1 / L)`` makes the initial logit
spread exactly ``target``. The default target is 1: logits of order one, the scale at
which the cross-entropy's gradient is neither saturated nor flat.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import torch
from torch import nn

if TYPE_CHECKING:
    from dgl import DGLGraph

DEFAULT_LOGIT_SPREAD = 1.0

__all__ = ["DEFAULT_LOGIT_SPREAD", "logit_spread", "scale_to_logit_spread_"]


def logit_spread(logits: torch.Tensor) -> float:
    """sqrt(mean over nodes of the (biased) variance of each node's logits across classes).

    Parameters
    ----------
    logits : torch.Tensor
        ``(nodes, classes)`` logits, at least two classes.

    Returns
    -------
    float
        The spread.

    Raises
    ------
    ValueError
        If ``logits`` is not 2-D with at least two columns.

    Examples
    --------
    >>> import torch
    >>> logit_spread(torch.tensor([[1.0, -1.0], [2.0, 0.0]]))
    1.0
    """
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape (nodes, classes >= 2), got {tuple(logits.shape)}")
    return float(logits.double().var(dim=1, unbiased=False).mean().sqrt())


def _spread_of(model: nn.Module, graph, feat: torch.Tensor, mask: Optional[torch.Tensor]) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(graph, feat)
    model.train(was_training)
    return logit_spread(logits if mask is None else logits[mask])


def scale_to_logit_spread_(model: nn.Module, graph: DGLGraph, feat: torch.Tensor, num_layers: int,
                           target: float = DEFAULT_LOGIT_SPREAD,
                           mask: Optional[torch.Tensor] = None, rtol: float = 1e-3) -> float:
    """Multiply every parameter of ``model`` by one s so that its logit spread on
    (``graph``, ``feat``) becomes ``target``; returns s.

    ``model`` must be positively homogeneous of degree ``num_layers`` in its parameters
    (bias-free or zero biases, zero attention, no skip connections), as dglbal's GAT and GCN
    are after BalO. The spread is measured again after scaling; if it misses ``target`` by
    more than ``rtol`` (the model is not homogeneous of that degree), the parameters are
    restored and a ``ValueError`` is raised. ``mask`` restricts the measurement to some nodes.

    Parameters
    ----------
    model : nn.Module
        The model, scaled in place.
    graph : dgl.DGLGraph
        The graph the spread is measured on.
    feat : torch.Tensor
        Its node features.
    num_layers : int
        The degree of homogeneity: the model's depth.
    target : float, default 1.0
        The spread wanted.
    mask : torch.Tensor, optional
        The nodes whose logits count (boolean).
    rtol : float, default 1e-3
        How far the measured spread may miss ``target``.

    Returns
    -------
    float
        The factor s every parameter was multiplied by.

    Raises
    ------
    ValueError
        If the model is not homogeneous of degree ``num_layers`` (the parameters are restored),
        ``target`` is not positive, ``num_layers`` is below 1, or the initial logits do not
        vary across classes.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GAT
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> model = GAT(16, 8, 3, num_layers=4, init="bal_o")
    >>> feat = torch.rand(30, 16)
    >>> s = scale_to_logit_spread_(model, g, feat, num_layers=4)
    >>> round(logit_spread(model(g, feat)), 4)
    1.0
    """
    if not target > 0:
        raise ValueError(f"the target logit spread must be positive, got {target}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    spread = _spread_of(model, graph, feat, mask)
    if not math.isfinite(spread):
        raise ValueError("the model's initial logits are NaN or infinite on these features "
                         "(NaN or infinite features or weights?); cannot set their scale")
    if not spread > 0:
        raise ValueError("the model's initial logits do not vary across classes on these "
                         "features (all-zero features or weights?); cannot set their scale")
    scale = (target / spread) ** (1.0 / num_layers)
    _scale_parameters_(model, scale)
    reached = _spread_of(model, graph, feat, mask)
    if abs(reached - target) > rtol * target:
        _scale_parameters_(model, 1.0 / scale)
        raise ValueError(
            f"{type(model).__name__} is not positively homogeneous of degree {num_layers} in "
            f"its parameters (scaling them by {scale:.4g} moved the logit spread from "
            f"{spread:.4g} to {reached:.4g}, not {target:.4g}): biases, attention or skip "
            "connections must start at zero")
    return scale


def _scale_parameters_(model: nn.Module, scale: float) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
