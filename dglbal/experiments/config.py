"""Checks run before any training: an experiment's settings, its device and its output
directory. Each failure is a ``ValueError`` naming the setting (and its command-line option)."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import List

import torch

from .data import DATASETS
from .hooks import REBALANCE
from .metrics import METRICS
from .nn.models import MODEL_SCHEMES

# Every scheme dglbal.train.build_model knows: the builders' own, and two it applies itself
# (gnn_he needs the graph; ll_ortho is looks-linear with Xavier-normal attention).
TRAIN_SCHEMES = MODEL_SCHEMES + ("gnn_he", "ll_ortho")

# TrainConfig integer fields that must be >= 1, with their command-line options.
_POSITIVE = {"layers": "--layers", "hidden": "--hidden", "heads": "--heads",
             "epochs": "--epochs", "batch_size": "--batch-size", "fanout": "--fanout"}


def available_devices() -> List[str]:
    """``cpu`` and every CUDA device torch can see (``cuda:0``, ...)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i}" for i in range(count)]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; ``gpu`` means ``cuda``. A device this
    machine does not have is a ``ValueError`` listing the ones it has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spelled = "cuda" + name[3:] if name.lower().startswith("gpu") else name
    available = ", ".join(available_devices())
    try:
        device = torch.device(spelled)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {name!r} is not a device name; available: {available} "
                         "(or auto)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count > (device.index or 0):
            return device
        raise ValueError(f"--device {name!r}: no such CUDA device here "
                         f"({'no GPU is visible to torch' if count == 0 else f'{count} GPUs'}); "
                         f"available: {available}")
    raise ValueError(f"--device {name!r}: dglbal runs on CPU or CUDA; available: {available}")


def validate_config(config) -> None:
    """Refuse settings that cannot give a meaningful run, naming the setting and option."""
    for name, option in _POSITIVE.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{option} must be a positive integer, got {value!r}")
    if config.dataset.lower() not in DATASETS:
        raise ValueError(f"--dataset must be one of {', '.join(DATASETS)}, got {config.dataset!r}")
    if not config.seeds:
        raise ValueError("--seeds must be at least 1 (no seed, no run)")
    if not config.schemes:
        raise ValueError("--init needs at least one scheme")
    unknown = [s for s in config.schemes if s not in TRAIN_SCHEMES]
    if unknown:
        raise ValueError(f"--init: unknown scheme(s) {unknown}; choose from "
                         f"{', '.join(TRAIN_SCHEMES)}")
    if config.lr is not None and not (math.isfinite(config.lr) and config.lr > 0):
        raise ValueError(f"--lr must be a positive finite number, got {config.lr!r}")
    if config.loss_threshold is not None and (not math.isfinite(config.loss_threshold)
                                              or config.loss_threshold < 0):
        raise ValueError(f"--loss-threshold must be a finite number >= 0, "
                         f"got {config.loss_threshold!r}")
    from .protocol import get_protocol

    get_protocol(config.protocol)
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"--dropout must lie in [0, 1), got {config.dropout!r}")
    if not (math.isfinite(config.weight_decay) and config.weight_decay >= 0):
        raise ValueError(f"--weight-decay must be a finite number >= 0, got {config.weight_decay!r}")
    if not (math.isfinite(config.logit_spread) and config.logit_spread > 0):
        raise ValueError(f"--logit-spread must be a finite number > 0, got {config.logit_spread!r}")
    if not 0.0 <= config.residual_alpha <= 1.0:
        raise ValueError(f"--residual-alpha must lie in [0, 1], got {config.residual_alpha!r}")
    if isinstance(config.split, bool) or not isinstance(config.split, int) or config.split < 0:
        raise ValueError(f"--split must be an integer >= 0, got {config.split!r}")
    _validate_rebalancing(config)
    resolve_device(config.device)


def _validate_rebalancing(config) -> None:
    """Dynamic rescaling, gradient clipping and the metric (dglbal.Rebalancer's options)."""
    if config.rebalance not in REBALANCE:
        raise ValueError(f"--rebalance must be one of {', '.join(REBALANCE)}, "
                         f"got {config.rebalance!r}")
    for name in ("rebalance_every", "rebalance_sweeps"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, "
                             f"got {value!r}")
    if config.grad_clip is not None and not (math.isfinite(config.grad_clip)
                                             and config.grad_clip > 0):
        raise ValueError(f"--grad-clip must be a positive finite number, got {config.grad_clip!r}")
    if config.metric not in METRICS:
        raise ValueError(f"--metric must be one of {', '.join(METRICS)}, got {config.metric!r}")


def prepare_output_dir(out: Path) -> Path:
    """Create ``out`` and prove it writable before any work is done (not after hours)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ValueError(f"--out {out}: cannot write there ({error.strerror or error})") from None
    return out
