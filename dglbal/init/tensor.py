"""Tensor-level initializations, in the style of ``torch.nn.init``: each fills one weight in
place and returns it."""
from __future__ import annotations

import math

import torch
from torch import nn

POSITIONS = ("first", "hidden", "last")

__all__ = ["POSITIONS", "looks_linear_orthogonal_", "he_normal_"]


def _check_weight(weight: torch.Tensor, scheme: str) -> None:
    """An (out, in) floating-point tensor, or a ``ValueError`` naming ``scheme``."""
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{scheme} needs a tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"{scheme} needs a 2-D (out, in) weight, got shape "
                         f"{tuple(weight.shape)}")
    if not weight.is_floating_point():
        raise ValueError(f"{scheme} needs a floating-point weight, got {weight.dtype}")


def looks_linear_orthogonal_(weight: torch.Tensor, position: str = "hidden") -> torch.Tensor:
    """Fill an (out, in) weight with the looks-linear orthogonal block structure.

    With ``U`` a random matrix with orthonormal rows or columns (``nn.init.orthogonal_``):

    - ``first``:  ``W = [U; -U]`` (rows stacked), ``U`` of shape (out/2, in);
    - ``hidden``: ``W = [[U, -U], [-U, U]]``, ``U`` of shape (out/2, in/2);
    - ``last``:   ``W = [U, -U]`` (columns stacked), ``U`` of shape (out, in/2).

    A ReLU network initialized this way computes a linear function of its input at
    initialization.

    Parameters
    ----------
    weight : torch.Tensor
        A floating-point (out, in) tensor, filled in place.
    position : str
        ``"first"``, ``"hidden"`` or ``"last"``.

    Returns
    -------
    torch.Tensor
        ``weight``.

    Raises
    ------
    ValueError
        An unknown ``position``, a weight that is not a 2-D floating-point tensor, or an odd
        dimension that the position halves.

    Examples
    --------
    >>> w = torch.empty(8, 5)
    >>> _ = looks_linear_orthogonal_(w, "first")
    >>> torch.equal(w[:4], -w[4:])
    True
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    _check_weight(weight, "looks-linear")
    rows, cols = weight.shape
    halve_rows, halve_cols = position in ("first", "hidden"), position in ("hidden", "last")
    for halve, size, what in ((halve_rows, rows, "output"), (halve_cols, cols, "input")):
        if halve and size % 2:
            raise ValueError(
                f"looks-linear ({position} layer) needs an even number of {what} features; "
                f"got a weight of shape {tuple(weight.shape)}. Use even hidden widths "
                "(num_heads * hidden_feats)."
            )
    u = torch.empty(rows // 2 if halve_rows else rows, cols // 2 if halve_cols else cols,
                    dtype=weight.dtype, device=weight.device)
    nn.init.orthogonal_(u)
    if position == "first":
        block = torch.cat([u, -u], dim=0)
    elif position == "last":
        block = torch.cat([u, -u], dim=1)
    else:
        block = torch.cat([torch.cat([u, -u], dim=1), torch.cat([-u, u], dim=1)], dim=0)
    with torch.no_grad():
        weight.copy_(block)
    return weight


def he_normal_(weight: torch.Tensor, spectral_radius: float = 1.0) -> torch.Tensor:
    """W ~ N(0, 2 / (fan_in * rho^2)) for an (out, in) weight: GNN He initialization.

    Parameters
    ----------
    weight : torch.Tensor
        A floating-point (out, in) tensor with at least one input feature, filled in place.
    spectral_radius : float
        ``rho``, the spectral radius of the aggregation operator the layer applies.

    Returns
    -------
    torch.Tensor
        ``weight``.

    Raises
    ------
    ValueError
        A spectral radius that is not positive and finite, a weight that is not a 2-D
        floating-point tensor, or one without input features.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> w = he_normal_(torch.empty(2000, 50))
    >>> round(float(w.var()) * 50, 1)  # 2 / fan_in
    2.0
    """
    if not 0 < spectral_radius < math.inf:
        raise ValueError(f"He scaling needs a positive finite spectral radius, got "
                         f"{spectral_radius}")
    _check_weight(weight, "He initialization")
    if weight.shape[1] == 0:
        raise ValueError(f"He initialization needs at least one input feature, got a weight "
                         f"of shape {tuple(weight.shape)}")
    std = math.sqrt(2.0 / weight.shape[1]) / spectral_radius
    with torch.no_grad():
        return weight.normal_(0.0, std)
