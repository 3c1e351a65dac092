"""Evaluation metrics computed in torch on the logits' device: accuracy and ROC-AUC."""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["METRICS", "accuracy", "roc_auc", "resolve_metric", "metric_function"]

METRICS = ("auto", "accuracy", "rocauc")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of nodes whose largest logit is their label (0 for no nodes)."""
    return float((logits.argmax(1) == labels).float().mean()) if len(labels) else 0.0


def roc_auc(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of a binary task, scoring class 1 by ``logits[:, 1] -
    logits[:, 0]`` (or the single column). Ties count one half (the Mann-Whitney U statistic,
    as sklearn's ``roc_auc_score``). NaN when one class is absent.

    Examples
    --------
    >>> import torch
    >>> roc_auc(torch.tensor([[0.0, 0.1], [0.0, 0.9], [0.0, 0.4]]), torch.tensor([0, 1, 1]))
    1.0
    """
    if logits.dim() == 2 and logits.shape[1] > 2:
        raise ValueError(f"ROC-AUC needs a binary task; the logits have {logits.shape[1]} "
                         "classes (use --metric accuracy)")
    if logits.dim() == 2:
        score = logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits[:, 0]
    else:
        score = logits
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks (1-based) with ties sharing the mean of their positions.
    values, inverse, counts = torch.unique(score.double(), return_inverse=True,
                                           return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    rank_sum = mean_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def resolve_metric(name: str, num_classes: int) -> str:
    """``auto`` is ROC-AUC for binary tasks (as "Dynamic Rescaling for Training GNNs"),
    accuracy otherwise."""
    if name not in METRICS:
        raise ValueError(f"--metric must be one of {', '.join(METRICS)}; got {name!r}")
    if name == "auto":
        return "rocauc" if num_classes == 2 else "accuracy"
    if name == "rocauc" and num_classes != 2:
        raise ValueError(f"--metric rocauc needs a binary task; this dataset has {num_classes} "
                         "classes (use --metric accuracy)")
    return name


def metric_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], float]:
    return {"accuracy": accuracy, "rocauc": roc_auc}[name]
