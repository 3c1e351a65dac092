"""PyTorch Lightning: balanced initialization, dynamic rescaling and the conservation monitor
as one callback, :class:`BalanceCallback` (``pip install 'dglbal[lightning]'``).

Lightning runs ``training_step`` and ``backward`` inside ``optimizer.step(closure)``, so an
optimizer step pre-hook would run before the gradients exist; the callback acts in
``on_before_optimizer_step`` instead, which Lightning calls once per optimizer step (after
the last micro-batch under ``accumulate_grad_batches``), after AMP's unscaling and before
gradient clipping (the order of "Dynamic Rescaling for Training GNNs").
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import nn

try:
    import lightning.pytorch as pl
except ImportError as error:  # an optional extra: say how to get it
    raise ImportError("dglbal.integrations.lightning needs PyTorch Lightning: "
                      "pip install 'dglbal[lightning]'") from error

from dglbal.balance import ConservationMonitor, Rebalancer, balance_
from dglbal.balance._checks import check_balance_arguments
from dglbal.balance.conservation import check_threshold
from dglbal.balance.hooks import gradients_finite
from dglbal.balance.rebalance import check_rebalance_arguments
from dglbal.symmetry import SymmetryReport, analyze
from dglbal.symmetry.arguments import keyword_inputs

__all__ = ["BalanceCallback", "LoggersWriter"]


class LoggersWriter:
    """A writer (``add_scalar``) onto the trainer's loggers (TensorBoard, CSV, W&B, MLflow,
    ...): the scalars are collected and :meth:`flush` logs them together at the trainer's
    ``global_step``, as Lightning's ``LearningRateMonitor`` does.

    Parameters
    ----------
    trainer : lightning.pytorch.Trainer
        The trainer whose ``loggers`` get the scalars.
    """

    def __init__(self, trainer: "pl.Trainer") -> None:
        self.trainer = trainer
        self._pending: Dict[str, float] = {}

    def add_scalar(self, tag: str, scalar_value: float, global_step: Optional[int] = None
                   ) -> None:
        """Collect ``{tag: scalar_value}`` (``global_step`` is replaced by the trainer's at
        :meth:`flush`, so that the scalars line up with ``self.log``'s)."""
        self._pending[tag] = float(scalar_value)

    def flush(self) -> None:
        """Log what was collected to every logger, in one call each."""
        if self._pending:
            for logger in self.trainer.loggers:
                logger.log_metrics(self._pending, step=self.trainer.global_step)
            self._pending = {}


def _to_device(value: Any, device: torch.device) -> Any:
    """Tensors and DGL graphs moved to ``device``; anything else as it is."""
    mover = getattr(value, "to", None)
    return mover(device) if callable(mover) and hasattr(value, "device") else value


class BalanceCallback(pl.Callback):
    """Balanced initialization at fit start, dynamic rescaling and the conservation monitor
    during training, their scalars in the trainer's loggers.

    - ``on_fit_start``: :func:`dglbal.analyze` of the model (the LightningModule, or its
      submodule ``module``) on ``example_inputs`` (moved to the module's device; ``None``: the
      model's ``probe_inputs()``), then ``balance_(model, report, balance, beta=beta)`` unless
      ``balance`` is None, the fit resumes from a checkpoint (``ckpt_path``), whose weights
      are kept, or this callback balanced the model in an earlier fit.
    - ``on_train_start``: a new :class:`~dglbal.Rebalancer` (``rebalance``: its criterion,
      or None) over the trainer's optimizer and a new :class:`~dglbal.ConservationMonitor`
      (``monitor``) for this fit, restored from the checkpoint's callback state when
      resuming.
    - ``on_before_optimizer_step``: ``monitor.record()`` then ``rebalancer.step()``, once per
      optimizer step. Steps without any gradient (a ``training_step`` that returned None) and,
      under AMP's ``GradScaler``, steps with an inf/NaN gradient (the scaler skips them) are
      left out, as the optimizer leaves them.

    Scalars go to every logger of the trainer as ``dglbal/conservation/...`` and
    ``dglbal/rebalance/...`` (``log=False``: none). ``callback.report``, ``.summary`` (what
    balancing did), ``.rebalancer`` and ``.monitor`` are there to read after ``fit``.

    Parameters
    ----------
    example_inputs : sequence, optional
        What the model's ``forward`` takes (a graph and features), for the analyser.
    forward_kwargs : mapping of str to object, optional
        What it takes by keyword (``{"edge_weight": w}``), moved to the device like
        ``example_inputs``.
    module : str, optional
        The submodule to balance (``pl_module.get_submodule(module)``); the LightningModule
        itself by default (its ``forward`` must take ``example_inputs``).
    balance : {"init", "preserve", None}
        The balancing at fit start (``"init"``: Procedure 2.6, which changes the function).
    beta : float, optional
        Incoming squared norm of the first neurons in init mode.
    rebalance : {"relative_gradients", "norms", None}
        Dynamic rescaling's criterion; None: no rescaling.
    every, sweeps : int
        Rebalance on the first and every ``every``-th optimizer step, ``sweeps`` sweeps each.
    monitor : bool
        Record the conservation law every optimizer step.
    threshold : float
        The monitor's relative-change threshold.
    log : bool
        Write the scalars to the trainer's loggers.

    Raises
    ------
    ValueError, TypeError
        Bad arguments, at construction; a ``module`` the LightningModule lacks, or a trainer
        with more than one optimizer, at fit start.
    """

    def __init__(self, example_inputs: Optional[Sequence[Any]] = None, *,
                 forward_kwargs: Optional[Mapping[str, Any]] = None,
                 module: Optional[str] = None, balance: Optional[str] = "init",
                 beta: Optional[float] = 2.0, rebalance: Optional[str] = "relative_gradients",
                 every: int = 10, sweeps: int = 10, monitor: bool = True,
                 threshold: float = 0.05, log: bool = True) -> None:
        if example_inputs is not None and not isinstance(example_inputs, (tuple, list)):
            raise TypeError("BalanceCallback: example_inputs must be a tuple or list of the "
                            "model's inputs (graph, features), got "
                            f"{type(example_inputs).__name__}")
        self.forward_kwargs = keyword_inputs(forward_kwargs)
        if module is not None and not isinstance(module, str):
            raise TypeError(f"BalanceCallback: module must be a submodule's name, got "
                            f"{type(module).__name__}")
        if balance is not None:
            check_balance_arguments(balance, beta, 1e-6, 1000)
        if rebalance is not None:
            check_rebalance_arguments(rebalance, every, sweeps)
        check_threshold(threshold)
        self.example_inputs, self.module, self.balance, self.beta = \
            example_inputs, module, balance, beta
        self.criterion, self.every, self.sweeps = rebalance, every, sweeps
        self.watch, self.threshold, self.log = monitor, threshold, log
        self.report: Optional[SymmetryReport] = None
        self.summary = None
        self.rebalancer: Optional[Rebalancer] = None
        self.monitor: Optional[ConservationMonitor] = None
        self._loaded: Dict[str, Any] = {}
        self._writer: Optional[LoggersWriter] = None

    @property
    def state_key(self) -> str:
        """The key of this callback's state in checkpoints: callbacks for other submodules or
        settings can sit side by side."""
        return self._generate_state_key(module=self.module, balance=self.balance,
                                        rebalance=self.criterion, monitor=self.watch)

    def _model(self, pl_module: "pl.LightningModule") -> nn.Module:
        if self.module is None:
            return pl_module
        try:
            return pl_module.get_submodule(self.module)
        except AttributeError:
            raise ValueError(f"BalanceCallback: module={self.module!r}, but "
                             f"{type(pl_module).__name__} has no such submodule") from None

    def on_fit_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        model = self._model(pl_module)
        inputs = () if self.example_inputs is None else tuple(
            _to_device(x, pl_module.device) for x in self.example_inputs)
        keywords = {k: _to_device(x, pl_module.device) for k, x in self.forward_kwargs.items()}
        self.report = analyze(model, *inputs, forward_kwargs=keywords)
        # Once per callback: a second fit continues from the trained weights.
        if self.balance is not None and trainer.ckpt_path is None and self.summary is None:
            self.summary = balance_(model, self.report, self.balance, beta=self.beta)

    def on_train_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if len(trainer.optimizers) != 1:
            raise ValueError(f"BalanceCallback needs exactly one optimizer (it carries its "
                             f"state along the rescaling); the trainer has "
                             f"{len(trainer.optimizers)}")
        model, optimizer = self._model(pl_module), trainer.optimizers[0]
        writer = self._writer = LoggersWriter(trainer) if self.log and trainer.loggers else None
        if self.criterion is not None:
            self.rebalancer = Rebalancer(model, self.report, criterion=self.criterion,
                                         every=self.every, sweeps=self.sweeps,
                                         optimizer=optimizer, writer=writer,
                                         tag="dglbal/rebalance")
        if self.watch:
            self.monitor = ConservationMonitor(model, self.report, self.threshold, writer=writer,
                                               tag="dglbal/conservation")
        for key, part in (("rebalancer", self.rebalancer), ("monitor", self.monitor)):
            if part is not None and self._loaded.get(key) is not None:
                part.load_state_dict(self._loaded[key])
        self._loaded = {}  # a checkpoint's state is for the fit that resumes from it

    def on_before_optimizer_step(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule",
                                 optimizer: torch.optim.Optimizer) -> None:
        if not any(p.grad is not None for group in optimizer.param_groups
                   for p in group["params"]):
            return  # no backward this step: the optimizer does not move either
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None and not gradients_finite(optimizer):
            return  # the scaler skips this step
        if self.monitor is not None:
            self.monitor.record()
        if self.rebalancer is not None:
            self.rebalancer.step()
        if self._writer is not None:
            self._writer.flush()

    def state_dict(self) -> Dict[str, Any]:
        """The rebalancer's and the monitor's states, for Lightning's checkpoints."""
        return {key: part.state_dict() if part is not None else self._loaded.get(key)
                for key, part in (("rebalancer", self.rebalancer), ("monitor", self.monitor))}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Keep a checkpoint's states; they are restored at ``on_train_start``."""
        self._loaded = dict(state_dict)
