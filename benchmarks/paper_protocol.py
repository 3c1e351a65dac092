"""The tables of "Are GATs Out of Balance?" under the paper protocol, in priority order.

    python benchmarks/paper_protocol.py run --out DIR [--epochs 5000] [--seeds 5] [--worker I/N]
        [--family F ...] [--layers L ...]
    python benchmarks/paper_protocol.py report --out DIR [--epochs 5000] [--seeds 5]

``run`` trains cell after cell with ``dglbal sweep``'s machinery (``--protocol paper``), one
run file per (dataset, depth, scheme, seed) under ``DIR/<family>/runs/``; finished runs are
skipped, so the same command resumes, and a larger ``--seeds`` or ``--epochs`` extends the grid.
Cells come in the order of the paper's claims: deep GATs under SGD first (L = 10, 20, 40 on
Cora and Citeseer), then GCN on Cora (L = 10, 40), Adam on Cora (L = 10, 5), three
heterophilous sets (L = 10, 20, 40), then the shallow depths (L = 2, 5), then the ablation of
orthogonality against balance (family ``ortho-sgd``: unbalanced looks-linear orthogonal
weights and Xavier, both with zero attention, and LLortho; Cora and Citeseer, L = 10 and 20;
also both unbalanced draws scaled to their balanced twin's initial logit spread
(:data:`SCALE_CONTROLS`); ``--family ortho-sgd`` runs it alone, beside a grid process), then
issue 23's two open questions:
``balx-beta`` (BalX on Cora at L = 10 with beta 1, 2, 4 at the paper's rate 0.05 and at 0.1,
the rate of the paper's figures; beta 2 at 0.05 is the grid's cell, whose run files are
copied from ``gat-sgd`` rather than trained again) and ``lr-l20`` (Cora at L = 20 at the
appendix's rate 0.01, for Xav, BalX and BalO). Within a cell the seeds
go round the schemes (seed 0 of Xav, BalX, BalO, then seed 1, ...), so a cell cut short still
compares the schemes on equal seeds; the cells of ``balx-beta`` and ``lr-l20`` also take turns
seed by seed, so a run cut short compares their settings on equal seeds. A run file another
family's folder holds for the same run (same name: same identity) is copied, not trained.
After each cell, and with ``report``, the family's ``results.csv``, ``summary.md`` and plots
are rewritten from all its run files (``balx-beta`` and ``lr-l20`` also get ``<family>.md``,
one row per setting, ``lr-l20`` beside the grid's L = 20 runs at 0.05), and ``DIR/status.md``
lists every cell of the plan with its setting and the seeds finished per scheme.

``--worker I/N`` runs every N-th cell starting at I, so N processes (one per core, each with
``OMP_NUM_THREADS=1``) share the grid. ``DGLBAL_ATTENTION=compiled`` halves the epoch time of
the GAT cells on CPU (the attention kernels through ``torch.compile``; about 15 s of
compilation per process).
"""
from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from dglbal.experiments.atomic import write_text_atomic
from dglbal.init import DEFAULT_LOGIT_SPREAD
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.runkey import run_name
from dglbal.experiments.runstore import balance_beta_of, logit_spread_of
from dglbal.experiments.sweep import SweepConfig, run_sweep, write_outputs
from dglbal.experiments.tables import setting_table

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
    lr: Optional[float] = None            # None: the paper's rate for the dataset and L
    balance_beta: Optional[float] = None  # None: each scheme's own (the paper's 2)
    logit_spread: float = DEFAULT_LOGIT_SPREAD  # bal_o_data's target

    def config(self, epochs: int, seeds: int, protocol: str = "paper") -> TrainConfig:
        """The cell's runs of seeds 0 .. seeds - 1."""
        return TrainConfig(dataset=self.dataset, model=self.model, layers=self.layers,
                           optimizer=self.optimizer, schemes=list(self.schemes),
                           seeds=list(range(seeds)), epochs=epochs, protocol=protocol,
                           lr=self.lr, balance_beta=self.balance_beta,
                           logit_spread=self.logit_spread)

    def setting(self) -> str:
        """``lr 0.05 (paper)``, ``lr 0.1, beta 4``: the rate, and the beta and logit spread
        when they are not the defaults."""
        lr = self.config(1, 1).learning_rate()
        beta = "" if self.balance_beta is None else f", beta {self.balance_beta:g}"
        spread = ("" if self.logit_spread == DEFAULT_LOGIT_SPREAD
                  else f", logit spread {self.logit_spread:g}")
        return f"lr {lr:g}{' (paper)' if self.lr is None else ''}{beta}{spread}"


