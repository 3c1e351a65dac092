"""The tables of "Are GATs Out of Balance?" under the paper protocol, in priority order.

    python benchmarks/paper_protocol.py run --out DIR [--epochs 5000] [--seeds 5] [--worker I/N]
        [--family F ...]
    python benchmarks/paper_protocol.py report --out DIR [--epochs 5000] [--seeds 5]

``run`` trains cell after cell with ``dglbal sweep``'s machinery (``--protocol paper``), one
run file per (dataset, depth, scheme, seed) under ``DIR/<family>/runs/``; finished runs are
skipped, so the same command resumes, and a larger ``--seeds`` or ``--epochs`` extends the grid.
Cells come in the order of the paper's claims: deep GATs under SGD first (L = 10, 20, 40 on
Cora and Citeseer), then GCN on Cora (L = 10, 40), Adam on Cora (L = 10, 5), three
heterophilous sets (L = 10, 20, 40), then the shallow depths (L = 2, 5), then the ablation of
orthogonality against balance (family ``ortho-sgd``: unbalanced looks-linear orthogonal
weights and Xavier with zero attention on Cora and Citeseer, L = 10 and 20; ``--family
ortho-sgd`` runs it alone, beside a grid process). Within a cell the seeds
go round the schemes (seed 0 of Xav, BalX, BalO, then seed 1, ...), so a cell cut short still
compares the schemes on equal seeds. After each cell, and with ``report``, every family's
``results.csv``, ``summary.md`` and plots are rewritten from all its run files, and
``DIR/status.md`` lists every cell of the plan with the seeds finished per scheme.

``--worker I/N`` runs every N-th cell starting at I, so N processes (one per core, each with
``OMP_NUM_THREADS=1``) share the grid. ``DGLBAL_ATTENTION=compiled`` halves the epoch time of
the GAT cells on CPU (the attention kernels through ``torch.compile``; about 15 s of
compilation per process).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from dglbal.experiments.sweep import SweepConfig, run_sweep, write_outputs
from dglbal.experiments.config import TrainConfig

SCHEMES = ("xavier", "bal_x", "bal_o")
HETEROPHILOUS = ("texas", "wisconsin", "cornell")


@dataclass(frozen=True)
class Cell:
    family: str          # output subdirectory: one table family
    dataset: str
    layers: int
    model: str = "gat"
    optimizer: str = "sgd"
    schemes: Tuple[str, ...] = SCHEMES


ORTHOGONAL_ABLATION = ("ll_ortho", "xavier_zero_attention")
"""Issue 23's ablation of orthogonality against balance: unbalanced looks-linear orthogonal
weights and Xavier with zero attention, beside the grid's Xavier, BalX and BalO."""


def cells() -> List[Cell]:
    """Every cell of the grid, in priority order."""
    deep = [Cell("gat-sgd", d, L) for L in (10, 20, 40) for d in ("cora", "citeseer")]
    gcn = [Cell("gcn-sgd", "cora", L, model="gcn") for L in (10, 40)]
    adam = [Cell("gat-adam", "cora", L, optimizer="adam") for L in (10, 5)]
    hetero = [Cell("hetero-sgd", d, L) for L in (10, 20, 40) for d in HETEROPHILOUS]
    shallow = ([Cell("gat-sgd", d, L) for L in (5, 2) for d in ("cora", "citeseer")]
               + [Cell("hetero-sgd", d, L) for L in (5, 2) for d in HETEROPHILOUS])
    ortho = [Cell("ortho-sgd", d, L, schemes=ORTHOGONAL_ABLATION)
             for L in (10, 20) for d in ("cora", "citeseer")]
    return deep + gcn + adam + hetero + shallow + ortho


def run_cell(cell: Cell, out: Path, epochs: int, seeds: int, protocol: str = "paper") -> None:
    """Train the cell's runs that are missing, seed by seed across the schemes."""
    for count in range(1, seeds + 1):
        base = TrainConfig(dataset=cell.dataset, model=cell.model, layers=cell.layers,
                           optimizer=cell.optimizer, schemes=list(cell.schemes),
                           seeds=list(range(count)), epochs=epochs, protocol=protocol)
        run_sweep(SweepConfig(datasets=[cell.dataset], depths=[cell.layers], base=base),
                  out / cell.family, progress=False)


def load_records(folder: Path) -> List[dict]:
    """Every run file of one family (files set aside in ``runs/rejected`` excluded)."""
    records = [json.loads(path.read_text()) for path in (folder / "runs").glob("*.json")]
    order = {scheme: index for index, scheme
             in enumerate(SCHEMES + ("bal_o_data",) + ORTHOGONAL_ABLATION)}
    return sorted(records, key=lambda r: (r["dataset"], r["layers"], order.get(r["scheme"], 99),
                                          r["scheme"], r["seed"]))


def report(out: Path) -> List[Tuple[str, int]]:
    """Rewrite each family's tables and plots from its run files; (family, runs) pairs."""
    written = []
    for folder in sorted(p for p in out.iterdir() if (p / "runs").is_dir()):
        records = load_records(folder)
        if records:
            write_outputs(records, folder)
            written.append((folder.name, len(records)))
    return written


def status(out: Path, epochs: int, seeds: int) -> str:
    """A markdown table: every cell of the plan, in priority order, with the finished runs
    (seeds per scheme) at this budget."""
    lines = [f"| # | family | dataset | model | optimizer | L | budget | seeds finished per "
             f"scheme, of {seeds} |", "|" + "---|" * 8]
    loaded = {}
    for index, cell in enumerate(cells(), 1):
        if cell.family not in loaded:
            folder = out / cell.family
            loaded[cell.family] = load_records(folder) if (folder / "runs").is_dir() else []
        done = [sum(1 for r in loaded[cell.family]
                    if (r["dataset"], r["layers"], r["model"], r["optimizer"], r["scheme"],
                        r["budget"]) == (cell.dataset, cell.layers, cell.model, cell.optimizer,
                                         scheme, epochs))
                for scheme in cell.schemes]
        lines.append(f"| {index} | {cell.family} | {cell.dataset} | {cell.model} | "
                     f"{cell.optimizer} | {cell.layers} | {epochs} | "
                     + ", ".join(f"{s} {n}" for s, n in zip(cell.schemes, done)) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--worker", default="0/1", help="I/N: run every N-th cell from I")
    parser.add_argument("--family", nargs="+", help="run only the cells of these families")
    args = parser.parse_args(argv)
    worker, workers = (int(part) for part in args.worker.split("/"))
    if not 0 <= worker < workers:
        parser.error(f"--worker must be I/N with 0 <= I < N, got {args.worker}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        chosen = [c for c in cells() if args.family is None or c.family in args.family]
        for cell in chosen[worker::workers]:
            run_cell(cell, args.out, args.epochs, args.seeds)
            report(args.out)
            print(f"done: {cell}", flush=True)
    for family, count in report(args.out):
        print(f"{family}: {count} runs")
    table = status(args.out, args.epochs, args.seeds)
    (args.out / "status.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
