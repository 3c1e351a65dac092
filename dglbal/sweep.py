"""``dglbal sweep``: a resumable grid of datasets x depths x schemes x seeds.

Every finished run is a JSON file under ``<out>/runs/``; running the same sweep again skips
them, so a sweep can be stopped and resumed, or extended with more seeds or depths.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List

import numpy as np
from tqdm.auto import tqdm

from .data import load_dataset
from .paper import reference
from .report import mean_ci
from .train import RunResult, TrainConfig, resolve_device, run_once


@dataclass
class SweepConfig:
    """The grid; every other option is a :class:`TrainConfig` field shared by all runs."""

    datasets: List[str] = field(default_factory=lambda: ["cora"])
    depths: List[int] = field(default_factory=lambda: [2, 5, 10])
    base: TrainConfig = field(default_factory=TrainConfig)


def epochs_to_fraction(val_acc: List[float], fraction: float = 0.95) -> int:
    """First epoch (1-based) whose validation accuracy reaches ``fraction`` of the best."""
    if not val_acc:
        return 0
    target = fraction * max(val_acc)
    return int(np.argmax(np.asarray(val_acc) >= target)) + 1


def _key(config: TrainConfig, scheme: str, seed: int) -> str:
    return (f"{config.dataset}-{config.model}-L{config.layers}-{scheme}-s{seed}"
            f"-{config.optimizer}-e{config.epochs}")


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def run_sweep(sweep: SweepConfig, out: Path, progress: bool = True) -> List[dict]:
    """Run (or load) every run of the grid; returns one record per run."""
    runs_dir = Path(out) / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    grid = [(d, L, s, seed) for d in sweep.datasets for L in sweep.depths
            for s in sweep.base.schemes for seed in sweep.base.seeds]
    records = []
    bar = tqdm(total=len(grid), desc="sweep", disable=not progress, dynamic_ncols=True)
    graphs: Dict[str, object] = {}
    for dataset, layers, scheme, seed in grid:
        config = replace(sweep.base, dataset=dataset, layers=layers, schemes=[scheme], seeds=[seed])
        path = runs_dir / f"{_key(config, scheme, seed)}.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
            bar.update()
            continue
        if dataset not in graphs:
            graphs[dataset] = load_dataset(dataset, config.root, split=config.split).to(
                resolve_device(config.device))
        monitor_dir = Path(out) / "monitor" / f"{dataset}-L{layers}" if config.monitor else None
        config = replace(config, monitor=config.monitor and seed == config.seeds[0])
        result = run_once(config, scheme, seed, graphs[dataset], progress=progress,
                          monitor_dir=monitor_dir)
        record = dict(dataset=dataset, model=config.model, layers=layers, optimizer=config.optimizer,
                      lr=config.learning_rate(), budget=config.epochs,
                      epochs_to_95=epochs_to_fraction(result.val_acc), **result.to_dict())
        _write_json(path, record)
        records.append(record)
        bar.update()
    bar.close()
    return records


def _cell(values: List[float]) -> str:
    mean, ci = mean_ci(values)
    return f"{mean:.1f} +- {ci:.1f}"


def summary_tables(records: List[dict]) -> str:
    """Markdown tables in the paper's layout: test accuracy (%) per scheme and depth, the
    paper's number in brackets, then epochs to the best model and to 95% of it."""
    lines = []
    for (dataset, model) in sorted({(r["dataset"], r["model"]) for r in records}):
        subset = [r for r in records if r["dataset"] == dataset and r["model"] == model]
        depths = sorted({r["layers"] for r in subset})
        schemes = list(dict.fromkeys(r["scheme"] for r in subset))
        budget = sorted({r["budget"] for r in subset})
        lines.append(f"### {model.upper()} on {dataset} ({subset[0]['optimizer']}, at most "
                     f"{'/'.join(map(str, budget))} epochs, {len({r['seed'] for r in subset})} seeds)")
        lines.append("")
        header = "| scheme | " + " | ".join(f"L={d}" for d in depths) + " |"
        lines += [header, "|" + "---|" * (len(depths) + 1)]
        for scheme in schemes:
            cells = []
            for d in depths:
                runs = [r for r in subset if r["scheme"] == scheme and r["layers"] == d]
                paper = reference(model, dataset, scheme, d)
                cell = _cell([100 * r["test_acc"] for r in runs]) if runs else "-"
                cells.append(cell + (f" ({paper})" if paper is not None and runs else ""))
            lines.append(f"| {scheme} | " + " | ".join(cells) + " |")
        lines += ["", "Epochs to the best validation accuracy / to 95% of it (mean):", "",
                  header, "|" + "---|" * (len(depths) + 1)]
        for scheme in schemes:
            cells = []
            for d in depths:
                runs = [r for r in subset if r["scheme"] == scheme and r["layers"] == d]
                cells.append(f"{np.mean([r['best_epoch'] + 1 for r in runs]):.0f} / "
                             f"{np.mean([r['epochs_to_95'] for r in runs]):.0f}" if runs else "-")
            lines.append(f"| {scheme} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_outputs(records: List[dict], out: Path) -> List[Path]:
    """results.csv, summary.md and the plots."""
    from .report import plot_curves

    out = Path(out)
    columns = ["dataset", "model", "layers", "scheme", "seed", "optimizer", "lr", "budget",
               "test_acc", "best_val_acc", "best_epoch", "epochs_to_95", "epochs", "seconds",
               "stop_reason"]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    (out / "summary.md").write_text(summary_tables(records))
    written = [out / "results.csv", out / "summary.md", _plot_depths(records, out)]
    for dataset, model, layers in sorted({(r["dataset"], r["model"], r["layers"]) for r in records}):
        runs = [RunResult(**{k: r[k] for k in RunResult.__dataclass_fields__}) for r in records
                if (r["dataset"], r["model"], r["layers"]) == (dataset, model, layers)]
        written.append(plot_curves(runs, out / f"curves_{dataset}_{model}_L{layers}.png",
                                   f"{model.upper()} L={layers} on {dataset}"))
    return written


def _plot_depths(records: List[dict], out: Path) -> Path:
    """Test accuracy and epochs to the best model against depth, per scheme."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["dataset"], r["model"]) for r in records})
    fig, axes = plt.subplots(2, len(panels), figsize=(5 * len(panels), 7), squeeze=False)
    for column, (dataset, model) in enumerate(panels):
        subset = [r for r in records if (r["dataset"], r["model"]) == (dataset, model)]
        depths = sorted({r["layers"] for r in subset})
        for scheme in dict.fromkeys(r["scheme"] for r in subset):
            stats = [mean_ci([100 * r["test_acc"] for r in subset
                              if r["scheme"] == scheme and r["layers"] == d]) for d in depths]
            axes[0, column].errorbar(depths, [m for m, _ in stats], yerr=[c for _, c in stats],
                                     marker="o", capsize=3, label=scheme)
            epochs = [np.mean([r["best_epoch"] + 1 for r in subset
                               if r["scheme"] == scheme and r["layers"] == d]) for d in depths]
            axes[1, column].plot(depths, epochs, marker="o", label=scheme)
        axes[0, column].set(title=f"{model.upper()} on {dataset}", xlabel="layers",
                            ylabel="test accuracy (%)", xscale="log")
        axes[1, column].set(xlabel="layers", ylabel="epochs to best model", xscale="log",
                            yscale="log")
        axes[0, column].legend()
    fig.tight_layout()
    path = out / "accuracy_vs_depth.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
