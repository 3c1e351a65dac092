"""The paper's protocol on a partitioned graph: DistDGL sampling, DDP between trainers.

Every trainer samples blocks of its share of the training nodes with
``dgl.dataloading.DistNodeDataLoader`` and a ``NeighborSampler`` (features and labels are pulled
from DGL's servers), and the trainers keep one model through ``DistributedDataParallel``. Loss
and accuracies are summed over the trainers, so that every trainer takes the same early-stopping
decision; test accuracy is taken at the epoch of best validation accuracy, as in
:func:`dglbal.experiments.train.train_node_classifier`.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.experiments.environment import resolve_device
from dglbal.experiments.loop import (NON_FINITE, EvaluateFunction, StepFunction, descend, fit,
                                     start_epoch)
from dglbal.experiments.metrics import resolve_metric
from dglbal.experiments.runstore import Interrupted, result_of, run_or_load
from dglbal.experiments.step_hooks import BackwardHook
from dglbal.experiments.train import build_model, make_optimizer, seed_everything
from dglbal.init import get_scheme
from dglbal.symmetry import analyze

from . import ddp
from .configs import env_int
from .graph import graph_shape, initialize, is_standalone, open_graph, split_nodes
from .runkey import dist_train_config

__all__ = ["trainer_device", "run_dist_experiment", "dist_run_once", "sampled_loop"]


def trainer_device(name: str = "auto") -> torch.device:
    """The device of this trainer: with CUDA, the GPU of torchrun's ``LOCAL_RANK``."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", env_int("LOCAL_RANK", 0))
    return device


def _check(config: TrainConfig) -> None:
    """Refuse options the partitioned-graph trainer cannot honour (never ignore them)."""
    for name in config.schemes:
        scheme = get_scheme(name)
        if scheme.needs_data:
            raise ValueError(f"--init {name} needs the whole graph to initialize "
                             f"({scheme.description}); it is not available on a partitioned "
                             "graph")
    if config.monitor:
        raise ValueError("--monitor is not supported with --dist-config")


def _check_metric(config: TrainConfig, num_classes: int) -> None:
    if resolve_metric(config.metric, num_classes) != "accuracy":
        raise ValueError("--dist-config scores accuracy only (ROC-AUC would need every "
                         "trainer's scores); pass --metric accuracy")


