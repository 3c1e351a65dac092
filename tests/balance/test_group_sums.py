"""Sums over groups from the compact index (weights in outer form) equal the sums over the
expanded (entry, group, value) triplets, and the consumers built on them keep the function."""
import dgl
import numpy as np
import pytest
import torch
from torch import nn

import dglbal
from dglbal import Rebalancer
from dglbal.balance.index import ExponentIndex
from dglbal.balance.sums import WEIGHTINGS, GroupSums
from dglbal.nn import GAT, GCN
from dglbal.symmetry.core.groups import OuterEntries, SparseEntries


class _SquareResidual(nn.Module):
    """h + h @ W with W square: W's rows and columns are the same neurons, so its exponents
    cancel entry by entry (the index keeps it as triplets)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(5, 4)
        self.square = nn.Parameter(torch.randn(4, 4))
        self.out = nn.Linear(4, 2)

    def forward(self, graph, x):
        h = torch.relu(self.inp(x))
        return self.out(torch.relu(h + h @ self.square))


def _models():
    graph = dgl.add_self_loop(dgl.rand_graph(9, 30))
    feat = torch.randn(9, 5, dtype=torch.float64)
    return [(GAT(5, 4, 3, num_layers=3, num_heads=2).double(), (graph, feat)),
            (GCN(5, 6, 3, num_layers=4, bias=True).double(), (graph, feat)),
            (_SquareResidual().double(), (graph, feat))]


@pytest.mark.parametrize("case", range(3))
def test_group_sums_equal_the_sums_over_triplets(case):
    model, inputs = _models()[case]
    report = dglbal.analyze(model, *inputs)
    kinds = {type(e) for e in report.table.params.values()}
    assert OuterEntries in kinds and (case == 1 or SparseEntries in kinds)
    index = ExponentIndex(model, report)
    flat = torch.randn(int(index.offsets[-1]), dtype=torch.float64)
    weights = {"value": index.value, "abs": np.abs(index.value),
               "in": np.where(index.value > 0, index.value, 0.0),
               "out": np.where(index.value < 0, -index.value, 0.0)}
    sums = GroupSums(index)
    for weighting in WEIGHTINGS:
        expected = np.bincount(index.group, weights=weights[weighting] * flat.numpy()[index.entry],
                               minlength=index.num_groups)
        np.testing.assert_allclose(sums.reduce(flat, weighting).numpy(), expected, rtol=1e-12,
                                   atol=1e-12)


def test_a_weight_with_cancelling_exponents_is_rebalanced_without_changing_the_function():
    torch.manual_seed(0)
    model, (graph, feat) = _models()[2]
    report = dglbal.analyze(model, graph, feat)
    assert isinstance(report.table.params["square"], SparseEntries)
    out = model(graph, feat).detach()
    model(graph, feat).pow(2).sum().backward()
    for criterion in ("relative_gradients", "norms"):
        rebalancer = Rebalancer(model, report, criterion=criterion, every=1, sweeps=3)
        assert rebalancer.step()
        assert float(rebalancer.last_factors.log().abs().max()) > 1e-6
        torch.testing.assert_close(model(graph, feat).detach(), out, rtol=1e-10, atol=1e-12)
