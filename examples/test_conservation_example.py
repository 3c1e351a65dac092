"""Verify the conservation law of your model in your own test suite (pytest).
==========================================================================

    pytest examples/test_conservation_example.py

Copy this file into your tests and replace `MyModel` and the graph with yours.
"""
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import dgl.nn as dglnn  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from dglbal import analyze  # noqa: E402
from dglbal.testing.checks import check_complete, check_conservation  # noqa: E402


class MyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = dglnn.SAGEConv(8, 16, "mean")
        self.conv2 = dglnn.GATConv(16, 4, num_heads=2)

    def forward(self, graph, x):
        return self.conv2(graph, F.relu(self.conv1(graph, x))).mean(1)


def small_graph(seed: int):
    dgl.seed(seed)
    graph = dgl.add_self_loop(dgl.rand_graph(30, 90))
    return graph, torch.randn(30, 8, generator=torch.Generator().manual_seed(seed))


def test_conservation_law():
    """Groups are symmetries; delta_g = 0 under SGD and Adam; c_g drifts only at order lr^2
    per step; balancing keeps the function and reaches c = 0."""
    check_conservation(MyModel(), *small_graph(0))


def test_every_symmetry_is_found():
    model = MyModel()
    report = analyze(model, *small_graph(0))
    assert len(report.groups) == 16  # the hidden neurons of the SAGE layer
    check_complete(model, [small_graph(seed) for seed in range(3)], report)
