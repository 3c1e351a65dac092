"""Hypothesis strategies for random architectures of DGL's and dglbal's layers (they shrink
toward shallow models): dglbal's deep GAT / GCN (:func:`random_models`) and stacks of 1-3
layers of ``KINDS`` (:func:`layer_specs`, built by :func:`random_stack`). Re-exported by
:mod:`dglbal.testing.strategies`; needs hypothesis (``dglbal[testing]``).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import dgl.nn.pytorch as dglnn
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from dglbal import nn as ours
from dglbal.nn import GAT, GCN

from .graphs import Stack

__all__ = ["KINDS", "layer_specs", "build_layer", "random_stack",
           "random_models"]


@st.composite
def random_models(draw: Callable, init: Optional[str] = None) -> nn.Module:
    """dglbal's deep GAT or GCN with random depth, width, heads, skips, residual aggregation,
    bias and init scheme (``init`` fixes the scheme)."""
    common = dict(bias=draw(st.booleans()), skip=draw(st.booleans()),
                  residual_alpha=draw(st.sampled_from([0.0, 0.25])),
                  init=init or draw(st.sampled_from(["xavier", "bal_x", "bal_o", "he"])),
                  allow_zero_in_degree=True)
    layers, width = draw(st.integers(2, 4)), 2 * draw(st.integers(1, 2))
    seed = draw(st.integers(0, 1000))
    gat = None if draw(st.booleans()) else dict(
        num_heads=draw(st.integers(1, 2)), share_weights=draw(st.booleans()),
        conv=draw(st.sampled_from(["gatv2", "gat"])))
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
        torch.manual_seed(seed)
        return GCN(5, width, 3, layers, **common) if gat is None else \
            GAT(5, width, 3, layers, **gat, **common)


KINDS = ("graphconv", "gatconv", "gatv2", "sage", "gin", "ours_gatv2", "ours_graphconv", "linear")


@st.composite
def layer_specs(draw: Callable) -> Tuple[List[dict], Callable]:
    """(layer specs, activation) of a random stack of 1-3 layers of ``KINDS``."""
    depth = draw(st.integers(1, 3))
    specs = []
    for index in range(depth):
        kind = draw(st.sampled_from(KINDS))
        specs.append(dict(
            kind=kind, width=draw(st.integers(2, 4)), last=index == depth - 1,
            heads=draw(st.integers(1, 2)) if kind in ("gatconv", "gatv2", "ours_gatv2") else 1,
            residual=draw(st.booleans()), share=draw(st.booleans()), bias=draw(st.booleans()),
            norm=draw(st.sampled_from(["both", "right", "left", "none"])),
            aggregator=draw(st.sampled_from(["mean", "gcn", "pool"])),
            alpha=draw(st.sampled_from([0.0, 0.3])),
            repeat=draw(st.booleans())))
    activation = draw(st.sampled_from([F.relu, F.leaky_relu]))
    return specs, activation


def build_layer(spec: dict, d_in: int) -> Tuple[nn.Module, int]:
    """One layer from a spec, and its output width (heads concatenated)."""
    kind, width, heads = spec["kind"], spec["width"], spec["heads"]
    bias = spec["bias"]
    if kind == "graphconv":
        return dglnn.GraphConv(d_in, width, norm=spec["norm"], bias=bias), width
    if kind == "ours_graphconv":
        return ours.GraphConv(d_in, width, norm=spec["norm"], bias=bias,
                              residual_alpha=spec["alpha"]), width
    if kind == "gatconv":
        layer = dglnn.GATConv(d_in, width, heads, residual=spec["residual"], bias=bias)
        return layer, width * heads
    if kind == "gatv2":
        return dglnn.GATv2Conv(d_in, width, heads, residual=spec["residual"], bias=bias,
                               share_weights=spec["share"]), width * heads
    if kind == "ours_gatv2":
        layer = ours.GATv2Conv(d_in, width, heads, residual=spec["residual"], bias=bias,
                               share_weights=spec["share"], residual_alpha=spec["alpha"])
        return layer, width * heads
    if kind == "sage":
        return dglnn.SAGEConv(d_in, width, spec["aggregator"], bias=bias), width
    if kind == "gin":
        mlp = nn.Sequential(nn.Linear(d_in, width, bias=bias), nn.ReLU(), nn.Linear(width, width))
        return dglnn.GINConv(mlp, "sum", learn_eps=spec["share"]), width
    return nn.Linear(d_in, width, bias=bias), width


def random_stack(specs: List[dict], activation: Callable, in_feats: int) -> Stack:
    """A Stack of the specified layers; `repeat` applies a square layer twice (shared weights)."""
    layers, d = [], in_feats
    for spec in specs:
        layer, d_out = build_layer(spec, d)
        layers.append(layer)
        if spec["repeat"] and d_out == d and not spec["last"]:
            layers.append(layer)
        d = d_out
    return Stack(*layers, activation=activation)
