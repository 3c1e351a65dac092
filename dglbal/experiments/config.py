"""An experiment's configuration, its outcome, and the cross-option checks run before any training.

:class:`TrainConfig` is THE list of an experiment's settings. Each field's metadata says how
the command line offers it (:func:`option`: help, choices, group, check) and whether it enters
a run's identity (``run_key``, :mod:`dglbal.experiments.runkey`). The command line's
options and their checks are generated from it, so a new setting is one field here.
Each failed check is a ``ValueError`` naming the setting's command-line option; the checks on
one value live in :mod:`.value_checks`, those on the device and ``--out`` in :mod:`.environment`.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import dgl

from dglbal.data import dataset_names, get_dataset
from dglbal.init import DEFAULT_LOGIT_SPREAD, get_scheme, scheme_names

from .metrics import METRICS
from .protocol import PROTOCOLS, get_protocol, paper_learning_rate
from .environment import resolve_device
from .step_hooks import REBALANCE
from .value_checks import CHECKS, MAX_SEED, check_value, conforms, refuse_duplicates, type_name

__all__ = ["TrainConfig", "RunResult", "MODELS", "OPTIMIZERS", "option", "option_name",
           "cli_fields", "validate_config"]

MODELS = ("gat", "gcn", "sage", "gin")
OPTIMIZERS = ("sgd", "adam")


def option(help: str, *, choices: Union[Sequence[str], Callable[[], Sequence[str]], None] = None,
           group: str = "training", check: Optional[str] = None, flag: Optional[str] = None,
           metavar: Optional[str] = None, run_key: bool = True,
           at_init: Optional[bool] = None) -> Dict[str, Any]:
    """Field metadata: how the command line offers a :class:`TrainConfig` field.

    ``choices`` may be a callable (read from a registry when the parser is built);
    ``check`` names one of the value checks :func:`validate_config` applies; ``flag``
    overrides the option's spelling; ``run_key=False`` keeps the field out of a run's
    identity (where data is read, the device, diagnostics); ``at_init`` says whether the
    field shapes the data or the model at initialization, all that ``dglbal diagnose`` looks
    at (default: the ``data`` and ``model`` groups).
    """
    if check is not None and check not in CHECKS:
        raise ValueError(f"unknown check {check!r}; known: {', '.join(CHECKS)}")
    meta: Dict[str, Any] = {"cli": dict(help=help, choices=choices, group=group, check=check,
                                        flag=flag, metavar=metavar,
                                        at_init=group in ("data", "model") if at_init is None
                                        else at_init)}
    if not run_key:
        meta["run_key"] = False
    return meta


def option_name(f: dataclasses.Field) -> str:
    """The command-line spelling of a field (``--residual-alpha``, ``--init``)."""
    cli = f.metadata.get("cli", {})
    return cli.get("flag") or "--" + f.name.replace("_", "-")


def cli_fields(at_init: bool = False) -> List[dataclasses.Field]:
    """The :class:`TrainConfig` fields the command line offers, in declaration order; with
    ``at_init=True`` only those that shape the data or the model at initialization (what
    ``dglbal diagnose`` offers)."""
    return [f for f in dataclasses.fields(TrainConfig) if "cli" in f.metadata
            and (f.metadata["cli"]["at_init"] or not at_init)]


@dataclass
class TrainConfig:
    """One experiment: a model family, a dataset, schemes and seeds (the CLI's options).

    Every field is part of a sweep's run key (:mod:`dglbal.experiments.runkey`) unless its
    metadata says ``run_key=False``. ``device`` is left out: CPU and GPU runs of one
    configuration are the same experiment (they differ by floating-point rounding, as runs on
    different thread counts do); each run file records the device it ran on.

    Parameters
    ----------
    dataset, root, split : str, str or None, int
        The dataset (``--dataset``, :func:`dglbal.data.load_dataset`), its directory (default
        ``$DGLBAL_DATA``, then DGL's) and the heterophilous split (other sets have one split:
        ``--split`` is refused with them).
    model, conv, layers, hidden, heads : str, str, int, int, int
        ``"gat"``, ``"gcn"``, ``"sage"`` or ``"gin"``; the GAT layer (``"gatv2"`` or ``"gat"``);
        depth, hidden width per head, attention heads.
    bias, skip, residual_alpha, share_weights : bool, bool, float, bool
        Biases (the paper uses none), fixup skips, residual aggregation
        ``(1 - alpha) A + alpha I``, GATv2's shared source and target weights.
    schemes, seeds : list of str, list of int
        The init schemes (:mod:`dglbal.init.schemes`, ``--init``) and the seeds; every pair is
        one run.
    optimizer, lr, epochs, loss_threshold, protocol : str, float or None, int, float or None, str
        ``"sgd"`` or ``"adam"``; the learning rate (default: the paper's for the dataset and
        depth); the most epochs; the training loss to stop below (default: the protocol's);
        ``"dglbal"`` or ``"paper"`` (:mod:`dglbal.experiments.protocol`).
    dropout, weight_decay, metric, logit_spread : float, float, str, float
        Dropout on the attention and the hidden features; weight decay; ``"auto"``,
        ``"accuracy"`` or ``"rocauc"``; the data-scaled schemes' initial logit spread.
    balance_beta : float or None
        The beta ``bal_x`` and ``bal_o`` balance with (default: each scheme's own, 2).
    device, monitor : str, bool
        ``"auto"``, ``"cpu"``, ``"cuda:1"``, ...; record and plot the conservation monitor.
    minibatch, batch_size, fanout : bool, int, int
        Sampled minibatch training with DGL's ``NeighborSampler``.
    rebalance, rebalance_every, rebalance_sweeps, grad_clip : str, int, int, float or None
        Dynamic rescaling (``"none"``, ``"norms"``, ``"relgrad"``), its period and sweeps;
        gradient clipping after it.

    Examples
    --------
    >>> config = TrainConfig(model="gcn", layers=10, schemes=["xavier", "bal_o"], seeds=[0, 1])
    >>> validate_config(config)
    >>> config.epochs, config.protocol
    (5000, 'dglbal')
    """

    dataset: str = "synthetic"  # a grid axis: each command declares its own --dataset
    root: Optional[str] = field(default=None, metadata=option(
        "data directory (default: $DGLBAL_DATA, then DGL's)", group="data", run_key=False))
    split: int = field(default=1, metadata=option(
        "heterophilous split index", group="data", check="nonnegative_int"))
    model: str = field(default="gat", metadata=option("model family", choices=MODELS,
                                                      group="model"))
    conv: str = field(default="gatv2", metadata=option(
        "GAT layer type", choices=("gatv2", "gat"), group="model"))
    layers: int = 5  # a grid axis: each command declares its own --layers
    hidden: int = field(default=64, metadata=option("hidden width per head", group="model",
                                                    check="positive_int"))
    heads: int = field(default=1, metadata=option("attention heads", group="model",
                                                  check="positive_int"))
    bias: bool = field(default=False, metadata=option("use biases (the paper does not)",
                                                      group="model"))
    skip: bool = field(default=False, metadata=option("fixup skip connections", group="model"))
    residual_alpha: float = field(default=0.0, metadata=option(
        "residual aggregation (1 - alpha) A + alpha I", group="model", check="unit"))
    schemes: List[str] = field(default_factory=lambda: ["xavier"], metadata=option(
        "one or more init schemes (dglbal.init.schemes)", choices=scheme_names, group="model",
        flag="--init", metavar="SCHEME"))
    seeds: List[int] = field(default_factory=lambda: [0], metadata=option(
        "number of seeds (0..N-1)", group="training", metavar="N"))
    optimizer: str = field(default="sgd", metadata=option("optimizer", choices=OPTIMIZERS))
    lr: Optional[float] = field(default=None, metadata=option(
        "learning rate (default: the paper's for the dataset and L)", check="positive"))
    epochs: int = field(default=5000, metadata=option("maximum epochs", check="positive_int"))
    loss_threshold: Optional[float] = field(default=None, metadata=option(
        "stop below this training loss (default: the protocol's)", check="nonnegative"))
    protocol: str = field(default="dglbal", metadata=option(
        "paper: the authors' code (Xavier gain 1, one-head last layer, stop at 1e-5 / 1e-3, "
        "...); dglbal: the library's defaults (dglbal.experiments.protocol)",
        choices=tuple(PROTOCOLS), at_init=True))
    share_weights: bool = field(default=True, metadata=option(
        "GATv2: separate source and target weights W_s, W_t", group="model",
        flag="--no-share-weights"))
    dropout: float = field(default=0.0, metadata=option(
        "dropout on the attention and on hidden features after each ReLU", check="dropout"))
    weight_decay: float = field(default=0.0, metadata=option("optimizer weight decay",
                                                             check="nonnegative"))
    device: str = field(default="auto", metadata=option(
        "auto, cpu, cuda, cuda:1, ...", group="output", run_key=False, at_init=True))
    monitor: bool = field(default=False, metadata=option(
        "record the conservation law and gradient diagnostics per epoch and plot them "
        "(monitor_<scheme>_seed<N>.png)", group="output", run_key=False))
    minibatch: bool = field(default=False, metadata=option(
        "sampled minibatch training with DGL's NeighborSampler (blocks)", group="sampling"))
    batch_size: int = field(default=512, metadata=option(
        "training nodes per minibatch", group="sampling", check="positive_int"))
    fanout: int = field(default=10, metadata=option(
        "neighbours sampled per layer", group="sampling", check="positive_int"))
    rebalance: str = field(default="none", metadata=option(
        "dynamic rescaling during training (dglbal.Rebalancer): by relative gradients "
        "(relgrad) or by norms", choices=tuple(REBALANCE), group="rebalancing"))
    rebalance_every: int = field(default=10, metadata=option(
        "rebalance on the first epoch and then every K-th", group="rebalancing",
        check="positive_int", metavar="K"))
    rebalance_sweeps: int = field(default=10, metadata=option(
        "sweeps over the groups per rebalance", group="rebalancing", check="positive_int",
        metavar="N"))
    grad_clip: Optional[float] = field(default=None, metadata=option(
        "clip the gradients' global 2-norm (after rebalancing)", group="rebalancing",
        check="positive", metavar="NORM"))
    metric: str = field(default="auto", metadata=option(
        "validation/test metric; auto: ROC-AUC for binary tasks, else accuracy",
        choices=METRICS))
    logit_spread: float = field(default=DEFAULT_LOGIT_SPREAD, metadata=option(
        "data-scaled schemes (bal_o_data, ...): the initial logits' spread across classes",
        group="model", check="positive"))
    balance_beta: Optional[float] = field(default=None, metadata=option(
        "bal_x, bal_o: the beta they balance with (the first neurons' incoming squared "
        "norm; default: each scheme's own, the paper's 2)",
        group="model", check="positive", metavar="BETA"))

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else paper_learning_rate(
            self.dataset, self.layers, self.optimizer)

    def beta_of(self, scheme: str) -> Optional[float]:
        """The beta run ``scheme`` balances with: ``balance_beta`` when set and the scheme
        takes it (:attr:`~dglbal.init.schemes.InitScheme.tunable_beta`), else the scheme's
        own; None for a scheme that does not balance."""
        spec = get_scheme(scheme)
        chosen = self.balance_beta is not None and spec.tunable_beta
        return self.balance_beta if chosen else spec.balance_beta

    def stop_loss(self) -> float:
        """The training loss below which runs stop (``loss_threshold``, else the protocol's)."""
        return (self.loss_threshold if self.loss_threshold is not None
                else get_protocol(self.protocol).loss_threshold(self.dataset))

    def load_graph(self) -> dgl.DGLGraph:
        """The dataset, loaded and masked as the protocol prescribes."""
        return get_protocol(self.protocol).load(self.dataset, self.root, self.split)


@dataclass
class RunResult:
    """The outcome of one training run (one scheme, one seed).

    ``test_acc`` is the test score at ``best_epoch``, the epoch of best validation score;
    both scores are None (and ``best_epoch`` -1) when no epoch was scored: the run diverged
    (``stop_reason="diverged"``) before its first epoch ended with finite logits.

    Parameters
    ----------
    scheme, seed : str, int
        The run's init scheme and seed.
    test_acc, best_val_acc : float or None
        Test score at ``best_epoch`` and the best validation score (``metric``).
    best_epoch, epochs : int
        The epoch of the best validation score (-1: none scored) and the epochs trained.
    seconds : float
        Wall-clock time.
    stop_reason : str
        Why it stopped (``"loss_threshold"``, ``"max_epochs"``, ``"diverged"``).
    train_loss, val_acc : list of float
        Per-epoch training loss and validation score.
    metric : str, default "accuracy"
        What the scores hold (``"accuracy"`` or ``"rocauc"``).
    rebalance_history : list of dict
        The :class:`~dglbal.Rebalancer`'s records, with ``--rebalance``.

    Examples
    --------
    >>> import dgl
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.experiments import run_once
    >>> graph = dgl.add_self_loop(make_synthetic(num_nodes=200))
    >>> result = run_once(TrainConfig(layers=2, hidden=8, epochs=3), "bal_o", 0, graph)
    >>> result.scheme, result.epochs, len(result.train_loss), result.stop_reason
    ('bal_o', 3, 3, 'max_epochs')
    """

    scheme: str
    seed: int
    test_acc: Optional[float]
    best_val_acc: Optional[float]
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


_ONLY_WITH: Dict[str, tuple] = {
    "split": (lambda c: get_dataset(c.dataset).heterophilous,
              "a heterophilous --dataset (the sets with fixed splits)"),
    "heads": (lambda c: c.model == "gat" and (
        c.layers > 1 or get_protocol(c.protocol).last_layer_heads is None),
              "--model gat (and, at --layers 1, --protocol dglbal: the paper's last layer "
              "has one head)"),
    "conv": (lambda c: c.model == "gat", "--model gat"),
    "share_weights": (lambda c: c.model == "gat" and c.conv == "gatv2",
                      "--model gat --conv gatv2 (GATConv has one weight)"),
    "skip": (lambda c: c.layers > 2, "--layers 3 or more (the skips go around the hidden "
                                     "layers, between the first and the last)"),
    "dropout": (lambda c: c.model == "gat" or c.layers > 1,
                "--layers 2 or more (it acts on hidden features) or --model gat (on the "
                "attention too)"),
    "rebalance_every": (lambda c: c.rebalance != "none", "--rebalance norms or relgrad"),
    "rebalance_sweeps": (lambda c: c.rebalance != "none", "--rebalance norms or relgrad"),
    "logit_spread": (lambda c: any(get_scheme(s).data_scaled for s in c.schemes),
                     "a data-scaled --init scheme (bal_o_data, looks_linear_data, ...)"),
    "balance_beta": (lambda c: c.layers > 1 and any(get_scheme(s).tunable_beta
                                                    for s in c.schemes),
                     "a balanced --init scheme (bal_x, bal_o; not bal_o_data, whose data "
                     "scale undoes any beta) and --layers 2 or more (one layer has no hidden "
                     "neuron to balance)"),
    # Last, so that the options above are named first when they are wrong on their own.
    "hidden": (lambda c: c.layers > 1, "--layers 2 or more (one layer maps the features to "
                                       "the classes: no hidden width)"),
    "rebalance": (lambda c: c.layers > 1, "--layers 2 or more (one layer has no hidden "
                                          "neuron, so no rescale group to rebalance)"),
}
"""Options that only act in some configurations: set elsewhere, they would be ignored
silently (and still change the run's identity), so they are refused. (``--batch-size`` and
``--fanout`` are not here: they act with ``--minibatch`` and with ``--dist-config``, which
this configuration does not see; :func:`validate_config` refuses them without
``--minibatch`` unless told the run is distributed.)"""

_SAMPLING = ("batch_size", "fanout")  # act with --minibatch or --dist-config


def validate_config(config: TrainConfig, *, distributed: bool = False) -> None:
    """Refuse settings that cannot give a meaningful run, naming the setting's option.

    Parameters
    ----------
    config : TrainConfig
        The configuration to check.
    distributed : bool, default False
        Whether it trains with ``--dist-config`` (DistDGL sampling, which reads
        ``--batch-size`` and ``--fanout`` without ``--minibatch``).

    Returns
    -------
    None
        It returns when the configuration is usable.

    Raises
    ------
    ValueError
        Naming the option (``--heads``, ``--lr``, ...): a field of the wrong type, a value out
        of range or not among the choices, an unknown dataset, or an option that would have no
        effect with the others.

    Examples
    --------
    >>> validate_config(TrainConfig(layers=10))
    >>> try:
    ...     validate_config(TrainConfig(model="gcn", heads=2))
    ... except ValueError as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    --heads has no effect without --model gat (and, at --layers 1, --protocol dglbal: the
    paper's last layer has one head) (got 2); leave it out
    """
    kinds = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if not conforms(value, kinds[f.name]):
            raise ValueError(f"{option_name(f)} must be of type {type_name(kinds[f.name])}, "
                             f"got {value!r}")
    if not all(0 <= seed <= MAX_SEED for seed in config.seeds):
        raise ValueError(f"seeds must lie in 0..{MAX_SEED} (numpy's range), got {config.seeds}")
    for f in cli_fields():
        cli, value = f.metadata["cli"], getattr(config, f.name)
        if cli["check"] is not None:
            check_value(option_name(f), value, cli["check"])
        choices = cli["choices"]() if callable(cli["choices"]) else cli["choices"]
        if choices is None:
            continue
        if isinstance(value, list):
            unknown = [v for v in value if v not in choices]
            if unknown:
                raise ValueError(f"{option_name(f)}: unknown value(s) {unknown}; choose from "
                                 f"{', '.join(choices)}")
        elif value not in choices:
            raise ValueError(f"{option_name(f)} must be one of {', '.join(choices)}, "
                             f"got {value!r}")
    if config.dataset not in dataset_names():  # one spelling: one run file, one lr table
        raise ValueError(f"--dataset must be one of {', '.join(dataset_names())} (lower-case), "
                         f"got {config.dataset!r}")
    check_value("--layers", config.layers, "positive_int")
    defaults = TrainConfig()
    only_with = dict(_ONLY_WITH)
    if not distributed:
        only_with.update({name: (lambda c: c.minibatch, "--minibatch (or --dist-config)")
                          for name in _SAMPLING})
    for name, (applies, needs) in only_with.items():
        value = getattr(config, name)
        if value != getattr(defaults, name) and not applies(config):
            flag = option_name(next(f for f in cli_fields() if f.name == name))
            raise ValueError(f"{flag} has no effect without {needs} (got {value!r}); leave it "
                             "out")
    if not config.seeds:
        raise ValueError("--seeds must be at least 1 (no seed, no run)")
    if not config.schemes:
        raise ValueError("--init needs at least one scheme")
    refuse_duplicates("--init", config.schemes)
    refuse_duplicates("seeds", config.seeds)
    resolve_device(config.device)


