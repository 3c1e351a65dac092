"""Layer-level initialization of graph layers, in the style of ``torch.nn.init``.

Functions ending in ``_`` change parameters in place and return what they were given.
They work on dglbal's layers and on DGL's own ``GATConv``, ``GATv2Conv`` and ``GraphConv``
(the parameter names are the same), and on any model holding such layers. Other layer types
with the same parameter names join with :func:`register_graph_layer`.

Layer schemes (Table 1 of "Are GATs Out of Balance?" and DeZoort & Hanin, 2023):

========================= ==================================================================
``xavier``                DGL's default: Xavier-normal feature and attention weights (ReLU
                          gain) for the GAT layers, Xavier-uniform for GraphConv, zero biases.
``xavier_zero_attention`` XavZ: ``xavier`` with the attention vectors set to zero.
``he``                    He-normal feature weights, N(0, 2 / fan_in): the GNN He scheme for
                          aggregation operators of spectral radius 1 (mean, attention,
                          symmetric normalization). :func:`dglbal.init.gnn_he.gnn_he_`
                          handles any operator.
``looks_linear``          Looks-linear orthogonal feature weights (first / hidden / last
                          block form), zero attention, zero residual (skip) weights.
========================= ==================================================================

The model-level schemes built on these (BalX, BalO, GNN He, ...) are named in one registry,
:mod:`dglbal.init.schemes`.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple, Type

import torch
from dgl.nn.pytorch import GATConv, GATv2Conv, GraphConv
from torch import nn

from .tensor import POSITIONS, he_normal_, looks_linear_orthogonal_

LAYER_SCHEMES = ("xavier", "xavier_zero_attention", "he", "looks_linear")
_ATTENTION_NAMES = ("attn", "attn_l", "attn_r")
_FEATURE_LINEAR_NAMES = ("fc", "fc_src", "fc_dst")

__all__ = ["LAYER_SCHEMES", "POSITIONS", "register_graph_layer", "graph_layers",
           "is_attention_layer", "feature_weights", "attention_parameters", "init_layer_",
           "xavier_", "zero_attention_", "xavier_zero_attention_"]


# --- which modules are graph layers, and where their weights are -------------------------

# The layer types the schemes act on: DGL's, and those registered (dglbal.nn registers its
# own). A registry rather than duck typing on attribute names: DGL's EdgeGATConv and EGATConv
# also own ``attn`` parameters, with other roles, and must not be initialized as GAT layers.
_GRAPH_LAYER_TYPES: List[Type[nn.Module]] = [GATConv, GATv2Conv, GraphConv]


def register_graph_layer(cls: Type[nn.Module]) -> Type[nn.Module]:
    """Let the schemes act on ``cls``: a layer with DGL's parameter names (``fc`` / ``fc_src``
    / ``fc_dst``, ``attn`` / ``attn_l`` / ``attn_r``, ``res_fc``, ``bias``; or GraphConv's
    ``weight`` stored as (in, out)). Usable as a class decorator.

    Parameters
    ----------
    cls : type
        An ``nn.Module`` subclass with those parameter names.

    Returns
    -------
    type
        ``cls``, registered.

    Raises
    ------
    TypeError
        When ``cls`` is not an ``nn.Module`` subclass.

    Examples
    --------
    >>> import dgl.nn, torch
    >>> from dglbal.init import register_graph_layer, xavier_
    >>> @register_graph_layer
    ... class MyGAT(dgl.nn.GATConv):
    ...     pass
    >>> _ = xavier_(torch.nn.Sequential(MyGAT(4, 2, num_heads=1)))
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_graph_layer needs an nn.Module subclass, got {cls!r}")
    if cls not in _GRAPH_LAYER_TYPES:
        _GRAPH_LAYER_TYPES.append(cls)
    return cls


def graph_layers(module: nn.Module) -> Iterator[nn.Module]:
    """Yield the graph layers of ``module`` (DGL's and dglbal's GATConv, GATv2Conv and
    GraphConv, and registered types), in order.

    Parameters
    ----------
    module : nn.Module
        A model.

    Yields
    ------
    nn.Module
        Each graph layer, in the order of ``module.modules()``.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> [type(layer).__name__ for layer in graph_layers(GAT(4, 8, 2, num_layers=3))]
    ['GATv2Conv', 'GATv2Conv', 'GATv2Conv']
    """
    kinds: Tuple[Type[nn.Module], ...] = tuple(_GRAPH_LAYER_TYPES)
    for sub in module.modules():
        if isinstance(sub, kinds):
            yield sub


