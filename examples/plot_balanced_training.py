"""Xavier against BalO: a deep GAT's first epochs
================================================

A 10-layer GAT on a small synthetic graph (600 nodes), trained with Adam for 60 epochs from
DGL's default initialization (Xavier) and from the balanced looks-linear one (BalO). The
training loop is your own: dglbal only builds and initializes the model (``init="bal_o"``;
for a model of your own, :func:`dglbal.init.balanced_orthogonal_`).

    python examples/plot_balanced_training.py
"""
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dglbal.data import make_synthetic, num_classes  # noqa: E402
from dglbal.nn import GAT  # noqa: E402

EPOCHS = 60
graph = make_synthetic(num_nodes=600, seed=0)
feat, label = graph.ndata["feat"], graph.ndata["label"]
train, val = graph.ndata["train_mask"], graph.ndata["val_mask"]


def train_model(init: str):
    """Train one model; returns its training losses and validation accuracies per epoch."""
    torch.manual_seed(0)
    model = GAT(feat.shape[1], 64, num_classes(graph), num_layers=10, init=init)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accuracies = [], []
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        logits = model(graph, feat)
        loss = F.cross_entropy(logits[train], label[train])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accuracies.append((logits[val].argmax(1) == label[val]).float().mean().item())
    return losses, accuracies


fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
epochs = range(1, EPOCHS + 1)
for init, name in (("xavier", "Xavier"), ("bal_o", "BalO")):
    losses, accuracies = train_model(init)
    print(f"{name:7s} training loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"best validation accuracy {max(accuracies):.3f}")
    left.plot(epochs, losses, label=name)
    right.plot(epochs, accuracies, label=name)
left.set(title="training loss, 10-layer GAT", xlabel="epoch", ylabel="cross entropy")
right.set(title="validation accuracy", xlabel="epoch")
left.legend()
right.legend()
fig.tight_layout()
plt.show()
