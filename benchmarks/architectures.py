"""Issue 23, item 5: does balanced initialization help architectures other than GAT?

    python benchmarks/architectures.py run    --out DIR [--epochs 300] [--seeds 3] [--worker I/N]
                                             [--datasets D ...]
    python benchmarks/architectures.py report --out DIR [--epochs 300] [--seeds 3]
    python benchmarks/architectures.py plan   --out DIR [--epochs 300] [--seeds 3]
                                             [--timing-epochs 5]

The generic analyser makes balanced initialization available to any homogeneous model. This
study trains four of them, built from dglbal's builders without normalization layers, at
L = 10, 20, 40: GCN (``dglbal.nn.GCN``, symmetric normalization), GraphSAGE (DGL's
``SAGEConv``, mean aggregator), GIN (DGL's ``GINConv``, sum aggregator, one Linear per layer,
eps = 0 fixed) and GATv2 (``dglbal.nn.GAT``: its default layer is dglbal's ``GATv2Conv``, the
layer of "Are GATs Out of Balance?"; one head). Schemes: Xavier (DGL's), He, BalO (the
generic balanced looks-linear orthogonal initialization: ``init="bal_o"``, i.e. looks-linear
weights on every graph layer's feature maps, then ``analyze_and_balance``'s init mode over
the analyser's groups with beta = 2) and GNN He (DeZoort & Hanin: He divided by the spectral
radius of each layer's aggregation; it differs from He only for GIN's sum aggregation).
Datasets: Cora and Citeseer (homophilous), Texas and Wisconsin (heterophilous; the two
smallest of the heterophilous sets, 183 and 251 nodes, so that L = 40 is affordable, and two
of the paper's own three).

Training: the setting in which "Are GATs Out of Balance?" states its claims: full-batch SGD,
the paper's learning-rate table (0.05 up to L = 20 and 0.005 beyond on Cora / Citeseer;
0.01 / 0.005 / 0.0005 at L = 10 / 20 / 40 on the heterophilous sets), the same rate for every
model and scheme (never tuned per scheme), no dropout or weight decay, width 64, dglbal's
protocol (bidirected edges with self-loops, row-normalized features, stop below training loss
1e-4), test accuracy at the epoch of best validation accuracy, at most ``--epochs`` epochs (a
few hundred: the early-training regime the paper's claims are about).

``run`` trains cell after cell, one run file per (model, dataset, L, scheme, seed) under
``DIR/<model>/runs/`` (``dglbal sweep``'s machinery, through ``paper_protocol.run_cell``);
finished runs are skipped, so the same command resumes, and a larger ``--seeds`` or
``--epochs`` extends the study. Cells go L = 10 first (all models and datasets), then 20, then
40; within a cell seed 0 of every scheme comes before seed 1, so a run cut short still
compares the schemes on equal seeds. ``report`` rewrites each model's ``results.csv`` /
``summary.md`` (test accuracy mean +- 95% CI, how the runs ended with a divergence count,
epochs to the best model as median [quartiles]) and ``DIR/architectures.md`` /
``DIR/accuracy_vs_depth.png`` across models. ``plan`` times, per
(model, dataset, L), the set-up of a BalO model and a few training epochs (CPU time of the
process, so core time with ``OMP_NUM_THREADS=1``) and prints and writes
(``DIR/plan.md``) the plan with its core-hours, an upper bound (runs that converge or
diverge stop early).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from dglbal._plotting import new_figure
from dglbal.experiments.atomic import replaced_atomically, write_text_atomic
from dglbal.experiments.sweep import write_outputs
from dglbal.experiments.tables import (interval_text, mean_ci, median_quartiles,
                                      scored_percent)
from dglbal.data import num_classes
from dglbal.experiments.loop import full_batch_loop
from dglbal.experiments.metrics import metric_function
from dglbal.experiments.train import (build_model, make_optimizer, prepare_graph,
                                     seed_everything)
from one_class import one_class_rates
from paper_protocol import Cell, run_cell, worker_slot
from paper_protocol import load_records as paper_records

MODELS = ("gcn", "sage", "gin", "gat")
SCHEMES = ("xavier", "he", "bal_o", "gnn_he")
DEPTHS = (10, 20, 40)
DATASETS = ("cora", "citeseer", "texas", "wisconsin")


PROTOCOL = "dglbal"


def cells(datasets: Sequence[str] = DATASETS) -> List[Cell]:
    """Every cell, in priority order: L = 10 first, then 20, then 40. A cell is
    ``paper_protocol``'s (one family, the output folder, per model), at the default width 64
    and the paper's learning rate."""
    return [Cell(m, d, L, model=m, schemes=SCHEMES) for L in DEPTHS for d in datasets
            for m in MODELS]


def load_records(folder: Path) -> List[dict]:
    """Every run file of one model (files set aside in ``runs/rejected`` excluded), in the
    order dataset, depth, scheme (as in :data:`SCHEMES`), seed."""
    order = {scheme: index for index, scheme in enumerate(SCHEMES)}
    return sorted(paper_records(folder), key=lambda r: (r["dataset"], r["layers"],
                                                        order.get(r["scheme"], 99),
                                                        r["scheme"], r["seed"]))