def run_dist_experiment(config: TrainConfig, part_config: Path,
                        ip_config: Optional[Path] = None, progress: bool = True,
                        runs_dir: Optional[Path] = None) -> Optional[List[RunResult]]:
    """Train every (scheme, seed) of ``config`` on a partitioned graph.

    Run it in every process that DGL's launcher (``tools/launch.py``) starts: in the server
    role it serves a partition and exits; trainers return the results on rank 0 and ``None``
    on the other ranks. Without servers (``DGL_DIST_MODE=standalone``, the default) it runs
    in this process on a one-partition graph.

    With ``runs_dir``, rank 0 writes each run there as it finishes and loads the runs already
    there instead of training them (the other ranks follow rank 0's choice), as
    :func:`dglbal.experiments.train.run_experiment` does: a Ctrl-C or a failed trainer loses
    only the run in progress, and the same command resumes.

    Parameters
    ----------
    config : TrainConfig
        The experiment (``config.dataset`` is not read: the partitions are the data; their
        recorded dataset gives the default learning rate and stop loss, see
        :func:`dglbal.distributed.runkey.dist_train_config`, and the partitions' identity
        enters every run's key).
    part_config : pathlib.Path
        The partition config.
    ip_config : pathlib.Path, optional
        The ip config (distributed mode).
    progress : bool, default True
        Show a progress bar per run.
    runs_dir : pathlib.Path, optional
        Where rank 0 keeps each finished run (and finds the runs to skip).

    Returns
    -------
    list of RunResult or None
        One result per (scheme, seed) on rank 0; ``None`` on the other ranks.

    Raises
    ------
    ValueError
        For options the partitioned trainer cannot honour (``gnn_he``, ``bal_o_data``,
        ``--monitor``, ``--protocol paper``, metrics other than accuracy), partitions that do
        not record their dataset without ``lr`` and ``loss_threshold``, masks that select no
        node, or a bad launcher environment.
    PartConfigError
        If ``part_config`` is not a usable partition config.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> from dglbal.experiments import TrainConfig
    >>> train = TrainConfig(layers=2, hidden=8, schemes=["xavier"], seeds=[0], epochs=1,
    ...                     lr=0.01, loss_threshold=1e-4)  # "tiny" is no dglbal dataset
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     results = run_dist_experiment(train, config, progress=False)
    >>> [(result.scheme, result.epochs) for result in results]
    [('xavier', 1)]
    >>> out.cleanup()
    """
    config = dist_train_config(config, part_config)
    _check(config)
    initialize(ip_config)
    try:
        device = trainer_device(config.device)
        ddp.init_from_env(device)
        graph = open_graph(part_config)
        in_feats, out_feats = graph_shape(graph, part_config)
        _check_metric(config, out_feats)
        ids = {part: split_nodes(graph, f"{part}_mask") for part in ("train", "val", "test")}
        sizes = ddp.all_reduce_sum([len(ids[part]) for part in ids], device)
        empty = [f"{part}_mask" for part, size in zip(ids, sizes) if size == 0]
        if empty:
            raise ValueError(f"{part_config}: {', '.join(empty)} selects no node of the "
                             "partitioned graph; there is nothing to train or score on")

        def train(scheme: str, seed: int) -> RunResult:
            return dist_run_once(config, scheme, seed, graph, ids, in_feats, out_feats, device,
                                 progress=progress and ddp.rank() == 0)

        results = _train_all(config, train, device, runs_dir)
    except BaseException as error:
        if is_standalone():
            raise
        # DGL's exit handler would wait at a barrier for the other trainers, forever.
        if isinstance(error, Interrupted):
            print(f"dglbal: {error}", file=sys.stderr)
        else:
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(130 if isinstance(error, KeyboardInterrupt) else 1)
    return results


def _train_all(config: TrainConfig, train: Callable[[str, int], RunResult],
               device: torch.device, runs_dir: Optional[Path]) -> Optional[List[RunResult]]:
    """Every run of ``config`` in order; with ``runs_dir``, rank 0 keeps the run files and
    tells the other ranks (by broadcasting the run's index, -1 at the end) which run to train
    next. Results on rank 0, None elsewhere."""
    runs = [(config, scheme, seed) for scheme in config.schemes for seed in config.seeds]
    if runs_dir is None:
        results = [train(scheme, seed) for _, scheme, seed in runs]
        return results if ddp.rank() == 0 else None
    if ddp.rank() != 0:
        while (index := ddp.broadcast_int(-1, device)) >= 0:
            train(*runs[index][1:])
        return None

    def announce_and_train(run_config: TrainConfig, scheme: str, seed: int):
        ddp.broadcast_int(runs.index((run_config, scheme, seed)), device)
        return train(scheme, seed), str(device)

    records = run_or_load(runs, Path(runs_dir), announce_and_train)
    ddp.broadcast_int(-1, device)
    return [result_of(record) for record in records]


def dist_run_once(config: TrainConfig, scheme: str, seed: int, graph: dgl.distributed.DistGraph,
                  ids: Dict[str, torch.Tensor],
                  in_feats: int, out_feats: int, device: torch.device,
                  progress: bool = False) -> RunResult:
    """One run: every trainer builds (and balances) the model with ``seed``, rank 0's weights
    are broadcast, and the trainers train it together. Rebalancing (``config.rebalance``) and
    gradient clipping act on the all-reduced gradients, so every replica takes the same step."""
    seed_everything(seed)
    model = build_model(config, scheme, in_feats, out_feats, graph=None).to(device)
    trained = ddp.data_parallel(model, device)
    opt = make_optimizer(trained, config.optimizer, config.learning_rate(), config.weight_decay)
    report = analyze(model) if config.rebalance != "none" else None
    hook = BackwardHook(model, opt, rebalance=config.rebalance, every=config.rebalance_every,
                        sweeps=config.rebalance_sweeps, grad_clip=config.grad_clip, report=report)
    step, evaluate = sampled_loop(trained, graph, ids, opt, config.batch_size, config.fanout,
                                  device, hook)
    outcome = fit(step, evaluate, epochs=config.epochs, loss_threshold=config.stop_loss(),
                  progress=progress, description=f"dist L={config.layers} {scheme} seed {seed}")
    return RunResult(scheme=scheme, seed=seed, rebalance_history=hook.history, **outcome)


