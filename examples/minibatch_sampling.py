"""Sampled minibatch training with dglbal's layers and a balanced initialization.
==============================================================================

    python examples/minibatch_sampling.py [--dataset synthetic] [--layers 5]

dglbal's builders take one DGL block per layer, as produced by dgl.dataloading samplers, so
they train with DGL's NeighborSampler / DataLoader unchanged, and with DistDGL
(dgl.distributed.DistDataLoader yields the same blocks). Balancing needs no graph: it runs
once on the model before training.
"""
import argparse
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    graph = load_dataset(args.dataset).to(device)
    feat, labels = graph.ndata["feat"], graph.ndata["label"]
    model = GAT(feat.shape[1], 64, num_classes(graph), args.layers, init="bal_o").to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    train_ids = torch.nonzero(graph.ndata["train_mask"]).squeeze(1)
    val_ids = torch.nonzero(graph.ndata["val_mask"]).squeeze(1)
    sampler = dgl.dataloading.NeighborSampler([10] * args.layers)
    loader = dgl.dataloading.DataLoader(graph, train_ids, sampler, batch_size=32, shuffle=True,
                                        device=device)
    full = dgl.dataloading.MultiLayerFullNeighborSampler(args.layers)
    for epoch in range(args.epochs):
        model.train()
        for input_nodes, output_nodes, blocks in loader:
            loss = F.cross_entropy(model(blocks, feat[input_nodes]), labels[output_nodes])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            correct = 0
            for input_nodes, output_nodes, blocks in dgl.dataloading.DataLoader(
                    graph, val_ids, full, batch_size=1024, device=device):
                correct += int((model(blocks, feat[input_nodes]).argmax(1)
                                == labels[output_nodes]).sum())
        print(f"epoch {epoch}: loss {loss.item():.3f}, val accuracy {correct / len(val_ids):.3f}")


if __name__ == "__main__":
    main()
