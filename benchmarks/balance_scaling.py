"""Seconds of preserve-mode balancing against depth, for a narrow ReLU MLP.

    python benchmarks/balance_scaling.py [--layers 125 250 500 1000] [--width 8]

For each depth: the time of :func:`dglbal.analyze` (once), the time of ``balance_`` in
preserve mode (the Newton solve on the orbit's norm) from a Xavier-like start, its Newton
steps and the reached max |c_g| / (I_g + O_g). Linear cost shows as a constant seconds/layer.
"""
import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dglbal import analyze, balance_  # noqa: E402


def mlp(depth: int, width: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[125, 250, 500, 1000])
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    print(f"ReLU MLP of width {args.width}, torch threads {torch.get_num_threads()}")
    print(f"{'L':>6}{'groups':>8}{'analyze (s)':>13}{'balance_ (s)':>14}{'s/layer (ms)':>14}"
          f"{'steps':>7}{'max rel c':>11}")
    for depth in args.layers:
        torch.manual_seed(0)
        model = mlp(depth, args.width)
        start = time.perf_counter()
        report = analyze(model, torch.randn(4, args.width))
        analysed = time.perf_counter() - start
        start = time.perf_counter()
        summary = balance_(model, report, "preserve")
        solved = time.perf_counter() - start
        print(f"{depth:>6}{len(report.groups):>8}{analysed:>13.2f}{solved:>14.2f}"
              f"{1000 * solved / depth:>14.2f}{summary.sweeps:>7}"
              f"{summary.max_relative_c:>11.1e}", flush=True)


if __name__ == "__main__":
    main()