def _records(out: Path, epochs: int) -> Dict[str, List[dict]]:
    """Each model's runs at this budget."""
    found = {}
    for model in MODELS:
        folder = out / model
        if (folder / "runs").is_dir():
            found[model] = [r for r in load_records(folder) if r["budget"] == epochs]
    return found


def _endings(runs: List[dict], one_class: Sequence[float]) -> str:
    """How many runs diverged (``div``), never rose above their first epoch's validation
    accuracy (``flat``: the model did not learn), or score exactly what predicting one class
    for every node scores (``one``: indistinguishable from a one-class predictor; rates from
    :func:`one_class_rates`); each run counts once; ``-`` when none did."""
    counts = {
        "div": sum(r["stop_reason"] == "diverged" for r in runs),
        "flat": sum(r["stop_reason"] != "diverged" and r["best_epoch"] == 0 for r in runs),
        "one": sum(r["stop_reason"] != "diverged" and r["best_epoch"] > 0
                   and r["test_acc"] is not None
                   and any(abs(100.0 * r["test_acc"] - rate) < 1e-3 for rate in one_class)
                   for r in runs),  # 1e-3 %: below one test node's share, above float32
    }
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "-"


def _cell_text(runs: List[dict], one_class: Sequence[float]) -> str:
    """``acc +- CI (runs) | endings; loss | best epoch median [quartiles]`` of one scheme in
    one cell; ``loss`` is the median final training loss of the runs that did not diverge
    (about log(classes) for a model that has not left its initial plateau)."""
    tests, _ = scored_percent(r["test_acc"] for r in runs)
    best = [r["best_epoch"] + 1 for r in runs if r["best_epoch"] >= 0]
    final = [r["train_loss"][-1] for r in runs
             if r["stop_reason"] != "diverged" and r["train_loss"]]
    ended = _endings(runs, one_class)
    parts = ([] if ended == "-" else [ended]) + (
        [f"loss {float(np.median(final)):.2g}"] if final else [])
    return (f"{interval_text(tests)} ({len(runs)}) | {'; '.join(parts) or '-'} | "
            f"{median_quartiles(best)}")


def results_table(by_model: Dict[str, List[dict]], seeds: int,
                  one_class: Dict[str, Sequence[float]]) -> str:
    """One markdown table per dataset: rows (model, scheme), per depth the test accuracy
    (%) mean +- 95% CI with the number of runs, how the runs that did not train ended
    (:func:`_endings`, against the dataset's ``one_class`` rates) with the median final
    training loss, and the epochs to the best validation accuracy (median [quartiles])."""
    lines = []
    datasets = list(dict.fromkeys(r["dataset"] for rs in by_model.values() for r in rs))
    for dataset in [d for d in DATASETS if d in datasets] + [d for d in datasets
                                                             if d not in DATASETS]:
        depths = sorted({r["layers"] for rs in by_model.values() for r in rs
                         if r["dataset"] == dataset})
        lines += [f"### {dataset} (SGD, the paper's learning rates, {seeds} seeds planned; "
                  f"one class for every node scores at most {one_class[dataset][0]:.1f}%)", "",
                  "| model | scheme | " + " | ".join(f"L={d} acc (runs) | not trained; "
                                                   "final loss | best epoch"
                                                   for d in depths) + " |",
                  "|---|---|" + "---|---|---|" * len(depths)]
        for model, records in by_model.items():
            for scheme in SCHEMES:
                cells_ = []
                for depth in depths:
                    runs = [r for r in records if (r["dataset"], r["layers"], r["scheme"])
                            == (dataset, depth, scheme)]
                    cells_.append(_cell_text(runs, one_class[dataset]) if runs else "- | - | -")
                if any(c != "- | - | -" for c in cells_):
                    lines.append(f"| {model} | {scheme} | " + " | ".join(cells_) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_depths(by_model: Dict[str, List[dict]], path: Path) -> Path:
    """Test accuracy (mean +- 95% CI) against depth: one panel per (dataset, model), one
    line (one colour) per scheme; diverged runs without a score are left out of the mean, and
    a scheme with none at a depth has no point there."""
    datasets = [d for d in DATASETS if any(r["dataset"] == d for rs in by_model.values()
                                           for r in rs)]
    models = list(by_model)
    fig, axes = new_figure(len(datasets), len(models), figsize=(4 * len(models),
                                                                3.2 * len(datasets)),
                           squeeze=False)
    for row, dataset in enumerate(datasets):
        for column, model in enumerate(models):
            ax = axes[row, column]
            subset = [r for r in by_model[model] if r["dataset"] == dataset]
            for color, scheme in enumerate(SCHEMES):  # one colour per scheme in every panel
                points = []
                for depth in DEPTHS:
                    tests, _ = scored_percent(r["test_acc"] for r in subset
                                              if (r["scheme"], r["layers"]) == (scheme, depth))
                    if tests:
                        points.append((depth, *mean_ci(tests)))
                if points:
                    x, y, e = zip(*points)
                    ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=scheme,
                                color=f"C{color}")
            ax.set(title=f"{model.upper()} on {dataset}", xscale="log", xticks=DEPTHS,
                   xticklabels=[str(d) for d in DEPTHS], xlabel="layers",
                   ylabel="test accuracy (%)")
            ax.minorticks_off()
            if ax.lines:
                ax.legend(fontsize=8, title="no point: no scored run", title_fontsize=7)
    fig.tight_layout()
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def report(out: Path, epochs: int, seeds: int) -> List[Tuple[str, int]]:
    """Rewrite every model's tables and plots, the cross-model table and plot; returns
    (model, runs) pairs."""
    written = []
    for model in MODELS:
        folder = out / model
        if (folder / "runs").is_dir():
            records = load_records(folder)
            if records:
                write_outputs(records, folder)
                written.append((model, len(records)))
    by_model = {m: rs for m, rs in _records(out, epochs).items() if rs}
    if by_model:
        one_class = {d: one_class_rates(d, PROTOCOL)
                     for d in {r["dataset"] for rs in by_model.values() for r in rs}}
        write_text_atomic(out / "architectures.md",
                          results_table(by_model, seeds, one_class) + "\n")
        plot_depths(by_model, out / "accuracy_vs_depth.png")
    return written


