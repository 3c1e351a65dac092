"""Balance a DGL model you wrote yourself.
=======================================

    python examples/balance_custom_model.py

Finds the model's rescale symmetries, balances it without changing its function, then
re-initializes it as a balanced network (BalO).
"""
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import dgl.nn as dglnn  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import dglbal  # noqa: E402
from dglbal.init import balanced_orthogonal_  # noqa: E402


class MyGNN(nn.Module):
    """Attention, a graph convolution with a residual add, and an MLP head."""

    def __init__(self, in_feats: int, hidden: int, classes: int):
        super().__init__()
        self.conv1 = dglnn.GATv2Conv(in_feats, hidden, num_heads=4, share_weights=True, bias=False)
        self.conv2 = dglnn.GraphConv(4 * hidden, 4 * hidden)
        self.head = nn.Sequential(nn.Linear(4 * hidden, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, graph, x):
        h = F.relu(self.conv1(graph, x).flatten(1))
        h = F.relu(self.conv2(graph, h)) + h
        return self.head(h)


def main() -> None:
    torch.manual_seed(0)
    dgl.seed(0)
    graph = dgl.add_self_loop(dgl.rand_graph(50, 200))
    x = torch.randn(50, 16)
    model = MyGNN(16, 8, 3)

    with torch.no_grad():
        before = model(graph, x)
    report = dglbal.analyze_and_balance(model, graph, x, mode="preserve")
    print(report)
    with torch.no_grad():
        change = (model(graph, x) - before).abs().max().item()
    print(f"largest output change after balancing: {change:.1e}")
    c = dglbal.balance_constants(model, report)
    print(f"max |c_g| = {c.abs().max().item():.1e} over {len(c)} neurons\n")

    report = balanced_orthogonal_(model, graph, x)
    print(report.balance)
    first = report.groups[0]
    print(f"{first.name}: incoming {list(first.incoming)}, outgoing {list(first.outgoing)}")


if __name__ == "__main__":
    main()
