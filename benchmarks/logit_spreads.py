"""The spread of a model's initial logits on a dataset, per init scheme and seed.

    python benchmarks/logit_spreads.py --dataset cora --layers 10 [--protocol paper]
        [--init xavier looks_linear bal_o ...] [--seeds 3]

The spread is :func:`dglbal.init.data_scale.logit_spread` of the logits on every node (what
``bal_o_data`` and ``looks_linear_data`` set with ``--logit-spread``), measured on the model a
run of that scheme and seed starts from (``run_once``'s seeding and ``build_model``), under the
protocol's data loading. It fixes the target of the orthogonality ablation's scale control
(``looks_linear_data`` at BalO's spread: ``benchmarks/paper_protocol.py``, family
``ortho-sgd``). Prints one markdown row per scheme: the spread per seed and their mean.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Sequence

import torch

from dglbal.data import num_classes
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.protocol import PROTOCOLS, get_protocol
from dglbal.experiments.train import build_model, seed_everything
from dglbal.init import scheme_names
from dglbal.init.data_scale import logit_spread


def initial_spreads(config: TrainConfig, scheme: str, seeds: Sequence[int]) -> List[float]:
    """The initial logit spread of ``scheme``'s model for each seed, on ``config``'s data."""
    graph = get_protocol(config.protocol).load(config.dataset, os.environ.get("DGLBAL_DATA"),
                                               config.split)
    feat = graph.ndata["feat"]
    spreads = []
    for seed in seeds:
        seed_everything(seed)
        model = build_model(config, scheme, feat.shape[1], num_classes(graph), graph).eval()
        with torch.no_grad():
            spreads.append(logit_spread(model(graph, feat)))
    return spreads


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--model", default="gat")
    parser.add_argument("--protocol", default="paper", choices=tuple(PROTOCOLS))
    parser.add_argument("--init", nargs="+", default=["looks_linear", "ll_ortho", "bal_o"],
                        choices=scheme_names())
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    config = TrainConfig(dataset=args.dataset, layers=args.layers, model=args.model,
                         protocol=args.protocol)
    seeds = range(args.seeds)
    print(f"{args.dataset}, {args.model.upper()} L = {args.layers}, --protocol {args.protocol}: "
          "initial logit spread on every node")
    print("\n| scheme | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
    print("|---|" + "---|" * (len(seeds) + 1))
    for scheme in args.init:
        spreads = initial_spreads(config, scheme, seeds)
        print(f"| {scheme} | " + " | ".join(f"{v:.3g}" for v in spreads)
              + f" | {sum(spreads) / len(spreads):.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