def require_graph_layers(module: nn.Module, what: str) -> List[nn.Module]:
    """The graph layers of ``module``; a ``ValueError`` naming ``what`` when it has none
    (the scheme would otherwise leave the model as it was, without a word)."""
    layers = list(graph_layers(module))
    if not layers:
        raise ValueError(f"{what}: {type(module).__name__} holds no graph layer "
                         f"({_known_layer_types()}); a layer of another type joins with "
                         "register_graph_layer")
    return layers


def _known_layer_types() -> str:
    return ", ".join(kind.__name__ for kind in _GRAPH_LAYER_TYPES)


def _check_gain(gain: Optional[float]) -> float:
    """DGL's ReLU gain for None; else a positive finite number."""
    if gain is None:
        return nn.init.calculate_gain("relu")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 < gain < float("inf"):
        raise ValueError(f"gain must be a positive finite number (or None), got {gain!r}")
    return float(gain)


def is_attention_layer(layer: nn.Module) -> bool:
    """True for GATConv / GATv2Conv-like layers (they own attention vectors).

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    bool
        Whether it owns attention vectors.

    Examples
    --------
    >>> from dglbal.nn import GATConv, GraphConv
    >>> is_attention_layer(GATConv(4, 2, num_heads=1)), is_attention_layer(GraphConv(4, 2))
    (True, False)
    """
    return any(isinstance(getattr(layer, n, None), nn.Parameter) for n in _ATTENTION_NAMES)


def feature_weights(layer: nn.Module) -> List[torch.Tensor]:
    """The layer's feature transforms as (out_features, in_features) tensors (views).

    Shared modules (GATv2Conv with ``share_weights=True``) appear once. GraphConv stores its
    weight as (in, out); the transposed view is returned, so in-place changes reach it.

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    list of torch.Tensor
        Views of its weight matrices, each ``(out_features, in_features)``.

    Examples
    --------
    >>> from dglbal.nn import GATv2Conv, GraphConv
    >>> [tuple(w.shape) for w in feature_weights(GATv2Conv(4, 2, num_heads=2, share_weights=True))]
    [(4, 4)]
    >>> [tuple(w.shape) for w in feature_weights(GraphConv(4, 3))]  # GraphConv stores (in, out)
    [(3, 4)]
    """
    if not is_attention_layer(layer):
        weight = getattr(layer, "weight", None)
        return [] if weight is None else [weight.t()]
    seen, weights = set(), []
    for name in _FEATURE_LINEAR_NAMES:
        linear = getattr(layer, name, None)
        if isinstance(linear, nn.Linear) and id(linear) not in seen:
            seen.add(id(linear))
            weights.append(linear.weight)
    return weights


def attention_parameters(layer: nn.Module) -> List[nn.Parameter]:
    """The attention vectors of a GAT-like layer (empty for GraphConv).

    Parameters
    ----------
    layer : nn.Module
        A graph layer.

    Returns
    -------
    list of nn.Parameter
        Its attention vectors (``attn``, or ``attn_l`` and ``attn_r``).

    Examples
    --------
    >>> from dglbal.nn import GATv2Conv, GraphConv
    >>> [tuple(p.shape) for p in attention_parameters(GATv2Conv(4, 2, num_heads=2))]
    [(1, 2, 2)]
    >>> attention_parameters(GraphConv(4, 4))
    []
    """
    params = (getattr(layer, n, None) for n in _ATTENTION_NAMES)
    return [p for p in params if isinstance(p, nn.Parameter)]


def _biases(layer: nn.Module) -> List[torch.Tensor]:
    biases = []
    for name in _FEATURE_LINEAR_NAMES + ("res_fc",):
        linear = getattr(layer, name, None)
        if isinstance(linear, nn.Linear) and linear.bias is not None:
            biases.append(linear.bias)
    bias = getattr(layer, "bias", None)
    if isinstance(bias, torch.Tensor):
        biases.append(bias)
    return biases


def residual_linear(layer: nn.Module) -> Optional[nn.Linear]:
    res_fc = getattr(layer, "res_fc", None)
    return res_fc if isinstance(res_fc, nn.Linear) else None


# --- layer-level schemes ------------------------------------------------------------------

