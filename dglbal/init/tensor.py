"""Tensor-level initializations, in the style of ``torch.nn.init``: each fills one weight in
place and returns it."""
from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import nn

POSITIONS = ("first", "hidden", "last")

__all__ = ["POSITIONS", "orthogonal_", "looks_linear_orthogonal_", "looks_linear_blocks_",
           "he_normal_", "he_normal_blocks_"]

# The dtypes torch's QR runs in (on CPU and CUDA); half-precision weights are drawn in float32
_QR_DTYPES = (torch.float32, torch.float64)


def _check_weight(weight: torch.Tensor, scheme: str) -> None:
    """An (out, in) floating-point tensor, or a ``ValueError`` naming ``scheme``."""
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{scheme} needs a tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"{scheme} needs a 2-D (out, in) weight, got shape "
                         f"{tuple(weight.shape)}")
    if not weight.is_floating_point():
        raise ValueError(f"{scheme} needs a floating-point weight, got {weight.dtype}")


def orthogonal_(weight: torch.Tensor) -> torch.Tensor:
    """``nn.init.orthogonal_`` for a weight of any floating dtype, filled in place.

    torch's QR has no float16 / bfloat16 kernel, so the orthogonal matrix of a half-precision
    weight is drawn in float32 and rounded into the weight's dtype; float32 and float64 weights
    get torch's draw as it is (the same random numbers).

    Parameters
    ----------
    weight : torch.Tensor
        A floating-point tensor of at least 2 dimensions (flattened to (out, rest) as torch
        does); it may be a view, such as a transposed weight.

    Returns
    -------
    torch.Tensor
        ``weight``.

    Raises
    ------
    TypeError
        If ``weight`` is not a tensor.
    ValueError
        If it is not floating point or has fewer than 2 dimensions.

    Examples
    --------
    >>> w = orthogonal_(torch.empty(3, 5, dtype=torch.bfloat16))
    >>> torch.allclose((w.float() @ w.float().T), torch.eye(3), atol=0.02)
    True
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"orthogonal_ needs a tensor, got {type(weight).__name__}")
    if weight.dim() < 2 or not weight.is_floating_point():
        raise ValueError(f"orthogonal_ needs a floating-point weight of at least 2 dimensions, "
                         f"got {weight.dtype} of shape {tuple(weight.shape)}")
    drawn = torch.empty(weight.shape, dtype=_qr_dtype(weight.dtype), device=weight.device)
    nn.init.orthogonal_(drawn)
    with torch.no_grad():
        weight.copy_(drawn)
    return weight


def _qr_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to draw an orthogonal matrix in for a weight of ``dtype``."""
    return dtype if dtype in _QR_DTYPES else torch.float32


