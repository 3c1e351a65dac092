"""bal_o_data against BalO and Xavier: epochs to the best model and its accuracy.

    python benchmarks/bal_o_data.py run --out DIR [--epochs 1000] [--seeds 3]
    python benchmarks/bal_o_data.py report --out DIR

GAT (paper protocol, SGD at the paper's rates) on Cora and Citeseer at L = 10 and 20, the
schemes bal_o_data, bal_o and xavier, seeds round the schemes; resumable like
``paper_protocol.py`` (run files under ``DIR/bal-o-data/runs``). ``report`` prints, per cell
and scheme: test accuracy at the best validation epoch (mean +- 95% CI), best validation
accuracy, the epoch of the best validation accuracy, and the first epoch whose validation
accuracy reaches BalO's mean best validation accuracy in that cell (how soon a scheme is as
good as BalO ever gets within the budget), with the number of runs that reach it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

import numpy as np

from dglbal.report import mean_ci

from paper_protocol import Cell, load_records, report as write_tables, run_cell

SCHEMES = ("bal_o_data", "bal_o", "xavier")
CELLS = [Cell("bal-o-data", d, L) for L in (10, 20) for d in ("cora", "citeseer")]


def first_epoch_reaching(val_acc: List[float], target: float) -> int:
    """1-based epoch at which ``val_acc`` first reaches ``target`` (0 if never)."""
    hits = np.flatnonzero(np.asarray(val_acc) >= target - 1e-9)
    return int(hits[0]) + 1 if len(hits) else 0


def table(records: List[dict]) -> str:
    lines = ["| dataset | L | scheme | runs | test acc (%) | best val (%) | epoch of best val "
             "| epoch reaching BalO's best val (runs) | budget |", "|" + "---|" * 9]
    for dataset, layers in sorted({(r["dataset"], r["layers"]) for r in records}):
        cell = [r for r in records if (r["dataset"], r["layers"]) == (dataset, layers)]
        balo = [r["best_val_acc"] for r in cell if r["scheme"] == "bal_o"]
        target = float(np.mean(balo)) if balo else None
        for scheme in SCHEMES:
            runs = [r for r in cell if r["scheme"] == scheme]
            if not runs:
                continue
            test, ci = mean_ci([100 * r["test_acc"] for r in runs])
            best = np.mean([100 * r["best_val_acc"] for r in runs])
            epoch = np.mean([r["best_epoch"] + 1 for r in runs])
            reach = "-"
            if target is not None:
                hits = [first_epoch_reaching(r["val_acc"], target) for r in runs]
                hit = [h for h in hits if h]
                reach = f"{np.mean(hit):.0f} ({len(hit)}/{len(runs)})" if hit else f"never (0/{len(runs)})"
            lines.append(f"| {dataset} | {layers} | {scheme} | {len(runs)} | {test:.1f} +- {ci:.1f} "
                         f"| {best:.1f} | {epoch:.0f} | {reach} | "
                         f"{'/'.join(str(b) for b in sorted({r['budget'] for r in runs}))} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        for cell in CELLS:
            run_cell(cell, args.out, args.epochs, args.seeds, SCHEMES)
            print(f"done: {cell}", flush=True)
    write_tables(args.out)
    folder = args.out / "bal-o-data"
    if (folder / "runs").is_dir():
        text = table(load_records(folder))
        (folder / "comparison.md").write_text(text + "\n")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
