"""Rows of a table gathered by an index tensor keep exponents of their own when every
constraint on an entry depends on its row only (dglbal.symmetry.rows); otherwise they share
one exponent, and that is named."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dglbal
from dglbal.symmetry.rows import BUDGET
from dglbal.testing import check_rescale_invariance
from test_analyze import verify


class PerRelationScale(nn.Module):
    """Messages h_src * s[etype] * t[etype], summed into the destination nodes: per relation r,
    s[r] against t[r]; all relations' messages meet in one sum, so s[r] + t[r] is one common
    exponent. Groups: 4 neurons + 3 relations + the common scale = 8."""

    def __init__(self, gather="getitem", mix=None, types=3):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)
        self.s, self.t = nn.Parameter(torch.rand(3) + 0.5), nn.Parameter(torch.rand(3) + 0.5)
        self.gather, self.mix, self.types = gather, mix, types

    def rows(self, table, index):
        if self.gather == "index_select":
            return table.index_select(0, index)
        if self.gather == "embedding":
            return F.embedding(index, table[:, None])[:, 0]
        return table[index]

    def forward(self, graph, x):
        h = F.relu(self.a(x))
        src, dst = graph.edges()
        etype = torch.arange(graph.num_edges()) % self.types
        other = etype if self.mix != "another index" else etype.flip(0)
        scale = self.rows(self.s, etype) * self.rows(self.t, other)
        if self.mix == "slice":  # the first edges' scales for every edge: positions, not rows
            scale = torch.cat([scale[:3], scale[3:]]).roll(1)
        messages = h[src] * scale[:, None]
        return self.b(F.relu(torch.zeros_like(h).index_add(0, dst, messages)))


@pytest.mark.parametrize("gather", ["getitem", "index_select", "embedding"])
def test_rows_gathered_by_one_index_keep_their_own_exponents(gather):
    report = verify(PerRelationScale(gather), 5, 8)
    assert not report.unsupported


@pytest.mark.parametrize("mix, groups, named", [
    ("slice", 6, "moved rows"),  # positions mixed with rows: one exponent per table
    ("another index", 6, "not searched"),  # t gathered by other values
])
def test_rows_mixed_with_positions_or_other_indices_share_one_exponent(mix, groups, named):
    report = verify(PerRelationScale(mix=mix), 5, groups, complete=False)
    assert any(named in u for u in report.unsupported)


def test_rows_the_example_does_not_select_share_one_exponent():
    """Two of three relations on the example graph: the third row's constraints are unknown."""
    model = PerRelationScale(types=2)
    report = verify(model, 5, complete=False)
    assert any("not searched" in u for u in report.unsupported)


@pytest.mark.parametrize("width, searched", [(8, True), (BUDGET // 100, False)])
def test_rows_are_searched_one_by_one_up_to_a_budget(width, searched):
    """120 gathered rows of ``width`` entries: beyond rows.BUDGET the rows share one exponent
    (named); either way the groups are sound."""
    model = nn.Sequential(nn.Embedding(3, width), nn.ReLU(), nn.Linear(width, 2)).double()
    ids = torch.arange(120) % 3
    report = dglbal.analyze(model, ids)
    assert any("not searched" in u for u in report.unsupported) != searched
    assert len(report.groups) == width
    check_rescale_invariance(model, ids, report=report)


class PositionalParameter(nn.Module):
    """table[ids] * p with p a parameter of one row per entry: on the example, table row r
    could trade against the rows of p at the positions of class r, but another graph puts
    other classes there. The rows must share one exponent (named), and rows selected once
    (a permutation) are never searched one by one."""

    def __init__(self, rows=10):
        super().__init__()
        self.table = nn.Parameter(torch.rand(3, 4) + 0.5)
        self.p = nn.Parameter(torch.rand(rows, 4) + 0.5)

    def forward(self, ids, x):
        return (self.table[ids] * self.p * x).sum(0)


@pytest.mark.parametrize("ids", [torch.arange(10) % 3, torch.randperm(10) % 3])
def test_a_parameter_with_a_row_per_entry_mixes_rows_with_positions(ids):
    model = PositionalParameter().double()
    x = torch.rand(10, 4, dtype=torch.float64) + 0.5
    report = dglbal.analyze(model, ids, x)
    assert any("one row per gathered entry" in u for u in report.unsupported)
    other = ids.flip(0)  # other classes at each position
    check_rescale_invariance(model, other, x, report=report)


def test_rows_selected_once_are_not_searched_one_by_one():
    model = PositionalParameter(rows=3).double()
    x = torch.rand(3, 4, dtype=torch.float64) + 0.5
    ids = torch.tensor([2, 0, 1])
    report = dglbal.analyze(model, ids, x)
    assert any("not searched" in u for u in report.unsupported)
    check_rescale_invariance(model, torch.tensor([0, 1, 2]), x, report=report)
