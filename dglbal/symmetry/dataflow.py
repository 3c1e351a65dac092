"""The data-flow graph of one trace: the ops, the tensors each read and wrote, and which ops
reach an output.

Tensors and parameters are named by keys (``t:<id>``, ``p:<name>``: see
:meth:`~dglbal.symmetry.context.TraceContext.key`). An op's constraints count only if it
reaches an output, or if it is *escaping* (its result leaves the visible flow) or feeds an
escaping op.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

__all__ = ["ALWAYS", "DataFlow", "Edge"]

ALWAYS = -1  # the op id of constraints that hold whichever ops are live

Edge = Tuple[int, Tuple[str, ...], Tuple[str, ...], bool]
"""One op of the flow: (op id, keys read, keys written, is a gate)."""


class DataFlow:
    """The ops of one trace in order, and the op being recorded.

    Examples
    --------
    >>> flow = DataFlow()
    >>> flow.begin("mul"), flow.current
    (0, 0)
    >>> flow.close(["p:w", "t:1"], ["t:2"])
    >>> flow.begin("unused"); flow.close(["t:1"], ["t:3"])
    1
    >>> ops, keys = flow.live(["t:2"])
    >>> ops, sorted(keys)
    ({0}, ['p:w', 't:1', 't:2'])
    """

    def __init__(self) -> None:
        self.edges: List[Edge] = []
        self.names: Dict[int, str] = {}
        self.escaping: set = set()
        self.current = ALWAYS

    def __len__(self) -> int:
        return len(self.edges)

    def begin(self, name: str = "") -> int:
        """Start recording a new op named ``name``; returns its id."""
        self.current = len(self.edges)
        self.names[self.current] = name
        return self.current

    def mark_escaping(self) -> None:
        """The current op's result may be used where the trace cannot see."""
        self.escaping.add(self.current)

    def close(self, ins: Iterable[str], outs: Iterable[str], gate: bool = False) -> None:
        """End the current op: the keys it read and wrote, and whether it is a gate."""
        self.edges.append((self.current, tuple(ins), tuple(outs), gate))
        self.current = ALWAYS

    def link(self, sources: Iterable[str], key: str) -> None:
        """``key`` was made from ``sources`` by something the trace did not see."""
        self.edges.append((ALWAYS, tuple(sources), (key,), False))

    def live(self, output_keys: Sequence[str], root_ops: Iterable[int] = ()
             ) -> Tuple[set, set]:
        """Op ids and keys from which an output key or a root op (by op id) is reached.

        An op's id is not its position in ``edges``: a tensor the trace did not see
        being made, met while an op is recorded, is :meth:`link`-ed before the op closes."""
        producers: Dict[str, List[int]] = {}
        for index, (_, _, outs, _) in enumerate(self.edges):
            for key in outs:
                producers.setdefault(key, []).append(index)
        roots = set(root_ops) - {ALWAYS}
        ops = {index for index, edge in enumerate(self.edges) if edge[0] in roots}
        keys, stack = set(), list(output_keys) + [k for i in ops for k in self.edges[i][1]]
        while stack:
            key = stack.pop()
            if key in keys:
                continue
            keys.add(key)
            for index in producers.get(key, ()):
                if index not in ops:
                    ops.add(index)
                    stack.extend(self.edges[index][1])
        return {self.edges[i][0] for i in ops}, keys
