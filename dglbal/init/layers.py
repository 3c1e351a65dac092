"""Layer-level initialization of graph layers, in the style of ``torch.nn.init``.

Functions ending in ``_`` change parameters in place and return what they were given.
They work on dglbal's layers, on DGL's own ``GATConv``, ``GATv2Conv`` and ``GraphConv`` (the
parameter names are the same), ``SAGEConv`` and ``GINConv``, and on any model holding such
layers. Other layer types with the same parameter names join with
:func:`register_graph_layer`. Each scheme draws every *feature map* of a layer
(:mod:`dglbal.init.weights`): SAGEConv's ``[fc_self | fc_neigh]`` is one map of the
concatenated input ``[h_v, mean h_u]``; each ``nn.Linear`` of GINConv's MLP is one map.

Layer schemes (Table 1 of "Are GATs Out of Balance?" and DeZoort & Hanin, 2023):

========================= ==================================================================
``xavier``                DGL's default: Xavier-normal feature and attention weights (ReLU
                          gain) for the GAT layers, Xavier-uniform for GraphConv, SAGEConv's
                          own ``reset_parameters`` (Xavier-uniform, ReLU gain, on each
                          weight), Xavier-uniform with ReLU gain on each Linear of GINConv's
                          MLP (DGL leaves those at PyTorch's default); zero biases. As
                          in DGL, a GATv2Conv made for a (source, destination) pair with
                          ``share_weights=True`` keeps ``fc_dst`` (which the destination
                          features go through) at PyTorch's default: DGL's
                          ``reset_parameters`` skips it, and the draws stay DGL's.
``xavier_zero_attention`` XavZ: ``xavier`` with the attention vectors set to zero.
``he``                    He-normal feature maps, N(0, 2 / fan_in) with the fan-in of the
                          whole map (SAGE: 2 in_feats): the GNN He scheme for
                          aggregation operators of spectral radius 1 (mean, attention,
                          symmetric normalization). :func:`dglbal.init.gnn_he.gnn_he_`
                          handles any operator.
``looks_linear``          Looks-linear orthogonal feature maps (first / hidden / last block
                          form, :func:`dglbal.init.tensor.looks_linear_blocks_`), zero
                          attention, zero residual (skip) weights.
========================= ==================================================================

The model-level schemes built on these (BalX, BalO, GNN He, ...) are named in one registry,
:mod:`dglbal.init.schemes`.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from dgl.nn.pytorch import GINConv, SAGEConv
from torch import nn

from .tensor import POSITIONS, he_normal_blocks_, looks_linear_blocks_
from .weights import (attention_parameters, check_scheme_defined, feature_maps, feature_weights,
                      graph_layers, is_attention_layer, is_graph_layer, known_layer_types,
                      layer_biases, map_positions, register_graph_layer, require_graph_layers,
                      residual_linear)

LAYER_SCHEMES = ("xavier", "xavier_zero_attention", "he", "looks_linear")

__all__ = ["LAYER_SCHEMES", "POSITIONS", "register_graph_layer", "graph_layers",
           "is_attention_layer", "feature_maps", "feature_weights", "attention_parameters",
           "init_layer_", "xavier_", "zero_attention_", "xavier_zero_attention_"]


def _check_gain(gain: Optional[float]) -> float:
    """DGL's ReLU gain for None; else a positive finite number."""
    if gain is None:
        return nn.init.calculate_gain("relu")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 < gain < float("inf"):
        raise ValueError(f"gain must be a positive finite number (or None), got {gain!r}")
    return float(gain)


# --- layer-level schemes ------------------------------------------------------------------

def init_layer_(layer: nn.Module, scheme: str = "xavier", position: str = "hidden",
                gain: Optional[float] = None) -> nn.Module:
    """Initialize one graph layer with a named scheme (see module doc).

    Parameters
    ----------
    layer : nn.Module
        A graph layer (DGL's or dglbal's GATConv, GATv2Conv, GraphConv, DGL's SAGEConv or
        GINConv, or a type added with :func:`register_graph_layer`).
    scheme : str
        One of :data:`LAYER_SCHEMES`.
    position : str
        ``"first"``, ``"hidden"`` or ``"last"``: the looks-linear block form (``looks_linear``
        only; inside a GINConv MLP see :func:`dglbal.init.weights.map_positions`).
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
        is not a positive finite number, a scheme the layer does not define
        (:func:`dglbal.init.weights.check_scheme_defined`: He or looks-linear on SAGEConv's
        ``pool`` / ``lstm`` aggregators, looks-linear on a GINConv whose MLP is not made of
        Linear and ReLU layers), a layer with parameters of no role the schemes know
        (:func:`dglbal.init.weights.unknown_parameters`).

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
    if not is_graph_layer(layer):
        raise ValueError(f"init_layer_: a {type(layer).__name__} is not a graph layer "
                         f"({known_layer_types()}); a layer of another type joins with "
                         "register_graph_layer")
    gain = _check_gain(gain)
    check_scheme_defined(layer, "xavier" if scheme == "xavier_zero_attention" else scheme)
    maps = feature_maps(layer)
    attention = attention_parameters(layer)
    residual = residual_linear(layer)
    kept = set()
    if scheme in ("xavier", "xavier_zero_attention"):
        kept = {id(p) for p in _skipped_by_dgl(layer)}
        maps = [blocks for blocks in maps if id(blocks[0]) not in kept]
    with torch.no_grad():
        if scheme in ("xavier", "xavier_zero_attention"):
            _xavier_feature_maps(layer, maps, attention, gain)
            for a in attention:
                nn.init.xavier_normal_(a, gain=gain)
            if residual is not None:
                nn.init.xavier_normal_(residual.weight, gain=gain)
        elif scheme == "he":
            for blocks in maps:
                he_normal_blocks_(blocks)
            for a in attention:
                nn.init.xavier_normal_(a, gain=gain)
            if residual is not None:
                he_normal_blocks_([residual.weight])
        else:  # looks_linear
            for blocks, where in zip(maps, map_positions(layer, position)):
                looks_linear_blocks_(blocks, where)
            if residual is not None:
                residual.weight.zero_()
        if scheme in ("xavier_zero_attention", "looks_linear"):
            for a in attention:
                a.zero_()
        for b in layer_biases(layer):
            if id(b) not in kept:
                b.zero_()
    return layer


def _skipped_by_dgl(layer: nn.Module) -> List[torch.Tensor]:
    """The parameters DGL's ``reset_parameters`` leaves at PyTorch's default: ``fc_dst`` of a
    GATv2Conv built for a (source, destination) pair with ``share_weights=True``."""
    fc_src, fc_dst = getattr(layer, "fc_src", None), getattr(layer, "fc_dst", None)
    if (is_attention_layer(layer) and getattr(layer, "share_weights", False)
            and isinstance(fc_dst, nn.Linear) and fc_dst is not fc_src):
        return list(fc_dst.parameters())
    return []


def _xavier_feature_maps(layer: nn.Module, maps, attention, gain: float) -> None:
    """Each layer type's Xavier draw (see the module doc), biases left to the caller."""
    if attention:
        for blocks in maps:
            for w in blocks:
                nn.init.xavier_normal_(w, gain=gain)
    elif isinstance(layer, SAGEConv):
        layer.reset_parameters()  # DGL's own draw, fc_pool / LSTM included
    elif isinstance(layer, GINConv):
        for blocks in maps:
            nn.init.xavier_uniform_(blocks[0], gain=nn.init.calculate_gain("relu"))
    elif maps:  # GraphConv: draw on the stored (in, out) tensor, as DGL does
        nn.init.xavier_uniform_(layer.weight)


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
