"""Results of experiments: mean +- 95% confidence intervals, tables, JSON and plots."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from dglbal._plotting import new_figure
from .atomic import replaced_atomically, write_json_atomic
from .config import RunResult, TrainConfig
from .reference import reference_text
from .runkey import describe_differences, paper_differences, table_setting
from .runstore import distinct

__all__ = ["mean_ci", "interval_text", "median_quartiles", "scored_percent", "by_scheme",
           "summary_table", "panels", "score_name", "summary_tables", "setting_table",
           "choose_on_validation", "save_results", "plot_curves", "ENDINGS"]


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple:
    """Mean and half-width of the Student-t confidence interval (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), 0.0
    half = (stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1)
            / math.sqrt(len(values)))
    return float(values.mean()), float(half)


def median_quartiles(values: Sequence[float]) -> str:
    """``median [q1-q3]`` (rounded to integers): epoch counts are skewed by single runs, so
    their summary is the median and quartiles, not the mean; "-" for none."""
    if not len(values):
        return "-"
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return f"{median:.0f}" if len(values) == 1 else f"{median:.0f} [{q1:.0f}-{q3:.0f}]"


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
    """One row per scheme: test accuracy (or ROC-AUC) (%) mean +- 95% CI, best epoch
    (median, counted from 1 as the epochs are: the sweep tables' epochs to the best model),
    epochs (median), seconds per run (mean), how the runs stopped."""
    metric = "ROC-AUC" if results and results[0].metric == "rocauc" else "acc"
    header = f"{'scheme':<24}{f'test {metric} (%)':>18}{'best val (%)':>14}{'best epoch':>12}" \
             f"{'epochs':>9}{'s/run':>8}  stops"
    lines = [header, "-" * len(header)]
    for scheme, runs in by_scheme(results).items():
        tests, unscored = scored_percent(r.test_acc for r in runs)
        vals, _ = scored_percent(r.best_val_acc for r in runs)
        best = [r.best_epoch + 1 for r in runs if r.best_epoch >= 0]  # 1-based, as `epochs`
        reasons = [r.stop_reason for r in runs]
        stops = ", ".join(f"{reason} x{reasons.count(reason)}" for reason in sorted(set(reasons)))
        if unscored:
            stops += f" ({unscored} of {len(runs)} runs diverged before any scored epoch)"
        lines.append(
            f"{scheme:<24}{interval_text(tests):>18}"
            f"{np.mean(vals) if vals else float('nan'):>14.1f}"
            f"{np.median(best) if best else float('nan'):>12.0f}"
            f"{np.median([r.epochs for r in runs]):>9.0f}"
            f"{np.mean([r.seconds for r in runs]):>8.1f}  {stops}")
    return "\n".join(lines)


def interval_text(values: Sequence[float], digits: int = 1) -> str:
    """``mean +- half-width`` of the 95% CI; one value has no interval ("n/a"); none: "-"."""
    if not values:
        return "-"
    mean, ci = mean_ci(values)
    return f"{mean:.{digits}f} +- {ci:.{digits}f}" if len(values) > 1 \
        else f"{mean:.{digits}f} +- n/a"


def _accuracy_cell(scores: List[Optional[float]]) -> str:
    """Mean +- 95% CI in percent; runs that diverged before any scored epoch are counted
    aside."""
    values, unscored = scored_percent(scores)
    return interval_text(values) + (f" [{unscored} diverged unscored]" if unscored else "")


ENDINGS = {"diverged": "div", "max_epochs": "budget", "loss_threshold": "conv"}
"""A run's ``stop_reason`` as the tables write it."""


def _ending_cell(runs: List[dict]) -> str:
    """How the runs of a cell ended: diverged / at the budget / at the loss threshold, and
    the median final training loss of those that did not diverge."""
    reasons = [r["stop_reason"] for r in runs]
    parts = [f"{reasons.count(reason)} {label}" for reason, label in ENDINGS.items()
             if reason in reasons]
    finals = [r["train_loss"][-1] for r in runs if r["stop_reason"] != "diverged"
              and r.get("train_loss")]
    loss = f"; loss {np.median(finals):.2g}" if finals else ""
    return f"{', '.join(parts)}{loss}"


