"""Time dglbal.analyze on the paper's GAT (1433 input features, width 64) for several depths.

    python benchmarks/analyze_speed.py [--layers 2 10 40 64] [--repeats 3]
    python benchmarks/analyze_speed.py --model gcn --hidden 1024 --layers 4 8 16

Prints, per depth L: parameters, groups, best wall time of `repeats` runs, time per layer and
per million parameters, and peak memory traced during one run (Python and numpy
allocations; model weights excluded). Weights are handled in outer form (no work per
entry), so the cost follows the number of layers and neurons; the last line is the fitted
exponent of time against parameters over the models of at least 1e6 parameters.
"""
import argparse
import os
import time
import tracemalloc

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

from dglbal import analyze  # noqa: E402
import numpy as np  # noqa: E402

from dglbal.nn import GAT, GCN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 10, 40, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="gat", choices=("gat", "gcn"))
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    builder = {"gat": GAT, "gcn": GCN}[args.model]
    measured = []
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'L':>4} {'params':>10} {'groups':>8} {'time (s)':>10} {'ms / layer':>11} "
          f"{'s / M params':>13} {'peak MiB':>9}")
    for layers in args.layers:
        model = builder(1433, args.hidden, 7, num_layers=layers)
        graph, feat = model.probe_inputs()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            report = analyze(model, graph, feat)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        analyze(model, graph, feat)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        params = sum(p.numel() for p in model.parameters())
        best = min(times)
        print(f"{layers:>4} {params:>10} {len(report.groups):>8} {best:>10.3f} "
              f"{best / layers * 1e3:>11.2f} {best / params * 1e6:>13.3f} {peak:>9.1f}")
        measured.append((params, best))
    large = np.array([row for row in measured if row[0] >= 1e6])
    if len(large) >= 2 and np.ptp(large[:, 0]) > 0:
        slope = np.polyfit(np.log(large[:, 0]), np.log(large[:, 1]), 1)[0]
        print(f"fitted exponent of time against parameters (>= 1e6): {slope:.2f}")


if __name__ == "__main__":
    main()
