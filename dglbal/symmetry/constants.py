"""Which data tensors of a trace are constants of the model, whatever its inputs.

A zero operand makes ``max(x, 0)``, ``where(c, x, 0)``, ``x + 0`` or a write into a zero
buffer positively homogeneous; a zero that came from the example inputs (a feature column
that happens to be 0) would not be 0 for other inputs, and trusting it would report a false
symmetry. So a tensor counts as a constant only when its values cannot depend on the inputs:
the model's buffers and tensor attributes, tensors made by factories (``torch.zeros``,
``torch.tensor(0.)``, ``x.new_zeros``, ``torch.zeros_like(x)``), and results of deterministic
ops on constants only (``expand_as(x)``, ``to(x)`` and the like read only x's shape and type).
An op that writes anything else into a constant in place makes it (and the tensors sharing
its memory) data again.

Once values computed from floating-point data have entered Python (``.item()``,
``.tolist()``, ``float(x)``, ``x.numpy()``; a count of the nodes whose feature is above a
threshold counts), or when a float is among the example inputs (a threshold or a shift passed
to the model), a Python number may carry input data: from then on an op that reads a Python
number (``torch.tensor(values)``, ``torch.full(shape, value)``, ``zeros + c``) makes data,
not a constant, and a Python number is no longer trusted to be 0 for every input. Factories
whose values are fixed by the function (``torch.zeros(shape)``) stay constants.

Integers that are not constants (a graph's degrees, a batch's node counts) entering Python,
or an int among the example inputs, are input data too (``float(g.in_degrees().min() - 1)``
is 0 on one graph and 1 on another), but arithmetic on integers gives finite numbers only:
then finite Python numbers are not trusted (:meth:`Constants.trusts`) and infinities still
are (``masked_fill(mask, -inf)`` after ``batch_num_nodes().tolist()`` stays a constant fill).
Numbers DGL's own code passes to torch (the 0 that ``pad_packed_tensor`` pads with, the
1e-30 under PNA's square root) are its literals and stay trusted then, and the integers its
own code takes into Python (``out_degrees`` checks its argument with ``.item()``) do not
count: the recorder says which ops DGL's code (or dglbal's layers) calls
(``called_from_dgl``); a degree or edge id a DGLGraph method hands to the model's code as a
Python int (``g.in_degrees(0)``) counts (the tracer wraps those methods). Sizes
(``x.shape``, ``numel()``) and counts DGL returns as Python ints (``num_nodes()``) are not
values of a tensor and change nothing.
"""
from __future__ import annotations

import cmath
from numbers import Number
from typing import Any, Dict, Iterable, Sequence

import torch

from .memory import share_memory

__all__ = ["Constants", "RANDOM", "VALUE_FREE", "TEMPLATE_AFTER", "FIXED_VALUES"]

# Ops whose results are random or uninitialised, by a part of their name (rand, randn_like,
# bernoulli_, feature_alpha_dropout, empty_strided, ...): never constants, even from constants.
RANDOM = ("rand", "dropout", "bernoulli", "normal", "uniform", "exponential", "geometric",
          "cauchy", "multinomial", "poisson", "gumbel", "rrelu", "empty")
# Ops whose results do not depend on their first argument's values: templates, and targets
# overwritten in place.
VALUE_FREE = {"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full",
              "new_tensor", "fill_", "zero_", "copy_"}
# Ops whose later tensor arguments only give a shape, dtype or device.
TEMPLATE_AFTER = {"expand_as", "view_as", "reshape_as", "type_as", "to"}
# Factories whose values no argument gives (only shapes, dtypes and devices).
FIXED_VALUES = {"zeros", "ones", "eye", "zeros_like", "ones_like", "new_zeros", "new_ones"}


class Constants:
    """The constant tensors of one trace (kept alive: their ids are the keys)."""

    def __init__(self, tensors: Iterable[torch.Tensor] = ()) -> None:
        self._tensors: Dict[int, torch.Tensor] = {id(t): t for t in tensors}
        self._from_values: Dict[int, torch.Tensor] = {}  # integers computed from floats
        self.python_holds_data = False  # see the module's docstring
        self.python_holds_integers = False
        self.called_from_dgl = False  # the op being recorded is called by DGL's own code

    def __contains__(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor) and id(x) in self._tensors

    def trusts(self, number: Number) -> bool:
        """Whether a Python number is fixed by the model for every input (see the module's
        docstring): always until input data enters Python; once only integers have, the
        infinities (no integer arithmetic makes one) and DGL's own literals; once floats
        have, none."""
        if self.python_holds_data:
            return False
        return not self.python_holds_integers or self.called_from_dgl or \
            not cmath.isfinite(number)

    def reads_untrusted(self, items: Sequence[Any]) -> bool:
        """Whether a Python number the model may not fix is among (nested lists / tuples of)
        an op's arguments."""
        return any(isinstance(v, Number) and not self.trusts(v)
                   or isinstance(v, (list, tuple)) and self.reads_untrusted(v) for v in items)

    def note(self, name: str, arguments: Sequence[Any], results: Sequence[Any],
             target: Any = None, to_python: bool = False, reads_numbers: bool = False
             ) -> None:
        """Record an op: its results (and in-place target) are constants exactly when it is
        deterministic and every tensor it reads is a constant (templates of ``zeros_like``
        and targets of ``fill_`` and the like excepted), and it reads no Python number the
        model may not fix. ``to_python``: its result is a Python value made from the values it
        reads; ``reads_numbers``: some argument is a Python number :meth:`trusts` refuses."""
        read = [a for a in arguments if isinstance(a, torch.Tensor)]
        if name in VALUE_FREE:
            read = read[1:]
        elif name in TEMPLATE_AFTER:
            read = read[:1]
        made = [r for r in list(results) + [target] if isinstance(r, torch.Tensor)]
        valued = [a for a in read if a not in self and self._carries_values(a)]
        if to_python and not self.called_from_dgl and any(a not in self for a in read):
            self.python_holds_integers = True  # DGL's own checks (``as_scalar``) do not count
        if valued:
            if to_python:
                self.python_holds_data = True
            self._from_values.update((id(r), r) for r in made  # floats carry theirs anyway
                                     if not (r.is_floating_point() or r.is_complex()))
        from_python = reads_numbers and name not in FIXED_VALUES
        random = name == "new" or any(part in name for part in RANDOM)  # new: uninitialised
        constant = not random and not from_python and all(a in self for a in read)
        if constant:
            self._tensors.update((id(r), r) for r in made)
            return
        if isinstance(target, torch.Tensor):  # written in place, maybe through an alias
            for key, t in list(self._tensors.items()):
                if share_memory(t, target):
                    del self._tensors[key]
        for r in made:
            self._tensors.pop(id(r), None)

    def _carries_values(self, t: torch.Tensor) -> bool:
        """Floating-point values, or integers computed from them (a mask, a count)."""
        return t.is_floating_point() or t.is_complex() or id(t) in self._from_values

    def is_zero(self, x: Any, infinities: bool = False) -> bool:
        """The number 0 (or an infinity), or a constant tensor of them."""
        if isinstance(x, Number) and not isinstance(x, complex):
            if not self.trusts(x):
                return False
            return x == 0 or (infinities and abs(x) == float("inf"))
        if x not in self or x.is_meta:
            return False
        if x.layout != torch.strided:  # sparse: its stored values (the rest are zeros)
            x = x._values() if x.layout == torch.sparse_coo else x.values()
        hit = x == 0
        if infinities and (x.is_floating_point() or x.is_complex()):
            hit = hit | x.isinf()
        return bool(hit.all())
