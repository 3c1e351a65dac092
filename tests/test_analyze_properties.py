"""Property tests: on random architectures the groups are real and span every symmetry."""
import dgl.nn.pytorch as dglnn
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import dglbal
import dglbal.nn as ours
from dglbal.testing import check_complete, check_noether, check_rescale_invariance
from graphs import Stack, input_sets

KINDS = ("graphconv", "gatconv", "gatv2", "sage", "gin", "ours_gatv2", "ours_graphconv", "linear")


@st.composite
def layer_specs(draw):
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


def build_layer(spec, d_in):
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


def random_stack(specs, activation, in_feats):
    """A Stack of the specified layers; `repeat` applies a square layer twice (shared weights)."""
    layers, d = [], in_feats
    for spec in specs:
        layer, d_out = build_layer(spec, d)
        layers.append(layer)
        if spec["repeat"] and d_out == d and not spec["last"]:
            layers.append(layer)
        d = d_out
    return Stack(*layers, activation=activation)


@given(layer_specs())
def test_random_architectures(arch):
    specs, activation = arch
    torch.manual_seed(0)
    model = random_stack(specs, activation, in_feats=4).double()
    sets = input_sets(4)
    report = dglbal.analyze(model, *input_sets(4, count=1, num_nodes=7, seed=50)[0])
    check_rescale_invariance(model, *sets[0], report=report)
    check_noether(model, *sets[1], report=report)
    check_complete(model, sets, report=report)


@given(st.integers(2, 6), st.integers(2, 5), st.integers(1, 3))
def test_paper_gat_has_one_group_per_hidden_neuron(num_layers, width, heads):
    report = dglbal.analyze(ours.GAT(5, width, 3, num_layers=num_layers, num_heads=heads))
    assert len(report.groups) == (num_layers - 1) * width * heads
    assert all(len(g.incoming) == 1 and len(g.outgoing) == 2 for g in report.groups)
