"""Which tensors share memory: writing into one may change the other.

A strided tensor lives in its storage; a sparse tensor (which has none of its own) in those of
its stored values and indices. :class:`MemoryIndex` keeps the tensors of a trace by the
storages they live in, so that the aliases of an in-place write's target are found without
a scan of every traced tensor.
"""
from __future__ import annotations

from typing import Dict, List

import torch

__all__ = ["ANYWHERE", "storages", "share_memory", "MemoryIndex"]

ANYWHERE = -1


def storages(t: torch.Tensor) -> frozenset:
    """The memory a tensor's values live in: its storage, or for a sparse tensor (which has
    none of its own) those of its stored values and indices. Tensors that share one may
    alias each other (an empty storage is shared with nothing; a layout not known here is
    taken to share memory with everything: ``ANYWHERE``)."""
    if t.layout == torch.strided:
        pointer = t.untyped_storage().data_ptr()
        return frozenset([pointer] if pointer else [])
    if t.layout == torch.sparse_coo:
        parts = [t._values(), t._indices()]
    elif t.layout in (torch.sparse_csr, torch.sparse_bsr):
        parts = [t.values(), t.crow_indices(), t.col_indices()]
    elif t.layout in (torch.sparse_csc, torch.sparse_bsc):
        parts = [t.values(), t.ccol_indices(), t.row_indices()]
    else:
        return frozenset([ANYWHERE])
    return frozenset(p for part in parts for p in storages(part))


def share_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether writing into one may change the other (see :func:`storages`)."""
    sa, sb = storages(a), storages(b)
    return bool(sa & sb) or (ANYWHERE in sa | sb and bool(sa) and bool(sb))


class MemoryIndex:
    """Tensors by the storages they live in (kept alive: a freed storage's address is reused).

    Examples
    --------
    >>> import torch
    >>> index = MemoryIndex()
    >>> base = torch.zeros(4)
    >>> view, other = base[1:], torch.zeros(4)
    >>> for t in (base, view, other):
    ...     index.add(t)
    >>> [t is view for t in index.sharing(base)]
    [True]
    """

    def __init__(self) -> None:
        self._by_pointer: Dict[int, List[torch.Tensor]] = {}

    def add(self, tensor: torch.Tensor) -> None:
        """Index ``tensor`` under the storages it lives in now."""
        for pointer in storages(tensor):
            self._by_pointer.setdefault(pointer, []).append(tensor)

    def sharing(self, tensor: torch.Tensor) -> List[torch.Tensor]:
        """The indexed tensors other than ``tensor`` that share memory with it."""
        pointers = storages(tensor)
        if ANYWHERE in pointers:  # a layout not known here: compare with every tensor
            candidates = [t for listed in self._by_pointer.values() for t in listed]
        else:
            candidates = [t for p in pointers | {ANYWHERE} for t in self._by_pointer.get(p, ())]
        unique = {id(t): t for t in candidates if t is not tensor}
        return [t for t in unique.values() if share_memory(t, tensor)]
