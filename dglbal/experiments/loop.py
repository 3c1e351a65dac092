"""The epoch loop: one training step and one evaluation per epoch, early stopping.

:func:`fit` runs the loop for any ``(step, evaluate)`` pair; :func:`full_batch_loop` and
:func:`sampled_loop` build the pair for full-batch and neighbour-sampled training.

When a model computes the same function in train and eval mode (no active dropout, no batch
statistics: :func:`mode_free`), the full-batch step scores validation and test from the
logits of its own forward pass: those are the logits of the parameters the step started
from, which the previous epoch's evaluation would have computed again. The recorded numbers
are the same; each epoch runs one forward pass instead of two.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator, Optional, Tuple, Union

import dgl
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dglbal.data import num_classes
from dglbal.data.validation import check_classes
from dglbal.nn.kernels.sparse import input_features

Scores = Tuple[float, float]
ScoreFunction = Callable[[torch.Tensor, torch.Tensor], float]
StepFunction = Callable[[], Tuple[float, Union[Scores, str, None]]]
EvaluateFunction = Callable[[], Union[Scores, str]]
NON_FINITE = "non-finite logits"
"""What scoring returns in place of (validation, test) scores when the logits are NaN or
infinite: a diverged model has no predictions, and the argmax of NaN logits must never be
scored (nor become the best epoch)."""
MODE_FREE = (nn.Linear, nn.Identity, nn.ModuleList, nn.Sequential, nn.ReLU, nn.LeakyReLU,
             nn.ELU)
"""Torch modules whose forward never reads ``self.training``. Other modules say so with a
class attribute ``mode_free = True`` (dglbal's layers and builders do)."""


def mode_free(model: nn.Module) -> bool:
    """True if ``model`` computes the same function in train and eval mode: every submodule
    is a :data:`MODE_FREE` type, declares ``mode_free = True``, or is a dropout of probability
    0 (unknown modules: False)."""
    return all(isinstance(m, MODE_FREE) or getattr(type(m), "mode_free", False) is True
               or (isinstance(m, nn.modules.dropout._DropoutNd)
                                            and m.p == 0)
               for m in model.modules())


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor,
            on_backward: Optional[Callable[[], None]] = None) -> None:
    """One optimizer step on ``loss``; ``on_backward`` runs between backward and step."""
    opt.zero_grad()
    loss.backward()
    if on_backward is not None:
        on_backward()
    opt.step()


def start_epoch(on_backward: Optional[Callable[[], None]]) -> None:
    """Tell ``on_backward`` that an epoch of minibatch steps starts, if it wants to know
    (:meth:`dglbal.experiments.step_hooks.BackwardHook.start_epoch`)."""
    started = getattr(on_backward, "start_epoch", None)
    if started is not None:
        started()


def full_batch_loop(model: nn.Module, graph: dgl.DGLGraph, opt: torch.optim.Optimizer,
                    on_backward: Optional[Callable[[], None]], score: ScoreFunction
                    ) -> Tuple[StepFunction, EvaluateFunction]:
    """``(step, evaluate)`` for :func:`fit`: one full-batch step per epoch, evaluation on the
    whole graph. For :func:`mode_free` models ``step()`` also returns the scores of the
    parameters it started from (None otherwise)."""
    feat, labels = input_features(model, graph.ndata["feat"]), graph.ndata["label"]
    classes = num_classes(graph)
    train, val, test = (graph.ndata[f"{p}_mask"] for p in ("train", "val", "test"))
    reuses_forward = mode_free(model)

    def scores(logits: torch.Tensor) -> Union[Scores, str]:
        return finite_scores(score, (logits[val], labels[val]), (logits[test], labels[test]))

    def step() -> Tuple[float, Union[Scores, str, None]]:
        model.train()
        logits = model(graph, feat)
        check_classes(logits.shape[-1], classes)
        loss = F.cross_entropy(logits[train], labels[train])
        before = scores(logits.detach()) if reuses_forward else None
        if torch.isfinite(loss):
            descend(opt, loss, on_backward)
        return float(loss), before

    def evaluate() -> Union[Scores, str]:
        model.eval()
        return scores(model(graph, feat))

    return step, evaluate


def finite_scores(score: ScoreFunction,
                  *parts: Tuple[torch.Tensor, torch.Tensor]) -> Union[Scores, str]:
    """``score(logits, labels)`` of each (logits, labels) part, or :data:`NON_FINITE` when
    any logits are NaN or infinite."""
    if not all(bool(torch.isfinite(logits).all()) for logits, _ in parts):
        return NON_FINITE
    return tuple(score(logits, labels) for logits, labels in parts)


def _seeded_batches(loader) -> Iterator:
    """Iterate a DGL DataLoader with DGL's sampling on one thread.

    DGL's CPU neighbour sampling runs in parallel with one random stream per thread, so with
    2+ threads the same dgl.seed() gives different blocks run to run. Sampling on one thread
    (the model still uses all of them) makes minibatch training reproducible under a seed.
    """
    batches = iter(loader)
    while True:
        threads = dgl.utils.get_num_threads()
        dgl.utils.set_num_threads(1)
        try:
            batch = next(batches)
        except StopIteration:
            return
        finally:
            dgl.utils.set_num_threads(threads)
        yield batch


