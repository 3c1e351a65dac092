"""The rescale-invariance analyser: ``analyze(model, *example_inputs)``.

Layout, lowest first (imports run one way, down this list):

- :mod:`.core` is numpy only: symbols and exact elimination (:mod:`.core.algebra`), exponent
  fields (:mod:`.core.fields`) and the exponent tables the groups are read from
  (:mod:`.core.groups`).
- ``.constants`` (constants of the model), :mod:`.guards` (division guards),
  :mod:`.approximate` (eps sites and the relaxed system of ``up_to_eps``), :mod:`.findings`
  (refusals and notes) and :mod:`.untraced` (tensors made by ops the trace did not see) serve
  :mod:`.context`, which holds the state of one trace, which rules write to;
  :mod:`.report` is the result (:class:`SymmetryReport`).
- :mod:`.rules` holds the per-op rules by family: :mod:`.rules.torch_ops` (elementwise),
  :mod:`.rules.indexing`, :mod:`.rules.reduction`, :mod:`.rules.linear`,
  :mod:`.rules.contractions` (other products of tensors), :mod:`.rules.recurrent`,
  :mod:`.rules.torch_sparse` (torch's sparse tensors), :mod:`.rules.dgl_sparse` (``dgl.sparse``),
  :mod:`.rules.dgl_message_passing` (DGL's message passing) and :mod:`.rules.hgt`
  (``HGTConv``), with :mod:`.rules.helpers` for rule authors and :mod:`.rules.registry`, where
  rules for custom ops and modules are registered (``gate=True`` for gates).
- :mod:`.tracer` records a forward pass and hands each op to its rule.

The rules for dglbal's own attention kernels live with the kernels
(``dglbal.nn.kernels.attention_rules``) and register when ``dglbal.nn`` is imported.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Optional

import torch
from torch import nn

from . import rules  # noqa: F401  (registers the built-in rules)
from .approximate import relaxed_groups
from .arguments import (ModelRunError, check_model, describe_inputs, keyword_inputs,
                        model_constants, numbers_among, output_tensors, run_eagerly, unwrap)
from .context import TraceContext
from .core.groups import assemble, weight_roles
from .rules.registry import RuleError, register_module_rule, register_op_rule
from .findings import Finding
from .report import ApproximateGroup, NeuronGroup, SymmetryReport, find_gates
from .tracer import Tracer

__all__ = ["analyze", "SymmetryReport", "NeuronGroup", "ApproximateGroup", "Finding",
           "TraceContext", "ModelRunError", "RuleError", "output_tensors", "register_module_rule",
           "register_op_rule"]


@contextlib.contextmanager
def _left_as_found(model: nn.Module) -> Iterator[None]:
    """The probe run changes nothing: train / eval flags, buffers (BatchNorm running
    statistics, num_batches_tracked), tensors a module caches in its attributes (SGConv's
    ``_cached_h``, which would keep the trace's autograd history) and the global random
    state are restored."""
    modes = [(m, m.training) for m in model.modules()]
    attributes = [(m, {k: v for k, v in vars(m).items() if v is None or
                       isinstance(v, torch.Tensor)}) for m in model.modules()]
    buffers = [(m, dict(m._buffers), {n: b.detach().clone() for n, b in m._buffers.items()
                                      if b is not None}) for m in model.modules()]
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        for module, training in modes:
            module.training = training
        for module, saved_attributes in attributes:
            for name, value in list(vars(module).items()):
                if name in saved_attributes and value is not saved_attributes[name]:
                    setattr(module, name, saved_attributes[name])
                elif name not in saved_attributes and isinstance(value, torch.Tensor):
                    delattr(module, name)  # cached by the probe run
        with torch.no_grad():
            for module, own, saved in buffers:
                if not isinstance(module, torch.jit.ScriptModule):  # its buffers stay put
                    module._buffers.clear()
                    module._buffers.update(own)
                for name, value in saved.items():
                    own[name].copy_(value)


@contextlib.contextmanager
def _all_parameters_require_grad(model: nn.Module) -> Iterator[None]:
    """Frozen parameters are still parameters: let the trace see what depends on them."""
    frozen = [p for p in model.parameters() if not p.requires_grad and
              (p.is_floating_point() or p.is_complex())]  # integers cannot require grad
    for p in frozen:
        p.requires_grad_(True)
    try:
        with torch.enable_grad():
            yield
    finally:
        for p in frozen:
            p.requires_grad_(False)


def analyze(model: nn.Module, *example_inputs: Any, up_to_eps: bool = False,
            forward_kwargs: Optional[Mapping[str, Any]] = None) -> SymmetryReport:
    """Find every rescale symmetry of ``model``'s parameters by running it once.

    Each group is a symmetry ``theta_k -> lambda ** e_k * theta_k`` (any lambda > 0) under which
    the outputs do not change; for a hidden ReLU neuron its incoming weights get +1 and its
    outgoing weights (and attention entries) -1. Ops that are not positively homogeneous hold
    what they touch at exponent 0 and are listed in ``report.unsupported`` (with what each
    pinned); ``report.notes`` says what was read exactly but is worth knowing.

    With ``up_to_eps=True``, ``report.approximate_groups`` also lists the symmetries that hold
    up to the eps of normalizations (LayerNorm, BatchNorm on batch statistics, ...), of
    ``x + eps`` and of ``clamp(min=eps)``, with the eps that bounds each (see
    :mod:`dglbal.symmetry.approximate`); ``report.groups`` is the same either way.

    ``example_inputs`` are passed to ``model``; dglbal's model builders make a small probe
    graph when they are omitted. The symmetries do not depend on the graph, unless the model's
    code does: a parameter these inputs read only in part (``w[:graph.num_nodes()]``) is held
    at exponent 0 and named in ``report.unsupported``, since a larger input reads the rest.
    A float among the inputs (a threshold, a shift) may be another number for other inputs:
    no Python number is then taken to be 0 for every input; after an int (a count, a number
    of steps) or a graph's degrees in Python, no finite one. Keyword inputs
    (``forward_kwargs``) are inputs like the positional ones.

    Parameters
    ----------
    model : nn.Module
        The model (a ``torch.compile``, ``DataParallel`` or DDP wrapper is looked through; the
        report names the wrapped module's parameters).
    *example_inputs
        What ``model(*example_inputs)`` takes; every node and edge type should have members.
    up_to_eps : bool, default False
        Also find the symmetries that hold up to an eps.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward, e.g. ``{"edge_weight": w}``: the model runs
        as ``model(*example_inputs, **forward_kwargs)``.

    Returns
    -------
    SymmetryReport
        The groups, refusals, gates and notes.

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module``, its output holds no tensor, or
        ``forward_kwargs`` is not a mapping of argument names.
    ValueError
        If ``model`` has no parameters or has parameters or buffers on the ``meta`` device.
    ModelRunError
        If the model raises on the example inputs.
    RuleError
        If a rule (built-in or registered) fails.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> report = analyze(GAT(16, 8, 3, num_layers=3))
    >>> len(report.groups)   # (L - 1) * width hidden neurons
    16
    """
    if not isinstance(up_to_eps, bool):
        raise TypeError(f"analyze: up_to_eps must be True or False, got {up_to_eps!r}")
    keywords = keyword_inputs(forward_kwargs)
    traced, notes = unwrap(model)
    named = check_model(traced)  # the wrapped module's names: the report fits it and its wrappers
    if not example_inputs:
        probe = getattr(traced, "probe_inputs", None)
        if probe is None:
            raise TypeError(f"pass example inputs: analyze(model, graph, features); "
                            f"{type(traced).__name__} cannot make its own")
        example_inputs = probe()
    ctx = TraceContext(named, constants=model_constants(traced))
    constants = ctx.constants
    constants.python_holds_data, constants.python_holds_integers = numbers_among(
        (example_inputs, keywords))
    if up_to_eps:
        ctx.applied = []  # the constraints, kept for the relaxed system
    with _left_as_found(traced), _all_parameters_require_grad(traced), \
            run_eagerly(traced, notes), Tracer(ctx, traced):
        try:
            out = traced(*example_inputs, **keywords)
        except RuleError:
            raise
        except Exception as error:
            first = (str(error).strip().splitlines() or [""])[0]  # not DGL's C++ stack
            raise ModelRunError(f"analyze runs the model once on the example inputs, and "
                                f"{type(traced).__name__} raised {type(error).__name__}: "
                                f"{first} (example inputs: "
                                f"{describe_inputs(example_inputs, keywords)}); "
                                "check that they are what its forward takes") from error
    outputs = output_tensors(out)
    if not outputs:
        raise TypeError(f"{type(traced).__name__} returned {type(out).__name__}; the analyser "
                        "needs a tensor (or a tuple, list or dict of tensors)")
    live = ctx.finish(outputs)
    # Parameters that never reach an output take part in no symmetry worth reporting.
    exponents = {n: e for n, e in ctx.exponents.items() if f"p:{n}" in live}
    shapes = {name: tuple(p.shape) for name, p in ctx.params.items()}
    table = assemble(ctx.eliminator, exponents, shapes)
    gates = find_gates(ctx.flow, [ctx.key(t) for t in outputs], table.params)
    approximate = relaxed_groups(ctx.symbols, ctx.applied, ctx.eps_sites, exponents, shapes) \
        if up_to_eps and ctx.eps_sites else (None, ())
    return SymmetryReport(table, ctx.symbols, ctx.unsupported, gates, [n for n, _ in named],
                          weight_roles(ctx.eliminator, exponents), notes + ctx.notes,
                          approximate)