def panels(records: List[dict]) -> List[Tuple[str, str, str, List[dict]]]:
    """Records grouped by dataset, model and configuration (never mixed): (dataset, model,
    label naming the settings where this group differs from the others, records)."""
    records = distinct(records)
    keys = sorted({(r["dataset"], r["model"], table_setting(r)) for r in records})
    labels = describe_differences({setting for _, _, setting in keys})
    return [(dataset, model, labels[setting],
             [r for r in records if (r["dataset"], r["model"], table_setting(r)) == key])
            for key in keys for dataset, model, setting in [key]]


def _grid(title: str, subset: List[dict], depths: List[int], schemes: List[str], cell) -> list:
    """A markdown table: one row per scheme, one column per depth, ``cell(runs, depth,
    scheme)`` in each (runs of that scheme and depth; "-" when there are none)."""
    header = "| scheme | " + " | ".join(f"L={d}" for d in depths) + " |"
    lines = [title, "", header, "|" + "---|" * (len(depths) + 1)]
    for scheme in schemes:
        cells = []
        for d in depths:
            runs = [r for r in subset if r["scheme"] == scheme and r["layers"] == d]
            cells.append(cell(runs, d, scheme) if runs else "-")
        lines.append(f"| {scheme} | " + " | ".join(cells) + " |")
    return lines + [""]


def score_name(records: Iterable[dict]) -> str:
    """What the records' scores are, as a table names them: ``accuracy``, ``ROC-AUC`` (files
    written before runs recorded their metric hold accuracies)."""
    metrics = {r.get("metric", "accuracy") for r in records}
    return " / ".join(sorted({"rocauc": "ROC-AUC"}.get(m, m) for m in metrics))


def summary_tables(records: List[dict]) -> str:
    """Markdown tables per dataset, model and configuration, in the paper's layout:

    - test accuracy (or ROC-AUC, :func:`score_name`) (%), mean +- 95% CI (Student t; "n/a"
      for one run), the paper's value in brackets (the heading names the settings in which
      the runs differ from the paper's, :func:`~dglbal.experiments.runkey.paper_differences`),
      a cell with fewer runs than the table's seeds saying how many it has;
    - how the runs ended: diverged / stopped at the epoch budget / reached the loss
      threshold, and the median final training loss of the runs that did not diverge;
    - epochs to the best validation accuracy and to 95% of it: median [quartiles].
    """
    lines = []
    for dataset, model, label, subset in panels(records):
        depths = sorted({r["layers"] for r in subset})
        schemes = list(dict.fromkeys(r["scheme"] for r in subset))
        budget = sorted({r["budget"] for r in subset})
        seeds = len({r["seed"] for r in subset})
        optimizer, score = subset[0]["optimizer"], score_name(subset)

        def accuracy(runs, depth, scheme):
            cell = _accuracy_cell([r["test_acc"] for r in runs])
            if len(runs) < seeds:
                cell += f" [{len(runs)} of {seeds} seeds]"
            paper = reference_text(model, dataset, scheme, depth, optimizer)
            return cell + (f" ({paper})" if paper is not None else "")

        def epochs(runs, depth, scheme):
            scored = [r for r in runs if r["best_epoch"] >= 0]
            return (f"{median_quartiles([r['best_epoch'] + 1 for r in scored])} / "
                    f"{median_quartiles([r['epochs_to_95'] for r in scored])}")

        lines.append(f"### {model.upper()} on {dataset} ({optimizer}, at most "
                     f"{'/'.join(map(str, budget))} epochs, {seeds} seed{'s' * (seeds != 1)}"
                     + (f"; {label}" if label else "") + ")")
        lines.append("")
        paper = any(reference_text(model, dataset, r["scheme"], r["layers"], optimizer)
                    for r in subset)
        lines += _grid(f"Test {score} (%), mean +- 95% CI"
                       + (f" ({_paper_note(subset)})" if paper else "") + ":", subset,
                       depths, schemes, accuracy)
        lines += _grid("How the runs ended (div: diverged, budget: at the epoch budget, "
                       "conv: loss threshold reached; median final training loss of the "
                       "others):", subset, depths, schemes, lambda runs, d, s: _ending_cell(runs))
        lines += _grid(f"Epochs to the best validation {score} / to 95% of it, median "
                       "[quartiles]:", subset, depths, schemes, epochs)
    return "\n".join(lines)


def _paper_note(records: List[dict]) -> str:
    """What the bracketed numbers are: the paper's, and, for runs of another setting, in
    which settings they differ (its numbers are then no target for these runs)."""
    differences = paper_differences(records)
    return "the paper's in brackets" + (f", from its own setting: these runs have "
                                        f"{', '.join(differences)}" if differences else "")