def init_layer_(layer: nn.Module, scheme: str = "xavier", position: str = "hidden",
                gain: Optional[float] = None) -> nn.Module:
    """Initialize one GAT / GATv2 / GraphConv layer with a named scheme (see module doc).

    Parameters
    ----------
    layer : nn.Module
        A graph layer (DGL's or dglbal's GATConv, GATv2Conv, GraphConv, or a type added with
        :func:`register_graph_layer`).
    scheme : str
        One of :data:`LAYER_SCHEMES`.
    position : str
        ``"first"``, ``"hidden"`` or ``"last"``: the looks-linear block form (``looks_linear``
        only).
    gain : float, optional
        The Xavier-normal gain of attention layers' feature and attention weights: ``None``
        is DGL's (the ReLU gain, sqrt 2), with random draws identical to DGL's
        ``reset_parameters`` for the same seed; the paper's code uses 1.

    Returns
    -------
    nn.Module
        ``layer``, initialized in place.

    Raises
    ------
    ValueError
        An unknown ``scheme`` or ``position``, a layer that is not a graph layer, a gain that
        is not a positive finite number.

    Examples
    --------
    >>> from dglbal.nn import GATv2Conv
    >>> layer = init_layer_(GATv2Conv(4, 4, num_heads=1), "looks_linear", position="first")
    >>> float(layer.attn.abs().sum())
    0.0
    """
    if scheme not in LAYER_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {LAYER_SCHEMES}")
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    if not isinstance(layer, tuple(_GRAPH_LAYER_TYPES)):
        raise ValueError(f"init_layer_: a {type(layer).__name__} is not a graph layer "
                         f"({_known_layer_types()}); a layer of another type joins with "
                         "register_graph_layer")
    gain = _check_gain(gain)
    weights = feature_weights(layer)
    attention = attention_parameters(layer)
    residual = residual_linear(layer)
    with torch.no_grad():
        if scheme in ("xavier", "xavier_zero_attention"):
            if attention:
                for w in weights:
                    nn.init.xavier_normal_(w, gain=gain)
            elif weights:  # GraphConv: draw on the stored (in, out) tensor, as DGL does
                nn.init.xavier_uniform_(layer.weight)
            for a in attention:
                nn.init.xavier_normal_(a, gain=gain)
            if residual is not None:
                nn.init.xavier_normal_(residual.weight, gain=gain)
        elif scheme == "he":
            for w in weights:
                he_normal_(w)
            for a in attention:
                nn.init.xavier_normal_(a, gain=gain)
            if residual is not None:
                he_normal_(residual.weight)
        else:  # looks_linear
            for w in weights:
                looks_linear_orthogonal_(w, position)
            if residual is not None:
                residual.weight.zero_()
        if scheme in ("xavier_zero_attention", "looks_linear"):
            for a in attention:
                a.zero_()
        for b in _biases(layer):
            b.zero_()
    return layer


# --- model-level schemes ------------------------------------------------------------------

def xavier_(module: nn.Module, gain: Optional[float] = None) -> nn.Module:
    """Xavier initialization of every graph layer in ``module`` (Xav): DGL's default, or
    Xavier-normal with ``gain`` on attention layers (the paper's code: ``gain=1``).

    Parameters
    ----------
    module : nn.Module
        A graph layer or a model holding graph layers.
    gain : float, optional
        See :func:`init_layer_`.

    Returns
    -------
    nn.Module
        ``module``, initialized in place.

    Raises
    ------
    ValueError
        When ``module`` holds no graph layer, or ``gain`` is not a positive finite number.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = xavier_(GAT(8, 16, 3, num_layers=3), gain=1.0)
    """
    for layer in require_graph_layers(module, "xavier_"):
        init_layer_(layer, "xavier", gain=gain)
    return module


def zero_attention_(module: nn.Module) -> nn.Module:
    """Set every attention vector of the graph layers in ``module`` to zero.

    Parameters
    ----------
    module : nn.Module
        A graph layer or a model holding graph layers.

    Returns
    -------
    nn.Module
        ``module``, changed in place.

    Raises
    ------
    ValueError
        When ``module`` holds no graph layer.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = zero_attention_(GAT(8, 16, 3, num_layers=3))
    >>> sum(float(layer.attn.abs().sum()) for layer in model.layers)
    0.0
    """
    with torch.no_grad():
        for layer in require_graph_layers(module, "zero_attention_"):
            for a in attention_parameters(layer):
                a.zero_()
    return module


def xavier_zero_attention_(module: nn.Module, gain: Optional[float] = None) -> nn.Module:
    """Xavier feature weights and zero attention (XavZ): :func:`xavier_`, then
    :func:`zero_attention_`.

    Parameters
    ----------
    module : nn.Module
        A graph layer or a model holding graph layers.
    gain : float, optional
        See :func:`init_layer_`.

    Returns
    -------
    nn.Module
        ``module``, initialized in place.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> model = xavier_zero_attention_(GAT(8, 16, 3, num_layers=3))
    """
    return zero_attention_(xavier_(module, gain))
