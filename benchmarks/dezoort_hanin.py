"""DeZoort & Hanin (2023), "Principles for initialization and architecture selection in GNNs
with ReLU activations", tested as far as its abstract states testable claims.

    python benchmarks/dezoort_hanin.py probe    --out DIR [--dataset cora] [--seeds 3]
    python benchmarks/dezoort_hanin.py ablation --out DIR [--seeds 5] [--epochs 200]
    python benchmarks/dezoort_hanin.py report   --out DIR

``probe`` is forward and backward only, at initialization (``dglbal.diagnose`` on GCNs of
width 64, depths 2 to 64, several model seeds), and writes ``probe.csv``, ``probe.md`` and
``probe.png``:

1. scale: E[h^2] of the last layer's output over the first layer's, and E[g^2] of the loss
   gradient at the first layer over the last (a random projection of the output as the
   loss), for Xavier, He and GNN He, on symmetric normalization (spectral radius 1) and on
   sum aggregation (``norm="none"``, spectral radius > 1). Claim: GNN He keeps both of order
   one for any operator.
2. oversmoothing: the mean pairwise cosine of the nodes' last-layer features (1: every node
   points the same way) under GNN He with fixed aggregation (alpha = 0) and residual
   aggregation A_alpha = (1 - alpha) A + alpha I (alpha = 0.1, 0.3, 0.5). Claim: with fixed
   aggregation the cosine tends to 1 with depth whatever the initialization; residual
   aggregation slows that.
3. correlation collapse with residual connections: the same measure without skips, with skips
   whose branches are drawn like the other layers (He), and with fixup skips (branches start
   at zero: ``skip=True``). Claim: fixup-type residuals avoid the collapse.

``ablation`` trains the 2^3 combinations (init Xavier / GNN He, aggregation fixed / residual
alpha = 0.2, skips none / fixup) of GCNs on Cora at L = 10, 20, 40, Adam lr 1e-3, the first
``--epochs`` (200) epochs, ``--seeds`` (5) seeds, through ``dglbal sweep``'s machinery (one run
file per run under ``DIR/ablation/runs``: the same command resumes). ``report`` rewrites the
ablation's tables: the training loss at epochs 25, 50, 100 and 200 (median over seeds) and the
best validation and test accuracy within the budget.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Dict, List

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dglbal._plotting import new_figure  # noqa: E402
from dglbal.data import load_dataset  # noqa: E402
from dglbal.diagnostics import diagnose  # noqa: E402
from dglbal.experiments.config import TrainConfig  # noqa: E402
from dglbal.experiments.sweep import SweepConfig, run_sweep  # noqa: E402
from dglbal.experiments.tables import interval_text, scored_percent  # noqa: E402
from dglbal.init import feature_weights, he_normal_  # noqa: E402
from dglbal.nn import GCN  # noqa: E402

DEPTHS = (2, 4, 8, 16, 32, 64)
WIDTH = 64
ALPHAS = (0.0, 0.1, 0.3, 0.5)
ABLATION_DEPTHS = (10, 20, 40)
ABLATION_ALPHA = 0.2
LOSS_EPOCHS = (25, 50, 100, 200)


def _model(in_feats: int, classes: int, depth: int, init: str, graph, feat, **options) -> GCN:
    return GCN(in_feats, WIDTH, classes, num_layers=depth, init=init,
               init_data=(graph, feat) if init == "gnn_he" else None, **options)


def _he_branches_(model: GCN) -> GCN:
    """Skips whose branches are drawn like the other layers (He) instead of fixup's zeros."""
    with torch.no_grad():
        for layer in model.layers[1:-1]:
            for weight in feature_weights(layer):
                he_normal_(weight)
    return model