ORTHOGONAL_ABLATION = ("looks_linear", "xavier_zero_attention", "ll_ortho")
"""Issue 23's ablation of orthogonality against balance, beside the grid's Xavier, BalX and
BalO: ``looks_linear`` is BalO without the balancing (looks-linear orthogonal weights, zero
attention), ``xavier_zero_attention`` BalX without it; ``ll_ortho`` (the same weights with
Xavier attention, the follow-up paper's LLortho) also varies the attention."""


SCALE_CONTROLS = {
    # (dataset, L): {scheme: the balanced scheme's mean initial logit spread, seeds 0-2}
    ("cora", 10): {"looks_linear_data": 0.00926, "xavier_zero_attention_data": 0.0187},
    ("citeseer", 10): {"looks_linear_data": 0.00677, "xavier_zero_attention_data": 0.0058},
    ("cora", 20): {"looks_linear_data": 0.00901, "xavier_zero_attention_data": 0.0107},
    ("citeseer", 20): {"looks_linear_data": 0.00659, "xavier_zero_attention_data": 0.00737},
}
"""The ablation's scale controls: balancing changes the output scale as well as the balance
(BalO's initial logits spread about 4x wider than unbalanced looks-linear's on Cora at L = 10,
BalX's about 70x wider than Xavier's), so each unbalanced draw is also trained scaled, by one
factor for every weight, to its balanced twin's mean initial logit spread
(``looks_linear_data`` to BalO's, ``xavier_zero_attention_data`` to BalX's): same scale, no
balance. The spreads are printed by ``python benchmarks/logit_spreads.py --dataset D --layers
L --init xavier_zero_attention looks_linear bal_x bal_o`` (paper protocol, seeds 0-2)."""


BALX_BETAS = (None, 1.0, 4.0)
"""``balx-beta``: BalX on Cora at L = 10 with beta 2 (None: the scheme's own, so the grid's
run files are this family's too), 1 and 4, at the paper's rate and at 0.1 (issue 23)."""
BALX_RATES = (None, 0.1)

SEED_MAJOR = frozenset({"balx-beta", "lr-l20"})
"""Families whose cells take turns seed by seed (seed 0 of every cell, then seed 1, ...), so
that a run cut short compares their settings on equal seeds; the other families finish a
cell's seeds before the next cell (priority order)."""

REFERENCE_FAMILY = {"lr-l20": "gat-sgd", "ortho-sgd": "gat-sgd"}
"""The family whose runs of the same dataset and depth a family's table (``<family>.md``)
shows beside its own: of the same schemes (``lr-l20``: the grid's L = 20 cells at the paper's
rate), or of every scheme for the families in :data:`REFERENCE_EVERY_SCHEME`."""
REFERENCE_EVERY_SCHEME = frozenset({"ortho-sgd"})  # beside the grid's Xavier, BalX, BalO


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
    controls = [Cell("ortho-sgd", d, L, schemes=(scheme,), logit_spread=spread)
                for (d, L), targets in SCALE_CONTROLS.items()
                for scheme, spread in targets.items()]
    ortho = ortho[:2] + controls + ortho[2:]  # after the L = 10 cells (cheaper, first)
    balx_beta = [Cell("balx-beta", "cora", 10, schemes=("bal_x",), lr=lr, balance_beta=beta)
                 for lr in BALX_RATES for beta in BALX_BETAS]
    lr_l20 = [Cell("lr-l20", "cora", 20, lr=0.01)]  # the appendix's L = 20 rate
    return deep + gcn + adam + hetero + shallow + ortho + balx_beta + lr_l20


