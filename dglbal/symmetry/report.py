"""What the analyser found: neuron groups, their exponents, and rescaling along them."""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .arguments import unwrap
from .core.algebra import SymbolTable
from .core.groups import ExponentTable

__all__ = ["NeuronGroup", "ApproximateGroup", "SymmetryReport", "find_gates"]


class NeuronGroup:
    """One independent rescale symmetry: ``theta_k -> lambda ** e_k * theta_k``.

    For a hidden neuron, ``incoming`` holds the entries with exponent +1 (its incoming weights
    and bias), ``outgoing`` those with -1 (outgoing weights, attention entries).

    Parameters
    ----------
    report : SymmetryReport
        The report it belongs to (its exponent table).
    index : int
        Its position in ``report.groups``.
    name : str
        A readable name: the neuron's module and channel (``"conv1.fc_src channel 0"``).

    Attributes
    ----------
    eps : dict
        {site (op and module): (eps, p)} for every eps the group moves.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> group = analyze(model, torch.randn(5, 3)).groups[0]
    >>> group.name
    '0 channel 0'
    >>> group.incoming
    {'0.weight': tensor([0, 1, 2]), '0.bias': tensor([0])}
    >>> group.outgoing
    {'2.weight': tensor([0, 4])}
    >>> group.exponents("2.weight")
    tensor([[-1.,  0.,  0.,  0.],
            [-1.,  0.,  0.,  0.]], dtype=torch.float64)
    """

    def __init__(self, report: "SymmetryReport", index: int, name: str) -> None:
        self._report = report
        self.index = index
        self.name = name

    @property
    def _table(self) -> ExponentTable:
        return self._report.table

    def _slice(self, param: str):
        table = self._table
        if param not in table.params:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return table.group_slice(param, self.index)

    @property
    def parameters(self) -> List[str]:
        """Names of the parameters this group touches."""
        return [p for p in self._table.params if len(self._slice(p)[0])]

    def exponents(self, name: str) -> torch.Tensor:
        """Dense float64 tensor of the parameter's shape: each entry's power of lambda."""
        shapes = self._table.shapes
        if name not in shapes:
            raise ValueError(f"exponents: the model has no parameter {name!r}; its parameters "
                             f"are {', '.join(shapes) or 'none'}")
        shape = shapes[name]
        dense = np.zeros(int(np.prod(shape, dtype=np.int64)))
        flat, values = self._slice(name)
        dense[flat] = values
        return torch.from_numpy(dense.reshape(shape))

    def _entries_with(self, sign: float) -> Dict[str, torch.Tensor]:
        out = {}
        for name in self.parameters:
            flat, values = self._slice(name)
            chosen = flat[values == sign]
            if len(chosen):
                out[name] = torch.from_numpy(chosen)
        return out

    @property
    def incoming(self) -> Dict[str, torch.Tensor]:
        """{parameter name: flat indices} of the entries with exponent +1."""
        return self._entries_with(1.0)

    @property
    def outgoing(self) -> Dict[str, torch.Tensor]:
        """{parameter name: flat indices} of the entries with exponent -1."""
        return self._entries_with(-1.0)

    def __repr__(self) -> str:
        return f"NeuronGroup({self.name!r}, parameters={self.parameters})"


class ApproximateGroup(NeuronGroup):
    """A rescale symmetry that holds up to eps (``analyze(..., up_to_eps=True)``).

    Rescaling along it by lambda computes the model with each eps in ``eps`` replaced by
    ``eps * lambda ** -p``: the outputs change by at most ``|lambda ** -p - 1| * eps`` times
    their largest derivative in eps on the way (see :mod:`dglbal.symmetry.approximate`).

    Parameters
    ----------
    report : SymmetryReport
        The report it belongs to.
    index : int
        Its position in ``report.approximate_groups``.
    name : str
        A readable name (``"0 channel 0"``).
    table : ExponentTable
        The exponents of the approximate groups.
    eps : mapping
        ``{site: (eps, p)}``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.LayerNorm(4), nn.Linear(4, 2))
    >>> report = analyze(model, torch.randn(5, 3), up_to_eps=True)
    >>> len(report.groups), len(report.approximate_groups)
    (4, 1)
    >>> report.approximate_groups[0].eps
    {'F.layer_norm in 2': (1e-05, 2.0)}
    """

    def __init__(self, report: "SymmetryReport", index: int, name: str, table: ExponentTable,
                 eps: Mapping[str, Tuple[float, float]]) -> None:
        super().__init__(report, index, name)
        self._approximate = table
        self.eps = dict(eps)

    @property
    def _table(self) -> ExponentTable:
        return self._approximate

    def __repr__(self) -> str:
        return f"ApproximateGroup({self.name!r}, parameters={self.parameters}, eps={self.eps})"


