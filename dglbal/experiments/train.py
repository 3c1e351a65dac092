"""The paper's training protocol: full-batch node classification with early stopping."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Union

import dgl
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dglbal._plotting import require_plotting
from dglbal.balance import ConservationMonitor
from dglbal.data import check_node_data, get_dataset, num_classes
from dglbal.init import get_scheme
from dglbal.nn import GAT, GCN, GIN, SAGE
from dglbal.symmetry import analyze

from .config import MODELS, OPTIMIZERS, RunResult, TrainConfig, validate_config
from .environment import resolve_device
from .loop import fit, full_batch_loop, sampled_loop
from .metrics import accuracy, metric_function, resolve_metric
from .protocol import get_protocol
from .runkey import run_name
from .runstore import result_of, run_or_load, warn_unmonitored
from .value_checks import check_value
from .step_hooks import BackwardHook

__all__ = ["OPTIMIZER_CLASSES", "seed_everything", "build_model", "train_node_classifier",
           "make_optimizer", "prepare_graph", "run_experiment", "run_once"]

OPTIMIZER_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and DGL (dgl.rand_graph and samplers use DGL's own generator)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    dgl.seed(seed)


def build_model(config: TrainConfig, scheme: str, in_feats: int, out_feats: int,
                graph: dgl.DGLGraph) -> nn.Module:
    """A deep GAT (GATv2 layers unless ``config.conv``), GCN, SAGE or GIN initialized with
    ``scheme`` (:mod:`dglbal.init.schemes`; schemes that need data read ``graph``).

    Parameters
    ----------
    config : TrainConfig
        The model's options (``model``, ``layers``, ``hidden``, ...).
    scheme : str
        The init scheme.
    in_feats, out_feats : int
        Input width and number of classes.
    graph : dgl.DGLGraph
        The training graph (read by the schemes that need data).

    Returns
    -------
    nn.Module
        The initialized model.

    Raises
    ------
    ValueError
        For an unknown model or scheme, or a combination the model refuses (``sage`` with
        ``ll_ortho``, an odd width with a looks-linear scheme).

    Examples
    --------
    >>> import dgl
    >>> from dglbal.data import make_synthetic
    >>> graph = dgl.add_self_loop(make_synthetic(num_nodes=200))
    >>> model = build_model(TrainConfig(model="gcn", layers=3, hidden=8), "bal_o", 500, 5, graph)
    >>> type(model).__name__, model(graph, graph.ndata["feat"]).shape
    ('GCN', torch.Size([200, 5]))
    """
    spec = get_scheme(scheme)
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; choose from {', '.join(MODELS)}")
    common = dict(bias=config.bias, skip=config.skip, residual_alpha=config.residual_alpha,
                  init=scheme, dropout=config.dropout)
    if spec.needs_data:
        if graph is None:
            raise ValueError(f"init scheme {scheme!r} needs the training graph (and its "
                             "features)")
        common.update(init_data=(graph, graph.ndata["feat"]), logit_spread=config.logit_spread)
    if spec.tunable_beta:
        common.update(balance_beta=config.beta_of(scheme))
    if config.model == "gat":
        model = GAT(in_feats, config.hidden, out_feats, config.layers, num_heads=config.heads,
                    conv=config.conv, share_weights=config.share_weights,
                    **get_protocol(config.protocol).gat_options(), **common)
    elif config.model == "gcn":
        model = GCN(in_feats, config.hidden, out_feats, config.layers, **common)
    else:
        if config.residual_alpha:
            raise ValueError(f"--residual-alpha: the {config.model.upper()} model has no "
                             "residual aggregation (its layers add the node's own features "
                             "already)")
        del common["residual_alpha"]
        builder = SAGE if config.model == "sage" else GIN
        model = builder(in_feats, config.hidden, out_feats, config.layers, **common)
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
    validation and test (accuracy by default; :func:`dglbal.experiments.metrics.roc_auc`).
    The graph's node data is checked first (:func:`dglbal.data.check_node_data`: a
    :class:`dglbal.data.GraphDataError` names what is wrong; nodes labelled -1 leave the
    masks with a warning); a bad ``epochs``, ``lr``, ``loss_threshold`` or ``weight_decay`` is a
    ``ValueError`` naming it. A run whose logits become NaN or infinite stops as
    ``"diverged"`` and those logits are never scored.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(graph, features)`` (full batch) or ``model(blocks, features)``.
    graph : dgl.DGLGraph
        With node data ``feat``, ``label``, ``train_mask``, ``val_mask``, ``test_mask``.
    optimizer : str or torch.optim.Optimizer
        ``"sgd"``, ``"adam"``, or an optimizer of the model's parameters.
    lr, weight_decay : float
        For an optimizer given by name.
    epochs : int
        The budget.
    loss_threshold : float
        Stop when the training loss falls below it.
    progress : bool
        Show a progress bar (with ``description``).
    description : str
        The progress bar's label.
    on_backward : callable, optional
        Called after each backward pass, before the optimizer step.
    minibatch : tuple of int, optional
        ``(batch_size, fanout)`` for sampled training.
    metric : callable
        ``metric(logits, labels) -> float`` for validation and test.

    Returns
    -------
    dict
        ``test_acc`` and ``best_val_acc`` (the metric, at the best epoch; ``None`` when no
        epoch was scored), ``best_epoch``, ``stop_reason`` (``"loss_threshold"``,
        ``"max_epochs"``, ``"diverged"``), ``epochs`` run, ``seconds``, and the per-epoch
        ``train_loss`` and ``val_acc``.

    Raises
    ------
    ValueError
        A bad ``epochs``, ``lr``, ``loss_threshold``, ``weight_decay``, ``minibatch`` or
        optimizer name.
    dglbal.data.GraphDataError
        Node data that cannot be trained on.

    Examples
    --------
    >>> import torch
    >>> from dglbal.data import make_synthetic, num_classes
    >>> from dglbal.nn import GCN
    >>> g = make_synthetic(num_nodes=200, seed=0)
    >>> _ = torch.manual_seed(0)
    >>> model = GCN(g.ndata["feat"].shape[1], 16, num_classes(g), num_layers=3)
    >>> out = train_node_classifier(model, g, optimizer="adam", lr=0.01, epochs=20)
    >>> out["stop_reason"], len(out["train_loss"]) == out["epochs"]
    ('max_epochs', True)
    """
    checks = [("epochs", epochs, "positive_int"),
              ("loss_threshold", loss_threshold, "nonnegative")]
    if not isinstance(optimizer, torch.optim.Optimizer):  # lr and weight decay apply
        if lr is None:
            raise ValueError("lr must be a positive finite number, got None")
        checks += [("lr", lr, "positive"), ("weight_decay", weight_decay, "nonnegative")]
    if minibatch is not None:
        if not isinstance(minibatch, tuple) or len(minibatch) != 2:
            raise ValueError(f"minibatch must be (batch_size, fanout), got {minibatch!r}")
        checks += [("minibatch batch_size", minibatch[0], "positive_int"),
                   ("minibatch fanout", minibatch[1], "positive_int")]
    for name, value, wanted in checks:
        check_value(name, value, wanted)
    graph = check_node_data(graph)
    opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else make_optimizer(
        model, optimizer, lr, weight_decay)
    step, evaluate = (full_batch_loop(model, graph, opt, on_backward, metric) if minibatch is None
                      else sampled_loop(model, graph, opt, on_backward, metric, *minibatch))
    return fit(step, evaluate, epochs=epochs, loss_threshold=loss_threshold, progress=progress,
               description=description)