def steps(chosen: List[Cell], seeds: int) -> List[Tuple[Cell, int]]:
    """The order of work: ``(cell, n)`` trains the cell's seeds 0 .. n - 1 (those missing).

    Consecutive cells of a :data:`SEED_MAJOR` family go seed by seed across the cells; other
    cells go one after the other, seed by seed across their schemes.
    """
    order: List[Tuple[Cell, int]] = []
    for family, group in itertools.groupby(chosen, key=lambda cell: cell.family):
        group = list(group)
        if family in SEED_MAJOR:
            order += [(cell, n) for n in range(1, seeds + 1) for cell in group]
        else:
            order += [(cell, n) for cell in group for n in range(1, seeds + 1)]
    return order


def run_seeds(cell: Cell, out: Path, epochs: int, seeds: int, protocol: str = "paper") -> None:
    """Train the cell's missing runs of seeds 0 .. seeds - 1 (seed by seed across the
    schemes); a run file of the same run in another family's folder is copied, not trained
    again (:func:`adopt`)."""
    base = cell.config(epochs, seeds, protocol)
    adopt(base, out, out / cell.family / "runs")
    run_sweep(SweepConfig(datasets=[cell.dataset], depths=[cell.layers], base=base),
              out / cell.family, progress=False)


def adopt(config: TrainConfig, out: Path, runs: Path) -> List[Path]:
    """Copy into ``runs`` the run files of ``config``'s runs that another folder under
    ``out`` holds and ``runs`` lacks. A run file's name is its run's identity, and the sweep
    verifies each file's recorded identity when it loads it (a stale copy is set aside and
    trained again), so a copy is the same run, not a similar one."""
    copied = []
    for scheme in config.schemes:
        for seed in config.seeds:
            name = f"{run_name(config, scheme, seed)}.json"
            if (runs / name).exists():
                continue
            found = sorted(p for p in out.glob(f"*/runs/{name}") if p.parent != runs)
            if found:
                runs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found[0], runs / name)
                copied.append(runs / name)
    return copied


def run_cell(cell: Cell, out: Path, epochs: int, seeds: int, protocol: str = "paper") -> None:
    """Train the cell's runs that are missing, seed by seed across the schemes."""
    for count in range(1, seeds + 1):
        run_seeds(cell, out, epochs, count, protocol)


def load_records(folder: Path) -> List[dict]:
    """Every run file of one family (files set aside in ``runs/rejected`` excluded)."""
    records = [json.loads(path.read_text()) for path in (folder / "runs").glob("*.json")]
    order = {scheme: index for index, scheme
             in enumerate(SCHEMES + ("bal_o_data",) + ORTHOGONAL_ABLATION)}
    return sorted(records, key=lambda r: (r["dataset"], r["layers"], order.get(r["scheme"], 99),
                                          r["scheme"], r["seed"]))


def report(out: Path, families: Optional[Sequence[str]] = None) -> List[Tuple[str, int]]:
    """Rewrite each family's tables and plots from its run files (only ``families`` when
    given); (family, runs) pairs. Families of this plan whose settings differ within a cell
    (``balx-beta``, ``lr-l20``) or that are read beside the grid (``ortho-sgd``) also get
    ``<family>.md``: one row per setting (:func:`family_table`)."""
    written = []
    for folder in sorted(p for p in out.iterdir() if (p / "runs").is_dir()):
        if families is not None and folder.name not in families:
            continue
        records = load_records(folder)
        if records:
            write_outputs(records, folder)
            written.append((folder.name, len(records)))
            if folder.name in SEED_MAJOR or folder.name in REFERENCE_FAMILY:
                write_text_atomic(folder / f"{folder.name}.md",
                                  family_table(folder.name, records, out) + "\n")
    return written