def _group_name(symbols: SymbolTable, symbol: int) -> str:
    label, index = symbols.label(symbol)
    where = " ".join(str(i) for i in index)
    return f"{label} channel {where}" if len(index) == 1 else f"{label} entry ({where})"


class SymmetryReport:
    """Result of :func:`dglbal.analyze` (made by it, not by hand).

    Entries of ``unsupported`` and ``notes`` made by the trace are
    :class:`~dglbal.symmetry.findings.Finding` strings with their parts (``op``, ``module``,
    ``detail``, ``cost``, ``pinned``).

    Parameters
    ----------
    table : ExponentTable
        The exponents of the groups.
    symbols : SymbolTable
        The symbols of the trace.
    unsupported, gates, parameter_order : sequence of str
        The refusals, the gate parameters and the model's parameter names in order.
    weight_roles : mapping, optional
        The roles of the linear weights.
    notes : sequence of str, optional
        The notes.
    approximate : (ExponentTable or None, sequence of mappings), optional
        The approximate groups' table and their eps sites.

    Attributes
    ----------
    groups : list of NeuronGroup
        One per independent symmetry, in forward order.
    unsupported : list of str
        Refusals: ops and modules treated as non-homogeneous (what they read held at exponent
        0), with the module they ran in and what that pinned ("pinned 3 exponents (conv1.fc:
        3)": exponents no constraint before had fixed, by neuron or parameter).
    gates : list of str
        Parameters that reach the output only through gates: a softmax over attention logits,
        DGL's edge softmax, or an op registered with ``gate=True`` (attention vectors).
    table : ExponentTable
        The exponents per parameter: weights in outer form (groups per output and input
        channel), the others as sparse (entry, group, value) triplets; ``table.entries``
        expands any of them to triplets.
    weight_roles : dict
        For weights used as linear maps: (position, stored transposed), position one of
        ``first`` (data to hidden), ``hidden``, ``last`` (hidden to output), ``none``.
    notes : list of str
        Informational, nothing given up for safety: how the model was read (wrappers looked
        through: ``torch.compile``, ``DataParallel``), what ops require exactly (rows chosen
        by an index tensor share one exponent, a sort or argmax one common scale), refusals
        that pinned nothing other constraints had not already fixed.
    approximate_groups : list of ApproximateGroup
        With ``analyze(..., up_to_eps=True)``: the symmetries that hold up to the eps of
        normalizations, ``x + eps`` and ``clamp(min=eps)``, apart from (and independent of)
        ``groups``; empty otherwise.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> report = analyze(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
    ...                  torch.randn(5, 3))
    >>> len(report.groups), report.unsupported
    (0, ['torch.tanh in 1; pinned 4 exponents (0: 4)'])
    >>> report = analyze(model, torch.randn(5, 3))
    >>> lambdas = torch.full((len(report.groups),), 2.0)
    >>> x = torch.randn(5, 3)
    >>> before = model(x)
    >>> torch.allclose(report.rescale_(model, lambdas)(x), before, atol=1e-6)
    True
    """

    def __init__(self, table: ExponentTable, symbols: SymbolTable, unsupported: Sequence[str],
                 gates: Sequence[str], parameter_order: Sequence[str],
                 weight_roles: Mapping[str, tuple] = (), notes: Sequence[str] = (),
                 approximate: Tuple[Optional[ExponentTable], Sequence[Mapping]] = (None, ())
                 ) -> None:
        self.table = table
        self.notes = list(notes)
        self.weight_roles = dict(weight_roles)
        self.unsupported = list(unsupported)
        self.gates = list(gates)
        self.parameter_order = [p for p in parameter_order if p in table.params]
        self.groups = [NeuronGroup(self, g, _group_name(symbols, int(s)))
                       for g, s in enumerate(table.groups.tolist())]
        relaxed, bounds = approximate
        self.approximate_groups = [] if relaxed is None else [
            ApproximateGroup(self, g, _group_name(symbols, int(s)), relaxed, eps)
            for g, (s, eps) in enumerate(zip(relaxed.groups.tolist(), bounds))]

    def __len__(self) -> int:
        return len(self.groups)

    def log_factors(self, log_lambdas: torch.Tensor) -> Dict[str, torch.Tensor]:
        """{parameter: sum_g e_gk * log_lambdas[g]} as flat float64 tensors."""
        log_lambdas = torch.as_tensor(log_lambdas).detach().double().cpu().numpy()
        if log_lambdas.shape != (len(self.groups),):
            raise ValueError(f"log_lambdas: need one value per group ({len(self.groups)}), got "
                             f"shape {log_lambdas.shape}")
        shapes = self.table.shapes
        return {name: torch.from_numpy(entries.combine(log_lambdas, int(np.prod(
                    shapes[name], dtype=np.int64))))
                for name, entries in self.table.params.items()}

    @torch.no_grad()
    def rescale_(self, model: nn.Module,
                 lambdas: Union[torch.Tensor, Sequence[float]]) -> nn.Module:
        """``theta_k *= prod_g lambdas[g] ** e_gk``, in place (lambdas positive and finite, one
        per group). Checks the model and the lambdas before anything changes."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"rescale_: model must be a torch.nn.Module, got "
                            f"{type(model).__name__}")
        try:
            lambdas = torch.as_tensor(lambdas, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"rescale_: lambdas must be a tensor or sequence of numbers, got "
                            f"{type(lambdas).__name__}") from error
        if lambdas.shape != (len(self.groups),):
            raise ValueError(f"rescale_: need one lambda per group ({len(self.groups)}), got "
                             f"shape {tuple(lambdas.shape)}")
        if not torch.all((lambdas > 0) & torch.isfinite(lambdas)):
            raise ValueError("rescale_: lambdas (rescaling factors) must be positive and finite")
        params = dict(unwrap(model)[0].named_parameters())
        for name in self.table.params:
            if name not in params or tuple(params[name].shape) != tuple(self.table.shapes[name]):
                raise ValueError(f"rescale_: the report was made for another model: parameter "
                                 f"{name!r} of shape {tuple(self.table.shapes[name])} is not "
                                 f"in this {type(model).__name__}")
        scaled = {}  # in float64, checked before anything changes
        for name, log_factor in self.log_factors(lambdas.log()).items():
            p = params[name].detach()
            value = p.double() * log_factor.exp().to(p.device).view_as(p)
            overflow = torch.isfinite(p) & ~(value.abs() <= torch.finfo(p.dtype).max)
            if overflow.any():
                raise ValueError(f"rescale_: these lambdas would make {int(overflow.sum())} "
                                 f"entries of parameter {name!r} overflow {p.dtype} (the model "
                                 "is left unchanged); use lambdas nearer 1")
            scaled[name] = value
        with torch.no_grad():
            for name, value in scaled.items():
                params[name].copy_(value)
        return model

    def __str__(self) -> str:
        per_module = Counter(g.name.rsplit(" channel", 1)[0].rsplit(" entry", 1)[0]
                             for g in self.groups)
        lines = [f"SymmetryReport: {len(self.groups)} rescale groups over "
                 f"{len(self.table.params)} parameters"]
        for module, count in per_module.items():
            lines.append(f"  {module:<40} {count:>6} groups")
        if self.gates:
            lines.append(f"  gate parameters (reach the output only through a softmax): "
                         f"{', '.join(self.gates)}")
        if self.approximate_groups:
            lines.append(f"  {len(self.approximate_groups)} approximate groups (up to eps)")
        if self.unsupported:
            lines.append("  treated as non-homogeneous (held at exponent 0):")
            lines.extend(f"    {u}" for u in self.unsupported)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    __repr__ = __str__


def find_gates(flow: Iterable[Tuple[int, Sequence[str], Sequence[str], bool]],
               output_keys: Sequence[str], parameters: Iterable[str]) -> List[str]:
    """Parameters with no path to the outputs that avoids a gate.

    Parameters
    ----------
    flow : iterable of (op, input keys, output keys, is_gate)
        The data-flow graph of the trace (``TraceContext.flow``); ``is_gate`` is what the
        registry says of the op (``register_op_rule(..., gate=True)``).
    output_keys : sequence of str
        Keys of the model's outputs.
    parameters : iterable of str
        Parameter names (a mapping's keys are used), in the order to report them.

    Returns
    -------
    list of str
        The gate parameters, in the order of ``parameters``.
    """
    producers: Dict[str, List[str]] = {}
    for _, ins, outs, gate in flow:
        if not gate:
            for o in outs:
                producers.setdefault(o, []).extend(ins)
    reached, stack = set(), list(output_keys)
    while stack:
        key = stack.pop()
        if key in reached:
            continue
        reached.add(key)
        stack.extend(producers.get(key, ()))
    return [name for name in parameters if f"p:{name}" not in reached]
