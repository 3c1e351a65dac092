"""What :func:`dglbal.analyze` checks before it runs a model, and the wrappers it looks through.

- ``model`` must be an ``nn.Module`` with parameters, all of them (and its buffers) holding
  values: a model on the ``meta`` device is refused, naming the parameters.
- Wrappers that only dispatch to another module are unwrapped, and the report says so:
  ``torch.compile``'s ``OptimizedModule`` (``_orig_mod``: the analyser must see the eager ops,
  not the compiled graph), ``DataParallel`` and ``DistributedDataParallel`` (``module``).
  Parameter names are those of the wrapped module (``fc.weight``, not ``_orig_mod.fc.weight``
  or ``module.fc.weight``), so one report fits the module and every wrapper of it
  (``SymmetryReport.rescale_`` and :mod:`dglbal.balance` unwrap the same way). Compiled
  submodules run with dynamo off during the trace.
- Keyword arguments for ``forward`` (``forward_kwargs``) must be a mapping with string keys
  (:func:`keyword_inputs`); they are inputs like the positional ones.
- An exception raised by the model while it runs on the example inputs is re-raised as
  :class:`ModelRunError`, naming the model and the inputs' types.
"""
from __future__ import annotations

import importlib
from typing import (Any, Callable, ContextManager, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import torch
from dgl import DGLGraph
from torch import nn

__all__ = ["ModelRunError", "check_model", "unwrap", "run_eagerly", "model_constants",
           "keyword_inputs", "numbers_among", "describe_inputs", "output_tensors"]


class ModelRunError(RuntimeError):
    """The model raised while :func:`dglbal.analyze` ran it on the example inputs.

    A ``RuntimeError`` naming the model, its error and the inputs' types.

    Parameters
    ----------
    *args
        The message, as for ``RuntimeError``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dglbal import analyze
    >>> try:
    ...     analyze(nn.Linear(4, 2), torch.randn(5, 3))  # features of the wrong width
    ... except ModelRunError as error:
    ...     print(str(error)[:60])
    analyze runs the model once on the example inputs, and Linea
    """


def _wrapped(model: nn.Module) -> Tuple[Any, str]:
    """The module a dispatching wrapper runs, and a note, or (None, "")."""
    if _is_compiled(model):
        return model._orig_mod, ("torch.compile: analysed the original module (_orig_mod), run "
                       "eagerly; the compiled graph computes the same function")
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return model.module, (f"{type(model).__name__}: analysed the wrapped module "
                              "(module), run on one device")
    return None, ""


def unwrap(model: nn.Module) -> Tuple[nn.Module, List[str]]:
    """The module to trace, and notes naming the wrappers looked through."""
    notes: List[str] = []
    inner, note = _wrapped(model)
    while inner is not None:
        model = inner
        notes.append(note)
        inner, note = _wrapped(model)
    return model, notes


def _is_compiled(module: nn.Module) -> bool:
    return type(module).__name__ == "OptimizedModule" and "_orig_mod" in module._modules


def run_eagerly(model: nn.Module, notes: List[str]) -> ContextManager:
    """A context in which ``torch.compile``'d submodules and functions run their original
    code eagerly (dynamo off), so that the trace sees their ops; a note names the modules.
    (Dynamo tracing under the trace's function mode aborted the process.)"""
    compiled = [name for name, m in model.named_modules() if _is_compiled(m)]
    if compiled:
        notes.append(f"torch.compile'd submodules ({', '.join(compiled)}) were run eagerly: "
                     "their original code, which the compiled graph computes")
    # Loaded here, not at import (half a second): a function compiled inside the forward
    # would load it only during the trace.
    return importlib.import_module("torch._dynamo").config.patch(disable=True)


def check_model(model: Any) -> List[Tuple[str, nn.Parameter]]:
    """Refuse what cannot be analysed, before anything runs; returns its named parameters.

    Raises
    ------
    TypeError
        ``model`` is not an ``nn.Module``.
    ValueError
        It has no parameters, or parameters / buffers on the ``meta`` device (no values to
        run it on).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"analyze: model must be a torch.nn.Module, got "
                        f"{type(model).__name__}")
    named = list(model.named_parameters())
    if not named:
        raise ValueError(f"analyze: model {type(model).__name__} has no parameters to analyse")
    meta = [n for n, p in named if p.is_meta] + [
        n for n, b in model.named_buffers() if b.is_meta]
    if meta:
        shown = ", ".join(meta[:5]) + (f" and {len(meta) - 5} more" if len(meta) > 5 else "")
        raise ValueError(f"analyze: model {type(model).__name__} has tensors on the meta device "
                         f"({shown}), which hold no values to run it on; materialise them "
                         "first, e.g. model.to_empty(device='cpu') and then initialise the "
                         "parameters (reset_parameters() or load_state_dict)")
    return named


def model_constants(model: nn.Module) -> List[torch.Tensor]:
    """The model's own data: buffers and plain tensor attributes of its modules (not computed
    from parameters). Their values do not depend on the inputs (see ``.constants``)."""
    attributes = [v for m in model.modules() for v in vars(m).values()
                  if isinstance(v, torch.Tensor) and not v.requires_grad]
    return list(model.buffers()) + attributes


def keyword_inputs(forward_kwargs: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``forward_kwargs`` (keyword arguments for the model's ``forward``) as a new dict.

    Parameters
    ----------
    forward_kwargs : mapping of str to object, or None
        What ``model(*inputs, **forward_kwargs)`` takes by keyword (``edge_weight=w``);
        ``None`` for none.

    Returns
    -------
    dict
        The same items.

    Raises
    ------
    TypeError
        If ``forward_kwargs`` is not a mapping, or a key is not a string.

    Examples
    --------
    >>> keyword_inputs(None), keyword_inputs({"edge_weight": None})
    ({}, {'edge_weight': None})
    """
    if forward_kwargs is None:
        return {}
    if not isinstance(forward_kwargs, Mapping):
        raise TypeError(f"forward_kwargs must be a dict of keyword arguments for the model's "
                        f"forward, e.g. {{'edge_weight': w}}, got {type(forward_kwargs).__name__}")
    bad = [key for key in forward_kwargs if not isinstance(key, str)]
    if bad:
        raise TypeError(f"forward_kwargs' keys must be argument names (str), got {bad[0]!r}")
    return dict(forward_kwargs)


