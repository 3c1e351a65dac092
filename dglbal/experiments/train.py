"""The paper's training protocol: full-batch node classification with early stopping."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Union

import dgl
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .conservation import ConservationMonitor
from .data import PLANETOID, num_classes
from .data_scale import DEFAULT_LOGIT_SPREAD
from .epochs import fit, full_batch_loop, sampled_loop
from .hooks import BackwardHook
from .init import attention_parameters, gnn_he_, graph_layers
from .metrics import accuracy, metric_function, resolve_metric
from .nn import GAT, GCN, SAGE
from .nn.models import DATA_SCHEMES
from .protocol import get_protocol
from .symmetry import analyze
from .validation import TRAIN_SCHEMES, resolve_device

# ll_ortho: looks-linear orthogonal weights with Xavier-normal attention (the authors' LLortho
# in "Dynamic Rescaling for Training GNNs").
SCHEMES = TRAIN_SCHEMES
MODELS = ("gat", "gcn", "sage")
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def paper_learning_rate(dataset: str, num_layers: int, optimizer: str = "sgd") -> float:
    """Learning rates of "Are GATs Out of Balance?" by dataset family, depth and optimizer.

    Planetoid sets (and the synthetic default): SGD 0.1 up to 5 layers, 0.05 up to 20,
    0.005 beyond; Adam 0.005 (Pubmed 0.01) up to 5 layers, a tenth of that beyond.
    Heterophilous sets: SGD 0.05 / 0.01 / 0.005 / 0.0005 for L <= 5 / 10 / 20 / more.
    """
    citation = dataset in PLANETOID or dataset == "synthetic"
    if optimizer == "adam":
        base = 0.01 if dataset == "pubmed" else 0.005
        return base if num_layers <= 5 else base / 10
    if optimizer != "sgd":
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if citation:
        return 0.1 if num_layers <= 5 else 0.05 if num_layers <= 20 else 0.005
    for depth, lr in ((5, 0.05), (10, 0.01), (20, 0.005)):
        if num_layers <= depth:
            return lr
    return 0.0005


# Metadata of a TrainConfig field that cannot change a run's result (where data or output is
# read or written, diagnostics): dglbal.runfiles leaves it out of the run key.
NOT_IN_RUN_KEY = {"run_key": False}


@dataclass
class TrainConfig:
    """One experiment: a model family, a dataset, schemes and seeds (the CLI's options).

    Every field is part of a sweep's run key (:mod:`dglbal.runfiles`) unless its metadata is
    :data:`NOT_IN_RUN_KEY`. ``device`` is left out: CPU and GPU runs of one configuration are
    the same experiment (they differ by floating-point rounding, as runs on different thread
    counts do); each run file records the device it ran on.
    """

    dataset: str = "synthetic"
    root: Optional[str] = field(default=None, metadata=NOT_IN_RUN_KEY)
    split: int = 1
    model: str = "gat"
    conv: str = "gatv2"
    layers: int = 5
    hidden: int = 64
    heads: int = 1
    bias: bool = False
    skip: bool = False
    residual_alpha: float = 0.0
    schemes: List[str] = field(default_factory=lambda: ["xavier"])
    seeds: List[int] = field(default_factory=lambda: [0])
    optimizer: str = "sgd"
    lr: Optional[float] = None
    epochs: int = 5000
    loss_threshold: Optional[float] = None  # None: the protocol's for the dataset
    protocol: str = "dglbal"                # see dglbal.protocol (the CLI's sweep: paper)
    share_weights: bool = True
    dropout: float = 0.0
    weight_decay: float = 0.0
    device: str = field(default="auto", metadata=NOT_IN_RUN_KEY)
    monitor: bool = field(default=False, metadata=NOT_IN_RUN_KEY)
    minibatch: bool = False
    batch_size: int = 512
    fanout: int = 10
    rebalance: str = "none"
    rebalance_every: int = 10
    rebalance_sweeps: int = 10
    grad_clip: Optional[float] = None
    metric: str = "auto"
    logit_spread: float = DEFAULT_LOGIT_SPREAD  # bal_o_data: initial logits' spread

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else paper_learning_rate(
            self.dataset, self.layers, self.optimizer)

    def stop_loss(self) -> float:
        """The training loss below which runs stop (``loss_threshold``, else the protocol's)."""
        return (self.loss_threshold if self.loss_threshold is not None
                else get_protocol(self.protocol).loss_threshold(self.dataset))

    def load_graph(self) -> dgl.DGLGraph:
        """The dataset, loaded and masked as the protocol prescribes."""
        return get_protocol(self.protocol).load(self.dataset, self.root, self.split)


@dataclass
class RunResult:
    """The outcome of one training run (one scheme, one seed)."""

    scheme: str
    seed: int
    test_acc: float
    best_val_acc: float
    best_epoch: int
    epochs: int
    seconds: float
    stop_reason: str
    train_loss: List[float]
    val_acc: List[float]
    metric: str = "accuracy"  # what test_acc, best_val_acc and val_acc hold
    rebalance_history: List[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and DGL (dgl.rand_graph and samplers use DGL's own generator)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    dgl.seed(seed)


def build_model(config: TrainConfig, scheme: str, in_feats: int, out_feats: int,
                graph: dgl.DGLGraph) -> nn.Module:
    """A deep GAT or GCN initialized with ``scheme`` (``gnn_he`` uses ``graph``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}")
    layer_scheme = {"gnn_he": "he", "ll_ortho": "looks_linear"}.get(scheme, scheme)
    common = dict(bias=config.bias, skip=config.skip, residual_alpha=config.residual_alpha,
                  init=layer_scheme, dropout=config.dropout)
    if scheme in DATA_SCHEMES:
        if graph is None:
            raise ValueError(f"init scheme {scheme!r} sets its scale from the training graph's "
                             "features; it needs the graph")
        common.update(init_data=(graph, graph.ndata["feat"]), logit_spread=config.logit_spread)
    if config.model == "gat":
        model = GAT(in_feats, config.hidden, out_feats, config.layers, num_heads=config.heads,
                    conv=config.conv, share_weights=config.share_weights,
                    **get_protocol(config.protocol).gat_options(), **common)
    elif config.model == "gcn":
        model = GCN(in_feats, config.hidden, out_feats, config.layers, **common)
    else:
        if config.residual_alpha or config.dropout:
            raise ValueError("the SAGE model has no residual aggregation (residual_alpha) and "
                             "no dropout")
        model = SAGE(in_feats, config.hidden, out_feats, config.layers, bias=config.bias,
                     skip=config.skip, init=layer_scheme)
    if scheme == "ll_ortho":
        with torch.no_grad():
            for layer in graph_layers(model):
                for a in attention_parameters(layer):
                    nn.init.xavier_normal_(a, gain=nn.init.calculate_gain("relu"))
    if scheme == "gnn_he":
        gnn_he_(model, graph)
        model.zero_skip_branches_()
    return model


def train_node_classifier(
    model: nn.Module,
    graph: dgl.DGLGraph,
    *,
    optimizer: Union[str, torch.optim.Optimizer] = "sgd",
    lr: float = 0.1,
    weight_decay: float = 0.0,
    epochs: int = 5000,
    loss_threshold: float = 1e-4,
    progress: bool = False,
    description: str = "",
    on_backward: Optional[Callable[[], None]] = None,
    minibatch: Optional[tuple] = None,
    metric: Callable[[torch.Tensor, torch.Tensor], float] = accuracy,
) -> dict:
    """Train; test accuracy is taken at the epoch of best validation accuracy.

    Full batch by default; ``minibatch=(batch_size, fanout)`` samples blocks with DGL's
    ``NeighborSampler`` (the model must take one block per layer, as dglbal's builders do).
    ``weight_decay`` is the optimizer's (L2) weight decay.
    Stops after ``epochs`` epochs, when the training loss falls below ``loss_threshold``, or
    when the loss stops being finite (reported as ``stop_reason="diverged"``). ``on_backward``
    is called after each backward pass, before the optimizer step (for a monitor, a
    :class:`dglbal.Rebalancer`, clipping). ``optimizer`` is a name ('sgd', 'adam'; ``lr``
    applies) or a ready optimizer of the model's parameters. ``metric(logits, labels)`` scores
    validation and test (accuracy by default; :func:`dglbal.metrics.roc_auc`).
    """
    opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else make_optimizer(
        model, optimizer, lr, weight_decay)
    step, evaluate = (full_batch_loop(model, graph, opt, on_backward, metric) if minibatch is None
                      else sampled_loop(model, graph, opt, on_backward, metric, *minibatch))
    return fit(step, evaluate, epochs=epochs, loss_threshold=loss_threshold, progress=progress,
               description=description)


def make_optimizer(model: nn.Module, name: str, lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """One of :data:`OPTIMIZERS` over the model's parameters (with L2 ``weight_decay``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](model.parameters(), lr=lr, weight_decay=weight_decay)


def run_experiment(config: TrainConfig, progress: bool = True,
                   graph: Optional[dgl.DGLGraph] = None,
                   monitor_dir: Optional[Path] = None,
                   runs_dir: Optional[Path] = None) -> List[RunResult]:
    """Train every (scheme, seed) pair of ``config``; returns one result per run.

    With ``runs_dir``, each run is written there as it finishes (one JSON file per run, see
    :mod:`dglbal.runfiles`) and runs already there are loaded instead of trained, so a Ctrl-C
    (raised as :class:`dglbal.runfiles.Interrupted`, saying what was kept) loses only the run
    in progress. With ``config.monitor``, each run records the conservation diagnostics and
    writes ``monitor_<scheme>_seed<seed>.png`` and ``.json`` under ``monitor_dir``.
    """
    from .runfiles import result_of, run_or_load
    from .validation import validate_config

    validate_config(config)
    loaded = {}

    def train(run_config: TrainConfig, scheme: str, seed: int):
        if "graph" not in loaded:
            source = graph if graph is not None else config.load_graph()
            loaded["graph"] = source.to(resolve_device(config.device))
        return run_once(run_config, scheme, seed, loaded["graph"], progress=progress,
                        monitor_dir=monitor_dir), str(loaded["graph"].device)

    runs = [(config, scheme, seed) for scheme in config.schemes for seed in config.seeds]
    bar = tqdm(total=len(runs), desc="runs", disable=not progress, dynamic_ncols=True)
    with bar:
        if runs_dir is not None:
            return [result_of(r) for r in run_or_load(runs, Path(runs_dir), train, bar.update)]
        results = []
        for run in runs:
            results.append(train(*run)[0])
            bar.update()
        return results


def run_once(config: TrainConfig, scheme: str, seed: int, graph: dgl.DGLGraph,
             progress: bool = False, monitor_dir: Optional[Path] = None) -> RunResult:
    """One training run of ``config`` with one scheme and seed, on a graph already on its
    device; with ``config.monitor`` the diagnostics go to ``monitor_dir``."""
    device = graph.device
    in_feats, out_feats = graph.ndata["feat"].shape[1], num_classes(graph)
    seed_everything(seed)
    model = build_model(config, scheme, in_feats, out_feats, graph).to(device)
    report = analyze(model) if config.monitor or config.rebalance != "none" else None
    monitor = ConservationMonitor(model, report) if config.monitor else None
    opt = make_optimizer(model, config.optimizer, config.learning_rate(), config.weight_decay)
    hook = BackwardHook(model, opt, monitor=monitor, rebalance=config.rebalance,
                        every=config.rebalance_every, sweeps=config.rebalance_sweeps,
                        grad_clip=config.grad_clip, report=report)
    metric = resolve_metric(config.metric, out_feats)
    outcome = train_node_classifier(
        model, graph, optimizer=opt, epochs=config.epochs,
        loss_threshold=config.stop_loss(), progress=progress,
        description=f"{config.dataset} L={config.layers} {scheme} seed {seed}",
        on_backward=hook, metric=metric_function(metric),
        minibatch=(config.batch_size, config.fanout) if config.minibatch else None)
    if monitor is not None and monitor_dir is not None:
        stem = Path(monitor_dir) / f"monitor_{scheme}_seed{seed}"
        monitor.plot(stem.with_suffix(".png"), f"{scheme}, seed {seed}")
        monitor.save_json(stem.with_suffix(".json"))
    return RunResult(scheme=scheme, seed=seed, metric=metric,
                     rebalance_history=hook.history, **outcome)
