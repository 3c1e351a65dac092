"""Command line: ``dglbal train``, ``dglbal sweep`` and ``dglbal diagnose`` (also
``python -m dglbal ...``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from dglbal._version import __version__
from dglbal.data import dataset_names
from dglbal.distributed import run_dist_experiment
from dglbal.distributed.runkey import dist_train_config
from dglbal.experiments.config import TrainConfig, cli_fields, option_name, validate_config
from dglbal.experiments.diagnosis import diagnose_schemes, diagnosis_files, write_diagnoses
from dglbal.experiments.environment import prepare_output_dir
from dglbal.experiments.runstore import Interrupted
from dglbal.experiments.sweep import SweepConfig, run_sweep, validate_sweep, write_outputs
from dglbal.experiments.tables import plot_curves, save_results, summary_table, summary_tables
from dglbal.experiments.train import run_experiment
from dglbal.nn import kernels

__all__ = ["main", "build_parser"]

GROUPS = {"data": "data", "model": "model and initialization", "training": "training",
          "sampling": "minibatch sampling", "rebalancing": "dynamic rescaling",
          "output": "device and diagnostics"}
DEFAULT_SEEDS = 3  # the command line trains seeds 0, 1, 2 unless told otherwise
DEFAULT_TRAIN_DATASET = "synthetic"  # `dglbal train` without --dataset (generated in-process)
MAX_SEEDS = 10 ** 6  # --seeds N trains seeds 0..N-1


def _add_config_options(parser: argparse.ArgumentParser, at_init: bool = False) -> None:
    """One option per :class:`TrainConfig` field that offers one (its metadata), in groups;
    with ``at_init=True`` only those that shape the data or the model at initialization."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    defaults = TrainConfig()
    for f in cli_fields(at_init):
        cli, default = f.metadata["cli"], getattr(defaults, f.name)
        choices = cli["choices"]() if callable(cli["choices"]) else cli["choices"]
        kwargs = dict(dest=f.name, help=cli["help"])
        if isinstance(default, bool):
            kwargs["action"] = "store_false" if default else "store_true"
        elif f.name == "seeds":
            kwargs.update(type=int, default=DEFAULT_SEEDS, metavar=cli["metavar"])
            kwargs["help"] += " (default %(default)s)"
        else:
            if isinstance(default, list):
                kwargs["nargs"] = "+"
            if choices is None:
                kwargs["type"] = _field_kind(f)
            else:
                kwargs["choices"] = tuple(choices)
            kwargs.update(default=default, metavar=cli["metavar"])
            if choices is not None and cli["metavar"] is not None:
                kwargs["help"] += f"; choices: {', '.join(choices)}"
            if isinstance(default, list):
                kwargs["help"] += f" (default: {' '.join(map(str, default))})"
            elif default is not None:
                kwargs["help"] += " (default: %(default)s)"
        groups[cli["group"]].add_argument(option_name(f), **kwargs)
    groups["output"].add_argument(
        "--attention", choices=kernels.BACKENDS, default=kernels.get_backend(),
        help="GAT attention kernels: eager (default; $DGLBAL_ATTENTION) or compiled "
             "(torch.compile: about a quarter less epoch time for deep GATs on one CPU thread, "
             "~15 s of compilation per process; small graphs stay eager)")
    if not at_init:  # diagnose shows no progress bars
        groups["output"].add_argument("--quiet", action="store_true", help="no progress bars")


def _field_kind(f) -> type:
    """The value type of a field annotated as a string (``Optional[float]``, ``int``, ...)."""
    text = str(f.type)
    for kind in (float, int, str):
        if kind.__name__ in text:
            return kind
    raise TypeError(f"TrainConfig.{f.name}: cannot derive a command-line type from {text!r}")


def _once(option: str, values: list) -> list:
    """``values`` with repeats dropped, warning about them: a run is one cell of the grid."""
    unique = list(dict.fromkeys(values))
    if len(unique) < len(values):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        print(f"dglbal: warning: {option} lists {', '.join(repeated)} more than once; each "
              "run is trained and counted once", file=sys.stderr)
    return unique


