"""Calls put in positional form, so that rules can read an op's leading arguments by position
however the model wrote the call (``torch.sum(input=h, dim=0)``, ``torch.gt(h, other=1.0)``).

The order is the one Python uses: for torch functions and Tensor methods, ATen's schema (its
``self`` is ``input`` for a function and the receiver for a method), overload by overload; for
Python functions (``torch.nn.functional``), their signature. Only keywords that name the next
positional parameter move; keyword-only arguments (``dtype=``, ``alpha=``) stay keywords.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, Sequence, Tuple

import torch

__all__ = ["positional"]

Order = Tuple[Tuple[str, ...], frozenset]  # positional names, and every name the call takes

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@functools.lru_cache(maxsize=None)
def _orders(func: Any) -> Tuple[Order, ...]:
    """The parameter orders of ``func``, one per overload (empty if unknown)."""
    name = getattr(func, "__name__", "")
    method = getattr(func, "__objclass__", None) is not None
    schemas = []
    if name and (method or inspect.isbuiltin(func)):
        try:
            schemas = torch._C._jit_get_schemas_for_operator(f"aten::{name}")
        except RuntimeError:
            schemas = []
    if schemas:
        orders = []
        for schema in schemas:
            names = [a.name for a in schema.arguments if not a.kwarg_only]
            if method:
                names = ["self"] + [n for n in names if n != "self"]
            else:
                names = ["input" if n == "self" else n for n in names]
            every = {("input" if a.name == "self" and not method else a.name)
                     for a in schema.arguments}
            orders.append((tuple(names), frozenset(every)))
        return tuple(orders)
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return ()
    names = tuple(p.name for p in parameters if p.kind in _POSITIONAL)
    return ((names, frozenset(p.name for p in parameters)),)


def positional(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]
               ) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """``(args, kwargs)`` of the same call with keywords that name the next positional
    parameters moved into ``args``.

    Parameters
    ----------
    func : callable
        The op called: a torch function, a Tensor method or a Python function.
    args, kwargs
        The call's arguments.

    Returns
    -------
    tuple
        New ``(args, kwargs)``; the call is unchanged when no overload takes every keyword
        given.

    Examples
    --------
    >>> import torch
    >>> h = torch.ones(2, 3)
    >>> args, kwargs = positional(torch.sum, (), {"input": h, "dim": 0})
    >>> len(args), kwargs
    (2, {})
    >>> args, kwargs = positional(torch.sum, (h,), {"dtype": torch.float64})
    >>> len(args), list(kwargs)
    (1, ['dtype'])
    """
    if not kwargs:
        return tuple(args), kwargs
    for names, every in _orders(func):
        if len(args) > len(names) or not set(kwargs) <= every:
            continue
        moved, rest = list(args), dict(kwargs)
        while len(moved) < len(names) and names[len(moved)] in rest:
            moved.append(rest.pop(names[len(moved)]))
        return tuple(moved), rest
    return tuple(args), kwargs
