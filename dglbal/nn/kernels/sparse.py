"""Sparse input features for the first layer of a GAT.

Bag-of-words features are mostly zeros (Cora's 1433-wide rows are 1.3% non-zero), and the
first layer's dense (N, 1433) x (1433, H * D) product and its weight gradient then cost more
than all the attention of a 10-layer GAT. dglbal's GAT layers accept a sparse CSR (or COO)
feature matrix and multiply it as such; :func:`sparse_features` makes one when it pays.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["DEFAULT_MAX_DENSITY", "is_sparse", "sparse_features", "feature_dropout", "dense",
           "input_features"]

DEFAULT_MAX_DENSITY = 0.1
"""Convert only when at most this share of the entries is non-zero."""


def is_sparse(x: object) -> bool:
    return isinstance(x, torch.Tensor) and x.layout != torch.strided


def sparse_features(feat: torch.Tensor, max_density: float = DEFAULT_MAX_DENSITY
                    ) -> torch.Tensor:
    """``feat`` as a sparse CSR matrix if it is 2-D and at most ``max_density`` non-zero,
    else ``feat`` unchanged (on the same device, same dtype).

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(4, 100)
    >>> x[0, 3] = 1.0
    >>> sparse_features(x).layout
    torch.sparse_csr
    >>> sparse_features(torch.ones(4, 100)).layout
    torch.strided
    """
    if is_sparse(feat) or feat.dim() != 2 or not feat.is_floating_point() or feat.numel() == 0:
        return feat
    if int(torch.count_nonzero(feat)) > max_density * feat.numel():
        return feat
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the ops used here work
        warnings.simplefilter("ignore", UserWarning)
        return feat.to_sparse_csr()


def feature_dropout(dropout: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    """``dropout(x)``; for a sparse ``x`` the non-zero values are dropped (zeros stay zero,
    which is what dense dropout does to them too)."""
    if not is_sparse(x):
        return dropout(x)
    if dropout.p == 0 or not dropout.training:
        return x
    if x.layout == torch.sparse_csr:
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), dropout(x.values()),
                                       x.shape)
    x = x.coalesce()
    return torch.sparse_coo_tensor(x.indices(), dropout(x.values()), x.shape)


def dense(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a strided tensor (sparse features are densified where an op needs it)."""
    return x.to_dense() if is_sparse(x) else x


def input_features(model: nn.Module, feat: torch.Tensor) -> torch.Tensor:
    """The features to feed ``model``: sparse (:func:`sparse_features`) when its first layer
    takes sparse input (dglbal's GAT layers do), else ``feat`` unchanged."""
    layers = getattr(model, "layers", None)
    first = layers[0] if isinstance(layers, nn.ModuleList) and len(layers) else None
    return sparse_features(feat) if getattr(first, "accepts_sparse_features", False) else feat
