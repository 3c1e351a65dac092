"""Data-parallel plumbing on torch.distributed: the process group, one balanced start for every
replica, and checks that the replicas stay identical.

Balancing needs no data, so every rank builds and balances its model with the same seed; rank 0's
weights are then broadcast so that the replicas start bit-identical even where balancing would
round differently on another machine. ``DistributedDataParallel`` all-reduces the gradients
during ``backward()``: anything that runs after it and before ``optimizer.step()`` (a
:class:`~dglbal.ConservationMonitor`, a rebalancing step) sees the same gradients and the same
parameters on every rank, so it does the same thing everywhere and the replicas stay equal.
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional

import torch
import torch.distributed as dist
from torch import nn

from .configs import env_int

__all__ = ["world_size", "rank", "default_backend", "init_from_env", "broadcast_module_",
           "replica_divergence", "all_reduce_sum", "broadcast_int", "data_parallel", "unwrap"]


def world_size() -> int:
    """Processes in the default group (1 without torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 without torch.distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def default_backend(device: torch.device) -> str:
    """NCCL for CUDA devices, gloo on the CPU."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: torch.device, backend: Optional[str] = None) -> bool:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``); returns whether there is more than one process.

    Nothing happens with ``WORLD_SIZE`` unset or 1, or when the group already exists.

    Parameters
    ----------
    device : torch.device
        This process's device: it chooses the default backend.
    backend : str, optional
        The process group backend; :func:`~dglbal.distributed.ddp.default_backend` (gloo on CPU,
        NCCL on CUDA) by default.

    Returns
    -------
    bool
        Whether there is more than one process.

    Raises
    ------
    ValueError
        ``WORLD_SIZE`` above 1 without ``RANK``, ``MASTER_ADDR`` or ``MASTER_PORT``, a
        ``RANK`` not below ``WORLD_SIZE``, or a variable that is not an integer.

    Examples
    --------
    >>> import os, torch
    >>> "WORLD_SIZE" in os.environ  # a process not started by torchrun
    False
    >>> init_from_env(torch.device("cpu"))
    False
    """
    if dist.is_initialized():
        return dist.get_world_size() > 1
    size = env_int("WORLD_SIZE", 1)
    if size <= 1:
        return False
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={size} but {', '.join(missing)} not set: start the "
                         "trainers with torchrun or DGL's tools/launch.py")
    if not env_int("RANK", 0) < size:
        raise ValueError(f"RANK={os.environ['RANK']} is not below WORLD_SIZE={size}")
    env_int("MASTER_PORT", 0)
    dist.init_process_group(backend or default_backend(device), init_method="env://")
    return True


def _tensors(module: nn.Module) -> Iterable[torch.Tensor]:
    yield from module.parameters()
    yield from module.buffers()


@torch.no_grad()
def broadcast_module_(module: nn.Module, src: int = 0) -> nn.Module:
    """Copy rank ``src``'s parameters and buffers into every rank's ``module`` (in place).

    Parameters
    ----------
    module : nn.Module
        The replica of this rank.
    src : int
        The rank whose values every rank takes.

    Returns
    -------
    nn.Module
        ``module``.

    Examples
    --------
    With one process (no process group) nothing changes:

    >>> from dglbal.nn import GAT
    >>> model = broadcast_module_(GAT(8, 16, 3, num_layers=3))
    """
    if world_size() > 1:
        for tensor in _tensors(module):
            dist.broadcast(tensor.data, src)
    return module


@torch.no_grad()
def replica_divergence(module: nn.Module) -> float:
    """The largest absolute difference between any rank's parameters and rank 0's.

    Parameters
    ----------
    module : nn.Module
        The replica of this rank (or its DDP wrapper).

    Returns
    -------
    float
        0.0 when the replicas are identical, and always with one process.

    Examples
    --------
    >>> from dglbal.nn import GAT
    >>> replica_divergence(GAT(8, 16, 3, num_layers=3))
    0.0
    """
    if world_size() == 1:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, 0)
    gap = (flat - reference).abs().max().reshape(1)
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return float(gap)


def all_reduce_sum(values: List[float], device: torch.device) -> List[float]:
    """Sum a few numbers over the ranks (float64); unchanged with one process."""
    if world_size() == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_int(value: int, device: torch.device, src: int = 0) -> int:
    """Rank ``src``'s ``value`` on every rank (``value`` itself with one process)."""
    if world_size() == 1:
        return int(value)
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(tensor, src)
    return int(tensor.item())


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """Broadcast rank 0's weights and wrap ``model`` in DistributedDataParallel.

    Parameters
    ----------
    model : nn.Module
        The model, built and initialized (balanced) the same way on every rank.
    device : torch.device
        This rank's device (a CUDA device is DDP's ``device_ids``).

    Returns
    -------
    nn.Module
        The module to train: the DDP wrapper, or ``model`` itself with one process;
        :func:`unwrap` gives the model back.

    Examples
    --------
    >>> import torch
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 16, 3, num_layers=3)
    >>> unwrap(data_parallel(model, torch.device("cpu"))) is model
    True
    """
    if world_size() == 1:
        return model
    broadcast_module_(model)
    device = torch.device(device)
    ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the module itself).

    Parameters
    ----------
    module : nn.Module
        A model or its DDP wrapper.

    Returns
    -------
    nn.Module
        The model.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> unwrap(model) is model
    True
    """
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
