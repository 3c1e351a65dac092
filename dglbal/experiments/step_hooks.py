"""What runs between ``loss.backward()`` and ``optimizer.step()`` in dglbal's training loop:
the conservation monitor, dynamic rescaling and gradient clipping, in that order (as the
authors of "Dynamic Rescaling for Training GNNs" clip after rescaling)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from dglbal.balance.conservation import ConservationMonitor
from dglbal.balance.rebalance import Rebalancer
from dglbal.symmetry import SymmetryReport

__all__ = ["REBALANCE", "BackwardHook"]

# The CLI's names for the Rebalancer's criteria.
REBALANCE = {"none": None, "norms": "norms", "relgrad": "relative_gradients"}


class BackwardHook:
    """Monitor, rebalance and clip; any part can be off. Call after every backward pass.

    The monitor and the rebalancer act once per epoch (``--rebalance-every K`` and the
    monitor's records count epochs): on every call in full-batch training, where a step is an
    epoch, and on the first call after :meth:`start_epoch` once a sampled loop has called it
    (the first minibatch of each epoch). Clipping acts on every call."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                 monitor: Optional[ConservationMonitor] = None, rebalance: str = "none",
                 every: int = 10, sweeps: int = 10, grad_clip: Optional[float] = None,
                 report: Optional[SymmetryReport] = None) -> None:
        if rebalance not in REBALANCE:
            raise ValueError(f"rebalance must be one of {', '.join(REBALANCE)}, got {rebalance!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be positive, got {grad_clip}")
        self.monitor = monitor
        self.rebalancer = None if REBALANCE[rebalance] is None else Rebalancer(
            model, report, criterion=REBALANCE[rebalance], every=every, sweeps=sweeps,
            optimizer=optimizer)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.grad_clip = grad_clip
        self._per_epoch = False  # until a sampled loop calls start_epoch
        self._epoch_started = True

    def start_epoch(self) -> None:
        """Called by minibatch loops before each epoch: from now on the monitor and the
        rebalancer act on the first call of each epoch only."""
        self._per_epoch, self._epoch_started = True, True

    def __call__(self) -> None:
        act = not self._per_epoch or self._epoch_started
        self._epoch_started = False
        if act and self.monitor is not None:
            self.monitor.record()
        if act and self.rebalancer is not None:
            self.rebalancer.step()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.grad_clip)

    @property
    def history(self) -> list:
        """The rebalancer's record of every rebalance (empty without rebalancing)."""
        return self.rebalancer.history if self.rebalancer is not None else []
