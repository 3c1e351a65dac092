"""The analyser's core: exact elimination and exponent tables, numpy only."""
from fractions import Fraction

import numpy as np

from dglbal.symmetry.core.algebra import AUXILIARY, NEURON, PARAMETER, Eliminator, SymbolTable
from dglbal.symmetry.core.groups import FieldExponent, OuterExponent, assemble


def test_elimination_keeps_neurons_free_and_is_exact():
    table = SymbolTable()
    s = table.fresh((2,), NEURON, "layer")
    a = table.fresh((2,), PARAMETER, "attn")
    z = table.fresh((2,), AUXILIARY, "product")
    elim = Eliminator(table)
    elim.define(z, [(1, s), (1, a)])         # z = s + a
    elim.equal(z[1:], z[:1])                 # summed over channels
    elim.zero(z[:1])                         # then a softmax
    assert all(elim.is_free(int(x)) for x in s)
    assert elim.resolve(int(a[0])) == {int(s[0]): -1}
    assert elim.resolve(int(a[1])) == {int(s[1]): -1}
    assert not elim.add({int(z[0]): 1})     # already implied


def test_fractional_coefficients_stay_exact():
    table = SymbolTable()
    x, y = table.fresh((2,), NEURON)
    elim = Eliminator(table)
    elim.add({int(y): 3, int(x): -1})        # 3 y = x, y eliminated
    assert elim.resolve(int(y)) == {int(x): Fraction(1, 3)}


def test_outer_exponents_assemble_to_row_minus_column():
    table = SymbolTable()
    rows, cols = table.fresh((3,), NEURON), table.fresh((2,), NEURON)
    elim = Eliminator(table)
    out = assemble(elim, {"w": OuterExponent(rows, cols), "b": FieldExponent(rows.copy())},
                   {"w": (3, 2), "b": (3,)})
    assert out.num_groups == 5
    dense = np.zeros((5, 6))
    flat, grp, val = out.entries["w"]
    dense[grp, flat] = val
    expected = np.zeros((5, 3, 2))
    for o in range(3):
        expected[o, o, :] += 1
    for j in range(2):
        expected[3 + j, :, j] -= 1
    np.testing.assert_array_equal(dense, expected.reshape(5, 6))
    flat, grp, val = out.entries["b"]
    assert (flat.tolist(), grp.tolist(), val.tolist()) == ([0, 1, 2], [0, 1, 2], [1.0, 1.0, 1.0])
