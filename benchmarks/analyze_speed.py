"""Time dglbal.analyze on the paper's GAT (1433 input features, width 64) for several depths.

    python benchmarks/analyze_speed.py [--layers 2 10 40 64] [--repeats 3]

Prints, per depth L: parameters, groups, best wall time of `repeats` runs, time per layer and
per million parameters, and peak memory traced during one run (Python and numpy
allocations; model weights excluded). The first layer's 1433 x 64 weight is handled in outer
form (no work per entry), so the cost follows the number of layers and neurons.
"""
import argparse
import os
import time
import tracemalloc

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

from dglbal import analyze  # noqa: E402
from dglbal.nn import GAT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 10, 40, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'L':>4} {'params':>10} {'groups':>8} {'time (s)':>10} {'ms / layer':>11} "
          f"{'s / M params':>13} {'peak MiB':>9}")
    for layers in args.layers:
        model = GAT(1433, 64, 7, num_layers=layers)
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


if __name__ == "__main__":
    main()