def _batches(graph, nodes: torch.Tensor, sampler, batch_size: int, shuffle: bool = False):
    return dgl.dataloading.DistNodeDataLoader(graph, nodes, sampler, batch_size=batch_size,
                                              shuffle=shuffle, drop_last=False)


def sampled_loop(trained: nn.Module, graph: dgl.distributed.DistGraph, ids: Dict[str, torch.Tensor],
                 opt: torch.optim.Optimizer, batch_size: int, fanout: int, device: torch.device,
                 on_backward: Optional[Callable[[], None]] = None
                 ) -> Tuple[StepFunction, EvaluateFunction]:
    """``(step, evaluate)`` for ``dglbal.experiments.train.fit`` on a DistGraph.

    ``step`` trains on this trainer's minibatches; DDP's ``join`` lets trainers with fewer
    minibatches finish first. Validation and test accuracy sample neighbours with the same
    fanout (all L-hop neighbours would not fit on the graphs DistDGL is for). ``on_backward``
    runs after DDP has all-reduced the gradients.
    """
    model = ddp.unwrap(trained)
    layers = getattr(model, "num_layers", None)
    if layers is None:
        raise ValueError("distributed training needs a dglbal.nn.GAT or GCN (one block per layer)")
    feat, labels = graph.ndata["feat"], graph.ndata["label"]
    sampler = dgl.dataloading.NeighborSampler([fanout] * layers)
    train_loader = _batches(graph, ids["train"], sampler, batch_size, shuffle=True)
    eval_loaders = [_batches(graph, ids[part], sampler, 4 * batch_size) for part in ("val", "test")]

    def joined():
        if isinstance(trained, nn.parallel.DistributedDataParallel):
            return trained.join()
        return contextlib.nullcontext()

    def step() -> Tuple[float, None]:
        trained.train()
        total, count, finite = 0.0, 0, True
        # rebalance on an epoch's first minibatch, as --rebalance-every says
        start_epoch(on_backward)
        with joined():
            for input_nodes, output_nodes, blocks in train_loader:
                blocks = [block.to(device) for block in blocks]
                logits = trained(blocks, feat[input_nodes].to(device))
                loss = F.cross_entropy(logits, labels[output_nodes].to(device))
                if not torch.isfinite(loss):
                    finite = False
                    break
                descend(opt, loss, on_backward)
                total, count = total + float(loss) * len(output_nodes), count + len(output_nodes)
        total, count, diverged = ddp.all_reduce_sum([total, count, float(not finite)], device)
        return (float("nan") if diverged else total / max(count, 1.0)), None

    def evaluate() -> Union[tuple, str]:
        """(validation, test) accuracy, or NON_FINITE when any trainer's logits are not
        finite: the argmax of NaN logits is never scored."""
        model.eval()
        tallies = []
        for loader in eval_loaders:
            correct, count, nonfinite = 0, 0, 0
            for input_nodes, output_nodes, blocks in loader:
                blocks = [block.to(device) for block in blocks]
                logits = model(blocks, feat[input_nodes].to(device))
                if not bool(torch.isfinite(logits).all()):
                    nonfinite = 1
                    continue
                correct += int((logits.argmax(1) == labels[output_nodes].to(device)).sum())
                count += len(output_nodes)
            tallies += [correct, count, nonfinite]
        tallies = ddp.all_reduce_sum(tallies, device)
        if any(tallies[2::3]):
            return NON_FINITE
        return tuple(correct / count for correct, count in zip(tallies[0::3], tallies[1::3]))

    return step, evaluate
