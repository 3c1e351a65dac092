"""The conservation law of gradient flow, checked after a backward pass.

Theorem 2.2 of "Are GATs Out of Balance?", for every rescale group g:
``delta_g = sum_k e_gk theta_k dL/dtheta_k = 0`` for any loss (an identity of the gradient,
so it holds under SGD and Adam alike), hence ``c_g = sum_k e_gk theta_k ** 2`` is constant
under gradient flow (Eq. 5). These functions compute delta_g once, on the CPU in float64;
the per-step monitor is :class:`~dglbal.balance.ConservationMonitor`.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport

from .index import ExponentIndex
from .sums import GroupSums

__all__ = ["NEGLIGIBLE", "residual_terms", "conservation_residuals", "relative_residuals"]


NEGLIGIBLE = 1e-3
"""Groups whose terms sum to less than this fraction of the largest group's are measured
against that fraction: a neuron masked by dropout or nearly dead has gradients that are 0 up
to the rounding of the backward pass (~1e-16 of the largest terms), and its own sum is that
noise (relative residuals of 0.04-0.26 were recorded for such groups). At rtol = 1e-9 the
floor is 1e-12 of the largest group: 1e4 times rounding."""


def residual_terms(model: nn.Module, report: SymmetryReport) -> Tuple[np.ndarray, np.ndarray]:
    """Per group: delta_g = sum_k e_gk theta_k grad_k and its scale sum_k |e_gk theta_k grad_k|
    (float64 numpy arrays), after ``loss.backward()``; with no gradient at all, a
    ``RuntimeError``."""
    index = ExponentIndex(model, report)
    if index.params and all(p.grad is None for p in index.params):
        raise RuntimeError("no parameter has a gradient: the residuals are undefined, not 0; "
                           "call this after loss.backward()")
    products = torch.from_numpy(index.numpy_parameters() * index.numpy_gradients())
    sums = GroupSums(index, torch.device("cpu"), torch.float64)
    return sums.reduce(products).numpy(), sums.reduce(products.abs(), "abs").numpy()


def conservation_residuals(model: nn.Module, report: SymmetryReport) -> torch.Tensor:
    """delta_g = sum_k e_gk theta_k grad_k for every group (Theorem 2.2: 0).

    Parameters
    ----------
    model : nn.Module
        The model, after ``loss.backward()`` (a parameter without gradient counts as 0; with
        none at all, a ``RuntimeError``).
    report : SymmetryReport
        :func:`dglbal.analyze`'s report of it (a report of another model is refused).

    Returns
    -------
    torch.Tensor
        delta_g, float64 on the CPU.

    Examples
    --------
    >>> from dglbal import analyze
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3).double()
    >>> report = analyze(model)
    >>> g, x = model.probe_inputs()
    >>> model(g, x.double()).square().sum().backward()
    >>> float(conservation_residuals(model, report).abs().max()) < 1e-8
    True
    """
    return torch.from_numpy(residual_terms(model, report)[0])


def relative_residuals(model: nn.Module, report: SymmetryReport) -> torch.Tensor:
    """|delta_g| / max(sum_k |e_gk theta_k grad_k|, NEGLIGIBLE * the largest group's sum): 0 up
    to rounding for a true symmetry (see ``NEGLIGIBLE`` in this module).

    Parameters
    ----------
    model, report
        As for :func:`conservation_residuals`.

    Returns
    -------
    torch.Tensor
        The relative residual of every group (0 where all its terms are 0), float64.

    Examples
    --------
    >>> from dglbal import analyze
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3).double()
    >>> report = analyze(model)
    >>> g, x = model.probe_inputs()
    >>> model(g, x.double()).square().sum().backward()
    >>> float(relative_residuals(model, report).max()) < 1e-9
    True
    """
    total, scale = residual_terms(model, report)
    floor = NEGLIGIBLE * scale.max(initial=0.0)
    return torch.from_numpy(np.abs(total) / np.maximum(np.maximum(scale, floor), 1e-300))
