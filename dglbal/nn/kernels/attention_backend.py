"""Which backend runs the attention kernels of :mod:`dglbal.nn.kernels.attention`, and the
compiled one.

``"eager"`` (default) runs torch ops; ``"compiled"`` runs plain gather formulations of the
kernels (below) through ``torch.compile``: inductor fuses gathers, LeakyReLU and reductions
into single loops (a C++ compiler on CPU, Triton on CUDA). On one thread whole kernels are
compiled, scatters included; with more threads compiled CPU scatters become per-element
atomic adds, so only the scatter-free edge-wise parts of GATv2's logits are compiled and the
eager kernels sum over edges. Compiling takes about 15 s per process: graphs with fewer than
:data:`COMPILE_MIN_EDGES` edges (the analyser's probes, tests) stay eager, and a failed
compilation falls back to eager with a warning. Select with :func:`set_backend` or the
environment variable ``DGLBAL_ATTENTION``.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["BACKENDS", "COMPILE_MIN_EDGES", "set_backend", "get_backend", "compiles",
           "whole_compiled", "kernel", "gather_sum", "gather_logits", "gather_edge_grads"]

BACKENDS = ("eager", "compiled")
COMPILE_MIN_EDGES = 4096
"""Smaller graphs always run eager: compiling for them would cost more than it saves."""


def _from_environment() -> str:
    """``DGLBAL_ATTENTION``, checked: a misspelt backend must not run eager unnoticed."""
    name = os.environ.get("DGLBAL_ATTENTION", "eager")
    if name not in BACKENDS:
        raise ValueError(f"the environment variable DGLBAL_ATTENTION={name!r} names no "
                         f"attention backend; choose from {BACKENDS} (or unset it)")
    return name


_backend = _from_environment()
_compiled: Dict[Callable, Callable] = {}


def set_backend(name: str) -> None:
    """Run the attention kernels ``"eager"`` (default) or ``"compiled"`` (torch.compile).

    Also ``dglbal train --attention compiled`` or ``DGLBAL_ATTENTION=compiled``. The compiled
    kernels need a C++ compiler on the CPU (Triton on CUDA), and fall back to eager when
    compilation fails.

    Parameters
    ----------
    name : {"eager", "compiled"}
        The backend.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        For another name.

    Examples
    --------
    >>> set_backend("eager")
    >>> get_backend()
    'eager'
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose from {BACKENDS}")
    _backend = name


def get_backend() -> str:
    """The current attention backend (see :func:`set_backend`).

    Returns
    -------
    str
        ``"eager"`` or ``"compiled"``.

    Examples
    --------
    >>> get_backend() in BACKENDS
    True
    """
    return _backend


def compiles(num_edges: int) -> bool:
    """The compiled backend is on and the graph is large enough to repay compiling."""
    return _backend == "compiled" and num_edges >= COMPILE_MIN_EDGES


def whole_compiled(num_edges: int) -> bool:
    """Compile a whole kernel, backward and scatters included: the compiled backend on one
    thread (with more, compiled CPU scatters become per-element atomic adds, several times
    slower; then only the scatter-free edge-wise parts are compiled)."""
    return compiles(num_edges) and torch.get_num_threads() == 1


def kernel(eager: Callable, plain: Callable, num_edges: int) -> Callable:
    """``eager``, or ``plain`` (the same computation in plain torch ops) through
    ``torch.compile`` when :func:`compiles`. A failed compilation warns and falls back to
    eager for good (no C++ compiler, no Triton, an unsupported platform)."""
    if not compiles(num_edges):
        return eager
    if plain not in _compiled:
        _compiled[plain] = torch.compile(plain, dynamic=True)
    compiled = _compiled[plain]

    def run(*args):
        global _backend
        try:
            return compiled(*args)
        except Exception as error:  # noqa: BLE001 (any compiler failure: run eager)
            warnings.warn(f"torch.compile of the attention kernels failed ({type(error).__name__}"
                          f": {error}); running them eager from now on", RuntimeWarning)
            _backend = "eager"
            return eager(*args)

    return run


def gather_sum(z_src: torch.Tensor, weights: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
               num_dst: int) -> torch.Tensor:
    """``attention_sum`` in plain ops, for torch.compile on one thread."""
    out = z_src.new_zeros(num_dst, *z_src.shape[1:])
    return out.index_add_(0, dst, z_src[src] * weights)


def gather_logits(z_src: torch.Tensor, z_dst: torch.Tensor, attn: torch.Tensor, src: torch.Tensor,
                  dst: torch.Tensor, pairs: object, negative_slope: float) -> torch.Tensor:
    """``gatv2_logits`` in plain ops, for torch.compile to fuse into one loop over edges
    (``pairs``, the edges side by side for the eager kernels, is not read)."""
    hidden = F.leaky_relu(z_src[src] + z_dst[dst], negative_slope)
    return (hidden * attn.reshape(1, *z_src.shape[1:])).sum(-1, keepdim=True)


def gather_edge_grads(z_src: torch.Tensor, z_dst: torch.Tensor, src: torch.Tensor,
                      dst: torch.Tensor, pairs: object, grad: torch.Tensor,
                      negative_slope: float, need_attn: bool
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The edge-wise part of ``gatv2_logits``' backward in plain ops, for torch.compile: per
    edge ``g * LeakyReLU'(z_u + z_v)`` and, with ``need_attn``, ``sum_e g_e LeakyReLU(z_u +
    z_v)`` (``pairs`` is not read). It scatters nothing: compiled CPU scatters become
    per-element atomic adds with two or more threads, several times slower."""
    hidden = z_src[src] + z_dst[dst]
    grad_hidden = torch.where(hidden > 0, grad, grad * negative_slope)
    grad_attn = (grad * F.leaky_relu(hidden, negative_slope)).sum(0) if need_attn else None
    return grad_hidden, grad_attn