def setting_table(label_columns: Sequence[str],
                  rows: Sequence[Tuple[Sequence[str], List[dict]]], test: bool = True) -> str:
    """A markdown table with one row per group of run records (one setting each): its label
    cells (``label_columns``), then the runs, the test accuracy (mean +- 95% CI, "n/a" for
    one run, runs diverged before any scored epoch counted aside; left out with
    ``test=False``, for settings that were not chosen on validation), the mean best
    validation accuracy, how the runs ended (divergences first) and the epochs to the best
    validation accuracy and to 95% of it (median [quartiles])."""
    columns = [*label_columns, "runs", *(["test acc (%)"] if test else []), "best val (%)",
               "how the runs ended", "epoch of best val", "epoch reaching 95% of it"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for labels, runs in rows:
        vals, _ = scored_percent(r["best_val_acc"] for r in runs)
        scored = [r for r in runs if r["best_epoch"] >= 0]
        accuracy = [_accuracy_cell([r["test_acc"] for r in runs])] if test else []
        cells = [*labels, str(len(runs)), *accuracy,
                 f"{np.mean(vals):.1f}" if vals else "-", _ending_cell(runs),
                 median_quartiles([r["best_epoch"] + 1 for r in scored]),
                 median_quartiles([r["epochs_to_95"] for r in scored])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def choose_on_validation(candidates: Dict[Any, List[dict]]) -> Tuple[Any, List[int], float]:
    """The candidate setting with the highest mean best validation score, over the seeds
    every candidate has finished (so that a grid cut short compares equal seeds; a run
    diverged before any scored epoch counts as 0, never as missing); ties go to the first.
    Test scores are never read.

    Parameters
    ----------
    candidates : dict
        Setting -> its run records (``seed`` and ``best_val_acc`` are read).

    Returns
    -------
    (setting, seeds, score)
        The chosen setting, the common seeds (sorted) and its mean best validation score on
        them; ``(None, [], nan)`` when no seed is common to all candidates.
    """
    seeds = sorted(set.intersection(*({r["seed"] for r in runs}
                                      for runs in candidates.values()))) if candidates else []
    best, score = None, float("nan")
    for setting, runs in candidates.items() if seeds else ():
        by_seed = {r["seed"]: r["best_val_acc"] or 0.0 for r in runs}
        mean = float(np.mean([by_seed[s] for s in seeds]))
        if best is None or mean > score:
            best, score = setting, mean
    return best, seeds, score


def save_results(results: List[RunResult], config: TrainConfig, path: Path) -> Path:
    """Write the configuration, a per-scheme summary and every run's history as JSON.

    The summary's ``test_acc_ci95`` is None (``null``) unless at least two runs were scored:
    one score has no interval, as the tables' "n/a" says."""
    summary = {}
    for scheme, runs in by_scheme(results).items():
        tests, unscored = scored_percent(r.test_acc for r in runs)
        acc, ci = mean_ci([t / 100 for t in tests]) if tests else (None, None)
        if len(tests) < 2:  # one score has no interval (the tables' "n/a"), not one of width 0
            ci = None
        summary[scheme] = {"test_acc_mean": acc, "test_acc_ci95": ci, "runs": len(runs),
                           "unscored_runs": unscored}
    payload = {"config": vars(config) | {"lr": config.learning_rate()}, "summary": summary,
               "runs": [r.to_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, payload, indent=1)
    return path


def plot_curves(results: List[RunResult], path: Path, title: str = "") -> Path:
    """Training loss and validation accuracy per epoch, mean over seeds, one line per scheme.
    Runs with no recorded epoch (diverged at their first step) have no curve: the mean is over
    the others (a scheme none of whose runs has one gets no line)."""
    fig, (ax_loss, ax_val) = new_figure(1, 2, figsize=(11, 4))
    for scheme, runs in by_scheme(results).items():
        for ax, key in ((ax_loss, "train_loss"), (ax_val, "val_acc")):
            curves = [getattr(r, key) for r in runs if getattr(r, key)]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            # Runs that stopped early keep their last value (loss below threshold, final acc).
            padded = np.array([c + [c[-1]] * (length - len(c)) for c in curves])
            ax.plot(np.arange(1, length + 1), padded.mean(0), label=scheme)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="training loss")
    ax_val.set(xlabel="epoch",
               ylabel=f"validation {score_name({'metric': r.metric} for r in results)}")
    if ax_val.get_lines():
        ax_val.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path