def make_optimizer(model: nn.Module, name: str, lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """One of ``OPTIMIZERS`` (``"sgd"``, ``"adam"``) over the model's parameters (with L2
    ``weight_decay``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZER_CLASSES[name](model.parameters(), lr=lr, weight_decay=weight_decay)


def run_experiment(config: TrainConfig, progress: bool = True,
                   graph: Optional[dgl.DGLGraph] = None,
                   monitor_dir: Optional[Path] = None,
                   runs_dir: Optional[Path] = None) -> List[RunResult]:
    """Train every (scheme, seed) pair of ``config``; returns one result per run.

    Before any run trains, the configuration, the graph (``graph``, else ``config``'s
    dataset) and every scheme's model are checked
    (:func:`~dglbal.experiments.train.prepare_graph`).

    With ``runs_dir``, each run is written there as it finishes (one JSON file per run, see
    :mod:`dglbal.experiments.runstore`) and runs already there are loaded instead of trained,
    so a Ctrl-C (raised as :class:`dglbal.experiments.runstore.Interrupted`, saying what was
    kept) loses only the run in progress. With ``config.monitor``, each run records the
    conservation diagnostics and writes ``monitor_<scheme>_seed<seed>.png`` and ``.json``
    under ``monitor_dir`` as it trains; runs loaded from ``runs_dir`` are named in an
    :class:`~dglbal.experiments.runstore.UnmonitoredRunWarning`.

    Parameters
    ----------
    config : TrainConfig
        The runs: dataset, model, schemes, seeds and training options.
    progress : bool
        Show a progress bar per run.
    graph : dgl.DGLGraph, optional
        A graph of your own with dglbal's node data, instead of ``config.dataset``.
    monitor_dir : pathlib.Path, optional
        Where the monitor's files go (with ``config.monitor``).
    runs_dir : pathlib.Path, optional
        Where each run is written as it finishes, and read from when it is there.

    Returns
    -------
    list of RunResult
        One per (scheme, seed), in that order.

    Raises
    ------
    ValueError
        A configuration, graph or scheme that cannot be trained, before any run trains.

    Examples
    --------
    >>> from dglbal.experiments import TrainConfig
    >>> config = TrainConfig(dataset="synthetic", model="gcn", layers=3, hidden=16,
    ...                      schemes=["xavier", "bal_o"], seeds=[0], epochs=5)
    >>> [r.scheme for r in run_experiment(config, progress=False)]
    ['xavier', 'bal_o']
    """
    validate_config(config)
    if config.monitor and monitor_dir is not None:  # its plot is written as each run ends
        require_plotting("--monitor")
    graph = (prepare_graph(config, config.load_graph()) if graph is None
             else prepare_graph(config, graph, "the graph passed to run_experiment"))

    trained = set()

    def train(run_config: TrainConfig, scheme: str, seed: int):
        trained.add(run_name(run_config, scheme, seed))
        return run_once(run_config, scheme, seed, graph, progress=progress,
                        monitor_dir=monitor_dir), str(graph.device)

    runs = [(config, scheme, seed) for scheme in config.schemes for seed in config.seeds]
    bar = tqdm(total=len(runs), desc="runs", disable=not progress, dynamic_ncols=True)
    with bar:
        if runs_dir is not None:
            records = run_or_load(runs, Path(runs_dir), train, bar.update)
            if config.monitor:
                warn_unmonitored(records, trained, Path(runs_dir))
            return [result_of(r) for r in records]
        results = []
        for run in runs:
            results.append(train(*run)[0])
            bar.update()
        return results


def prepare_graph(config: TrainConfig, graph: dgl.DGLGraph,
                  source: Optional[str] = None) -> dgl.DGLGraph:
    """``graph`` checked for ``config``'s runs and moved to its device, before any training.

    Checks the node data (:func:`dglbal.data.check_node_data`), that the metric is defined
    on the validation and test labels (ROC-AUC needs both classes in each), and builds the
    model of every scheme once, so a combination the model refuses (``--model sage --init
    ll_ortho``, an odd width for a looks-linear scheme, ...) is a ``ValueError`` naming the
    options before the other schemes have trained. Errors name ``source`` (default: the
    dataset and split options).
    """
    split = f" --split {config.split}" if get_dataset(config.dataset).heterophilous else ""
    where = source or f"--dataset {config.dataset}{split}"
    graph = check_node_data(graph, where).to(resolve_device(config.device))
    in_feats, out_feats = graph.ndata["feat"].shape[1], num_classes(graph)
    metric = resolve_metric(config.metric, out_feats)
    for part in ("val", "test") if metric == "rocauc" else ():
        present = torch.unique(graph.ndata["label"][graph.ndata[f"{part}_mask"]])
        if len(present) < 2:
            raise ValueError(f"{where}: --metric rocauc needs both classes in the {part} mask; "
                             f"it holds only class {present.tolist()}")
    with torch.random.fork_rng(devices=[]):
        for scheme in config.schemes:
            try:
                build_model(config, scheme, in_feats, out_feats, graph)
            except (ValueError, RuntimeError) as error:
                raise ValueError(f"--model {config.model} --init {scheme} --layers "
                                 f"{config.layers} --hidden {config.hidden} on {where}: "
                                 f"{error}") from None
    return graph


def run_once(config: TrainConfig, scheme: str, seed: int, graph: dgl.DGLGraph,
             progress: bool = False, monitor_dir: Optional[Path] = None) -> RunResult:
    """One training run of ``config`` with one scheme and seed, on a graph already on its
    device; with ``config.monitor`` the diagnostics go to ``monitor_dir``. The graph's node
    data is checked first (:func:`dglbal.data.check_node_data`).

    Parameters
    ----------
    config : TrainConfig
        The experiment.
    scheme : str
        The init scheme of this run.
    seed : int
        The seed of this run.
    graph : dgl.DGLGraph
        The training graph with dglbal's node data, on the run's device.
    progress : bool, default False
        Show a progress bar.
    monitor_dir : pathlib.Path, optional
        Where the conservation monitor's plot and JSON go (with ``config.monitor``).

    Returns
    -------
    RunResult
        The run's scores and history.

    Raises
    ------
    GraphDataError
        If the graph's node data cannot be trained on.
    ValueError
        For a model with fewer outputs than classes, or options the model refuses.

    Examples
    --------
    >>> import dgl
    >>> from dglbal.data import make_synthetic
    >>> graph = dgl.add_self_loop(make_synthetic(num_nodes=200))
    >>> result = run_once(TrainConfig(layers=2, hidden=8, epochs=3), "bal_o", 0, graph)
    >>> result.epochs, 0 <= result.test_acc <= 1
    (3, True)
    """
    graph = check_node_data(graph)
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