def numbers_among(inputs: Any) -> Tuple[bool, bool]:
    """Whether Python floats (or complex numbers), and whether Python integers, are among
    (nested tuples, lists and dicts of) the example inputs.

    A number passed to the model (a threshold, a shift, a number of steps) is input data that
    is already in Python: another input may pass another value where these pass 0, so the
    trace starts as if such values had entered Python (see ``.constants``: after floats no
    Python number is trusted, after integers no finite one). Booleans (flags) do not count.

    Parameters
    ----------
    inputs : object
        The example inputs, or one of them.

    Returns
    -------
    tuple of bool
        (a float or complex number is among them, an int that is not a bool is).

    Examples
    --------
    >>> numbers_among((torch.ones(2), {"shift": 0.0})), numbers_among((torch.ones(2), 3, True))
    ((True, False), (False, True))
    """
    leaves = list(_leaves(inputs))
    return (any(isinstance(leaf, (float, complex)) for leaf in leaves),
            any(isinstance(leaf, int) and not isinstance(leaf, bool) for leaf in leaves))


def _leaves(value: Any) -> Iterator[Any]:
    """The values in (nested) tuples, lists and dict values, in order; any other value is a
    leaf itself."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value


def describe_inputs(inputs: Sequence[Any], keywords: Optional[Mapping[str, Any]] = None,
                    graph: Optional[Callable[[Any], str]] = None) -> str:
    """Inputs for messages: tensors by shape, dtype and (off the CPU) device, graphs by
    ``graph`` (by default their type, nodes and edges), lists and tuples item by item, other
    values by type, keyword inputs by name; ``"; "`` between inputs.

    Parameters
    ----------
    inputs : sequence
        The positional inputs.
    keywords : mapping of str to object, optional
        The keyword inputs.
    graph : callable, optional
        Describes a ``DGLGraph`` (the test kit lists small graphs' edges, to rebuild them).

    Returns
    -------
    str
        The description, ``"no inputs"`` for none.

    Examples
    --------
    >>> import torch
    >>> describe_inputs([torch.ones(2, 3), [1.0]], {"edge_weight": torch.ones(4)})
    'Tensor(2, 3) float32; [float]; edge_weight=Tensor(4,) float32'
    """
    def one(value: Any) -> str:
        if isinstance(value, DGLGraph):
            return graph(value) if graph is not None else \
                f"{type(value).__name__} of {value.num_nodes()} nodes, {value.num_edges()} edges"
        if isinstance(value, torch.Tensor):
            device = "" if value.device.type == "cpu" else f" on {value.device}"
            return f"Tensor{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}{device}"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(one(v) for v in value) + "]"
        return type(value).__name__
    described = [one(v) for v in inputs] + [f"{k}={one(v)}" for k, v in (keywords or {}).items()]
    return "; ".join(described) or "no inputs"


def output_tensors(out: Any) -> List[torch.Tensor]:
    """The tensors a model returned: one, or those in (nested) tuples, lists and dicts; other
    values (numbers, strings) are not outputs the analyser keeps invariant.

    Parameters
    ----------
    out : object
        What the model returned.

    Returns
    -------
    list of torch.Tensor
        Its tensors, in order.

    Examples
    --------
    >>> import torch
    >>> output_tensors({"logits": torch.ones(1), "extra": (torch.zeros(2), 3)})
    [tensor([1.]), tensor([0., 0.])]
    """
    return [leaf for leaf in _leaves(out) if isinstance(leaf, torch.Tensor)]
