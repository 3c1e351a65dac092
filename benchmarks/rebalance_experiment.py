"""Dynamic rescaling on heterophilous binary tasks: none vs norms vs relgrad.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/rebalance_experiment.py \
        [--part gat|others|all] [--epochs 100] [--splits 0 1 2] [--lrs 0.01 0.05] \
        [--dataset minesweeper] [--out benchmarks/results/rebalance] [--worker 0/1]
    python benchmarks/rebalance_experiment.py --table      # the summary of what finished

Every configuration (architecture, learning rate, rebalancing, split) is one resumable
``dglbal sweep`` under ``<out>/<dataset>/<arch>-lr<lr>-<rebalance>-split<k>``: stop it at any
time, run the same command again and finished runs are kept. The protocol is that of
"Dynamic Rescaling for Training GNNs": 5 layers, width 64, one head, no bias, Adam,
gradient-norm clipping at 3, rebalancing every 10 epochs with 10 sweeps, ROC-AUC; the data as
dglbal loads it (``--protocol dglbal``: row-normalized features, edges both ways).

Architectures: ``gat`` (the authors' GATv2 with shared weights and LL-orthogonal weights with
Xavier-normal attention), ``gcn`` (dglbal's GCN with fixup skips), ``sage`` (DGL's SAGEConv,
mean aggregator); the last two have DGL's Xavier initialization.
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402

from dglbal.cli import main as dglbal_main  # noqa: E402
from dglbal.experiments.tables import interval_text, median_quartiles, scored_percent  # noqa: E402

ARCHITECTURES = {
    "gat": ["--model", "gat", "--conv", "gatv2", "--init", "ll_ortho"],
    "gcn": ["--model", "gcn", "--skip", "--init", "xavier"],
    "sage": ["--model", "sage", "--init", "xavier"],
}
PARTS = {"gat": ["gat"], "others": ["gcn", "sage"], "all": list(ARCHITECTURES)}
REBALANCING = ("none", "norms", "relgrad")


def configurations(args):
    """Split by split, so that what finishes first is a complete comparison; worker i of n
    takes every n-th configuration (run n workers to use n processes)."""
    index, count = (int(part) for part in args.worker.split("/"))
    every = [(arch, lr, rebalance, split) for split in args.splits
             for lr in args.lrs for arch in PARTS[args.part] for rebalance in REBALANCING]
    return every[index::count]


def run(args) -> None:
    for arch, lr, rebalance, split in configurations(args):
        out = args.out / args.dataset / f"{arch}-lr{lr:g}-{rebalance}-split{split}"
        print(f"== {out}", flush=True)
        code = dglbal_main([
            "sweep", "--protocol", "dglbal", "--dataset", args.dataset, "--layers", "5",
            "--hidden", "64", "--heads", "1", *ARCHITECTURES[arch], "--optimizer", "adam",
            "--lr", str(lr), "--grad-clip", "3", "--rebalance", rebalance,
            "--rebalance-every", "10", "--rebalance-sweeps", "10",
            "--metric", "rocauc", "--epochs", str(args.epochs), "--loss-threshold", "0",
            "--split", str(split), "--seeds", "1", "--quiet", "--out", str(out)])
        if code:
            sys.exit(code)


def table(out: Path, dataset: str) -> str:
    """Markdown: per architecture, learning rate and rebalancing, the test ROC-AUC at the best
    validation epoch (mean +- 95% CI over the splits done; "n/a" for one split) and the epochs
    to that model (median [quartiles])."""
    rows = {}
    for path in sorted((out / dataset).glob("*/runs/*.json")):
        arch, lr, rebalance, split = path.parts[-3].split("-")
        record = json.loads(path.read_text())
        rows.setdefault((arch, float(lr[2:]), rebalance), []).append(record)
    lines = [f"| {dataset} | lr | rebalance | splits | test ROC-AUC (%) | best val (%) | "
             "epochs to best (median) | s/run |", "|---|---|---|---|---|---|---|---|"]
    for (arch, lr, rebalance), records in sorted(rows.items(), key=lambda kv: (
            list(ARCHITECTURES).index(kv[0][0]), kv[0][1], REBALANCING.index(kv[0][2]))):
        test, _ = scored_percent(r["test_acc"] for r in records)
        val, _ = scored_percent(r["best_val_acc"] for r in records)
        best = [r["best_epoch"] + 1 for r in records if r["best_epoch"] >= 0]
        seconds = np.mean([r["seconds"] for r in records])
        diverged = sum(r["stop_reason"] == "diverged" for r in records)
        lines.append(f"| {arch} | {lr:g} | {rebalance} | {len(records)}"
                     f"{f' ({diverged} diverged)' if diverged else ''} | "
                     f"{interval_text(test)} | {interval_text(val)} | "
                     f"{median_quartiles(best)} | {seconds:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=tuple(PARTS))
    parser.add_argument("--dataset", default="minesweeper")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rebalance"))
    parser.add_argument("--worker", default="0/1", help="i/n: run every n-th configuration")
    parser.add_argument("--table", action="store_true", help="only print the summary")
    args = parser.parse_args()
    if not args.table:
        run(args)
    print(table(args.out, args.dataset))


if __name__ == "__main__":
    main()
