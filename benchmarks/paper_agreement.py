"""How the paper-grid cells agree with the paper's: one row per cell, and the counts RESULTS
quotes.

    python benchmarks/paper_agreement.py benchmarks/results/paper-protocol [--seeds 5]

Reads the run files of every family folder under the given directory (``<family>/runs/``)
and, for each cell the paper reports (dataset, model, optimizer, depth, scheme) with
``--seeds`` scored runs, compares our mean +- 95% CI (Student t) with the paper's: whether the
two intervals overlap, whether ours holds the paper's mean, whether our mean lies inside the
paper's interval. Families of another setting than the paper's (``balx-beta``, ``lr-l20``,
``ortho-sgd``) are left out (``dglbal.experiments.runkey.paper_differences``), as are cells
with fewer runs, which are named.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from dglbal.experiments.reference import reference_interval
from dglbal.experiments.runkey import paper_differences
from dglbal.experiments.tables import mean_ci

Cell = Tuple[str, str, str, int, str]  # dataset, model, optimizer, layers, scheme
CHECKS = ("overlap", "ours holds its mean", "our mean in its interval")


def cells_of(folder: Path) -> Dict[Cell, List[float]]:
    """Test accuracies (%) per cell of the run files ``folder/*/runs/*.json`` whose setting is
    the paper's, each run once (a family may hold a copy of another's run); runs that
    diverged before any scored epoch have no accuracy and are left out."""
    found: Dict[Cell, List[float]] = defaultdict(list)
    seen = set()
    for path in sorted(Path(folder).glob("*/runs/*.json")):
        record = json.loads(path.read_text())
        if record["run"] in seen or paper_differences([record]) or record["test_acc"] is None:
            continue
        seen.add(record["run"])
        cell = (record["dataset"], record["model"], record["optimizer"], record["layers"],
                record["scheme"])
        found[cell].append(100 * record["test_acc"])
    return dict(found)


def agreement(cells: Dict[Cell, List[float]], seeds: int
              ) -> Tuple[List[Tuple[Cell, float, float, float, float, Tuple[bool, ...]]],
                         List[Cell]]:
    """(rows of the compared cells, cells of the paper's with fewer than ``seeds`` runs)."""
    rows, short = [], []
    for cell, values in sorted(cells.items()):
        dataset, model, optimizer, layers, scheme = cell
        paper = reference_interval(model, dataset, scheme, layers, optimizer)
        if paper is None:
            continue
        if len(values) < seeds:
            short.append(cell)
            continue
        mean, half = mean_ci(values)
        paper_mean, paper_half = paper
        checks = (mean - half <= paper_mean + paper_half and paper_mean - paper_half <= mean + half,
                  mean - half <= paper_mean <= mean + half,
                  paper_mean - paper_half <= mean <= paper_mean + paper_half)
        rows.append((cell, mean, half, paper_mean, paper_half, checks))
    return rows, short


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the paper grid's output folder")
    parser.add_argument("--seeds", type=int, default=5, help="runs a cell needs (default 5)")
    args = parser.parse_args(argv)
    if not sorted(args.folder.glob("*/runs/*.json")):
        parser.error(f"no run files (<family>/runs/*.json) under {args.folder}")
    rows, short = agreement(cells_of(args.folder), args.seeds)
    print("| dataset | model | optimizer | L | scheme | ours | paper | " + " | ".join(CHECKS)
          + " |")
    print("|---" * (7 + len(CHECKS)) + "|")
    for (dataset, model, optimizer, layers, scheme), mean, half, pm, ph, checks in rows:
        marks = " | ".join("yes" if c else "**no**" for c in checks)
        print(f"| {dataset} | {model} | {optimizer} | {layers} | {scheme} | {mean:.1f} +- "
              f"{half:.1f} | {pm:.1f} +- {ph:.1f} | {marks} |")
    counts = [sum(checks[k] for *_, checks in rows) for k in range(len(CHECKS))]
    print(f"\n{len(rows)} cells with {args.seeds} runs: "
          + ", ".join(f"{name} {count}" for name, count in zip(CHECKS, counts)))
    if short:
        print("fewer runs: " + ", ".join("-".join(map(str, cell)) for cell in short))
    return 0


if __name__ == "__main__":
    sys.exit(main())
