"""Time of analyze_and_balance against one training epoch, for deep GATs on Cora.

    python benchmarks/balance_time.py [--layers 2 5 10 20 40 64] [--dataset cora]

For the paper's GAT (width 64) at each depth: the time to analyse and balance it (init mode,
as BalO does once before training; preserve mode, as a function-preserving rebalance), and
the time of one full-batch training epoch on the dataset; balancing's cost is given in epochs.
"""
import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dglbal import analyze_and_balance  # noqa: E402
from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT  # noqa: E402


def best_of(repeats, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 5, 10, 20, 40, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    graph = load_dataset(args.dataset)
    feat = graph.ndata["feat"]
    torch.manual_seed(0)
    print(f"{args.dataset}, torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'L':>4}{'init (s)':>10}{'preserve (s)':>14}{'sweeps':>8}{'epoch (s)':>11}"
          f"{'init / epoch':>14}")
    for layers in args.layers:
        print(measure(GAT(feat.shape[1], 64, num_classes(graph), layers), graph, args.repeats))


def measure(model, graph, repeats: int) -> str:
    """One table row: balancing times, sweeps, epoch time and balancing's cost in epochs."""
    feat, labels, mask = graph.ndata["feat"], graph.ndata["label"], graph.ndata["train_mask"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def epoch():
        optimizer.zero_grad()
        F.cross_entropy(model(graph, feat)[mask], labels[mask]).backward()
        optimizer.step()

    def preserve():
        model.reset_parameters()  # Xavier: unbalanced again
        return analyze_and_balance(model, mode="preserve")

    epoch()
    epoch_time = best_of(repeats, epoch)
    init_time = best_of(repeats, lambda: analyze_and_balance(model, mode="init"))
    preserve_time = best_of(repeats, preserve)
    sweeps = preserve().sweeps
    return (f"{model.num_layers:>4}{init_time:>10.3f}{preserve_time:>14.3f}{sweeps:>8}"
            f"{epoch_time:>11.3f}{init_time / epoch_time:>14.2f}")

if __name__ == "__main__":
    main()
