"""The state of one trace, and the helpers that per-op rules use to state what an op does.

Rules (built-in or registered by users) receive a :class:`TraceContext`. They read exponent
fields with :meth:`~TraceContext.field`, state constraints with ``equal``,
``require_zero`` and ``combine``, and give outputs their fields with
``set_field``. Fields are numpy arrays of symbols (see :mod:`.core.fields`), ``None`` for
data. TorchScript objects that hold values (``dgl.sparse`` matrices) have fields too: those
of their values.

Soundness rests on one rule: a dependency the trace cannot see must never remove a constraint.
Constraints of an op wait until the trace shows whether the op reaches an output; an op whose
result leaves the visible data flow (integer or boolean results, results without autograd
history, TorchScript objects) is *escaping*: its constraints, and those of the ops feeding
it, are kept whatever happens next.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .approximate import EpsSite, Pin, Relaxed, common_along
from .constants import Constants
from .core.algebra import AUXILIARY, NEURON, PARAMETER, ZERO, Eliminator, SymbolTable
from .core.fields import Field, as_array, collapse, is_zero
from .core.groups import Exponent, FieldExponent, OuterExponent
from .dataflow import ALWAYS, DataFlow, Edge
from .findings import NOTE, REFUSAL, Finding, sort_findings
from .guards import DivisionGuards
from .memory import MemoryIndex
from .untraced import untracked_field

__all__ = ["TraceContext", "Value", "ALWAYS", "NEURON", "PARAMETER", "AUXILIARY", "ZERO"]

Value = (torch.Tensor, torch.ScriptObject)


class TraceContext:
    """Symbols, constraints, parameter exponents and bookkeeping of one analysis.

    Rules receive it as ``ctx`` (see :mod:`dglbal.symmetry.rules.registry`): ``field``,
    ``set_field``, ``equal``, ``require_zero``, ``combine`` and ``fresh`` are what they use.

    Parameters
    ----------
    named_parameters : sequence of (str, nn.Parameter)
        The model's parameters, by name.
    constants : iterable of torch.Tensor, optional
        Tensors that are constants of the model (buffers, tensor attributes).

    Examples
    --------
    >>> from torch import nn
    >>> layer = nn.Linear(2, 2)
    >>> ctx = TraceContext(list(layer.named_parameters()))
    >>> ctx.param_name(layer.weight), ctx.key(layer.bias)
    ('weight', 'p:bias')
    """

    def __init__(self, named_parameters: Sequence[Tuple[str, torch.nn.Parameter]],
                 constants: Iterable[torch.Tensor] = ()) -> None:
        self.symbols = SymbolTable()
        self.eliminator = Eliminator(self.symbols)
        self.param_names: Dict[int, str] = {}
        self.params: Dict[str, torch.nn.Parameter] = {}
        # (op, REFUSAL or NOTE, module path, detail): see :mod:`.findings`
        self._reports: List[Tuple[int, str, str, str]] = []
        for name, p in named_parameters:
            if p.layout != torch.strided:  # rescaling acts on dense parameters: data here
                self._reports.append((ALWAYS, REFUSAL, "", f"sparse parameter {name} "
                                      f"({p.layout}): not rescaled, held at exponent 0 as data"))
                continue
            if not (p.is_floating_point() or p.is_complex()):  # cannot be scaled by lambda
                self._reports.append((ALWAYS, REFUSAL, "", f"integer parameter {name} "
                                      f"({p.dtype}): not rescaled, held at exponent 0 as data"))
                continue
            self.param_names.setdefault(id(p), name)
            self.params.setdefault(name, p)
        self.exponents: Dict[str, Exponent] = {}
        self._entry_symbols: set = set()  # parameters with one symbol of their own per entry
        self._fields: Dict[int, Field] = {}
        self._alive: List[torch.Tensor] = []
        self.memory = MemoryIndex()  # traced tensors by storage, for in-place writes' aliases
        # (autograd node id, output number) -> (field, key) of traced tensors (.untraced)
        self.by_grad_fn: Dict[Tuple[int, int], Tuple[Field, str]] = {}
        self.unsupported: List[Finding] = []  # refusals, then notes: made by finish()
        self.notes: List[Finding] = []
        self.free_before_write: set = set()  # in-place targets that held only zeros / infinities
        self.constants = Constants(constants)  # data that cannot depend on the inputs
        self.guards = DivisionGuards()  # z / where(norm(z) == 0, c, norm(z))
        self.eps_sites: List[EpsSite] = []  # ops invariant up to an eps (see .approximate)
        self.applied: Optional[List[Tuple[int, Callable, tuple]]] = None  # set: kept
        self.module_path: List[str] = []
        self.muted = 0
        # Constraints and reports wait, per op, until the trace shows which ops reach the
        # outputs: an op whose result is never used must not constrain anything.
        self.dataflow = DataFlow()
        self._pending: List[Tuple[int, Callable, tuple]] = []

    @property
    def flow(self) -> List[Edge]:
        """The data-flow graph: (op, input keys, output keys, is_gate) per op."""
        return self.dataflow.edges

    # -- ops ----------------------------------------------------------------------------------
    def begin_op(self, name: str = "") -> int:
        """Start recording a new op; constraints stated from now on belong to it."""
        return self.dataflow.begin(name)

    @property
    def current_op(self) -> int:
        """The id of the op being recorded (constraints stated now belong to it)."""
        return self.dataflow.current

    def mark_escaping(self) -> None:
        """The current op's result may be used where the trace cannot see: keep its constraints."""
        self.dataflow.mark_escaping()

    def _state(self, method: Callable, *args, pin: bool = False, site: Optional[int] = None,
               relaxed: bool = False) -> None:
        """Keep a constraint until the end of the trace; ``pin``: it holds exponents at 0
        (refusals are measured by these), for eps site ``site`` if given; ``relaxed``: only
        in the relaxed system (see :mod:`.approximate`)."""
        method = Relaxed(method) if relaxed else Pin(method, site) if pin else method
        self._pending.append((self.dataflow.current, method, args))

    def pin_up_to_eps(self, field: Field, axes: Sequence[int], eps: float, power: int,
                      description: str) -> None:
        """Hold ``field`` at exponent 0, for an op that is invariant only up to its ``eps``
        (see :mod:`.approximate`): relaxed, it needs one common exponent along ``axes``, and
        its eps is added to ``power`` times that exponent (2 for a variance)."""
        if field is not None:
            field = np.asarray(field)
            where = f" in {self.where}" if self.where else ""
            self.eps_sites.append(EpsSite(description + where, float(eps), field, power))
            self._state(self.eliminator.zero, field, pin=True, site=len(self.eps_sites) - 1)
            self._state(self.eliminator.equal, field, common_along(field, axes), relaxed=True)

    # -- symbols and constraints ----------------------------------------------------------
    def fresh(self, shape: Sequence[int], kind: int = AUXILIARY, label: str = "") -> np.ndarray:
        """New symbols of the given shape (``kind``: NEURON, PARAMETER or AUXILIARY)."""
        return self.symbols.fresh(shape, kind, label)

    def equal(self, a: Field, b: Field) -> None:
        """Impose equal exponents entrywise (fields broadcast)."""
        if a is None and b is None:
            return
        ndim = max(x.ndim for x in (a, b) if x is not None)
        self._state(self.eliminator.equal, as_array(a, ndim), as_array(b, ndim))

    def require_zero(self, field: Field) -> None:
        """Impose exponent 0 on every entry (the op is not homogeneous in this input)."""
        if field is not None:
            self._state(self.eliminator.zero, field, pin=True)

    def define(self, target: np.ndarray, terms: Sequence[Tuple[float, np.ndarray]]) -> None:
        """Impose target == sum(coef * array) entrywise."""
        self._state(self.eliminator.define, target, list(terms))

    def combine(self, terms: Iterable[Tuple[float, Field]], shape: Optional[Sequence[int]] = None
                ) -> Field:
        """The field of sum(coef * field): exponents of products, quotients and powers."""
        terms = [(c, f) for c, f in terms if f is not None and c != 0 and not is_zero(f)]
        if not terms:
            return None
        ndim = max(f.ndim for _, f in terms)
        arrays = [(c, as_array(f, ndim)) for c, f in terms]
        out_shape = tuple(shape) if shape is not None else np.broadcast_shapes(
            *(a.shape for _, a in arrays))
        if len(arrays) == 1 and arrays[0][0] == 1:
            return np.broadcast_to(arrays[0][1], out_shape).copy()
        target = self.fresh(out_shape, AUXILIARY, "product")
        self.define(target, arrays)
        return target

    # -- fields of tensors ------------------------------------------------------------------
    def param_name(self, x: object) -> Optional[str]:
        return self.param_names.get(id(x)) if isinstance(x, torch.nn.Parameter) else None

    def is_tracked(self, x: object) -> bool:
        if not isinstance(x, Value):
            return False
        if id(x) in self._fields:
            return self._fields[id(x)] is not None
        if isinstance(x, torch.ScriptObject):
            return False
        if self.param_name(x) is not None:
            return True
        return x.requires_grad and x.grad_fn is not None

    def zero_constant(self, x: object, infinities: bool = False) -> bool:
        """The number 0 or a constant data tensor of zeros (and infinities, if asked): an
        operand that is 0 for every input, not only for the example inputs."""
        return not self.is_tracked(x) and self.constants.is_zero(x, infinities)

    def known(self, x: object) -> bool:
        """True for parameters and tensors the trace has recorded (with any field)."""
        return isinstance(x, Value) and (id(x) in self._fields or
                                          self.param_name(x) is not None)

    def field(self, x: object) -> Field:
        """The exponent field of a tensor (None for data, scalars and untracked values)."""
        if not isinstance(x, Value):
            return None
        key = id(x)
        if key in self._fields:
            return self._fields[key]
        if isinstance(x, torch.ScriptObject):  # made outside the trace: data
            return None
        name = self.param_name(x)
        if name is not None:
            return self.param_field(name)
        if x.requires_grad and x.grad_fn is not None:
            return untracked_field(self, x)
        return None

    def set_field(self, tensor: object, field: Field) -> None:
        """Give an op's output tensor (or TorchScript object) its exponent field."""
        if isinstance(tensor, torch.ScriptObject):
            self._fields[id(tensor)] = None if is_zero(field) else collapse(np.asarray(field))
            self._alive.append(tensor)
            return
        if not isinstance(tensor, torch.Tensor):
            return
        if field is not None and tensor.numel() == 0:  # the exponents have nowhere to live
            self.hold_empty(tensor, [as_array(field, tensor.dim())])
            field = None
        if field is not None:
            field = as_array(field, tensor.dim())
            np.broadcast_shapes(field.shape, tuple(tensor.shape))  # refuse a field that cannot fit
            # Axes of size 1 stand for the tensor's: collapse reads the field as it is, not
            # broadcast to the tensor (node-by-channel copies of the size of the data).
            field = None if is_zero(field) else collapse(field)
        self._fields[id(tensor)] = field
        self._alive.append(tensor)
        self.memory.add(tensor)
        node = tensor.grad_fn
        if node is not None:
            # Keep the node's Python wrapper alive: its id is the key, and a freed wrapper
            # would come back as a new object with another id.
            self._alive.append(node)
            self.by_grad_fn[(id(node), tensor.output_nr)] = (field, self.key(tensor))

    def hold_empty(self, tensor: torch.Tensor, fields: Sequence[Field]) -> None:
        """An empty tensor made from traced values: whatever exponents it would carry cannot
        be seen on these inputs, and other inputs make it non-empty. Hold ``fields`` (its
        own, or its op's inputs') at 0 and name it."""
        if all(is_zero(f) for f in fields):
            return
        for f in fields:
            self.require_zero(f)
        self.report_unsupported(f"an empty tensor of shape {tuple(tensor.shape)} made from "
                                "traced values: held at exponent 0 (pass example inputs in "
                                "which every node and edge type has members)")

    def key(self, x: object) -> str:
        """The name of a value in the data-flow graph: ``p:<name>`` for a parameter,
        ``t:<id>`` for any other tensor."""
        name = self.param_name(x)
        return f"p:{name}" if name is not None else f"t:{id(x)}"

    # -- parameters ---------------------------------------------------------------------------
    def param_field(self, name: str) -> np.ndarray:
        """Per-entry symbols of a parameter (created on first use, or from its outer form)."""
        exponent = self.exponents.get(name)
        if isinstance(exponent, FieldExponent):
            return exponent.ids
        shape = tuple(self.params[name].shape)
        ids = self.fresh(shape, PARAMETER, name)
        if isinstance(exponent, OuterExponent):  # E[o, j] = row[o] - col[j]
            row, col = exponent.row[:, None], exponent.col[None, :]
            if exponent.transposed:  # stored as (in, out)
                row, col = row.T, col.T
            op, self.dataflow.current = self.dataflow.current, ALWAYS  # true for every op
            self.define(ids, [(1, row), (-1, col)])
            self.dataflow.current = op
        self.exponents[name] = FieldExponent(ids)
        self._entry_symbols.add(name)
        return ids

    def require_param_zero(self, name: str) -> None:
        exponent = self.exponents.get(name)
        if isinstance(exponent, OuterExponent):  # row[o] - col[j] = 0: one common shift
            for side in (exponent.row, exponent.col):
                self._state(self.eliminator.equal, side, exponent.col[:1], pin=True)
        else:
            self.require_zero(self.param_field(name))

    def neuron_label(self, name: str) -> str:
        """Group label for the output channels of a weight: its module's path."""
        return name.rsplit(".", 1)[0] if "." in name else name

    # -- reporting -----------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The path of the module the trace is in ("" at the top level)."""
        return self.module_path[-1] if self.module_path else ""

    def report_unsupported(self, what: str) -> None:
        """Name a refusal of the current op: it held values at exponent 0 because it is not
        homogeneous (or not understood). It goes to ``report.unsupported`` with what it
        pinned (to ``report.notes`` if it pinned nothing)."""
        self._reports.append((self.dataflow.current, REFUSAL, self.where, what))

    def report_note(self, what: str) -> None:
        """Name something the current op requires exactly (no symmetry given up for safety):
        it goes to ``report.notes``."""
        self._reports.append((self.dataflow.current, NOTE, self.where, what))

    def record_flow(self, inputs: Iterable, outputs: Iterable, gate: bool = False) -> None:
        """Close the current op: which tensors it read and wrote, and whether it is a gate."""
        self.dataflow.close((self.key(x) for x in inputs if isinstance(x, Value)),
                            (self.key(x) for x in outputs if isinstance(x, Value)), gate)

    # -- the end of the trace -------------------------------------------------------------------
    def finish(self, outputs: Sequence[torch.Tensor]) -> set:
        """Apply the constraints of the ops that reach the outputs, and those of escaping ops.

        Escaping ops that do not visibly reach an output are applied last; one that still
        removes a symmetry then is named in ``unsupported``. Returns the live keys.
        """
        for tensor in outputs:
            self.require_zero(self.field(tensor))
        for op, field, module, reason in self.guards.unkept(self.flow):
            self._pending.append((op, Pin(self.eliminator.zero), (field,)))
            self._reports.append((op, REFUSAL, module, reason))
        output_keys = [self.key(t) for t in outputs]
        live_ops, live_keys = self.dataflow.live(output_keys)
        live_ops.add(ALWAYS)
        # Escaping ops, and the ops that feed them, count whether or not they reach an output.
        kept_ops, kept_keys = self.dataflow.live(output_keys, self.dataflow.escaping)
        hidden = [(op, method, args) for op, method, args in self._pending
                  if op not in live_ops and op in kept_ops]
        refusing = {op for op, kind, _, _ in self._reports if kind == REFUSAL}
        ranges: Dict[int, List[Tuple[int, int]]] = {}  # what each refusal pinned

        relaxed, applied = bool(self.eps_sites), self.applied

        def measured(op: int, method: Callable, args: tuple) -> None:
            rank = self.eliminator.rank
            method(*args)
            if self.eliminator.rank > rank:
                ranges.setdefault(op, []).append((rank, self.eliminator.rank))

        for entries, everything in ((self._pending, False), (hidden, True)):
            for op, method, args in entries:
                if not everything and op not in live_ops:
                    continue
                if applied is not None:
                    applied.append((op, method, args))
                if relaxed and isinstance(method, Relaxed):
                    continue
                if everything or (op in refusing and isinstance(method, Pin)):
                    measured(op, method, args)
                else:
                    method(*args)
        self._pending.clear()
        for op, method, args in self._partly_read(live_keys | kept_keys):
            if applied is not None:
                applied.append((op, method, args))
            measured(op, method, args)
            live_ops.add(op)
        named = {op for op, *_ in self._reports}
        reports = self._reports + [
            (op, REFUSAL, "", f"{self.dataflow.names.get(op) or 'an op'}: reaches the output only "
             "through a result the trace cannot follow (integer or boolean results, no "
             "autograd history, TorchScript objects); its constraints are kept")
            for op in sorted(set(ranges) - named)]
        entries = [(op, kind, self.dataflow.names.get(op, "") if op != ALWAYS else "", module,
                    detail) for op, kind, module, detail in reports]
        self.unsupported, self.notes = sort_findings(
            entries, live_ops | kept_ops, ranges,
            self.eliminator.pivot_order() if ranges else [], self.symbols, ALWAYS)
        return live_keys | kept_keys

    def _partly_read(self, live_keys: set) -> List[Tuple[int, Callable, tuple]]:
        """Pins for the parameters that reach an output but some of whose entries no
        constraint involved (``w[:graph.num_nodes()]`` reads the first rows): a larger input
        reads more entries, which must then scale with the rest in a way this trace cannot
        see, so the whole parameter is held at exponent 0, as a refusal (its cost: what the
        read entries pinned)."""
        pins = []
        for name, exponent in self.exponents.items():
            if f"p:{name}" in live_keys and name in self._entry_symbols:
                unread = self.eliminator.untouched(exponent.ids)
                if unread.any():
                    op = len(self.dataflow) + len(pins)
                    self._reports.append((op, REFUSAL, "", (
                        f"{name}: {int(unread.sum())} of {unread.size} entries did not reach "
                        "an output on these inputs (a slice or index taken from the input?); "
                        "another input may read them, so the parameter is held at exponent 0")))
                    unread_ids = exponent.ids[unread]  # the false groups: not a cost
                    self.eliminator.zero(unread_ids)
                    if self.applied is not None:
                        self.applied.append((op, self.eliminator.zero, (unread_ids,)))
                    pins.append((op, Pin(self.eliminator.zero), (exponent.ids[~unread],)))
        return pins

    def aliases(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """Other traced tensors that share ``tensor``'s memory (views of it, or it of them)."""
        return [t for t in self.memory.sharing(tensor) if id(t) in self._fields]
