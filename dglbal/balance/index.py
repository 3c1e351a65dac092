"""The flat index of a model's parameters and of a report's exponents.

Balancing (:mod:`~dglbal.balance.balancing`), the conservation law and its monitor
(:mod:`.conservation`), dynamic rescaling (:mod:`.rebalance`) and :mod:`dglbal.testing` all read
a model through one :class:`ExponentIndex`: the report's parameters in its order, concatenated
into one flat vector (``offsets[i]:offsets[i + 1]`` is parameter i), and their exponents in the
report's compact form (weights in outer form: groups per channel). Sums over groups run on that
form (:attr:`ExponentIndex.sums`, :mod:`.sums`); the (entry, group, value) triplets over the
flat vector are expanded only on first use (``entry``, ``group``, ``value``). Building an index
checks that the report describes the model and finds the groups that touch a frozen parameter,
once; it refuses parameters that share memory, which could not be rescaled apart.
"""
from __future__ import annotations

import functools
from typing import Iterable, List, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport

from ._checks import (check_model_and_report, check_report_matches, check_unshared_memory,
    model_parameters)
from .sums import GroupSums

__all__ = ["ExponentIndex", "accumulation_dtype", "flat_gradients", "flat_parameters",
           "frozen_group_mask"]


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """The dtype of per-step sums over groups on ``device``.

    Parameters
    ----------
    device : torch.device
        Where the sums run.

    Returns
    -------
    torch.dtype
        float64, or float32 on MPS (which has no float64).
    """
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def flat_parameters(params: Iterable[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The tensors flattened and concatenated in ``dtype``, on their device (detached).

    Parameters
    ----------
    params : iterable of torch.Tensor
        The tensors, in order.
    dtype : torch.dtype
        The dtype of the result.

    Returns
    -------
    torch.Tensor
        One flat tensor (empty, on the CPU, for no tensors).
    """
    flat = [p.detach().reshape(-1).to(dtype) for p in params]
    return torch.cat(flat) if flat else torch.zeros(0, dtype=dtype)


def flat_gradients(params: Iterable[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The parameters' gradients like :func:`flat_parameters` (0 where there is none).

    Parameters
    ----------
    params, dtype
        As for :func:`flat_parameters`.

    Returns
    -------
    torch.Tensor
        The gradients, flat, in ``dtype``, detached.
    """
    return flat_parameters(_gradients_or_zeros(params), dtype)


def frozen_group_mask(params: Sequence[torch.Tensor], group_columns: Sequence[np.ndarray],
                      num_groups: int) -> np.ndarray:
    """Per group: does it touch a parameter with ``requires_grad=False``?

    Such a group's conservation law does not hold (the frozen parameter does not follow the
    gradient), and rescaling it would move a parameter the user fixed.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters.
    group_columns : sequence of np.ndarray
        Each parameter's groups (its triplets' group column, or the groups present).
    num_groups : int
        The number of groups.

    Returns
    -------
    np.ndarray
        A boolean mask over the groups.
    """
    frozen = np.zeros(num_groups, dtype=bool)
    for param, groups in zip(params, group_columns):
        if not param.requires_grad:
            frozen[groups] = True
    return frozen


def _gradients_or_zeros(params: Iterable[torch.Tensor]) -> List[torch.Tensor]:
    """Each parameter's gradient, dense (a sparse one, of ``nn.Embedding(sparse=True)``,
    densified on its device), or zeros where there is none."""
    return [torch.zeros_like(p) if p.grad is None
            else p.grad.to_dense() if p.grad.is_sparse else p.grad for p in params]


def _flat_numpy(tensors: Iterable[torch.Tensor]) -> np.ndarray:
    """The tensors as one flat float64 host array, each copied once into its place."""
    tensors = [t.detach().reshape(-1) for t in tensors]
    out = torch.empty(sum(t.numel() for t in tensors), dtype=torch.float64)
    start = 0
    for t in tensors:
        out[start:start + t.numel()].copy_(t)
        start += t.numel()
    return out.numpy()


def _concatenate(arrays: List[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


class ExponentIndex:
    """The report's parameters and exponent triplets over one flat parameter vector.

    Parameters
    ----------
    model : nn.Module
        The model (``torch.compile``, DataParallel and DDP wrappers are looked through).
    report : SymmetryReport
        :func:`dglbal.analyze`'s report of ``model`` (checked against it).

    Attributes
    ----------
    names, params, shapes, exponents : list
        Per parameter of the report, in its order: the name, the parameter, its shape in the
        report and its exponents (compact: a weight in outer form keeps one triplet per
        channel, see :mod:`dglbal.symmetry.core.groups`; :attr:`triplets` expands them).
    offsets : np.ndarray
        int64; parameter i is ``offsets[i]:offsets[i + 1]`` of the flat vector.
    num_groups : int
        The number of groups.
    requires_grad : list of bool
        Per parameter, its ``requires_grad`` when the index was made.
    devices : list of torch.device
        Per parameter, its device when the index was made.
    frozen : np.ndarray
        Per group: does it touch a parameter with ``requires_grad=False`` (when the index was
        made)? See ``frozen_group_mask`` and :meth:`is_current`.
    frozen_groups : list of str
        The names of those groups.
    device, dtype
        The model's device (of its first parameter; CPU without one) and the
        ``accumulation_dtype`` there.

    Raises
    ------
    TypeError, ValueError
        When the arguments are of the wrong type or on the meta device
        (``check_model_and_report``), the report was made for another model
        (``check_report_matches``), or a parameter of the report shares memory with another
        parameter (``check_unshared_memory``).

    Examples
    --------
    >>> from dglbal.nn import GCN
    >>> from dglbal.symmetry import analyze
    >>> model = GCN(4, 3, 2, num_layers=2)
    >>> index = ExponentIndex(model, analyze(model))
    >>> index.names, index.num_groups, index.offsets.tolist()
    (['layers.0.weight', 'layers.1.weight'], 3, [0, 12, 18])
    """

    def __init__(self, model: nn.Module, report: SymmetryReport) -> None:
        check_model_and_report(model, report)
        params = model_parameters(model)
        check_report_matches(params, report, model)
        check_unshared_memory(params, report.parameter_order)
        self.names = list(report.parameter_order)
        self.params = [params[n] for n in self.names]
        sizes = [p.numel() for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.num_groups = len(report.groups)
        self.shapes = [report.table.shapes[n] for n in self.names]
        self.exponents = [report.table.params[n] for n in self.names]
        self.requires_grad = [p.requires_grad for p in self.params]
        self.devices = [p.device for p in self.params]
        self.frozen = frozen_group_mask(self.params, [e.groups() for e in self.exponents],
                                        self.num_groups)
        self.frozen_groups = [report.groups[g].name for g in np.flatnonzero(self.frozen)]
        self.device = self.params[0].device if self.params else torch.device("cpu")
        self.dtype = accumulation_dtype(self.device)

    def is_current(self, model: nn.Module) -> bool:
        """Does the index still hold ``model``'s parameters, frozen and placed as they are now?

        False when a parameter was replaced by another tensor (``load_state_dict(sd,
        assign=True)``, re-registration), frozen / unfrozen or moved to another device
        (``model.cuda()`` keeps the parameter objects) since the index was made: then build a
        new index, whose sums are on the new device. Host work only (no device sync).

        Parameters
        ----------
        model : nn.Module
            The model the index was made of.

        Returns
        -------
        bool
            Whether the index is current.
        """
        params = model_parameters(model)
        return all(params.get(name) is p and p.requires_grad == flag and p.device == device
                   for name, p, flag, device in zip(self.names, self.params, self.requires_grad,
                                                    self.devices))

    def signature(self) -> dict:
        """What a saved state must match: parameter names and shapes, number of groups."""
        return {"parameters": [[name, list(shape)] for name, shape in zip(self.names, self.shapes)],
                "num_groups": self.num_groups}

    def check_signature(self, saved: dict, owner: str) -> None:
        """Refuse a state saved for another model (see :meth:`signature`).

        Raises
        ------
        ValueError
            Naming the first parameter or the group count that differs.
        """
        mine = self.signature()
        try:
            theirs = {"parameters": [[str(n), [int(d) for d in s]]
                                     for n, s in saved["parameters"]],
                      "num_groups": saved["num_groups"]}
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"{owner}.load_state_dict: malformed 'parameters' or "
                             "'num_groups' (not written by state_dict())") from None
        if theirs == mine:
            return
        for (name, shape), other in zip(mine["parameters"], theirs["parameters"]):
            if [name, shape] != other:
                raise ValueError(f"{owner}.load_state_dict: the state was saved for another "
                                 f"model (its parameter {other[0]!r} {tuple(other[1])} is "
                                 f"{name!r} {tuple(shape)} here)")
        raise ValueError(f"{owner}.load_state_dict: the state was saved for another model "
                         f"({len(theirs['parameters'])} parameters and {theirs['num_groups']} "
                         f"groups there, {len(mine['parameters'])} and {mine['num_groups']} "
                         "here)")

    @functools.cached_property
    def triplets(self) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per parameter, its exponent triplets (flat entry within the parameter, group,
        value), sorted by group then entry: expanded on first use (two per weight entry)."""
        return [e.triplets() for e in self.exponents]

    @functools.cached_property
    def sums(self) -> GroupSums:
        """Sums over the groups on the model's device, made on first use."""
        return GroupSums(self)

    def largest_exponent(self) -> float:
        """The largest |e| of any entry under any group (0 without groups)."""
        return max((float(np.abs(e.values()).max(initial=0.0)) for e in self.exponents),
                   default=0.0)

    @functools.cached_property
    def _columns(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(entry, group, value) over all parameters, concatenated on first use."""
        return (_concatenate([flat + offset for (flat, _, _), offset
                              in zip(self.triplets, self.offsets)], np.int64),
                _concatenate([group for _, group, _ in self.triplets], np.int64),
                _concatenate([value for _, _, value in self.triplets], np.float64))

    entry = property(lambda self: self._columns[0], doc="Flat entry of every triplet.")
    group = property(lambda self: self._columns[1], doc="Group of every triplet.")
    value = property(lambda self: self._columns[2], doc="Exponent of every triplet.")

    def numpy_parameters(self) -> np.ndarray:
        """The parameters as one flat float64 array (a copy, on the host)."""
        return _flat_numpy(self.params)

    def numpy_gradients(self) -> np.ndarray:
        """Their gradients likewise (0 where a parameter has none)."""
        return _flat_numpy(_gradients_or_zeros(self.params))

    def torch_parameters(self) -> torch.Tensor:
        """The parameters as one flat tensor in ``dtype`` on the model's device."""
        return flat_parameters(self.params, self.dtype)

    def torch_gradients(self) -> torch.Tensor:
        """Their gradients likewise (0 where a parameter has none)."""
        return flat_gradients(self.params, self.dtype)

    def chunks(self, flat: Union[np.ndarray, torch.Tensor]) -> list:
        """Parameter i's slice ``flat[offsets[i]:offsets[i + 1]]`` of a flat array or tensor,
        for every parameter.

        Parameters
        ----------
        flat : np.ndarray or torch.Tensor
            A flat vector laid out like the parameters.

        Returns
        -------
        list
            The slices (views), flat.
        """
        bounds = self.offsets.tolist()
        return [flat[bounds[i]:bounds[i + 1]] for i in range(len(self.params))]
