"""Exponent fields: the exponent of every entry of a tensor, as an array of symbols (numpy only).

A field has the tensor's number of dimensions; along each axis its size is either the
tensor's or 1, where the exponent does not vary (node and edge axes: data has exponent 0
and every node shares its features' exponents). ``None`` stands for a field of zeros.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["Field", "collapse", "is_zero", "zeros", "as_array"]

Field = Optional[np.ndarray]


def collapse(field: np.ndarray) -> np.ndarray:
    """Shrink every axis along which the field does not vary to size 1."""
    for axis in range(field.ndim):
        if field.shape[axis] > 1:
            first = field.take([0], axis=axis)
            if np.array_equal(np.broadcast_to(first, field.shape), field):
                field = first
    return np.ascontiguousarray(field)


def is_zero(field: Field) -> bool:
    return field is None or not np.any(field)


def zeros(ndim: int) -> np.ndarray:
    return np.zeros((1,) * ndim, dtype=np.int64)


def as_array(field: Field, ndim: int) -> np.ndarray:
    """The field as an array (zeros for None), left-padded to ``ndim`` dimensions."""
    array = zeros(ndim) if field is None else field
    return array.reshape((1,) * (ndim - array.ndim) + array.shape)