def _settings() -> List[Dict]:
    """(study, label, options) of every probed setting."""
    settings = []
    for norm, init in itertools.product(("both", "none"), ("xavier", "he", "gnn_he")):
        settings.append(dict(study="scale", label=f"{init}, norm={norm}", init=init,
                             options=dict(norm=norm)))
    for alpha in ALPHAS:
        settings.append(dict(study="oversmoothing", label=f"gnn_he, alpha={alpha}",
                             init="gnn_he", options=dict(residual_alpha=alpha)))
    for label, skip, he_branches in (("no skips", False, False), ("skips, He branches", True, True),
                                     ("fixup skips", True, False)):
        settings.append(dict(study="residual", label=label, init="gnn_he",
                             options=dict(skip=skip), he_branches=he_branches))
    return settings


def probe(out: Path, dataset: str, seeds: int) -> List[Dict]:
    """Every setting at every depth and seed: one row each, written to probe.csv."""
    graph = load_dataset(dataset)
    feat = graph.ndata["feat"]
    classes = int(graph.ndata["label"].max()) + 1
    rows = []
    for setting, depth, seed in itertools.product(_settings(), DEPTHS, range(seeds)):
        torch.manual_seed(seed)
        model = _model(feat.shape[1], classes, depth, setting["init"], graph, feat,
                       **setting["options"])
        if setting.get("he_branches"):
            _he_branches_(model)
        layers = diagnose(model, graph, feat, groups=False, seed=seed).layers
        rows.append(dict(study=setting["study"], setting=setting["label"], depth=depth,
                         seed=seed,
                         output_ratio=layers[-1].output_moment / layers[0].output_moment,
                         gradient_ratio=layers[0].gradient_moment / layers[-1].gradient_moment,
                         last_cosine=layers[-1].cosine))
        print(f"{setting['study']:>13} {setting['label']:<22} L={depth:<3} seed {seed}: "
              f"out {rows[-1]['output_ratio']:.3g} grad {rows[-1]['gradient_ratio']:.3g} "
              f"cos {rows[-1]['last_cosine']:.3f}", flush=True)
    with open(out / "probe.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _geometric_mean(values: List[float]) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.exp(np.mean(np.log(values)))) if np.all(values > 0) else float("nan")


def probe_tables(rows: List[Dict]) -> str:
    """Markdown: per study, one row per setting, one column per depth."""
    columns = {"scale": [("output_ratio", "E[h_L^2] / E[h_1^2] (geometric mean over seeds)"),
                         ("gradient_ratio", "E[g_1^2] / E[g_L^2] (geometric mean over seeds)")],
               "oversmoothing": [("last_cosine", "mean pairwise cosine of the last layer's "
                                                 "node features (mean over seeds)")],
               "residual": [("last_cosine", "mean pairwise cosine of the last layer's node "
                                            "features (mean over seeds)")]}
    lines = []
    for study, measures in columns.items():
        for key, title in measures:
            lines += [f"#### {study}: {title}", "",
                      "| setting | " + " | ".join(f"L={d}" for d in DEPTHS) + " |",
                      "|" + "---|" * (len(DEPTHS) + 1)]
            for label in dict.fromkeys(r["setting"] for r in rows if r["study"] == study):
                cells = []
                for depth in DEPTHS:
                    values = [float(r[key]) for r in rows if r["study"] == study
                              and r["setting"] == label and int(r["depth"]) == depth]
                    value = _geometric_mean(values) if key != "last_cosine" else np.mean(values)
                    cells.append(f"{value:.3g}" if key != "last_cosine" else f"{value:.3f}")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def probe_plot(rows: List[Dict], path: Path) -> Path:
    fig, axes = new_figure(1, 4, figsize=(20, 4))
    panels = [("scale", "output_ratio", "E[h_L^2] / E[h_1^2]", True, "1. output scale"),
              ("scale", "gradient_ratio", "E[g_1^2] / E[g_L^2]", True, "1. gradient scale"),
              ("oversmoothing", "last_cosine", "last-layer mean cosine", False,
               "2. residual aggregation"),
              ("residual", "last_cosine", "last-layer mean cosine", False,
               "3. residual connections")]
    for ax, (study, key, label, log, title) in zip(axes, panels):
        for setting in dict.fromkeys(r["setting"] for r in rows if r["study"] == study):
            values = [np.mean([float(r[key]) for r in rows if r["study"] == study
                               and r["setting"] == setting and int(r["depth"]) == d])
                      for d in DEPTHS]
            ax.plot(DEPTHS, values, marker="o", label=setting)
        ax.set_xscale("log", base=2)
        ax.set_xticks(DEPTHS, [str(d) for d in DEPTHS], minor=False)
        ax.set_xticks([], minor=True)
        ax.set(yscale="log" if log else "linear", xlabel="layers", ylabel=label, title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _ablation_grid(seeds: int, epochs: int) -> List[TrainConfig]:
    return [TrainConfig(dataset="cora", model="gcn", schemes=["xavier", "gnn_he"],
                        seeds=list(range(seeds)), epochs=epochs, optimizer="adam", lr=1e-3,
                        residual_alpha=alpha, skip=skip, loss_threshold=0.0)
            for alpha, skip in itertools.product((0.0, ABLATION_ALPHA), (False, True))]


def ablation(out: Path, seeds: int, epochs: int) -> None:
    """Train the missing runs of the 2^3 x depths x seeds grid (resumable), depth by depth
    (every combination at L = 10 first), so a grid cut short compares all combinations."""
    for depth in ABLATION_DEPTHS:
        for base in _ablation_grid(seeds, epochs):
            run_sweep(SweepConfig(datasets=["cora"], depths=[depth], base=base),
                      out / "ablation", progress=False)
            print(f"done: L={depth} alpha={base.residual_alpha} skip={base.skip}", flush=True)


def ablation_table(out: Path) -> str:
    """Markdown: one row per (L, combination): median training loss at LOSS_EPOCHS, best
    validation and test accuracy (mean +- 95% CI over seeds), runs."""
    records = [json.loads(p.read_text()) for p in (out / "ablation" / "runs").glob("*.json")]
    lines = ["| L | init | aggregation | skips | runs | " + " | ".join(
        f"loss @{e}" for e in LOSS_EPOCHS) + " | best val (%) | test (%) |",
        "|" + "---|" * (7 + len(LOSS_EPOCHS))]
    key = lambda r: (r["layers"], r["scheme"], r["config"]["residual_alpha"],  # noqa: E731
                     r["config"]["skip"])
    for (depth, scheme, alpha, skip) in sorted({key(r) for r in records}):
        runs = [r for r in records if key(r) == (depth, scheme, alpha, skip)]
        losses = [np.median([r["train_loss"][e - 1] for r in runs if len(r["train_loss"]) >= e])
                  if any(len(r["train_loss"]) >= e for r in runs) else float("nan")
                  for e in LOSS_EPOCHS]
        val, _ = scored_percent(r["best_val_acc"] for r in runs)
        test, _ = scored_percent(r["test_acc"] for r in runs)
        lines.append(f"| {depth} | {scheme} | {'residual a=' + str(alpha) if alpha else 'fixed'}"
                     f" | {'fixup' if skip else 'none'} | {len(runs)} | "
                     + " | ".join(f"{v:.3g}" for v in losses)
                     + f" | {interval_text(val)} | {interval_text(test)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("probe", "ablation", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--seeds", type=int, default=None,
                        help="model seeds (default: 3 for probe, 5 for ablation)")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "probe":
        rows = probe(args.out, args.dataset, args.seeds or 3)
        (args.out / "probe.md").write_text(probe_tables(rows))
        probe_plot(rows, args.out / "probe.png")
        print(probe_tables(rows))
    elif args.command == "ablation":
        ablation(args.out, args.seeds or 5, args.epochs)
    if args.command in ("ablation", "report") and (args.out / "ablation" / "runs").is_dir():
        table = ablation_table(args.out)
        (args.out / "ablation.md").write_text(table + "\n")
        print(table)
    if args.command == "report" and (args.out / "probe.csv").exists():
        with open(args.out / "probe.csv") as handle:
            rows = list(csv.DictReader(handle))
        (args.out / "probe.md").write_text(probe_tables(rows))
        probe_plot(rows, args.out / "probe.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
