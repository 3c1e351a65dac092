"""Symmetries up to eps: ``analyze(model, ..., up_to_eps=True)``.

A normalization (LayerNorm, BatchNorm on batch statistics, InstanceNorm, GroupNorm) divides
by ``sqrt(var + eps)``: without eps it would not see a common scale of its input, with eps it
does, a little. A constant eps added to a traced value (``sqrt(var + 1e-6)`` in a hand-written
GraphNorm, ``x + eps``) and a guard ``clamp(min=eps)`` do the same. The exact analysis holds
what such an *eps site* reads at exponent 0. Relaxed, a site only requires what the op needs
without its eps (one common exponent along the normalized axes); the directions this frees
are the approximate groups, reported apart from the exact ones (which the relaxation does not
change: it is solved separately, after them).

What an approximate group does, exactly: rescaling along it by lambda computes the original
model with every site's eps replaced by ``eps * lambda ** -p``, where p is the exponent the
group gives what eps is added to (twice the exponent of a normalization's input: the
variance; once for ``x + eps`` and a clamp). So the outputs change by at most
``|lambda ** -p - 1| * eps * sup |d outputs / d eps|`` (along the way from eps to the new eps),
which vanishes with eps; for a normalization, the normalized values change by at most
``sqrt(n) * eps * |lambda ** -p - 1| / (2 * var)`` per entry (n the normalized size, var the
input's variance there), ``ApproximateGroup.eps`` gives (eps, p) per site. BatchNorm in eval
mode (running statistics) is an affine map, not scale-invariant even up to eps: no site.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .core.algebra import Eliminator, SymbolTable
from .core.groups import Exponent, ExponentTable, assemble

__all__ = ["EPS_MAX", "Pin", "Relaxed", "EpsSite", "common_along", "relaxed_groups"]

#: a constant added to a traced value (or a clamp bound) counts as an eps up to this size
EPS_MAX = 1e-3


class Pin:
    """A constraint that holds exponents at 0 (refusals are measured by them); ``site``: the
    index of the eps site it belongs to, for constraints the relaxation drops."""

    def __init__(self, method: Callable, site: Optional[int] = None) -> None:
        self.method = method
        self.site = site

    def __call__(self, *args) -> None:
        self.method(*args)


class Relaxed:
    """A constraint stated only in the relaxed system (what a site needs without its eps)."""

    def __init__(self, method: Callable) -> None:
        self.method = method


@dataclass
class EpsSite:
    """An op whose invariance holds up to its eps: where, which eps, and what eps is added to
    (``field``, with ``power`` times its exponent: 2 for a variance)."""

    description: str
    eps: float
    field: np.ndarray
    power: int


def common_along(field: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """The field's first entries along ``axes``: equal to it means one exponent along them."""
    for axis in axes:
        field = field.take([0], axis=axis)
    return field


def _name(method) -> str:
    return (method.method if isinstance(method, (Pin, Relaxed)) else method).__name__


def relaxed_groups(symbols: SymbolTable, applied: Sequence[Tuple[int, Callable, tuple]],
                   sites: Sequence[EpsSite], exponents: Mapping[str, Exponent],
                   shapes: Mapping[str, Tuple[int, ...]]
                   ) -> Tuple[ExponentTable, List[Dict[str, Tuple[float, float]]]]:
    """The approximate groups: a table of them, and per group {site: (eps, p)}.

    Parameters
    ----------
    symbols : SymbolTable
        The trace's symbols.
    applied : sequence of (op, constraint, args)
        The constraints of the exact system, in the order they were applied, with the
        relaxed-only ones (:class:`Relaxed`) among them.
    sites : sequence of EpsSite
        The eps sites; their pins (:class:`Pin` with ``site``) are dropped.
    exponents, shapes
        The parameters' exponents and shapes (as for :func:`~.core.groups.assemble`).
    """
    relaxed = Eliminator(symbols)
    pins = []
    for _, method, args in applied:
        if isinstance(method, Pin) and method.site is not None:
            pins.append((method, args))
        else:
            getattr(relaxed, _name(method))(*args)
    table = assemble(relaxed, exponents, shapes)
    # What each site's eps is added to, over the relaxed free symbols (before the pins).
    site_forms = [relaxed.resolve_array(site.field) for site in sites]
    freed = set()
    for method, args in pins:  # the directions the pins remove are the approximate ones
        rank = relaxed.rank
        getattr(relaxed, _name(method))(*args)
        if relaxed.rank > rank:
            freed.update(relaxed.pivot_order()[rank:])
    keep = [g for g, symbol in enumerate(table.groups.tolist()) if symbol in freed]
    bounds = []
    for symbol in table.groups[keep].tolist():
        per_site = {}
        for site, (_, syms, vals) in zip(sites, site_forms):
            hit = vals[syms == symbol]
            if len(hit) and np.abs(hit).max() > 0:
                per_site[site.description] = (site.eps, float(site.power * hit[np.argmax(
                    np.abs(hit))]))
        bounds.append(per_site)
    return table.subset(np.asarray(keep, dtype=np.int64)), bounds