def sampled_loop(model: nn.Module, graph: dgl.DGLGraph, opt: torch.optim.Optimizer,
                 on_backward: Optional[Callable[[], None]], score: ScoreFunction,
                 batch_size: int, fanout: int) -> Tuple[StepFunction, EvaluateFunction]:
    """``(step, evaluate)`` for :func:`fit`: minibatches of training nodes with DGL's
    neighbour sampling (one block per layer); evaluation on all neighbours, in minibatches.
    ``on_backward`` runs after every backward pass; one with a ``start_epoch()`` method (a
    :class:`~dglbal.experiments.step_hooks.BackwardHook`) is told when each epoch starts, so
    that its monitor and rebalancer count epochs, not minibatches."""
    feat, labels = graph.ndata["feat"], graph.ndata["label"]
    classes = num_classes(graph)
    layers = getattr(model, "num_layers", None)
    if layers is None:
        raise ValueError("minibatch training needs a dglbal.nn.GAT or GCN (one block per layer)")
    ids = {p: torch.nonzero(graph.ndata[f"{p}_mask"]).squeeze(1) for p in ("train", "val", "test")}
    loader = dgl.dataloading.DataLoader(graph, ids["train"],
                                        dgl.dataloading.NeighborSampler([fanout] * layers),
                                        batch_size=batch_size, shuffle=True, device=graph.device)
    full = dgl.dataloading.MultiLayerFullNeighborSampler(layers)

    def step() -> Tuple[float, None]:
        model.train()
        start_epoch(on_backward)
        total, count = 0.0, 0
        for input_nodes, output_nodes, blocks in _seeded_batches(loader):
            logits = model(blocks, feat[input_nodes])
            check_classes(logits.shape[-1], classes)
            loss = F.cross_entropy(logits, labels[output_nodes])
            if not torch.isfinite(loss):
                return float(loss), None
            descend(opt, loss, on_backward)
            total, count = total + float(loss) * len(output_nodes), count + len(output_nodes)
        return total / max(count, 1), None

    def evaluate() -> Union[Scores, str]:
        model.eval()
        parts = []
        for part in ("val", "test"):
            predictions, truth = [], []
            for input_nodes, output_nodes, blocks in _seeded_batches(dgl.dataloading.DataLoader(
                    graph, ids[part], full, batch_size=4 * batch_size, device=graph.device)):
                predictions.append(model(blocks, feat[input_nodes]))
                truth.append(labels[output_nodes])
            parts.append((torch.cat(predictions), torch.cat(truth)))
        return finite_scores(score, *parts)

    return step, evaluate


def fit(step: Callable[[], Tuple[float, Union[Scores, str, None]]],
        evaluate: Callable[[], Union[Scores, str]], *, epochs: int, loss_threshold: float,
        progress: bool = False, description: str = "") -> dict:
    """The epoch loop of the protocol: ``step()`` trains one epoch and returns its loss and
    either None or the scores of the parameters it started from; ``evaluate()`` returns the
    (validation, test) scores of the current parameters. Stops after ``epochs`` epochs, when
    the loss falls below ``loss_threshold``, or with ``stop_reason="diverged"`` when the loss
    or the logits to score are not finite (:data:`NON_FINITE`): the epoch whose parameters
    diverged is not recorded, so a NaN model is never scored. Epoch ``t`` records the scores
    after its step: from ``evaluate()``, or, when steps return scores, from the next step (the
    previous epoch's record; ``evaluate()`` then runs once, after the last step). Scores that
    are NaN (a metric undefined on these labels) never become the best. A run with no scored
    epoch has ``best_val_acc`` and ``test_acc`` None and ``best_epoch`` -1.
    """
    history = {"train_loss": [], "val_acc": []}
    best = {"best_val_acc": None, "best_epoch": -1, "test_acc": None}

    def record(loss: float, scores: Union[Scores, str]) -> bool:
        """Record an epoch; False (nothing recorded) when its logits were not finite."""
        nonlocal best
        if isinstance(scores, str):
            return False
        val_acc, test_acc = scores
        if math.isfinite(val_acc) and (best["best_val_acc"] is None
                                       or val_acc > best["best_val_acc"]):
            best = {"best_val_acc": val_acc, "best_epoch": len(history["val_acc"]),
                    "test_acc": test_acc}
        history["train_loss"].append(loss)
        history["val_acc"].append(val_acc)
        return True

    stop_reason = "max_epochs"
    unscored: Optional[float] = None  # loss of the last epoch whose scores are pending
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc=description, disable=not progress, leave=False,
                  unit="ep", dynamic_ncols=True):
        loss, before = step()
        if unscored is not None:
            recorded, unscored = record(unscored, before), None
            if not recorded:
                stop_reason = "diverged"
                break
        if not math.isfinite(loss):
            stop_reason = "diverged"
            break
        if before is not None:
            unscored = loss
        else:
            with torch.no_grad():
                if not record(loss, evaluate()):
                    stop_reason = "diverged"
                    break
        if loss < loss_threshold:
            stop_reason = "loss_threshold"
            break
    if unscored is not None:
        with torch.no_grad():
            if not record(unscored, evaluate()):
                stop_reason = "diverged"
    return dict(best, epochs=len(history["train_loss"]), stop_reason=stop_reason,
                seconds=time.perf_counter() - start, **history)


__all__ = ["MODE_FREE", "NON_FINITE", "descend", "finite_scores", "fit", "full_batch_loop",
           "mode_free", "sampled_loop", "start_epoch"]
