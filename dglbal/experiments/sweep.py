"""``dglbal sweep``: a resumable grid of datasets x depths x schemes x seeds.

Every finished run is a JSON file under ``<out>/runs/`` named by its whole configuration
(:mod:`dglbal.experiments.runstore`); running the same sweep again skips them, so a sweep can be
stopped and resumed, or extended with more seeds or depths. A run of another configuration
(another width, learning rate, ...) gets another file, so it is trained, never taken from an
older run.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List

import numpy as np
from tqdm.auto import tqdm

from dglbal._plotting import new_figure, require_plotting
from .atomic import replaced_atomically, write_text_atomic
from .tables import mean_ci, panels, plot_curves, score_name, scored_percent, summary_tables
from .runkey import run_name
from .runstore import balance_beta_of, distinct, result_of, run_or_load, warn_unmonitored
from .config import TrainConfig, validate_config
from .environment import prepare_output_dir
from .value_checks import conforms, refuse_duplicates, type_name
from .train import prepare_graph, run_once

__all__ = ["SweepConfig", "validate_sweep", "run_sweep", "write_outputs"]


@dataclass
class SweepConfig:
    """The grid; every other option is a :class:`TrainConfig` field shared by all runs.

    Parameters
    ----------
    datasets : list of str
        The datasets of the grid.
    depths : list of int
        The depths of the grid.
    base : TrainConfig
        Every other option (schemes, seeds, optimizer, ...); its ``dataset`` and ``layers`` are
        replaced by the grid's.

    Examples
    --------
    >>> sweep = SweepConfig(datasets=["synthetic"], depths=[2, 5],
    ...                     base=TrainConfig(schemes=["xavier", "bal_o"], seeds=[0, 1, 2]))
    >>> len(sweep.datasets) * len(sweep.depths) * len(sweep.base.schemes) * len(sweep.base.seeds)
    12
    """

    datasets: List[str] = field(default_factory=lambda: ["cora"])
    depths: List[int] = field(default_factory=lambda: [2, 5, 10])
    base: TrainConfig = field(default_factory=TrainConfig)


def validate_sweep(sweep: SweepConfig) -> None:
    """Refuse a grid with a cell that cannot give a meaningful run, naming the cell.

    Parameters
    ----------
    sweep : SweepConfig
        The grid.

    Raises
    ------
    ValueError
        A dataset or depth list that is empty or repeats itself, or a cell
        :func:`~dglbal.experiments.config.validate_config` refuses (the message names the
        cell: ``--skip`` acts at ``--layers 5`` and not at 2).

    Examples
    --------
    >>> try:
    ...     validate_sweep(SweepConfig(["synthetic"], [2, 5], TrainConfig(skip=True)))
    ... except ValueError as error:
    ...     print(str(error)[:61])
    at --dataset synthetic --layers 2 of the sweep: --skip has no
    """
    for name, values, kind in (("--dataset", sweep.datasets, List[str]),
                               ("--layers", sweep.depths, List[int])):
        if not conforms(values, kind) or not values:
            raise ValueError(f"{name} must be a non-empty {type_name(kind)}, got {values!r}")
        refuse_duplicates(name, values)
    for dataset in sweep.datasets:
        for layers in sweep.depths:
            try:
                validate_config(replace(sweep.base, dataset=dataset, layers=layers))
            except ValueError as error:
                where = f"--dataset {dataset} --layers {layers}"
                raise ValueError(f"at {where} of the sweep: {error}" if
                                 len(sweep.datasets) * len(sweep.depths) > 1 else
                                 str(error)) from None


def run_sweep(sweep: SweepConfig, out: Path, progress: bool = True) -> List[dict]:
    """Run (or load) every run of the grid; returns one record per run. Each run is written
    to ``<out>/runs/`` as it finishes; a Ctrl-C raises
    :class:`dglbal.experiments.runstore.Interrupted`.

    Before any run trains, every cell of the grid is checked: its options
    (:func:`validate_sweep`), its dataset (loaded once) and each scheme's model
    (:func:`~dglbal.experiments.train.prepare_graph`).

    Parameters
    ----------
    sweep : SweepConfig
        The grid.
    out : pathlib.Path
        The output folder: one file per run under ``runs/`` (``monitor/`` with
        ``base.monitor``); :func:`~dglbal.experiments.sweep.write_outputs` adds the tables and
        plots.
    progress : bool, default True
        Show a progress bar per run.

    Returns
    -------
    list of dict
        One record per run of the grid (its configuration, device and result).

    Raises
    ------
    ValueError
        For a grid that cannot run (a bad option, a dataset or depth listed twice, a refused
        (scheme, model) combination), before any run trains.
    DatasetNotFoundError
        If a dataset of the grid is missing.
    OSError
        If ``out`` cannot be written.
    dglbal.experiments.runstore.Interrupted
        On Ctrl-C; the finished runs are kept.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = tempfile.TemporaryDirectory()
    >>> sweep = SweepConfig(datasets=["synthetic"], depths=[2],
    ...                     base=TrainConfig(hidden=8, epochs=2, schemes=["xavier"]))
    >>> records = run_sweep(sweep, Path(out.name), progress=False)
    >>> len(records), len(list(Path(out.name, "runs").glob("*.json")))
    (1, 1)
    >>> out.cleanup()
    """
    validate_sweep(sweep)
    if sweep.base.monitor:  # its plot is written as each run ends
        require_plotting("--monitor")
    prepare_output_dir(out, folders=("runs",))
    graphs: Dict[str, object] = {}
    for dataset in sweep.datasets:
        for layers in sweep.depths:
            config = replace(sweep.base, dataset=dataset, layers=layers)
            graph = graphs[dataset] if dataset in graphs else config.load_graph()
            graphs[dataset] = prepare_graph(config, graph)

    trained = set()

    def train(config: TrainConfig, scheme: str, seed: int):
        trained.add(run_name(config, scheme, seed))
        monitor_dir = (Path(out) / "monitor" / f"{config.dataset}-L{config.layers}"
                       if config.monitor else None)
        config = replace(config, monitor=config.monitor and seed == sweep.base.seeds[0])
        graph = graphs[config.dataset]
        return run_once(config, scheme, seed, graph, progress=progress,
                        monitor_dir=monitor_dir), str(graph.device)

    runs = [(replace(sweep.base, dataset=d, layers=L, schemes=[s], seeds=[seed]), s, seed)
            for d in sweep.datasets for L in sweep.depths
            for s in sweep.base.schemes for seed in sweep.base.seeds]
    with tqdm(total=len(runs), desc="sweep", disable=not progress, dynamic_ncols=True) as bar:
        records = run_or_load(runs, Path(out) / "runs", train, bar.update)
    if sweep.base.monitor:  # the first seed's runs record the monitor
        warn_unmonitored([r for r in records if r["seed"] == sweep.base.seeds[0]], trained,
                         Path(out) / "runs")
    return records


def write_outputs(records: List[dict], out: Path) -> List[Path]:
    """results.csv, summary.md and the plots."""
    out, records = Path(out), distinct(records)
    columns = ["dataset", "model", "layers", "scheme", "seed", "optimizer", "lr", "balance_beta",
               "budget",
               "test_acc", "best_val_acc", "best_epoch", "epochs_to_95", "epochs", "seconds",
               "stop_reason", "run"]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**r, "balance_beta": balance_beta_of(r)} for r in records)
    write_text_atomic(out / "results.csv", table.getvalue())
    write_text_atomic(out / "summary.md", summary_tables(records))
    written = [out / "results.csv", out / "summary.md", _plot_depths(records, out)]
    grouped = panels(records)
    for number, (dataset, model, label, subset) in enumerate(grouped):
        tag = f"_{number}" if len(grouped) > len({(d, m) for d, m, _, _ in grouped}) else ""
        for layers in sorted({r["layers"] for r in subset}):
            runs = [result_of(r) for r in subset if r["layers"] == layers]
            title = f"{model.upper()} L={layers} on {dataset}" + (f" ({label})" if label else "")
            written.append(plot_curves(runs, out / f"curves_{dataset}_{model}_L{layers}{tag}.png",
                                       title))
    return written


def _plot_depths(records: List[dict], out: Path) -> Path:
    """Test accuracy (mean +- 95% CI) and epochs to the best model (median) against depth,
    per scheme."""
    grouped = panels(records)
    fig, axes = new_figure(2, len(grouped), figsize=(5 * len(grouped), 7), squeeze=False)
    for column, (dataset, model, label, subset) in enumerate(grouped):
        depths = sorted({r["layers"] for r in subset})
        for scheme in dict.fromkeys(r["scheme"] for r in subset):
            stats = [mean_ci(scored_percent(r["test_acc"] for r in subset
                                            if r["scheme"] == scheme and r["layers"] == d)[0]
                             or [float("nan")]) for d in depths]
            axes[0, column].errorbar(depths, [m for m, _ in stats], yerr=[c for _, c in stats],
                                     marker="o", capsize=3, label=scheme)
            epochs = [np.median([r["best_epoch"] + 1 for r in subset if r["scheme"] == scheme
                                 and r["layers"] == d and r["best_epoch"] >= 0] or [np.nan])
                      for d in depths]
            axes[1, column].plot(depths, epochs, marker="o", label=scheme)
        axes[0, column].set(title=f"{model.upper()} on {dataset}" + (f"\n{label}" if label else ""),
                            xlabel="layers",
                            ylabel=f"test {score_name(subset)} (%)", xscale="log")
        axes[1, column].set(xlabel="layers", ylabel="epochs to best model (median)", xscale="log",
                            yscale="log")
        axes[0, column].legend()
    fig.tight_layout()
    path = out / "accuracy_vs_depth.png"
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
