"""The conservation monitor: the law of :mod:`.residuals` and the paper's training
diagnostics, recorded per step on the model's device.

Under gradient flow ``c_g = sum_k e_gk theta_k ** 2`` is constant for every rescale group g
(Eq. 5 of "Are GATs Out of Balance?"); :class:`ConservationMonitor` records how far training
with a finite step drifts from it, with the residuals delta_g, the relative gradients and the
imbalance per group.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

from dglbal._plotting import new_figure
from dglbal.symmetry import SymmetryReport

from .hooks import ScalarWriter, StepAttachable, check_tag, check_writer, write_scalars
from ._checks import check_state_keys, model_parameters
from .index import ExponentIndex
from .residuals import NEGLIGIBLE

__all__ = ["ConservationMonitor", "check_threshold", "monitored_parameters"]


def _max_per_epoch(rows, frozen) -> List[float]:
    """The largest value of each epoch's row over the groups not frozen then; 0 for none, NaN
    when a live group's value is NaN (a diverged model is not hidden)."""
    out = []
    for row, mask in zip(rows, frozen):
        values = [v for v, f in zip(row, mask) if not f]
        out.append(math.nan if any(math.isnan(v) for v in values)
                   else max(values) if values else 0.0)
    return out


def check_threshold(threshold: float) -> None:
    """Refuse a ``threshold`` that is not a finite number >= 0 (``ValueError``)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
            not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")


def _file_path(path) -> Path:
    """``path`` as a Path, refused when it is an existing directory."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; pass a file name")
    return path


def monitored_parameters(model: nn.Module) -> List[str]:
    """The parameters a monitor watches: weight matrices and attention vectors (named as in the
    report: without a wrapper's prefix)."""
    return [n for n, p in model_parameters(model).items() if p.dim() >= 2 or "attn" in n]


