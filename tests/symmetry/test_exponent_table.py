"""The exponent table's compact form: weights stay in outer form from the trace to the report,
and every view of it (triplets, one group's entries, sums) equals the entry-by-entry one."""
import dgl
import numpy as np
import pytest
import torch
from torch import nn

import dglbal
from dglbal.nn import GCN
from dglbal.symmetry.core.algebra import NEURON, Eliminator, SymbolTable
from dglbal.symmetry.core.groups import (OuterEntries, OuterExponent, SparseEntries, assemble)
from dglbal.testing.checks import check_noether, check_rescale_invariance


def _dense(table, name, shape):
    """(groups, *shape) exponents from the expanded triplets."""
    flat, grp, val = table.entries[name]
    dense = np.zeros((table.num_groups, int(np.prod(shape))))
    np.add.at(dense, (grp, flat), val)
    return dense.reshape((table.num_groups,) + shape)


@pytest.mark.parametrize("transposed", [False, True])
def test_outer_form_matches_row_minus_column_entry_by_entry(transposed):
    symbols = SymbolTable()
    rows, cols = symbols.fresh((4,), NEURON), symbols.fresh((3,), NEURON)
    elim = Eliminator(symbols)
    elim.add({int(rows[3]): 1, int(rows[0]): -2, int(rows[1]): -1})  # row 3 = 2 row 0 + row 1
    elim.add({int(cols[2]): 1, int(cols[0]): -1, int(cols[1]): 1})  # col 2 = col 0 - col 1
    shape = (3, 4) if transposed else (4, 3)
    table = assemble(elim, {"w": OuterExponent(rows, cols, transposed)}, {"w": shape})
    entries = table.params["w"]
    assert isinstance(entries, OuterEntries)
    forms = [elim.resolve(int(s)) for s in rows], [elim.resolve(int(s)) for s in cols]
    expected = np.zeros((table.num_groups, 4, 3))
    for g, symbol in enumerate(table.groups.tolist()):
        for o in range(4):
            for j in range(3):
                expected[g, o, j] = float(forms[0][o].get(symbol, 0) - forms[1][j].get(symbol, 0))
    if transposed:
        expected = expected.transpose(0, 2, 1)
    np.testing.assert_array_equal(_dense(table, "w", shape), expected)
    flat, grp, _ = table.entries["w"]
    assert np.all(np.diff(grp * flat.size + flat) > 0)  # sorted by group, then entry
    for g in range(table.num_groups):
        where, values = table.group_slice("w", g)
        np.testing.assert_array_equal(where, np.flatnonzero(expected[g]))
        np.testing.assert_array_equal(values, expected[g].reshape(-1)[where])
    t = np.arange(1.0, table.num_groups + 1)
    np.testing.assert_allclose(entries.combine(t, 12), np.tensordot(t, expected, 1).reshape(-1))
    np.testing.assert_array_equal(entries.negative(12), (expected < 0).any(0).reshape(-1))


def test_a_symbol_on_both_sides_cancels_entry_by_entry():
    """w[o, j] = s[o] - s[j] (a square weight between one layer's neurons): the diagonal has
    exponent 0 under every group, and a weight whose sides are all one symbol has none."""
    symbols = SymbolTable()
    s = symbols.fresh((3,), NEURON)
    elim = Eliminator(symbols)
    table = assemble(elim, {"w": OuterExponent(s, s.copy())}, {"w": (3, 3)})
    assert isinstance(table.params["w"], SparseEntries)
    dense = _dense(table, "w", (3, 3))
    expected = np.zeros((3, 3, 3))
    for g in range(3):
        expected[g, g, :] += 1
        expected[g, :, g] -= 1
    np.testing.assert_array_equal(dense, expected)
    one = np.full(3, s[0])
    table = assemble(elim, {"w": OuterExponent(one, one.copy())}, {"w": (3, 3)})
    assert table.num_groups == 0 and len(table.entries["w"][0]) == 0


def test_a_subset_renumbers_the_groups_in_outer_form():
    symbols = SymbolTable()
    rows, cols = symbols.fresh((2,), NEURON), symbols.fresh((3,), NEURON)
    table = assemble(Eliminator(symbols), {"w": OuterExponent(rows, cols, True)}, {"w": (3, 2)})
    kept = table.subset(np.array([1, 4]))
    full = _dense(table, "w", (3, 2))
    np.testing.assert_array_equal(_dense(kept, "w", (3, 2)), full[[1, 4]])


def test_analysis_never_expands_a_weight(monkeypatch):
    """The analyser and the report's summary work on channels: a wide GCN is analysed without
    making one triplet per weight entry."""
    def refuse(self):
        raise AssertionError("a weight was expanded entry by entry")

    monkeypatch.setattr(OuterEntries, "triplets", refuse)
    report = dglbal.analyze(GCN(300, 256, 7, num_layers=4))
    assert len(report.groups) == 3 * 256 and "SymmetryReport" in str(report)
    group = report.groups[300]
    assert set(group.incoming) == {"layers.1.weight"} and set(group.outgoing) == {
        "layers.2.weight"}


class _Einsum(nn.Module):
    def __init__(self, stored_in_out: bool) -> None:
        super().__init__()
        self.stored_in_out = stored_in_out
        self.w1 = nn.Parameter(torch.randn(5, 6) if stored_in_out else torch.randn(6, 5))
        self.w2 = nn.Parameter(torch.randn(6, 3))

    def forward(self, graph, x):
        h = torch.relu(torch.einsum("nc,co->no" if self.stored_in_out else "nc,oc->no", x,
                                    self.w1))
        return torch.einsum("...c,co->...o", h, self.w2)


@pytest.mark.parametrize("stored_in_out", [False, True])
def test_a_weight_applied_by_einsum_keeps_the_outer_form(stored_in_out):
    model = _Einsum(stored_in_out).double()
    graph, x = dgl.rand_graph(7, 20), torch.randn(7, 5, dtype=torch.float64)
    report = dglbal.analyze(model, graph, x)
    assert isinstance(report.table.params["w1"], OuterEntries)
    assert len(report.groups) == 6  # the hidden neurons
    check_rescale_invariance(model, graph, x, report=report)
    check_noether(model, graph, x, report=report)
