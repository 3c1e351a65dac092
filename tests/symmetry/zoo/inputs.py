"""Inputs for the zoo: a batch of two small random graphs with every kind of data a module
may read, and float64 node features."""
from typing import List, Tuple

import dgl
import torch

IN = 3       # input node features
HIDDEN = 4   # width of the hidden layers around the module under test
EDGE = 2     # edge features
RELS = 3     # edge types
OUT = 2      # model outputs


def _graph(num_nodes: int, generator: torch.Generator) -> dgl.DGLGraph:
    src = torch.randint(0, num_nodes, (2 * num_nodes,), generator=generator)
    dst = torch.randint(0, num_nodes, (2 * num_nodes,), generator=generator)
    g = dgl.graph((src, dst), num_nodes=num_nodes)
    return dgl.add_self_loop(dgl.remove_self_loop(g))


GRAPHS = 6  # per batch: graph-level readouts need enough output rows for the black box


def graph_and_features(seed: int, num_nodes: int = 6) -> Tuple[dgl.DGLGraph, torch.Tensor]:
    """A batch of graphs of ``num_nodes - 2`` to ``num_nodes + 3`` nodes with edge features
    ``feat``, positive ``weight`` and ``dist``, integer ``etype`` and node coordinates ``pos``."""
    generator = torch.Generator().manual_seed(seed)
    g = dgl.batch([_graph(num_nodes - 2 + i, generator) for i in range(GRAPHS)])
    n, m = g.num_nodes(), g.num_edges()

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    g.ndata["pos"] = draw(n, 3)
    g.edata["feat"] = draw(m, EDGE)
    g.edata["weight"] = draw(m).abs() + 0.5
    g.edata["dist"] = draw(m).abs() + 0.2
    g.edata["etype"] = torch.randint(0, RELS, (m,), generator=generator)
    return g, draw(n, IN)


def input_sets(count: int, seed: int = 0) -> List[Tuple[dgl.DGLGraph, torch.Tensor]]:
    """Graphs of different sizes and features for the soundness and completeness checks."""
    return [graph_and_features(seed + 1 + i, num_nodes=5 + i) for i in range(count)]


def probe() -> Tuple[dgl.DGLGraph, torch.Tensor]:
    """The graph the analyser sees (different from those the checks use)."""
    return graph_and_features(99, num_nodes=4)
