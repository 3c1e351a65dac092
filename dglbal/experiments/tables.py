"""Results of experiments: mean +- 95% confidence intervals, tables, JSON and plots."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from dglbal._plotting import new_figure
from .atomic import replaced_atomically, write_json_atomic
from .config import RunResult, TrainConfig

__all__ = ["mean_ci", "scored_percent", "by_scheme", "summary_table", "save_results", "plot_curves"]


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple:
    """Mean and half-width of the Student-t confidence interval (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), 0.0
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(half)


def scored_percent(scores: Iterable[Optional[float]]) -> Tuple[List[float], int]:
    """The scores in percent, and how many runs have none (they diverged before any scored
    epoch: counted aside, never averaged in as 0)."""
    scores = list(scores)
    return [100 * s for s in scores if s is not None], sum(s is None for s in scores)


def by_scheme(results: List[RunResult]) -> Dict[str, List[RunResult]]:
    grouped: Dict[str, List[RunResult]] = defaultdict(list)
    for r in results:
        grouped[r.scheme].append(r)
    return dict(grouped)


def summary_table(results: List[RunResult]) -> str:
    """One row per scheme: test accuracy (or ROC-AUC) (%) mean +- 95% CI, best epoch, epochs,
    time."""
    metric = "ROC-AUC" if results and results[0].metric == "rocauc" else "acc"
    header = f"{'scheme':<24}{f'test {metric} (%)':>18}{'best val (%)':>14}{'best epoch':>12}" \
             f"{'epochs':>9}{'s/run':>8}  stops"
    lines = [header, "-" * len(header)]
    for scheme, runs in by_scheme(results).items():
        tests, unscored = scored_percent(r.test_acc for r in runs)
        vals, _ = scored_percent(r.best_val_acc for r in runs)
        acc, ci = mean_ci(tests) if tests else (float("nan"), float("nan"))
        best = [r.best_epoch for r in runs if r.best_epoch >= 0]
        stops = ", ".join(sorted({r.stop_reason for r in runs}))
        if unscored:
            stops += f" ({unscored} of {len(runs)} runs diverged before any scored epoch)"
        lines.append(
            f"{scheme:<24}{f'{acc:.1f} +- {ci:.1f}' if tests else '-':>18}"
            f"{np.mean(vals) if vals else float('nan'):>14.1f}"
            f"{np.mean(best) if best else float('nan'):>12.0f}"
            f"{np.mean([r.epochs for r in runs]):>9.0f}"
            f"{np.mean([r.seconds for r in runs]):>8.1f}  {stops}")
    return "\n".join(lines)


def save_results(results: List[RunResult], config: TrainConfig, path: Path) -> Path:
    """Write the configuration, a per-scheme summary and every run's history as JSON."""
    summary = {}
    for scheme, runs in by_scheme(results).items():
        tests, unscored = scored_percent(r.test_acc for r in runs)
        acc, ci = mean_ci([t / 100 for t in tests]) if tests else (None, None)
        summary[scheme] = {"test_acc_mean": acc, "test_acc_ci95": ci, "runs": len(runs),
                           "unscored_runs": unscored}
    payload = {"config": vars(config) | {"lr": config.learning_rate()}, "summary": summary,
               "runs": [r.to_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, payload, indent=1)
    return path


def plot_curves(results: List[RunResult], path: Path, title: str = "") -> Path:
    """Training loss and validation accuracy per epoch, mean over seeds, one line per scheme."""
    fig, (ax_loss, ax_val) = new_figure(1, 2, figsize=(11, 4))
    for scheme, runs in by_scheme(results).items():
        for ax, key in ((ax_loss, "train_loss"), (ax_val, "val_acc")):
            curves = [getattr(r, key) for r in runs]
            length = max(len(c) for c in curves)
            # Runs that stopped early keep their last value (loss below threshold, final acc).
            padded = np.array([c + [c[-1]] * (length - len(c)) if c else [np.nan] * length
                               for c in curves])
            ax.plot(np.arange(1, length + 1), padded.mean(0), label=scheme)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="training loss")
    ax_val.set(xlabel="epoch", ylabel="validation accuracy")
    ax_val.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path
