"""Train a 10-layer GAT on Cora with BalO and with Xavier (the paper's protocol, SGD).
===================================================================================

    python examples/deep_gat_cora.py [--epochs 600] [--seeds 3] [--dataset cora]

Cora comes from $DGLBAL_DATA (planetoid files) or DGL's download. Prints test accuracy
(mean +- 95% CI) and the epochs to the best model, and writes deep_gat_<dataset>.png.
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

from dglbal.experiments.tables import plot_curves, summary_table  # noqa: E402
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.train import run_experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=10)
    args = parser.parse_args()
    config = TrainConfig(dataset=args.dataset, model="gat", layers=args.layers, hidden=64,
                         schemes=["xavier", "bal_o"], seeds=list(range(args.seeds)),
                         optimizer="sgd", epochs=args.epochs)
    print(f"GAT L={config.layers} on {config.dataset}, SGD lr={config.learning_rate()}")
    results = run_experiment(config)
    print(summary_table(results))
    path = plot_curves(results, Path(f"deep_gat_{args.dataset}.png"),
                       f"GAT L={config.layers} on {args.dataset}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