def looks_linear_orthogonal_(weight: torch.Tensor, position: str = "hidden") -> torch.Tensor:
    """Fill an (out, in) weight with the looks-linear orthogonal block structure.

    With ``U`` a random matrix with orthonormal rows or columns (``orthogonal_`` above, drawn in
    float32 for a float16 / bfloat16 weight):

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
    looks_linear_blocks_([weight], position)
    return weight


def looks_linear_blocks_(blocks: Sequence[torch.Tensor], position: str = "hidden"
                         ) -> List[torch.Tensor]:
    """Fill the column blocks ``[W_1 | ... | W_k]`` of one linear map with the looks-linear
    orthogonal form of :func:`looks_linear_orthogonal_`.

    A layer that sums transforms of several inputs, ``W_1 x_1 + ... + W_k x_k`` (GraphSAGE:
    the node's own features and its neighbours' mean), is one linear map of the concatenated
    input. Each block gets the block form of ``position`` from its own ``U_i``, so each input's
    ``[relu(z), relu(-z)]`` halves are paired within that input, and ``[U_1 | ... | U_k]`` is
    orthogonal as one matrix: the map the network computes at initialization is orthogonal
    on the concatenation. One block is :func:`looks_linear_orthogonal_` (the same draw).

    Parameters
    ----------
    blocks : sequence of torch.Tensor
        Floating-point (out, in_i) tensors with one ``out``, filled in place.
    position : str
        ``"first"``, ``"hidden"`` or ``"last"``.

    Returns
    -------
    list of torch.Tensor
        ``blocks``.

    Raises
    ------
    ValueError
        An unknown ``position``, no block, blocks that are not 2-D floating-point tensors of
        one output width, or an odd dimension that the position halves.

    Examples
    --------
    >>> w_self, w_neigh = torch.empty(4, 6), torch.empty(4, 6)
    >>> _ = looks_linear_blocks_([w_self, w_neigh], "hidden")
    >>> u = torch.cat([w_self[:2, :3], w_neigh[:2, :3]], dim=1)
    >>> torch.allclose(u @ u.T, torch.eye(2), atol=1e-6)
    True
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    blocks = list(blocks)
    if not blocks:
        raise ValueError("looks-linear needs at least one weight block")
    for block in blocks:
        _check_weight(block, "looks-linear")
    rows = blocks[0].shape[0]
    if any(block.shape[0] != rows for block in blocks):
        raise ValueError(f"looks-linear blocks of one map need one output width, got shapes "
                         f"{[tuple(b.shape) for b in blocks]}")
    halve_rows, halve_cols = position in ("first", "hidden"), position in ("hidden", "last")
    sizes = [(halve_rows, rows, "output")] + [(halve_cols, b.shape[1], "input") for b in blocks]
    for halve, size, what in sizes:
        if halve and size % 2:
            shapes = ", ".join(str(tuple(b.shape)) for b in blocks)
            raise ValueError(
                f"looks-linear ({position} layer) needs an even number of {what} features; "
                f"got a weight of shape {shapes}. Use even hidden widths "
                "(num_heads * hidden_feats).")
    widths = [b.shape[1] // 2 if halve_cols else b.shape[1] for b in blocks]
    reference = blocks[0]
    u = torch.empty(rows // 2 if halve_rows else rows, sum(widths),
                    dtype=_qr_dtype(reference.dtype), device=reference.device)
    nn.init.orthogonal_(u)
    with torch.no_grad():
        for block, part in zip(blocks, torch.split(u, widths, dim=1)):
            block.copy_(_block_form(part, position))
    return blocks


def _block_form(u: torch.Tensor, position: str) -> torch.Tensor:
    if position == "first":
        return torch.cat([u, -u], dim=0)
    if position == "last":
        return torch.cat([u, -u], dim=1)
    return torch.cat([torch.cat([u, -u], dim=1), torch.cat([-u, u], dim=1)], dim=0)


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
    he_normal_blocks_([weight], spectral_radius)
    return weight


def he_normal_blocks_(blocks: Sequence[torch.Tensor], spectral_radius: float = 1.0
                      ) -> List[torch.Tensor]:
    """He-normal column blocks ``[W_1 | ... | W_k]`` of one linear map: every entry
    N(0, 2 / (fan_in * rho^2)) with ``fan_in`` the total input width ``in_1 + ... + in_k``.

    For a layer that sums transforms of several inputs (GraphSAGE: ``W_self h + W_neigh
    mean(h)``), this is He initialization of the one map of the concatenated input; drawing
    each block with its own fan-in would double the second moment per layer. One block is
    :func:`he_normal_` (the same draw).

    Parameters
    ----------
    blocks : sequence of torch.Tensor
        Floating-point (out, in_i) tensors, filled in place, with at least one input feature
        in all.
    spectral_radius : float
        ``rho``, the spectral radius of the aggregation operator the layer applies.

    Returns
    -------
    list of torch.Tensor
        ``blocks``.

    Raises
    ------
    ValueError
        A spectral radius that is not positive and finite, no block, a block that is not a
        2-D floating-point tensor, or no input feature.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> a, b = he_normal_blocks_([torch.empty(2000, 30), torch.empty(2000, 20)])
    >>> round(float(torch.cat([a, b], 1).var()) * 50, 1)  # 2 / (30 + 20)
    2.0
    """
    if not 0 < spectral_radius < math.inf:
        raise ValueError(f"He scaling needs a positive finite spectral radius, got "
                         f"{spectral_radius}")
    blocks = list(blocks)
    if not blocks:
        raise ValueError("He initialization needs at least one weight block")
    for block in blocks:
        _check_weight(block, "He initialization")
    fan_in = sum(block.shape[1] for block in blocks)
    if fan_in == 0:
        shapes = ", ".join(str(tuple(b.shape)) for b in blocks)
        raise ValueError(f"He initialization needs at least one input feature, got a weight "
                         f"of shape {shapes}")
    std = math.sqrt(2.0 / fan_in) / spectral_radius
    with torch.no_grad():
        for block in blocks:
            block.normal_(0.0, std)
    return blocks
