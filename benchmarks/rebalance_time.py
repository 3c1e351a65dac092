"""Cost of one dynamic rescaling (dglbal.Rebalancer, 10 sweeps) against one training epoch.

    python benchmarks/rebalance_time.py [--layers 5 10] [--dataset cora] [--repeats 5]

For the paper's model ("Dynamic Rescaling for Training GNNs": GATv2, width 64, one head,
shared weights, no bias) at each depth, on the dataset: the time of one full-batch Adam epoch
(forward, backward, step), of one rebalance by relative gradients and by norms (10 sweeps,
parameters, gradients and Adam's state), and their ratio. The target is a ratio of at most
0.5. Also the one-off cost of building the rebalancer (analysis and index).
"""
import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from balance_time import best_of  # noqa: E402  (this directory is on sys.path)
from dglbal import Rebalancer  # noqa: E402
from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--layers", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    graph = load_dataset(args.dataset)
    feat, labels, mask = graph.ndata["feat"], graph.ndata["label"], graph.ndata["train_mask"]
    print(f"GATv2 width {args.hidden} on {args.dataset}, torch threads "
          f"{torch.get_num_threads()}, best of {args.repeats}, {args.sweeps} sweeps")
    print(f"{'L':>4}{'groups':>8}{'setup (s)':>11}{'epoch (s)':>11}{'relgrad (s)':>13}"
          f"{'norms (s)':>11}{'relgrad/epoch':>15}{'norms/epoch':>13}")
    for layers in args.layers:
        torch.manual_seed(0)
        model = GAT(feat.shape[1], args.hidden, num_classes(graph), layers, init="looks_linear")
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

        def epoch():
            optimizer.zero_grad()
            F.cross_entropy(model(graph, feat)[mask], labels[mask]).backward()
            optimizer.step()

        epoch()
        epoch_time = best_of(args.repeats, epoch)
        start = time.perf_counter()
        relgrad = Rebalancer(model, optimizer=optimizer, sweeps=args.sweeps)
        setup = time.perf_counter() - start
        norms = Rebalancer(model, relgrad.report, criterion="norms", optimizer=optimizer,
                           sweeps=args.sweeps)
        relgrad_time = best_of(args.repeats, relgrad.rebalance_)
        norms_time = best_of(args.repeats, norms.rebalance_)
        print(f"{layers:>4}{len(relgrad.report.groups):>8}{setup:>11.3f}{epoch_time:>11.4f}"
              f"{relgrad_time:>13.4f}{norms_time:>11.4f}{relgrad_time / epoch_time:>15.3f}"
              f"{norms_time / epoch_time:>13.3f}", flush=True)


if __name__ == "__main__":
    main()