def _timing(cell: Cell, epochs: int, graph) -> Tuple[float, float]:
    """CPU seconds (core time: one thread) to build the BalO model (the scheme with the most
    set-up work: analysis and balancing), and per epoch of full-batch training with
    evaluation, timed on the GNN He model (the one scheme that keeps every model's loss
    finite on Cora, so every step does its backward pass), after one untimed step."""
    config = cell.config(epochs, 1, PROTOCOL)
    in_feats, out_feats = graph.ndata["feat"].shape[1], num_classes(graph)
    seed_everything(0)
    start = time.process_time()
    build_model(config, "bal_o", in_feats, out_feats, graph)
    setup = time.process_time() - start
    model = build_model(config, "gnn_he", in_feats, out_feats, graph)
    opt = make_optimizer(model, config.optimizer, config.learning_rate())
    step, evaluate = full_batch_loop(model, graph, opt, None, metric_function("accuracy"))
    step()
    start = time.process_time()
    for _ in range(epochs):
        step()
        evaluate()
    return setup, (time.process_time() - start) / epochs


def plan(out: Path, epochs: int, seeds: int, timing_epochs: int,
         datasets: Sequence[str] = DATASETS) -> str:
    """Time the set-up and ``timing_epochs`` epochs per (model, dataset, L)
    (:func:`_timing`) and extrapolate every cell's runs to ``epochs`` epochs: a markdown
    table with the core-hours (one thread per run)."""
    graphs = {}
    lines = [f"Plan: {len(SCHEMES)} schemes x {seeds} seeds per cell, at most {epochs} epochs "
             "(upper bound: runs that converge or diverge stop early).", "",
             "| model | dataset | L | set-up s | s/epoch | cell core-hours |",
             "|---|---|---|---|---|---|"]
    total = 0.0
    for cell in cells(datasets):
        if cell.dataset not in graphs:
            config = cell.config(epochs, 1, PROTOCOL)
            graphs[cell.dataset] = prepare_graph(config, config.load_graph())
        graph = graphs[cell.dataset]
        setup, per_epoch = _timing(cell, timing_epochs, graph)
        hours = len(SCHEMES) * seeds * (setup + epochs * per_epoch) / 3600
        total += hours
        lines.append(f"| {cell.model} | {cell.dataset} | {cell.layers} | {setup:.2f} | "
                     f"{per_epoch:.4f} | {hours:.2f} |")
    lines += ["", f"Total: {total:.1f} core-hours for {len(cells(datasets)) * len(SCHEMES) * seeds}"
              " runs."]
    text = "\n".join(lines)
    write_text_atomic(out / "plan.md", text + "\n")
    return text


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("epochs", "seeds", "timing_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got "
                         f"{getattr(args, name)}")
    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown:
        parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report", "plan"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--worker", type=worker_slot, default=(0, 1),
                        help="I/N: run every N-th cell from I")
    parser.add_argument("--timing-epochs", type=int, default=5,
                        help="plan: epochs timed per (model, dataset, L)")
    args = parser.parse_args(argv)
    _check(parser, args)
    worker, workers = args.worker
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "plan":
        print(plan(args.out, args.epochs, args.seeds, args.timing_epochs, args.datasets))
        return 0
    if args.command == "run":
        for cell in cells(args.datasets)[worker::workers]:
            run_cell(cell, args.out, args.epochs, args.seeds, PROTOCOL)
            report(args.out, args.epochs, args.seeds)
            print(f"done: {cell}", flush=True)
    for model, count in report(args.out, args.epochs, args.seeds):
        print(f"{model}: {count} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
