"""bal_o_data against BalO and Xavier: epochs to the best model and its accuracy.

    python benchmarks/bal_o_data.py run --out DIR [--epochs 300] [--seeds 3] [--schemes ...]
    python benchmarks/bal_o_data.py report --out DIR [--epochs 300] [--baseline CSV]
        [--baseline-epochs 600]

GAT on Cora and Citeseer at L = 10 and 20, SGD at the paper's rates, ``--protocol dglbal``:
the setting of the 600-epoch BalO / Xavier runs in ``benchmarks/results/gat-planetoid``
(``--baseline``, seeds 0-2, ``--baseline-epochs``), so that ``run`` needs to train only
``bal_o_data`` (``--schemes`` adds others). ``bal_o_data`` reaches its best model within 300
epochs, hence the default budget; BalO needs the 600 (and more). Runs are resumable like ``paper_protocol.py`` (``DIR/runs``).
``report`` prints per cell and scheme: test accuracy at the best validation epoch
(mean +- 95% CI), best validation accuracy, the epoch of the best validation accuracy, the
first epoch reaching 95% of the run's own best validation accuracy, and the
first epoch whose validation accuracy reaches BalO's mean best validation accuracy of that
cell (how soon a scheme is as good as BalO gets within the budget; needs the run's curve, so
only for runs trained here), with the number of runs that reach it.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import List

import numpy as np

from dglbal.experiments.tables import mean_ci

from paper_protocol import Cell, load_records, report as write_tables, run_cell

SCHEMES = ("bal_o_data", "bal_o", "xavier")
CELLS = [Cell("", d, L) for L in (10, 20) for d in ("cora", "citeseer")]
BASELINE = Path(__file__).resolve().parent / "results" / "gat-planetoid" / "results.csv"


def first_epoch_reaching(val_acc: List[float], target: float) -> int:
    """1-based epoch at which ``val_acc`` first reaches ``target`` (0 if never)."""
    hits = np.flatnonzero(np.asarray(val_acc) >= target - 1e-9)
    return int(hits[0]) + 1 if len(hits) else 0


def baseline_records(path: Path, seeds: int, budget: int, have: set) -> List[dict]:
    """Rows of a sweep's results.csv for the cells and schemes not trained here."""
    if not path.is_file():
        return []
    rows = []
    with open(path) as handle:
        for row in csv.DictReader(handle):
            key = (row["dataset"], int(row["layers"]), row["scheme"])
            if (row["scheme"] in SCHEMES and key not in have and int(row["seed"]) < seeds
                    and int(row["budget"]) == budget
                    and any((c.dataset, c.layers) == key[:2] for c in CELLS)):
                rows.append(dict(dataset=key[0], layers=key[1], scheme=key[2],
                                 seed=int(row["seed"]), budget=budget,
                                 test_acc=float(row["test_acc"]),
                                 best_val_acc=float(row["best_val_acc"]),
                                 best_epoch=int(row["best_epoch"]),
                                 epochs_to_95=int(row["epochs_to_95"]), source=path.parent.name))
    return rows


def table(records: List[dict]) -> str:
    lines = ["| dataset | L | scheme | runs | test acc (%) | best val (%) | epoch of best val "
             "| epoch reaching 95% of own best val | epoch reaching BalO's best val (runs) "
             "| budget | runs from |", "|" + "---|" * 11]
    measured = {(r["dataset"], r["layers"]) for r in records if r["scheme"] == "bal_o_data"}
    for dataset, layers in sorted(measured):
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
            e95 = np.mean([r["epochs_to_95"] for r in runs])
            curves = [r["val_acc"] for r in runs if "val_acc" in r]
            reach = "-"
            if target is not None and curves:
                hit = [h for h in (first_epoch_reaching(c, target) for c in curves) if h]
                reach = (f"{np.mean(hit):.0f} ({len(hit)}/{len(curves)})" if hit
                         else f"never (0/{len(curves)})")
            source = sorted({r.get("source", "this run") for r in runs})
            lines.append(f"| {dataset} | {layers} | {scheme} | {len(runs)} | {test:.1f} +- {ci:.1f} "
                         f"| {best:.1f} | {epoch:.0f} | {e95:.0f} | {reach} | "
                         f"{'/'.join(str(b) for b in sorted({r['budget'] for r in runs}))} | "
                         f"{', '.join(source)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--schemes", nargs="+", default=["bal_o_data"], choices=SCHEMES)
    parser.add_argument("--baseline", type=Path, default=BASELINE,
                        help="results.csv with BalO / Xavier runs of the same setting")
    parser.add_argument("--baseline-epochs", type=int, default=600,
                        help="the budget of the baseline runs to use")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        for cell in CELLS:
            run_cell(cell, args.out, args.epochs, args.seeds, tuple(args.schemes), "dglbal")
            print(f"done: {cell}", flush=True)
    write_tables(args.out)
    records = load_records(args.out) if (args.out / "runs").is_dir() else []
    records = [r for r in records if r["budget"] == args.epochs and r["seed"] < args.seeds]
    have = {(r["dataset"], r["layers"], r["scheme"]) for r in records}
    records += baseline_records(args.baseline, args.seeds, args.baseline_epochs, have)
    text = table(records)
    if records:
        (args.out / "bal_o_data.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