def _output_dir(text: str) -> Path:
    """``--out``'s type: an empty path would silently mean the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory (got an empty path)")
    return Path(text)


def _config(args: argparse.Namespace, dataset: str, layers: int) -> TrainConfig:
    """The configuration the options give (a command that does not offer an option, as
    ``diagnose`` does not offer the training ones, leaves its field at the default)."""
    values = {f.name: getattr(args, f.name) for f in cli_fields() if hasattr(args, f.name)}
    if "seeds" in values:
        if values["seeds"] > MAX_SEEDS:
            raise ValueError(f"--seeds must be at most {MAX_SEEDS}, got {values['seeds']}")
        values["seeds"] = list(range(values["seeds"]))
    return TrainConfig(dataset=dataset, layers=layers, **values)


def _run_train(args: argparse.Namespace) -> int:
    args.schemes = _once("--init", args.schemes)
    config = _config(args, args.dataset or DEFAULT_TRAIN_DATASET, args.layers)
    validate_config(config, distributed=args.dist_config is not None)
    monitors = [f"monitor_{s}_seed{n}.{ext}" for s in config.schemes for n in config.seeds
                for ext in ("png", "json")] if config.monitor else []
    out = prepare_output_dir(args.out, folders=("runs",),
                             files=("results.json", "curves.png", *monitors))
    if args.dist_config is not None:  # the partitions' dataset, and their identity in the run key
        config = dist_train_config(config, args.dist_config, named_dataset=args.dataset)
    graph_name = args.dist_config or config.dataset
    print(f"{config.model.upper()} L={config.layers} width={config.hidden}x{config.heads} on "
          f"{graph_name}, {config.optimizer} lr={config.learning_rate():g}, "
          f"<= {config.epochs} epochs, stop at loss < {config.stop_loss():g} "
          f"({config.protocol} protocol), seeds {config.seeds}")
    if args.dist_config is not None:
        results = run_dist_experiment(config, args.dist_config, args.ip_config,
                                      progress=not args.quiet, runs_dir=out / "runs")
        if results is None:  # trainers other than rank 0 report nothing
            return 0
    else:
        results = run_experiment(config, progress=not args.quiet, monitor_dir=out,
                                 runs_dir=out / "runs")
    print(summary_table(results))
    json_path = save_results(results, config, out / "results.json")
    title = f"{config.model.upper()} L={config.layers} on {config.dataset}"
    png_path = plot_curves(results, out / "curves.png", title)
    print(f"wrote {json_path} and {png_path} (one file per run in {out / 'runs'})")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    args.schemes = _once("--init", args.schemes)
    sweep = SweepConfig(datasets=_once("--dataset", args.dataset),
                        depths=_once("--layers", args.layers),
                        base=_config(args, args.dataset[0], args.layers[0]))
    validate_sweep(sweep)
    out = prepare_output_dir(args.out, folders=("runs", "monitor") if args.monitor else ("runs",),
                             files=("results.csv", "summary.md", "accuracy_vs_depth.png"))
    records = run_sweep(sweep, out, progress=not args.quiet)
    print(summary_tables(records))
    written = write_outputs(records, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _run_diagnose(args: argparse.Namespace) -> int:
    args.schemes = _once("--init", args.schemes)
    config = _config(args, args.dataset, args.layers)
    validate_config(config)
    out = prepare_output_dir(args.out, folders=(), files=diagnosis_files(config))
    diagnoses = diagnose_schemes(config)
    for scheme, found in diagnoses.items():
        print(f"== {config.model.upper()} L={config.layers} --init {scheme} on "
              f"{config.dataset} (seed {config.seeds[0]})")
        print(found.table())
    written = write_diagnoses(diagnoses, config, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``dglbal`` parser: ``train``, ``sweep`` and ``diagnose``, options generated from
    the config."""
    parser = argparse.ArgumentParser(  # no abbreviations: --seed must not mean --seeds
        prog="dglbal", description="Balanced initialization for deep DGL graph neural networks",
        allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"dglbal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train", help="train a deep GNN under one or more init schemes (the paper's protocol)",
        description="Full-batch training, stop when the training loss < --loss-threshold, test "
                    "accuracy at the epoch of best validation accuracy; mean +- 95% CI over "
                    "seeds. Each run is written to --out/runs as it finishes; the same command "
                    "again (after a Ctrl-C) trains only the missing runs. Writes results.json "
                    "and curves.png under --out.", allow_abbrev=False)
    train.add_argument("--dataset", choices=dataset_names(),  # None: not named (--dist-config)
                       help=f"dataset (default: {DEFAULT_TRAIN_DATASET}, generated in-process)")
    train.add_argument("--layers", type=int, default=5, help="number of graph layers L")
    train.add_argument("--out", type=_output_dir, default=Path("runs/train"),
                       help="output directory")
    train.add_argument("--dist-config", type=Path, metavar="PART_CONFIG",
                       help="train on a DGL-partitioned graph (its part_config JSON) with "
                            "DistDGL sampling and DDP; run under DGL's tools/launch.py, or "
                            "alone for one partition (standalone); the partitions are the data "
                            "(--dataset, if given, must be the one they were made of)")
    train.add_argument("--ip-config", type=Path, help="DGL's ip config (with --dist-config)")
    _add_config_options(train)
    sweep = sub.add_parser(
        "sweep", help="a resumable grid of datasets x depths x schemes x seeds",
        description="Runs every (dataset, depth, scheme, seed) with the train protocol; finished "
                    "runs are kept in --out/runs and skipped when the sweep runs again. Writes "
                    "results.csv, summary.md (the paper's layout) and plots.", allow_abbrev=False)
    sweep.add_argument("--dataset", nargs="+", default=["cora"], choices=dataset_names())
    sweep.add_argument("--layers", type=int, nargs="+", default=[2, 5, 10])
    sweep.add_argument("--out", type=_output_dir, default=Path("runs/sweep"),
                       help="output directory")
    _add_config_options(sweep)
    sweep.set_defaults(protocol="paper")
    diagnosis = sub.add_parser(
        "diagnose", help="look at the model at initialization, layer by layer, per scheme",
        description="Builds the model `dglbal train` would train (first seed) under each "
                    "--init scheme and prints, per layer, the second moments of the outputs "
                    "and of their gradients and the mean pairwise cosine of the nodes' "
                    "features, the rescale groups' balance, and a verdict with what to try. "
                    "Writes diagnosis_<scheme>.json and .png under --out. Trains nothing, so it "
                    "offers only the options that shape the data and the model (seed 0).",
        allow_abbrev=False)
    diagnosis.add_argument("--dataset", default="cora", choices=dataset_names())
    diagnosis.add_argument("--layers", type=int, default=10, help="number of graph layers L")
    diagnosis.add_argument("--out", type=_output_dir, default=Path("runs/diagnose"),
                           help="output directory")
    _add_config_options(diagnosis, at_init=True)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    kernels.set_backend(args.attention)
    try:
        run = {"train": _run_train, "sweep": _run_sweep, "diagnose": _run_diagnose}
        return run[args.command](args)
    except (ValueError, OSError) as error:
        print(f"dglbal: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # the plots need the optional matplotlib; results are kept
        print(f"dglbal: error: {error} (finished runs and tables are kept in {args.out})",
              file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"dglbal: {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"dglbal: interrupted; finished runs are kept in {args.out / 'runs'}",
              file=sys.stderr)
        return 130