class ConservationMonitor(StepAttachable):
    """Records, per epoch, c_g, delta_g and the paper's diagnostics; plots them.

    Call :meth:`record` after ``loss.backward()`` and before ``optimizer.step()``, or
    :meth:`attach` it to the optimizer, which calls it just before every ``optimizer.step()``
    (see :mod:`dglbal.balance.hooks`: gradient accumulation, ``GradScaler``, DDP). It runs on
    the model's device and does not synchronize with it: the records stay there until
    :attr:`history` (or :meth:`c_drift`, :meth:`save_json`, :meth:`plot`) reads them. With a
    ``writer`` (anything with ``add_scalar``, as TensorBoard's ``SummaryWriter``) every record
    also writes, at step n for the n-th record, ``<tag>/delta_max`` and ``delta_median``
    (relative |delta_g|), ``c_abs_max`` (the largest ``|c_g|``), ``c_drift_max`` (the largest
    ``|c_g - c_g(first record)|``), over the groups not frozen, ``rel_grad/<parameter>``,
    ``changed/<parameter>`` and ``seconds`` (the record's time): one device sync per record.
    Per weight matrix (2-D parameters and attention vectors) it keeps the relative gradient
    norm ||grad W||_F / ||W||_F (NaN while W is 0) and the fraction of entries whose relative
    change since the start, |theta - theta_0| / |theta_0|, exceeds ``threshold`` (0.05 in the
    paper); entries that started at 0 count their absolute change. delta_g is computed from
    ``p.grad``: weight decay added inside the optimizer's step is not in it, so under weight
    decay delta_g stays ~0 while c_g drifts (seen in ``c`` and :meth:`c_drift`). Groups that
    touch a frozen parameter (``requires_grad=False`` at the time of the record) conserve
    nothing: they are listed in ``frozen_groups`` and recorded as NaN. Parameters are looked
    up by name at every record, so after ``model.load_state_dict(sd, assign=True)`` the new
    tensors are the ones watched. :meth:`state_dict` / :meth:`load_state_dict` carry the
    records and the starting values, so a resumed run's history equals an uninterrupted
    one's.

    Parameters
    ----------
    model : nn.Module
        The model being trained (a wrapped model is looked through).
    report : SymmetryReport
        :func:`dglbal.analyze`'s report of ``model``.
    threshold : float, default 0.05
        The relative change above which an entry counts as changed.
    tracked_groups : int, default 8
        How many groups' c_g and delta_g the plot draws.
    writer : object with ``add_scalar``, optional
        Where each record's scalars go (TensorBoard's ``SummaryWriter``, ...).
    tag : str, default "conservation"
        The prefix of the scalars' names.

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module``, ``report`` not a ``SymmetryReport``, or
        ``writer`` has no ``add_scalar`` (or is a class).
    ValueError
        If ``threshold`` is not finite or negative, ``tracked_groups`` not an int >= 0,
        ``tag`` empty, or a parameter on the ``meta`` device.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal import analyze
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 4, 2, num_layers=3)
    >>> monitor = ConservationMonitor(model, analyze(model))
    >>> g, x = model.probe_inputs()
    >>> model(g, x).sum().backward()
    >>> monitor.record()
    >>> len(monitor.history["c"])
    1
    """

    def __init__(self, model: nn.Module, report: SymmetryReport, threshold: float = 0.05,
                 tracked_groups: int = 8, *, writer: Optional[ScalarWriter] = None,
                 tag: str = "conservation") -> None:
        check_threshold(threshold)
        check_writer(writer, "ConservationMonitor")
        check_tag(tag, "ConservationMonitor")
        self.writer, self.tag = writer, tag
        if isinstance(tracked_groups, bool) or not isinstance(tracked_groups, int) or \
                tracked_groups < 0:
            raise ValueError(f"tracked_groups must be an integer >= 0, got {tracked_groups!r}")
        self.model = model
        self.report = report
        self.threshold = threshold
        self._index = ExponentIndex(model, report)  # checks the report
        self._follow_index()
        self.watched = monitored_parameters(model)
        self._initial = [p.detach().clone() for p in self._watched]
        index = self._index
        live = np.flatnonzero(~index.frozen)
        picks = np.linspace(0, max(len(live) - 1, 0), min(tracked_groups, len(live))).astype(int)
        self.tracked = live[picks].tolist()
        self._records: Dict[str, List[torch.Tensor]] = {"c": [], "delta": [], "rel_grad": [],
                                                          "changed": [], "frozen": []}

    def _follow_index(self) -> None:
        """The device tensors of the current index."""
        index = self._index
        self._dtype = index.dtype
        self._sums = index.sums
        self.frozen_groups = index.frozen_groups
        self._frozen = torch.as_tensor(index.frozen, device=index.device)

    def _sync(self) -> None:
        """Follow the model when a parameter was replaced, (un)frozen or moved to another
        device; the starting values and the records follow it there (once per move)."""
        if not self._index.is_current(self.model):
            self._index = ExponentIndex(self.model, self.report)
            self._follow_index()
            self._initial = [p0.to(p.device) for p0, p in zip(self._initial, self._watched)]
            self._records = {key: [r.to(self._index.device) for r in rows]
                             for key, rows in self._records.items()}

    @property
    def _watched(self) -> List[torch.Tensor]:
        """The watched parameters, looked up by name (they may have been replaced)."""
        params = model_parameters(self.model)
        missing = [n for n in self.watched if n not in params]
        if missing:
            raise ValueError(f"ConservationMonitor: the model no longer has the watched "
                             f"parameter {missing[0]!r}")
        return [params[n] for n in self.watched]

    def state_dict(self) -> Dict[str, object]:
        """The records, the starting values of the watched parameters, the threshold, and what
        identifies the model (parameter names and shapes, number of groups).

        Returns
        -------
        dict
            Plain values and CPU tensors, for ``torch.save``.
        """
        return {"records": {key: [r.cpu().clone() for r in rows]
                            for key, rows in self._records.items()},
                "initial": dict(zip(self.watched, (p.cpu().clone() for p in self._initial))),
                "threshold": self.threshold, **self._index.signature()}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore :meth:`state_dict` of a monitor of the same model.

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned.

        Raises
        ------
        TypeError, ValueError
            When ``state`` is not such a dict, or was saved for another model.
        """
        check_state_keys(state, ("records", "initial", "threshold", "parameters", "num_groups"),
                         "ConservationMonitor")
        self._index.check_signature(state, "ConservationMonitor")
        initial, records = state["initial"], state["records"]
        if not isinstance(records, dict) or set(records) != set(self._records):
            raise ValueError("ConservationMonitor.load_state_dict: records must be a dict with "
                             f"keys {sorted(self._records)}")
        if not isinstance(initial, dict) or list(initial) != self.watched or not all(
                isinstance(initial[n], torch.Tensor) and initial[n].shape == p.shape
                for n, p in zip(self.watched, self._watched)):
            raise ValueError("ConservationMonitor.load_state_dict: initial must hold the "
                             f"starting values of {self.watched}")
        device = self._index.device
        self._initial = [initial[n].to(device=device, dtype=p.dtype)
                         for n, p in zip(self.watched, self._watched)]
        self._records = {key: [r.to(device) for r in records[key]] for key in self._records}
        check_threshold(state["threshold"])
        self.threshold = state["threshold"]

    def _group_sums(self, flat: torch.Tensor, weighting: str = "value") -> torch.Tensor:
        return self._sums.reduce(flat, weighting).masked_fill_(self._frozen, float("nan"))

    _manual_call = "record"

    def _on_step(self) -> None:
        self.record()

    @torch.no_grad()
    def record(self) -> None:
        """Record the current epoch (gradients must be those of the current parameters)."""
        started = time.perf_counter()
        self._sync()
        params = self._index.params
        if params and all(p.grad is None for p in params):
            raise RuntimeError("ConservationMonitor.record(): no parameter has a gradient; call "
                               "it after loss.backward() and before optimizer.step()")
        theta = self._index.torch_parameters()
        terms = theta * self._index.torch_gradients()
        tiny = torch.finfo(self._dtype).tiny
        self._records["frozen"].append(self._frozen)
        self._records["c"].append(self._group_sums(theta * theta))
        scale = self._group_sums(terms.abs(), "abs")
        # NaN (frozen groups, a diverged model) stays NaN, and does not set the floor
        floor = NEGLIGIBLE * scale.nan_to_num(0.0).max() if scale.numel() \
            else scale.new_zeros(())
        self._records["delta"].append(self._group_sums(terms).abs_()
                                      / torch.maximum(scale, floor).clamp_min(tiny))
        rel_grad, changed = [], []
        for p, p0 in zip(self._watched, self._initial):
            norm = p.detach().norm().to(self._dtype)
            grad_norm = p.grad.norm().to(self._dtype) if p.grad is not None \
                else torch.zeros_like(norm)
            rel_grad.append(torch.where(norm > 0, grad_norm / norm,
                                        torch.full_like(norm, float("nan"))))
            # Relative change; entries that started at 0 (attention after balancing) have
            # none, so their absolute change counts, as in the paper's Figure 11.
            reference = torch.where(p0 == 0, torch.ones_like(p0), p0.abs())
            changed.append(((p - p0).abs() > self.threshold * reference).to(self._dtype).mean())
        empty = theta.new_zeros(0)
        self._records["rel_grad"].append(torch.stack(rel_grad) if rel_grad else empty)
        self._records["changed"].append(torch.stack(changed) if changed else empty)
        if self.writer is not None:
            self._write(started)

    def _write(self, started: float) -> None:
        """The last record's scalars to the writer (one device sync)."""
        last = {key: rows[-1] for key, rows in self._records.items()}
        live = ~last["frozen"]
        drift = (last["c"] - self._records["c"][0])[live & ~self._records["frozen"][0]]
        none = last["c"].new_zeros(())  # no live group: 0, as in c_drift() and the JSON

        def largest(values: torch.Tensor) -> torch.Tensor:
            return values.max() if values.numel() else none  # NaN propagates: not hidden

        delta = last["delta"][live]
        median = delta.quantile(0.5) if delta.numel() else none  # of an even count: the mean
        stats = torch.cat([torch.stack([largest(delta), median, largest(last["c"][live].abs()),
                                        largest(drift.abs())]),
                           last["rel_grad"], last["changed"]]).tolist()
        names = ["delta_max", "delta_median", "c_abs_max", "c_drift_max"] + \
            [f"rel_grad/{n}" for n in self.watched] + [f"changed/{n}" for n in self.watched]
        scalars = dict(zip(names, stats), seconds=time.perf_counter() - started)
        write_scalars(self.writer, self.tag, scalars, len(self._records["c"]))

    @property
    def history(self) -> Dict[str, list]:
        """The records so far, copied to the host: per epoch, ``c`` and ``delta`` (relative
        |delta_g|) as lists over the groups (NaN for groups frozen then), ``frozen`` the
        frozen groups' mask, ``rel_grad`` and ``changed`` as dicts over the watched
        parameters."""
        def rows(key: str) -> list:
            records = self._records[key]
            return torch.stack(records).cpu().tolist() if records else []

        out = {key: rows(key) for key in ("c", "delta", "frozen")}
        for key in ("rel_grad", "changed"):
            out[key] = [dict(zip(self.watched, row)) for row in rows(key)]
        return out

    def save_json(self, path: Path) -> Path:
        """Write the summary of the records (per group and per epoch) to ``path``."""
        path = _file_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        history = self.history
        summary = {
            "groups": [g.name for g in self.report.groups],
            "frozen_groups": self.frozen_groups,
            "c_drift_max": self.c_drift(),
            "delta_max": _max_per_epoch(history["delta"], history["frozen"]),
            "rel_grad": history["rel_grad"],
            "changed": history["changed"],
        }
        path.write_text(json.dumps(summary))
        return path

    def c_drift(self) -> List[float]:
        """max_g |c_g(t) - c_g(0)| per recorded epoch, over the groups not frozen at t nor at
        the first record (NaN when a live group's c_g is NaN)."""
        history = self.history
        c, frozen = np.asarray(history["c"], dtype=float), np.asarray(history["frozen"], bool)
        if not len(c):
            return []
        return _max_per_epoch(np.abs(c - c[:1]), frozen | frozen[:1])

    def plot(self, path: Path, title: str = "") -> Path:
        """Four panels: c_g of some groups, max relative delta, relative gradient norms per
        layer, fraction of changed entries per layer."""
        path = _file_path(path)
        history = self.history
        fig, axes = new_figure(2, 2, figsize=(12, 8))
        epochs = np.arange(1, len(history["c"]) + 1)
        c = np.asarray(history["c"])
        for g in self.tracked:
            if c.size:
                axes[0, 0].plot(epochs, c[:, g], label=self.report.groups[g].name)
        axes[0, 0].set(title="c_g = ||in||^2 - ||out||^2", xlabel="epoch")
        if self.tracked and c.size:
            axes[0, 0].legend(fontsize=6)
        delta = _max_per_epoch(history["delta"], history["frozen"])
        axes[0, 1].semilogy(epochs, np.maximum(delta, 1e-18))
        axes[0, 1].set(title="max_g |delta_g| / scale (Thm 2.2)", xlabel="epoch")
        for key, ax, label in (("rel_grad", axes[1, 0], "||grad W|| / ||W||"),
                               ("changed", axes[1, 1],
                                f"fraction with relative change > {self.threshold}")):
            for name in self.watched:
                ax.plot(epochs, [h[name] for h in history[key]], label=name)
            ax.set(title=label, xlabel="epoch")
        axes[1, 0].set_yscale("log")
        if self.watched and epochs.size:
            axes[1, 1].legend(fontsize=6, ncol=2)
        fig.suptitle(title)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        return path

