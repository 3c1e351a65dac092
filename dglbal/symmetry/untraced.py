"""Tensors computed from parameters by ops the trace did not see, read from their autograd
graphs (used by :meth:`~dglbal.symmetry.context.TraceContext.field`).

Basic indexing with Python slices and ints skips torch's function modes: such views are
replayed from their autograd nodes (:func:`replay_view`). For anything else (what a
``torch.func`` transform such as ``vmap`` returns: the ops on its batched tensors are not
recorded, their rules would see one sample's shapes) the traced tensors and parameters it
depends on are found (:func:`autograd_sources`), to be held at exponent 0.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from .core.fields import Field, as_array

__all__ = ["NOT_A_VIEW", "UNSEEN", "untracked_field", "replay_view", "autograd_sources"]

NOT_A_VIEW = object()
UNSEEN = ("inside torch.func.vmap or grad, under DisableTorchFunction, or in an extension "
          "that bypasses torch's function modes")
"""Where the ops that make untraced tensors run, for the report."""


def untracked_field(ctx: Any, x: Any) -> Any:
    """The field of a parameter-dependent tensor made by an op the trace did not see (for
    :meth:`~dglbal.symmetry.context.TraceContext.field`).

    Basic indexing with Python slices and ints skips torch's function modes; such views are
    replayed from their autograd nodes. Anything else is unknown: its sources (traced tensors
    and parameters, found through the autograd graph) are held at exponent 0. Either way the
    sources are linked to the tensor, so that what made them stays live. A tensor with no
    such sources (an input computed with autograd outside the model) is data.
    """
    sources: List[str] = []
    field = replay_view(ctx, ctx.by_grad_fn, x.grad_fn, x.output_nr, sources)
    if field is NOT_A_VIEW:
        field = None
        found = autograd_sources(ctx, ctx.by_grad_fn, x.grad_fn, x.output_nr)
        if found:
            ctx.report_unsupported(f"untraced op {type(x.grad_fn).__name__} (run where the "
                                   f"trace cannot see: {UNSEEN})")
        for node_field, key in found:
            sources.append(key)
            if key.startswith("p:"):
                ctx.require_param_zero(key[2:])
            else:
                ctx.require_zero(node_field)
    ctx.set_field(x, field)
    ctx.dataflow.link(sources, ctx.key(x))
    return ctx.field(x)


def replay_view(ctx: Any, recorded: Dict[Tuple[int, int], Tuple[Field, str]], node: Any,
                nr: int, sources: List[str]) -> Any:
    """The field of a chain of slices, selections and unsqueezes of a traced tensor (or of a
    parameter), read from its autograd nodes; ``NOT_A_VIEW`` for anything else.
    ``recorded`` maps (autograd node id, output number) to (field, key) of traced tensors; the
    keys of what it reads are appended to ``sources``."""
    if (id(node), nr) in recorded:
        field, key = recorded[(id(node), nr)]
        sources.append(key)
        return field
    variable = getattr(node, "variable", None)
    if variable is not None and ctx.param_name(variable) is not None:
        sources.append(ctx.key(variable))
        return ctx.param_field(ctx.param_name(variable))
    kind = type(node).__name__
    if kind not in ("SliceBackward0", "SelectBackward0", "UnsqueezeBackward0"):
        return NOT_A_VIEW
    parent, parent_nr = node.next_functions[0]
    source = replay_view(ctx, recorded, parent, parent_nr, sources)
    if source is NOT_A_VIEW:
        return NOT_A_VIEW
    dim = node._saved_dim
    if kind == "UnsqueezeBackward0":
        return None if source is None else np.expand_dims(source, dim)
    sizes = tuple(node._saved_self_sym_sizes)
    full = np.broadcast_to(as_array(source, len(sizes)), sizes)
    index = [slice(None)] * len(sizes)
    index[dim] = (node._saved_index if kind == "SelectBackward0" else
                  slice(node._saved_start, node._saved_end, node._saved_step))
    return full[tuple(index)]


def autograd_sources(ctx: Any, recorded: Dict[Tuple[int, int], Tuple[Field, str]],
                     node: Any, nr: int) -> List[Tuple[Field, str]]:
    """(field, key) of the traced tensors and parameters an untraced tensor depends on (its
    autograd graph; ``recorded`` as in :func:`replay_view`)."""
    # ``seen`` keeps the nodes alive: a C++ node's Python object is made on access and freed
    # with its last reference, and a new one may take a freed object's id (a branch mistaken
    # for one already walked would hide the parameters behind it).
    found, seen, stack = [], {}, [(node, nr)]
    while stack:
        node, nr = stack.pop()
        if node is None or (id(node), nr) in seen:
            continue
        seen[(id(node), nr)] = node
        if (id(node), nr) in recorded:
            found.append(recorded[(id(node), nr)])
            continue
        variable = getattr(node, "variable", None)
        if variable is not None:
            if ctx.param_name(variable) is not None:
                found.append((None, ctx.key(variable)))
            continue
        stack.extend(node.next_functions)
    return found
