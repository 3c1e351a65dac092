"""Property tests: on random architectures the groups are real and span every symmetry."""
import dgl.nn.pytorch as dglnn
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import dglbal
import dglbal.nn as ours
from dglbal.testing.checks import check_complete, check_noether, check_rescale_invariance
from dglbal.testing.graphs import input_sets
from dglbal.testing.strategies import layer_specs, random_stack

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
