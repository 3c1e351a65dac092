"""Property-test your own DGL model in your own CI with dglbal's test kit.
==========================================================================

    pip install 'dglbal[testing]'
    pytest examples/test_conservation_example.py --dglbal-profile quick

Copy this file into your tests and replace `MyModel` with yours. A failure names the check,
the group and its parameters, the graph (nodes and edges, shrunk to a small one) and the
measured error. `--dglbal-profile thorough` draws 200 examples per property instead of 10.
"""
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl.nn as dglnn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from torch import nn  # noqa: E402

from dglbal import analyze  # noqa: E402
from dglbal.testing import check_conservation, check_model  # noqa: E402
from dglbal.testing.strategies import graphs, inputs  # noqa: E402

IN_FEATS = 8


class MyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = dglnn.SAGEConv(IN_FEATS, 16, "mean")
        self.conv2 = dglnn.GATConv(16, 4, num_heads=2)

    def forward(self, graph, x):
        return self.conv2(graph, F.relu(self.conv1(graph, x))).mean(1)


def test_my_model():
    """Every check, on drawn graphs (no zero-in-degree node: GATConv refuses them) and
    parameter points: the groups are symmetries on graphs other than the one analysed,
    Noether's identity, delta_g = 0 along SGD and Adam, a monitor that does not drift,
    balancing that keeps the function, and no symmetry missed."""
    check_model(MyModel, IN_FEATS, expected_groups=16)  # the SAGE layer's hidden neurons


@given(inputs(IN_FEATS, graph=graphs(max_nodes=12, zero_in_degree=False)))
def test_conservation_law_on_any_graph(drawn):
    """One part on its own, in a @given test of yours."""
    graph, features = drawn
    check_conservation(MyModel(), graph, features)


@given(inputs(IN_FEATS, graph=graphs(self_loops=True)))
def test_the_groups_do_not_depend_on_the_graph(drawn):
    assert len(analyze(MyModel(), *drawn).groups) == 16
