"""Command line: ``dglbal train`` and ``dglbal sweep`` (also ``python -m dglbal ...``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .data import DATASETS
from .data_scale import DEFAULT_LOGIT_SPREAD
from .protocol import PROTOCOLS
from .hooks import REBALANCE
from .metrics import METRICS
from .nn import attention, attention_backend
from .report import plot_curves, save_results, summary_table
from .runfiles import Interrupted
from .train import MODELS, SCHEMES, TrainConfig, run_experiment
from .validation import prepare_output_dir, validate_config


def _training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by train and sweep: the model, the optimizer and the protocol."""
    p.add_argument("--root", help="data directory (default: $DGLBAL_DATA, then DGL's)")
    p.add_argument("--split", type=int, default=1, help="heterophilous split index (default 1)")
    p.add_argument("--model", default="gat", choices=MODELS)
    p.add_argument("--conv", default="gatv2", choices=("gatv2", "gat"), help="GAT layer type")
    p.add_argument("--hidden", type=int, default=64, help="hidden width per head")
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--bias", action="store_true", help="use biases (the paper does not)")
    p.add_argument("--skip", action="store_true", help="fixup skip connections")
    p.add_argument("--residual-alpha", type=float, default=0.0,
                   help="residual aggregation (1 - alpha) A + alpha I")
    p.add_argument("--init", nargs="+", default=["xavier"], choices=SCHEMES, metavar="SCHEME",
                   help=f"one or more init schemes: {', '.join(SCHEMES)}")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's for L)")
    p.add_argument("--epochs", type=int, default=5000, help="maximum epochs")
    p.add_argument("--loss-threshold", type=float,
                   help="stop below this training loss (default: the protocol's)")
    p.add_argument("--protocol", default="dglbal", choices=tuple(PROTOCOLS),
                   help="paper: the authors' code (Xavier gain 1, one-head last layer, stop "
                        "at 1e-5 / 1e-3, ...); dglbal: the library's defaults (see "
                        "dglbal.protocol). Default: dglbal for train, paper for sweep")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout on the attention and on hidden features after each ReLU")
    p.add_argument("--weight-decay", type=float, default=0.0, help="optimizer weight decay")
    p.add_argument("--no-share-weights", dest="share_weights", action="store_false",
                   help="GATv2: separate source and target weights W_s, W_t")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--monitor", action="store_true",
                   help="record the conservation law and gradient diagnostics per epoch and "
                        "plot them (monitor_<scheme>_seed<N>.png)")
    p.add_argument("--minibatch", action="store_true",
                   help="sampled minibatch training with DGL's NeighborSampler (blocks)")
    p.add_argument("--batch-size", type=int, default=512, help="training nodes per minibatch")
    p.add_argument("--fanout", type=int, default=10, help="neighbours sampled per layer")
    p.add_argument("--rebalance", default="none", choices=tuple(REBALANCE),
                   help="dynamic rescaling during training (dglbal.Rebalancer): by relative "
                        "gradients (relgrad) or by norms; default none")
    p.add_argument("--rebalance-every", type=int, default=10, metavar="K",
                   help="rebalance on the first epoch and then every K-th (default 10)")
    p.add_argument("--rebalance-sweeps", type=int, default=10, metavar="N",
                   help="sweeps over the groups per rebalance (default 10)")
    p.add_argument("--grad-clip", type=float, metavar="NORM",
                   help="clip the gradients' global 2-norm (after rebalancing)")
    p.add_argument("--metric", default="auto", choices=METRICS,
                   help="validation/test metric; auto: ROC-AUC for binary tasks, else accuracy")
    p.add_argument("--attention", choices=attention.BACKENDS, default=attention.get_backend(),
                   help="GAT attention kernels: eager (default; $DGLBAL_ATTENTION) or compiled "
                        "(torch.compile: about a quarter less epoch time for deep GATs on one "
                        "CPU thread, ~15 s of compilation per process; graphs with fewer than "
                        f"{attention_backend.COMPILE_MIN_EDGES} edges stay eager)")
    p.add_argument("--logit-spread", type=float, default=DEFAULT_LOGIT_SPREAD,
                   help="bal_o_data: the initial logits' spread across classes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _config(args: argparse.Namespace, dataset: str, layers: int) -> TrainConfig:
    return TrainConfig(
        dataset=dataset, root=args.root, split=args.split, model=args.model, conv=args.conv,
        layers=layers, hidden=args.hidden, heads=args.heads, bias=args.bias, skip=args.skip,
        residual_alpha=args.residual_alpha, schemes=list(dict.fromkeys(args.init)),
        seeds=list(range(args.seeds)), optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
        loss_threshold=args.loss_threshold, protocol=args.protocol,
        share_weights=args.share_weights, dropout=args.dropout, weight_decay=args.weight_decay,
        device=args.device, monitor=args.monitor,
        minibatch=args.minibatch, batch_size=args.batch_size, fanout=args.fanout,
        rebalance=args.rebalance, rebalance_every=args.rebalance_every,
        rebalance_sweeps=args.rebalance_sweeps, grad_clip=args.grad_clip, metric=args.metric,
        logit_spread=args.logit_spread)


def _run_train(args: argparse.Namespace) -> int:
    config = _config(args, args.dataset, args.layers)
    validate_config(config)
    out = prepare_output_dir(args.out)
    graph_name = args.dist_config or config.dataset
    print(f"{config.model.upper()} L={config.layers} width={config.hidden}x{config.heads} on "
          f"{graph_name}, {config.optimizer} lr={config.learning_rate():g}, "
          f"<= {config.epochs} epochs, stop at loss < {config.stop_loss():g} "
          f"({config.protocol} protocol), seeds {config.seeds}")
    if args.dist_config is not None:
        from .distributed import run_dist_experiment

        results = run_dist_experiment(config, args.dist_config, args.ip_config,
                                      progress=not args.quiet)
        if results is None:  # trainers other than rank 0 report nothing
            return 0
    else:
        results = run_experiment(config, progress=not args.quiet, monitor_dir=out,
                                 runs_dir=out / "runs")
    print(summary_table(results))
    json_path = save_results(results, config, out / "results.json")
    title = f"{config.model.upper()} L={config.layers} on {config.dataset}"
    png_path = plot_curves(results, out / "curves.png", title)
    per_run = "" if args.dist_config else f" (one file per run in {out / 'runs'})"
    print(f"wrote {json_path} and {png_path}{per_run}")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from .sweep import SweepConfig, run_sweep, summary_tables, write_outputs

    sweep = SweepConfig(datasets=args.dataset, depths=args.layers,
                        base=_config(args, args.dataset[0], args.layers[0]))
    for dataset in sweep.datasets:
        for layers in sweep.depths:
            validate_config(_config(args, dataset, layers))
    out = prepare_output_dir(args.out)
    records = run_sweep(sweep, out, progress=not args.quiet)
    print(summary_tables(records))
    written = write_outputs(records, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dglbal", description="Balanced initialization for deep DGL graph neural networks")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train", help="train a deep GNN under one or more init schemes (the paper's protocol)",
        description="Full-batch training, stop when the training loss < --loss-threshold, test "
                    "accuracy at the epoch of best validation accuracy; mean +- 95%% CI over "
                    "seeds. Each run is written to --out/runs as it finishes; the same command "
                    "again (after a Ctrl-C) trains only the missing runs. Writes results.json "
                    "and curves.png under --out.")
    train.add_argument("--dataset", default="synthetic", choices=DATASETS,
                       help="dataset (default: synthetic, generated in-process)")
    train.add_argument("--layers", type=int, default=5, help="number of graph layers L")
    train.add_argument("--out", type=Path, default=Path("runs/train"), help="output directory")
    train.add_argument("--dist-config", type=Path, metavar="PART_CONFIG",
                       help="train on a DGL-partitioned graph (its part_config JSON) with "
                            "DistDGL sampling and DDP; run under DGL's tools/launch.py, or "
                            "alone for one partition (standalone); --dataset is ignored")
    train.add_argument("--ip-config", type=Path, help="DGL's ip config (with --dist-config)")
    _training_options(train)
    sweep = sub.add_parser(
        "sweep", help="a resumable grid of datasets x depths x schemes x seeds",
        description="Runs every (dataset, depth, scheme, seed) with the train protocol; finished "
                    "runs are kept in --out/runs and skipped when the sweep runs again. Writes "
                    "results.csv, summary.md (the paper's layout) and plots.")
    sweep.add_argument("--dataset", nargs="+", default=["cora"], choices=DATASETS)
    sweep.add_argument("--layers", type=int, nargs="+", default=[2, 5, 10])
    sweep.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output directory")
    _training_options(sweep)
    sweep.set_defaults(protocol="paper")
    args = parser.parse_args(argv)
    attention.set_backend(args.attention)
    try:
        return _run_train(args) if args.command == "train" else _run_sweep(args)
    except (ValueError, OSError) as error:
        print(f"dglbal: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"dglbal: {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"dglbal: interrupted; finished runs are kept in {args.out / 'runs'}",
              file=sys.stderr)
        return 130