def family_table(family: str, records: List[dict], out: Path) -> str:
    """One row per (dataset, L, scheme, lr, beta, logit spread of a data-scaled scheme) of the
    family's runs, with the runs of the
    same dataset, L and schemes in :data:`REFERENCE_FAMILY`'s folder at the same budget:
    test accuracy, how the runs ended (divergences), epochs to the best validation accuracy
    and to 95% of it (median [quartiles])."""
    reference = REFERENCE_FAMILY.get(family)
    rows = [(family, r) for r in records]
    if reference is not None and (out / reference / "runs").is_dir():
        every = family in REFERENCE_EVERY_SCHEME

        def key(r: dict) -> tuple:
            return (r["dataset"], r["layers"], None if every else r["scheme"], r["budget"])

        wanted = {key(r) for r in records}
        rows += [(reference, r) for r in load_records(out / reference) if key(r) in wanted]
    groups: Dict[tuple, List[dict]] = {}
    for source, r in rows:
        key = (r["dataset"], r["layers"], r["scheme"], r["lr"], balance_beta_of(r),
               logit_spread_of(r), r["budget"], source)
        groups.setdefault(key, []).append(r)
    labelled = [([d, str(L), scheme, f"{lr:g}", "-" if beta is None else f"{beta:g}",
                  "-" if spread is None else f"{spread:g}", str(budget), source], runs)
                for (d, L, scheme, lr, beta, spread, budget, source), runs in sorted(
                    groups.items(), key=lambda item: tuple(str(k) for k in item[0]))]
    return setting_table(["dataset", "L", "scheme", "lr", "beta", "logit spread", "budget",
                          "runs from"], labelled)


def status(out: Path, epochs: int, seeds: int, protocol: str = "paper") -> str:
    """A markdown table: every cell of the plan, in priority order, with its finished runs
    (seeds 0 .. seeds - 1 per scheme) at this budget: the run files of exactly the cell's
    runs (their names are their identities)."""
    lines = [f"| # | family | dataset | model | optimizer | L | setting | budget | seeds "
             f"finished per scheme, of {seeds} |", "|" + "---|" * 9]
    for index, cell in enumerate(cells(), 1):
        config, runs = cell.config(epochs, seeds, protocol), out / cell.family / "runs"
        done = [sum((runs / f"{run_name(config, scheme, seed)}.json").exists()
                    for seed in config.seeds) for scheme in cell.schemes]
        lines.append(f"| {index} | {cell.family} | {cell.dataset} | {cell.model} | "
                     f"{cell.optimizer} | {cell.layers} | {cell.setting()} | {epochs} | "
                     + ", ".join(f"{s} {n}" for s, n in zip(cell.schemes, done)) + " |")
    return "\n".join(lines)



def worker_slot(text: str) -> Tuple[int, int]:
    """``--worker I/N`` (argparse type): this process runs every N-th unit of work from I."""
    try:
        worker, workers = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be I/N, got {text}") from None
    if not 0 <= worker < workers:
        raise argparse.ArgumentTypeError(f"must be I/N with 0 <= I < N, got {text}")
    return worker, workers

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--worker", type=worker_slot, default=(0, 1),
                        help="I/N: run every N-th cell from I")
    parser.add_argument("--family", nargs="+", help="run only the cells of these families")
    parser.add_argument("--layers", nargs="+", type=int,
                        help="run only the cells of these depths")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.seeds < 1:
        parser.error("--epochs and --seeds must be at least 1")
    worker, workers = args.worker
    args.out.mkdir(parents=True, exist_ok=True)
    if args.family is not None:
        unknown = sorted(set(args.family) - {cell.family for cell in cells()})
        if unknown:
            parser.error(f"--family: unknown {', '.join(unknown)}; choose from "
                         f"{', '.join(dict.fromkeys(cell.family for cell in cells()))}")
    if args.layers is not None:
        planned = {cell.layers for cell in cells()
                   if args.family is None or cell.family in args.family}
        unknown = sorted(set(args.layers) - planned)
        if unknown:
            parser.error(f"--layers: no cell at L = {', '.join(map(str, unknown))}; planned: "
                         f"{', '.join(map(str, sorted(planned)))}")
    if args.command == "run":
        chosen = [c for c in cells() if (args.family is None or c.family in args.family)
                  and (args.layers is None or c.layers in args.layers)]
        for cell, count in steps(chosen[worker::workers], args.seeds):
            run_seeds(cell, args.out, args.epochs, count)
            if count == args.seeds or cell.family in SEED_MAJOR:
                report(args.out, [cell.family])
                print(f"done: {cell}, seeds 0-{count - 1}", flush=True)
    for family, count in report(args.out):
        print(f"{family}: {count} runs")
    table = status(args.out, args.epochs, args.seeds)
    write_text_atomic(args.out / "status.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
