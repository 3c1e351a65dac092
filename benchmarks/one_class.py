"""What predicting one class for every node scores: a dataset's floor for "did it learn".

    python benchmarks/one_class.py --dataset texas wisconsin cornell [--protocol paper]
        [--split 1]

On the small heterophilous sets a model that collapsed to one class scores close to the
published accuracies (Texas, split 1: 22 of its 37 test nodes are of one class, 59.5%), so a
table of test accuracies means little without this number beside it. Prints one markdown row
per dataset: the test nodes and the test accuracy of predicting each class for every node,
largest first. The test mask is the protocol's (``--protocol paper`` drops Citeseer's isolated
nodes; the heterophilous sets' masks are the same under both protocols).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, Tuple

import torch

from dglbal.data import dataset_names, get_dataset, num_classes
from dglbal.experiments.protocol import PROTOCOLS, get_protocol


def test_node_labels(dataset: str, protocol: str = "paper", split: int = 1
                     ) -> Tuple[torch.Tensor, int]:
    """The labels of the protocol's test nodes, and the dataset's number of classes (``split``:
    of a heterophilous set; the others have one)."""
    split = split if get_dataset(dataset).heterophilous else 1  # the others have one split
    graph = get_protocol(protocol).load(dataset, os.environ.get("DGLBAL_DATA"), split)
    return graph.ndata["label"][graph.ndata["test_mask"]], num_classes(graph)


def rates_of(labels: torch.Tensor, classes: int = 0) -> Tuple[float, ...]:
    """Accuracy (%) of predicting each class for every one of ``labels``, largest first
    (``classes``: count the classes absent from ``labels`` too, at 0)."""
    counts = labels.bincount(minlength=classes).double()
    return tuple(sorted((100.0 * counts / counts.sum()).tolist(), reverse=True))


def one_class_rates(dataset: str, protocol: str = "paper", split: int = 1
                    ) -> Tuple[float, ...]:
    """Test accuracy (%) of predicting one class for every node, per class, largest first:
    what a model that collapsed to one class scores (Texas: 59.5 for its majority class;
    Cora: 31.9, although its training set has 20 nodes of every class)."""
    return rates_of(*test_node_labels(dataset, protocol, split))


def table(datasets: Sequence[str], protocol: str, split: int) -> str:
    """A markdown table: per dataset, its test nodes and every one-class rate."""
    lines = [f"Test accuracy (%) of predicting one class for every node (`--protocol "
             f"{protocol}`, split {split} where a dataset has splits), largest first:", "",
             "| dataset | test nodes | majority class | every class |", "|---|---|---|---|"]
    for dataset in datasets:
        labels, classes = test_node_labels(dataset, protocol, split)
        rates = rates_of(labels, classes)
        lines.append(f"| {dataset} | {len(labels)} | {rates[0]:.1f} | "
                     + ", ".join(f"{rate:.1f}" for rate in rates) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", nargs="+", required=True, choices=dataset_names())
    parser.add_argument("--protocol", default="paper", choices=PROTOCOLS)
    parser.add_argument("--split", type=int, default=1)
    args = parser.parse_args(argv)
    print(table(list(dict.fromkeys(args.dataset)), args.protocol, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main())
