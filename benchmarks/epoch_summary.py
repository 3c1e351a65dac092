"""The summary tables of committed results, again: test accuracy mean +- 95% CI, how the runs
ended, epochs to the best validation accuracy and to 95% of it as median [quartiles].

    python benchmarks/epoch_summary.py benchmarks/results/gat-planetoid/results.csv ...
    python benchmarks/epoch_summary.py benchmarks/results/bal-o-data

Each argument is a ``results.csv`` written by ``dglbal sweep`` (one row per run; the older
600-epoch studies kept only this file) or a results directory with its run files under
``runs/``. The tables are those of a sweep's ``summary.md``
(:func:`dglbal.experiments.tables.summary_tables`); a ``results.csv`` has no loss curves, so
its "how the runs ended" cells give no final loss. For run files, a last table gives the first
epoch whose training loss is below 1 (median [quartiles] over the seeds; "never" counted
aside).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import List

from dglbal.experiments.tables import median_quartiles, summary_tables

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
        firsts = [next((i + 1 for i, loss in enumerate(curve) if loss < 1), None)
                  for curve in losses]
        reached = [epoch for epoch in firsts if epoch is not None]
        lines.append(f"| {dataset} | {layers} | {scheme} | {len(firsts)} | "
                     f"{median_quartiles(reached)} | {len(firsts) - len(reached)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", type=Path, nargs="+",
                        help="results.csv files or results directories with runs/")
    args = parser.parse_args(argv)
    for path in args.paths:
        if not (path.is_file() or (path / "runs").is_dir()):
            parser.error(f"{path}: neither a results.csv nor a directory with runs/")
    for path in args.paths:
        records = csv_records(path) if path.is_file() else load_records(path)
        print(f"<!-- {path} -->\n{summary_tables(records)}")
        if records and all(r.get("train_loss") for r in records):
            print(loss_below_one(records) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
