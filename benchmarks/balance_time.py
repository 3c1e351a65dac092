"""Time of analyze_and_balance against one training epoch, for deep GATs (or GCNs) on Cora.

    python benchmarks/balance_time.py [--layers 2 5 10 20 40 64] [--dataset cora]
    python benchmarks/balance_time.py --model gcn --hidden 1024 --layers 8 --repeats 1

For the model at each depth: the time to analyse and balance it (init mode, as BalO does once
before training; preserve mode from Xavier, as a function-preserving rebalance), the part of
preserve mode spent after the analysis (``balance_``, the Newton solve), and the time of one
full-batch training epoch; balancing's cost is given in epochs.
"""
import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dglbal import analyze, analyze_and_balance, balance_  # noqa: E402
from dglbal.data import load_dataset, num_classes  # noqa: E402
from dglbal.nn import GAT, GCN  # noqa: E402


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
    parser.add_argument("--model", default="gat", choices=("gat", "gcn"))
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--solve-only", action="store_true",
                        help="skip the init and end-to-end columns (analyse once, time balance_)")
    args = parser.parse_args()
    builder = {"gat": GAT, "gcn": GCN}[args.model]
    graph = load_dataset(args.dataset)
    feat = graph.ndata["feat"]
    torch.manual_seed(0)
    print(f"{args.model} width {args.hidden} on {args.dataset}, torch threads "
          f"{torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'L':>4}{'params':>10}{'init (s)':>10}{'preserve (s)':>14}{'balance_ (s)':>14}"
          f"{'steps':>7}{'epoch (s)':>11}{'init/epoch':>12}{'balance_/epoch':>16}")
    for layers in args.layers:
        model = builder(feat.shape[1], args.hidden, num_classes(graph), layers)
        print(measure(model, graph, args.repeats, args.solve_only), flush=True)


def measure(model, graph, repeats: int, solve_only: bool = False) -> str:
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

    report = analyze(model)

    def solve():
        model.reset_parameters()
        start = time.perf_counter()
        summary = balance_(model, report, "preserve")
        return time.perf_counter() - start, summary.sweeps

    epoch()
    epoch_time = best_of(repeats, epoch)
    nan = float("nan")
    init_time = nan if solve_only else best_of(
        repeats, lambda: analyze_and_balance(model, mode="init"))
    preserve_time = nan if solve_only else best_of(repeats, preserve)
    solve_time, steps = min(solve() for _ in range(repeats))
    params = sum(p.numel() for p in model.parameters())
    return (f"{model.num_layers:>4}{params:>10}{init_time:>10.3f}{preserve_time:>14.3f}"
            f"{solve_time:>14.3f}{steps:>7}{epoch_time:>11.3f}{init_time / epoch_time:>12.2f}"
            f"{solve_time / epoch_time:>16.2f}")

if __name__ == "__main__":
    main()
