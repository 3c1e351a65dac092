"""The summary tables of committed results, again: test accuracy mean +- 95% CI, how the runs
ended, epochs to the best validation accuracy and to 95% of it as median [quartiles].

    python benchmarks/epoch_summary.py benchmarks/results/gat-planetoid/results.csv ...
    python benchmarks/epoch_summary.py benchmarks/results/bal-o-data
    python benchmarks/epoch_summary.py --per-seed benchmarks/results/paper-protocol/lr-l20

Each argument is a ``results.csv`` written by ``dglbal sweep`` (one row per run; the older
600-epoch studies kept only this file) or a results directory with its run files under
``runs/``. The tables are those of a sweep's ``summary.md``
(:func:`dglbal.experiments.tables.summary_tables`); a ``results.csv`` has no loss curves, so
its "how the runs ended" cells give no final loss. For run files, a last table gives the first
epoch whose training loss is below 1 (median [quartiles] over the seeds; "never" counted
aside). ``--per-seed`` prints one row per run instead (the per-seed numbers RESULTS quotes):
its setting, test accuracy, how it ended, the epochs of its best validation accuracy and of
95% of it, and, from the loss curve of a run file, the first epoch below loss 1, the lowest
training loss with its epoch and the last.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import List, Optional

from dglbal.experiments.runstore import balance_beta_of, logit_spread_of
from dglbal.experiments.tables import ENDINGS, median_quartiles, summary_tables

from paper_protocol import load_records

INTEGERS = ("layers", "seed", "budget", "best_epoch", "epochs_to_95", "epochs")
FLOATS = ("lr", "test_acc", "best_val_acc", "seconds")


def csv_records(path: Path) -> List[dict]:
    """The rows of a sweep's ``results.csv`` as run records (one run key per row)."""
    records = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            record = dict(row)
            record.update({key: int(row[key]) for key in INTEGERS})
            record.update({key: float(row[key]) for key in FLOATS})
            record["run"] = row.get("run") or (f"{path}:{row['dataset']}-{row['model']}-L"
                                               f"{row['layers']}-{row['scheme']}-s{row['seed']}")
            records.append(record)
    return records


def loss_below_one(records: List[dict]) -> str:
    """Per dataset, depth and scheme: the first epoch (1-based) whose training loss is below
    1, median [quartiles] over the runs that get there, and how many never do."""
    lines = ["First epoch with training loss < 1, median [quartiles]:", "",
             "| dataset | L | scheme | runs | epoch | never |", "|---|---|---|---|---|---|"]
    cells = sorted({(r["dataset"], r["layers"], r["scheme"]) for r in records})
    for dataset, layers, scheme in cells:
        losses = [r["train_loss"] for r in records
                  if (r["dataset"], r["layers"], r["scheme"]) == (dataset, layers, scheme)]
        firsts = [first_below_one(curve) for curve in losses]
        reached = [epoch for epoch in firsts if epoch is not None]
        lines.append(f"| {dataset} | {layers} | {scheme} | {len(firsts)} | "
                     f"{median_quartiles(reached)} | {len(firsts) - len(reached)} |")
    return "\n".join(lines)


def first_below_one(curve: List[float]) -> Optional[int]:
    """The first epoch (1-based) whose training loss is below 1, None if none is."""
    return next((i + 1 for i, loss in enumerate(curve) if loss < 1), None)


def per_seed(records: List[dict]) -> str:
    """One row per run, sorted by setting and seed: dataset, L, scheme, lr, beta (balanced
    schemes), target logit spread (data-scaled schemes), seed, test accuracy, how the run
    ended, epochs (1-based) of the best validation accuracy and of 95% of it; from a loss
    curve, the first epoch below loss 1, the lowest loss (at its epoch) and the last ("-"
    without a curve: a ``results.csv`` row)."""
    lines = ["| dataset | L | scheme | lr | beta | logit spread | seed | test acc (%) | ended "
             "| best val at | 95% at | loss < 1 at | lowest loss (epoch) | last loss |",
             "|" + "---|" * 14]
    rows = []
    for r in records:
        spread = logit_spread_of(r)
        beta = balance_beta_of(r) if spread is None else None  # the data scale undoes beta
        ended = ENDINGS.get(r["stop_reason"], r["stop_reason"])
        curve = r.get("train_loss") or []
        if curve:
            lowest = min(range(len(curve)), key=curve.__getitem__)
            below = first_below_one(curve)
            losses = (f"{'never' if below is None else below} | {curve[lowest]:.2g} "
                      f"({lowest + 1}) | {curve[-1]:.2g}")
        else:
            losses = "- | - | -"
        rows.append(((r["dataset"], r["layers"], r["scheme"], r["lr"], beta or 0, spread or 0,
                      r["seed"]),
                     f"| {r['dataset']} | {r['layers']} | {r['scheme']} | {r['lr']:g} | "
                     f"{'-' if beta is None else f'{beta:g}'} | "
                     f"{'-' if spread is None else f'{spread:g}'} | {r['seed']} | "
                     f"{100 * r['test_acc']:.1f} | {ended} at {r['epochs']} | "
                     f"{r['best_epoch'] + 1} | {r['epochs_to_95']} | {losses} |"))
    return "\n".join(lines + [row for _, row in sorted(rows, key=lambda item: item[0])])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", type=Path, nargs="+",
                        help="results.csv files or results directories with runs/")
    parser.add_argument("--per-seed", action="store_true",
                        help="one row per run instead of the summary tables")
    args = parser.parse_args(argv)
    for path in args.paths:
        if not (path.is_file() or (path / "runs").is_dir()):
            parser.error(f"{path}: neither a results.csv nor a directory with runs/")
    for path in args.paths:
        records = csv_records(path) if path.is_file() else load_records(path)
        if args.per_seed:
            print(f"<!-- {path} -->\n{per_seed(records)}\n")
            continue
        print(f"<!-- {path} -->\n{summary_tables(records)}")
        if records and all(r.get("train_loss") for r in records):
            print(loss_below_one(records) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
