"""Per-layer statistics of one forward and backward pass: the scale of the outputs and of the
gradients, and how alike the nodes' features are (correlation collapse, oversmoothing)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch
from torch import nn

from dglbal.init import graph_layers

__all__ = ["LayerStats", "watched_layers", "mean_pairwise_cosine", "layer_statistics"]


@dataclass
class LayerStats:
    """What one layer's output looked like at one forward and backward pass.

    Parameters
    ----------
    name, output_moment, gradient_moment, cosine, gradient_reached
        The attributes below, in this order (:func:`~dglbal.diagnose` makes it).

    Attributes
    ----------
    name : str
        The layer's module path in the model.
    output_moment : float
        Mean of the squared output entries, E[h^2].
    gradient_moment : float
        Mean of the squared gradient of the loss with respect to the output, E[g^2] (NaN when
        no gradient reached the output, or when the gradient has NaN entries).
    cosine : float
        Mean pairwise cosine similarity of the nodes' output rows (see
        :func:`mean_pairwise_cosine`).
    gradient_reached : bool
        Whether the backward pass reached the output (False: nothing it depends on requires a
        gradient; a NaN ``gradient_moment`` is then no fault of the model's).

    Examples
    --------
    >>> from dglbal import diagnose
    >>> from dglbal.nn import GCN
    >>> model = GCN(8, 16, 3, num_layers=4)
    >>> diagnosis = diagnose(model, *model.probe_inputs())
    >>> first = diagnosis.layers[0]
    >>> first.name, first.output_moment > 0, -1 <= first.cosine <= 1
    ('layers.0', True, True)
    """

    name: str
    output_moment: float
    gradient_moment: float
    cosine: float
    gradient_reached: bool = True


def watched_layers(model: nn.Module) -> List[tuple]:
    """(name, module) of the layers to watch: the graph layers (DGL's and dglbal's GATConv,
    GATv2Conv, GraphConv and registered types) when the model has any, else every module
    that holds parameters of its own and no submodule.

    Parameters
    ----------
    model : nn.Module
        Any model.

    Returns
    -------
    list of tuple
        ``(name, module)`` pairs, in the order of ``model.named_modules()``.

    Examples
    --------
    >>> from dglbal.nn import GCN
    >>> [name for name, _ in watched_layers(GCN(8, 16, 3, num_layers=3))]
    ['layers.0', 'layers.1', 'layers.2']
    """
    names = {id(m): n for n, m in model.named_modules()}
    layers = list(graph_layers(model))
    if not layers:
        layers = [m for m in model.modules()
                  if not list(m.children()) and list(m.parameters(recurse=False))]
    return [(names[id(m)] or type(m).__name__, m) for m in layers]


def mean_pairwise_cosine(rows: torch.Tensor) -> float:
    """Mean cosine similarity over pairs of distinct rows with a nonzero norm, in O(N d):
    with u_i the unit rows and S their sum, it is ``(|S|^2 - n) / (n (n - 1))``. 1 means every
    node carries the same direction (collapsed); NaN with fewer than two nonzero rows.

    Parameters
    ----------
    rows : torch.Tensor
        One row per node (extra dimensions are flattened into the row).

    Returns
    -------
    float
        The mean cosine.

    Examples
    --------
    >>> import torch
    >>> mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))
    1.0
    >>> round(mean_pairwise_cosine(torch.eye(4)), 6)
    0.0
    """
    flat = rows.detach().reshape(rows.shape[0], -1).double()
    norms = flat.norm(dim=1)
    units = flat[norms > 0] / norms[norms > 0, None]
    n = units.shape[0]
    if n < 2:
        return float("nan")
    total = units.sum(dim=0)
    return float(((total @ total) - n) / (n * (n - 1)))


def _moment(tensor: Optional[torch.Tensor]) -> float:
    if tensor is None or tensor.numel() == 0:
        return float("nan")
    return float(tensor.detach().double().pow(2).mean())


def _row_cosine(output: torch.Tensor) -> float:
    """:func:`mean_pairwise_cosine` of an output with two rows or more, else NaN."""
    if output.dim() >= 1 and output.shape[0] > 1:
        return mean_pairwise_cosine(output)
    return float("nan")


def layer_statistics(model: nn.Module, run: Callable[[], torch.Tensor],
                     loss: Callable[[torch.Tensor], torch.Tensor]) -> List[LayerStats]:
    """Run ``run()`` (the model's forward) with hooks on :func:`watched_layers`, backpropagate
    ``loss(output)`` and return each watched layer's :class:`LayerStats`, in the order the
    layers ran (a layer run twice appears twice). A layer that returns a tuple or list (DGL's
    ``GATConv(..., get_attention=True)``: features, attention) is measured on its first
    element; a layer whose output is no tensor is left out. A layer's output is measured as the
    layer returns it, before the model goes on (an in-place activation after it changes
    nothing). The parameters' gradients are those of ``loss`` afterwards (the caller saves and
    restores its own).

    Parameters
    ----------
    model : nn.Module
        The model whose layers are watched.
    run : callable
        ``run() -> output``: one forward pass of the model.
    loss : callable
        ``loss(output) -> scalar`` to backpropagate.

    Returns
    -------
    list of LayerStats
        One per layer run.

    Raises
    ------
    TypeError
        If the model's output is not a tensor.

    Examples
    --------
    >>> from dglbal.nn import GCN
    >>> model = GCN(8, 16, 3, num_layers=3)
    >>> g, x = model.probe_inputs()
    >>> stats = layer_statistics(model, lambda: model(g, x), lambda out: out.square().mean())
    >>> len(stats)
    3
    """
    records, handles = [], []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, (tuple, list)) and output:
                output = output[0]
            if not isinstance(output, torch.Tensor):
                return
            # measured now: the model may change the output in place afterwards (a ReLU)
            entry = {"name": name, "moment": _moment(output), "cosine": _row_cosine(output),
                     "grad": None}
            records.append(entry)
            if output.requires_grad:
                output.register_hook(lambda g: entry.__setitem__("grad", g.detach()))
        return record

    try:
        for name, module in watched_layers(model):
            handles.append(module.register_forward_hook(hook(name)))
        with torch.enable_grad():
            output = run()
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"diagnose needs a model whose output is a tensor, got "
                                f"{type(output).__name__}")
            value = loss(output)
            model.zero_grad(set_to_none=True)
            if value.requires_grad:
                value.backward()
    finally:
        for handle in handles:
            handle.remove()
    return [LayerStats(r["name"], r["moment"], _moment(r["grad"]), r["cosine"],
                       r["grad"] is not None) for r in records]
