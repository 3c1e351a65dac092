"""Training-epoch time of dglbal.nn.GAT / GCN against the same stack of dgl.nn layers.

    python benchmarks/epoch_time.py [--dataset cora] [--layers 2 10 40] [--epochs 20]

Both models get the same weights and the same graph; epochs alternate between them, so
machine noise hits both alike. An epoch is a full-batch forward, backward and SGD step.
Prints ms per epoch and the ratio dglbal / dgl (target: <= 1.05).
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl.nn.pytorch as dglnn  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT, GCN  # noqa: E402


class DGLStack(nn.Module):
    """The builders' architecture written with dgl.nn layers, as a DGL user would."""

    def __init__(self, layers, heads: bool):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.heads = heads

    def forward(self, graph, h):
        for layer in self.layers[:-1]:
            h = layer(graph, h)
            h = F.relu(h.flatten(1) if self.heads else h)
        h = self.layers[-1](graph, h)
        return h.mean(1) if self.heads else h


def dgl_twin(model) -> DGLStack:
    """A dgl.nn stack with the same layers and weights as a dglbal builder."""
    twins = []
    for layer in model.layers:
        if isinstance(model, GAT):
            twin = dglnn.GATv2Conv(layer._in_src_feats, layer._out_feats, layer._num_heads,
                                   bias=False, share_weights=True)
        else:
            twin = dglnn.GraphConv(layer._in_feats, layer._out_feats, bias=False)
        twin.load_state_dict(layer.state_dict())
        twins.append(twin)
    return DGLStack(twins, heads=isinstance(model, GAT))


def epoch(model, optimizer, graph, feat, labels, mask) -> float:
    start = time.perf_counter()
    optimizer.zero_grad()
    F.cross_entropy(model(graph, feat)[mask], labels[mask]).backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 10, 40])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    graph = load_dataset(args.dataset)
    feat, labels, mask = graph.ndata["feat"], graph.ndata["label"], graph.ndata["train_mask"]
    print(f"{args.dataset}: {graph.num_nodes()} nodes, {graph.num_edges()} edges; torch threads "
          f"{torch.get_num_threads()}; median of {args.epochs} epochs after 3 warm-up epochs")
    print(f"{'model':<6}{'L':>4}{'dglbal ms':>12}{'dgl.nn ms':>12}{'ratio':>8}")
    for builder in (GAT, GCN):
        for layers in args.layers:
            torch.manual_seed(0)
            ours = builder(feat.shape[1], 64, num_classes(graph), layers)
            theirs = dgl_twin(ours)
            with torch.no_grad():
                torch.testing.assert_close(ours(graph, feat), theirs(graph, feat))
            runs = {"ours": (ours, torch.optim.SGD(ours.parameters(), lr=0.01), []),
                    "theirs": (theirs, torch.optim.SGD(theirs.parameters(), lr=0.01), [])}
            for step in range(args.epochs + 3):
                for model, optimizer, times in runs.values():
                    elapsed = epoch(model, optimizer, graph, feat, labels, mask)
                    if step >= 3:
                        times.append(elapsed)
            ms = {k: 1e3 * statistics.median(v[2]) for k, v in runs.items()}
            print(f"{builder.__name__:<6}{layers:>4}{ms['ours']:>12.1f}{ms['theirs']:>12.1f}"
                  f"{ms['ours'] / ms['theirs']:>8.3f}")


if __name__ == "__main__":
    main()
