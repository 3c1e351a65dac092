"""Dynamic rescaling during training: :class:`Rebalancer`.

"Dynamic Rescaling for Training GNNs" (Mustafa and Burkholz, NeurIPS 2024) keeps a network in
balance while it trains by moving along its rescale symmetries every few epochs. A group's
rescaling by lambda multiplies its parameters by ``lambda ** e`` and, since the loss does not
change, their gradients by ``lambda ** -e``. Here it works for every group that
:func:`dglbal.analyze` finds, in any model, and carries the optimizer's state along.

Criteria, per group g, with weights |e| on the entries (1 for ordinary neurons):

- ``"relative_gradients"``: R_in = sum_{e>0} |e| (grad / theta) ** 2 and R_out likewise over
  the outgoing entries (attention entries are outgoing); lambda = (R_in / R_out) ** (1/8).
  Relative gradients scale as lambda ** -2e, so one sweep equalizes R_in and R_out of a group
  whose neighbours stay put. Entries with theta = 0 have no relative gradient and are left out.
- ``"norms"``: lambda = (O / I) ** (1/4) with I, O the incoming and outgoing squared norms
  (parameters only): the sweep of preserve-mode balancing, c_g -> 0.

lambda falls back to 1 when it is not finite (a zero sum, NaN gradients) and is clamped to
``clamp`` = [1e-5, 2] per sweep, as the authors do. One sweep visits the groups level by level
in forward order; groups of one level share no parameter entry, so their updates are exact
and independent (a layer-by-layer Gauss-Seidel sweep, as the authors' code does for GATs).

Everything per step runs in torch on the model's device: the exponent index is built once,
and again only when the model's parameters are replaced, frozen / unfrozen or moved.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from dglbal.symmetry import SymmetryReport, analyze
from dglbal.symmetry.arguments import unwrap

from ._checks import CRITERIA, check_rebalance_arguments, check_state_keys
from .hooks import (ScalarWriter, StepAttachable, check_holds_parameters, check_tag, check_writer,
                    write_scalars)
from .index import ExponentIndex
from .levels import Level, SweepState, forward_levels
from .optimizer_state import (check_state, held_parameter_ids, rescale_state_, state_powers,
                              warn_uncarried)

__all__ = ["CRITERIA", "Rebalancer", "check_rebalance_arguments"]

class Rebalancer(StepAttachable):
    """Rescale a model along its symmetries during training (dynamic rescaling).

    Call :meth:`step` after every ``loss.backward()`` and before ``optimizer.step()`` (and
    before gradient clipping), or :meth:`attach` it to the optimizer, which calls it just
    before every ``optimizer.step()`` (see :mod:`dglbal.balance.hooks`: gradient
    accumulation, ``GradScaler``, DDP); it acts on the first call and then on every ``every``-th,
    running ``sweeps`` sweeps of ``criterion``. Parameters are multiplied by ``lambda ** e``,
    gradients by ``lambda ** -e``; with ``optimizer`` given, its state follows (momentum and
    first moments like gradients, second moments like squared gradients). The model's outputs
    and loss do not change.

    ``report`` is :func:`dglbal.analyze`'s report of ``model``; ``None`` analyses the model from
    its ``probe_inputs()`` (dglbal's builders). Groups that touch a frozen parameter
    (``requires_grad=False`` at the time of the rebalance) are never rescaled; a parameter
    unfrozen later is rescaled again. The model's parameters are looked up by name at every
    rebalance, so parameters replaced by new tensors (``model.load_state_dict(sd,
    assign=True)``) are the ones rescaled. Sparse gradients (``nn.Embedding(sparse=True)``)
    are densified per parameter on the device for the criterion and rescaled as sparse.

    With ``criterion="relative_gradients"`` a due :meth:`step` with no gradient at all (before
    the first backward, after ``zero_grad(set_to_none=True)``) does not rebalance: it warns,
    records nothing and returns False. :meth:`state_dict` / :meth:`load_state_dict` carry the
    call count and history, so a resumed run rebalances on the same calls as an uninterrupted
    one.

    ``last_factors`` is the total factor lambda_g of every group in the last rebalance;
    ``history`` holds one record per rebalance: the call, the range of the total factor per
    group, the largest and median relative imbalance |R_in - R_out| / (R_in + R_out)
    before and after (after: of the model as rescaled, each parameter rounded to its dtype;
    over the groups where it is defined; NaN when it is nowhere), and the number of entries
    with a non-finite parameter or gradient (their groups are left alone, with a warning).
    With a ``writer`` (anything with ``add_scalar``, as TensorBoard's ``SummaryWriter``),
    every rebalance also writes these numbers and the seconds it took as ``<tag>/<name>`` at
    step ``call``.

    A model wrapped in ``torch.compile``, ``DataParallel`` or ``DistributedDataParallel`` is
    rescaled through its wrapper (the report names the wrapped module's parameters).

    Parameters
    ----------
    model : nn.Module
        The model being trained (a wrapped model is looked through).
    report : SymmetryReport, optional
        :func:`dglbal.analyze`'s report of ``model``; ``None`` analyses dglbal's builders from
        their probe inputs.
    criterion : {"relative_gradients", "norms"}, default "relative_gradients"
        Equalize the relative gradients of incoming and outgoing weights, or their norms.
    every : int, default 10
        Rebalance on the first and then on every ``every``-th call of :meth:`step`.
    sweeps : int, default 10
        Sweeps per rebalance.
    optimizer : torch.optim.Optimizer, optional
        The optimizer whose state follows the rescaling (SGD, Adam, AdamW, NAdam, RAdam,
        Adamax, Adagrad); ``None`` for a stateless update (or the one :meth:`attach` is given).
        L2 weight decay and Adagrad's starting sum are carried inexactly (a ``UserWarning``).
    clamp : pair of float, default (1e-5, 2.0)
        The range of each sweep's factor.
    writer : object with ``add_scalar``, optional
        Where each rebalance's numbers go.
    tag : str, default "rebalance"
        The prefix of the scalars' names.

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module``, ``report`` not a ``SymmetryReport``, the optimizer
        not a supported one, or ``writer`` has no ``add_scalar``.
    ValueError
        For an unknown ``criterion``, ``every`` or ``sweeps`` below 1, a bad ``clamp``, an
        empty ``tag``, a report of another model, parameters on the ``meta`` device, or an
        ``optimizer`` that holds none of the model's parameters.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from dglbal.nn import GAT
    >>> model = GAT(8, 16, 3, num_layers=4)
    >>> optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    >>> rebalancer = Rebalancer(model, every=10, sweeps=10, optimizer=optimizer)
    >>> graph, feat = model.probe_inputs()
    >>> for epoch in range(20):
    ...     optimizer.zero_grad()
    ...     F.cross_entropy(model(graph, feat), torch.zeros(len(feat), dtype=torch.long)).backward()
    ...     acted = rebalancer.step()
    ...     optimizer.step()
    >>> len(rebalancer.history)
    2
    """

    def __init__(self, model: nn.Module, report: Optional[SymmetryReport] = None, *,
                 criterion: str = "relative_gradients", every: int = 10, sweeps: int = 10,
                 optimizer: Optional[torch.optim.Optimizer] = None,
                 clamp: Sequence[float] = (1e-5, 2.0), writer: Optional[ScalarWriter] = None,
                 tag: str = "rebalance") -> None:
        low, high = check_rebalance_arguments(criterion, every, sweeps, clamp)
        check_writer(writer, "Rebalancer")
        check_tag(tag, "Rebalancer")
        self.writer, self.tag = writer, tag
        self.model, self.criterion = model, criterion
        self.every, self.sweeps = int(every), int(sweeps)  # a numpy integer too
        self.optimizer = optimizer
        self._log_clamp = (math.log(low), math.log(high))
        self.report = report if report is not None else _analyze_builder(model)
        self.calls = 0
        self.history: List[dict] = []
        self.last_factors: Optional[torch.Tensor] = None
        self._index = ExponentIndex(model, self.report)  # checks the report
        if not self._index.params:
            raise ValueError(f"{type(model).__name__} has no parameter in the report")
        if optimizer is not None:
            state_powers(optimizer)  # refuses an optimizer whose state is unknown
            check_holds_parameters(optimizer, self._index.params, "Rebalancer")
            warn_uncarried(optimizer, self._index.names, self._index.params, stacklevel=3)
        if self._index.num_groups == 0:
            warnings.warn(f"{type(model).__name__} has no rescale group to rebalance; "
                          "Rebalancer.step() will do nothing", stacklevel=2)
        self._split_levels()

    def _sync(self) -> None:
        """Follow the model: when a parameter was replaced by another tensor, frozen or
        unfrozen, or moved to another device since the index was made, make it again (host
        work, once per change)."""
        if self._index.is_current(self.model):
            return
        before = {id(p) for p in self._index.params}
        self._index = ExponentIndex(self.model, self.report)
        self._split_levels()
        if self.optimizer is not None:
            held = held_parameter_ids(self.optimizer)
            stale = [n for n, p in zip(self._index.names, self._index.params)
                     if id(p) not in before and id(p) not in held]
            if stale:
                raise RuntimeError(f"Rebalancer: the optimizer does not hold the model's "
                                   f"parameter {stale[0]!r} (replaced, e.g. by "
                                   "load_state_dict(assign=True)?); make the optimizer over "
                                   "model.parameters() and set rebalancer.optimizer to it")

    def _split_levels(self) -> None:
        """The groups, without frozen ones, split into levels (host work, once per index)."""
        index = self._index
        frozen = index.frozen
        self.frozen_groups = index.frozen_groups
        self.num_groups = index.num_groups
        self._sums = index.sums
        levels = forward_levels(self._sums, frozen)
        self._dtype = index.dtype
        self._levels = [Level(self._sums, np.flatnonzero(levels == level), levels, level)
                        for level in range(int(levels.max(initial=-1)) + 1)]
        self._frozen = torch.as_tensor(frozen, device=index.device)

    def step(self) -> bool:
        """Count a training step; rebalance on the first and then every ``every``-th call.
        Returns whether it rebalanced (False, with a warning, on a due call without any
        gradient under ``criterion="relative_gradients"``)."""
        self.calls += 1
        if (self.calls - 1) % self.every:
            return False
        if not self._has_gradients():
            warnings.warn(f"Rebalancer.step() call {self.calls}: no parameter has a gradient "
                          "(step() before loss.backward(), or after zero_grad(set_to_none="
                          "True)); the relative-gradient criterion is undefined, so this "
                          "rebalance is skipped", RuntimeWarning, stacklevel=2)
            return False
        self.rebalance_()
        return True

    def _adopt(self, optimizer: torch.optim.Optimizer) -> None:
        """:meth:`attach`: carry the state of the optimizer attached to (one given at
        construction must be that one)."""
        if self.optimizer is None:
            state_powers(optimizer)
            warn_uncarried(optimizer, self._index.names, self._index.params, stacklevel=4)
            self.optimizer = optimizer
        elif self.optimizer is not optimizer:
            raise ValueError("Rebalancer.attach: the rebalancer carries the state of the "
                             "optimizer given as optimizer=..., and this is another one; "
                             "attach that optimizer")

    def _on_step(self) -> None:
        self.step()

    def _has_gradients(self) -> bool:
        """Whether the criterion can be computed (after :meth:`_sync`): always for "norms" or
        with no group to rebalance; else whether a trainable parameter has a gradient."""
        self._sync()
        return not self._levels or self.criterion == "norms" or any(
            p.grad is not None for p in self._index.params if p.requires_grad)

    def state_dict(self) -> dict:
        """The rebalancer's state: call count, history, last factors, and what identifies the
        model (parameter names and shapes, number of groups).

        Returns
        -------
        dict
            Plain Python values and a CPU tensor, for ``torch.save``.
        """
        factors = self.last_factors
        return {"calls": self.calls, "history": copy.deepcopy(self.history),
                "last_factors": None if factors is None else factors.detach().cpu().clone(),
                **self._index.signature()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` of a rebalancer of the same model.

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned.

        Raises
        ------
        TypeError, ValueError
            When ``state`` is not such a dict, or was saved for another model.
        """
        check_state_keys(state, ("calls", "history", "last_factors", "parameters",
                                 "num_groups"), "Rebalancer")
        self._index.check_signature(state, "Rebalancer")
        calls = state["calls"]
        if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
            raise ValueError(f"Rebalancer.load_state_dict: calls must be an integer >= 0, "
                             f"got {calls!r}")
        factors, history = state["last_factors"], state["history"]
        if factors is not None and not (isinstance(factors, torch.Tensor)
                                        and tuple(factors.shape) == (self.num_groups,)):
            raise ValueError("Rebalancer.load_state_dict: last_factors must be None or a "
                             f"tensor of shape ({self.num_groups},)")
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ValueError("Rebalancer.load_state_dict: history must be a list of dicts")
        self.calls, self.history = calls, copy.deepcopy(history)
        self.last_factors = None if factors is None else factors.to(
            device=self._frozen.device, dtype=self._dtype)

    def _mass(self) -> Tuple[torch.Tensor, float]:
        """Per flat entry, what the criterion sums, and the power of lambda it scales with
        (written parameter by parameter into one buffer, on the device)."""
        index = self._index
        mass = torch.empty(int(index.offsets[-1]), dtype=self._dtype, device=index.device)
        for p, chunk in zip(index.params, index.chunks(mass)):
            theta = p.detach().reshape(-1)
            if self.criterion == "norms":
                chunk.copy_(theta).square_()
                continue
            grad = p.grad
            if grad is None:
                chunk.zero_()
                continue
            chunk.copy_((grad.to_dense() if grad.is_sparse else grad).reshape(-1))
            # theta = 0: no relative gradient; theta = inf: g / theta = 0 would hide it
            chunk.div_(theta).square_().masked_fill_(theta == 0, 0.0)
            chunk.masked_fill_(theta.isinf(), math.nan)
        return mass, (2.0 if self.criterion == "norms" else -4.0)

    def imbalance(self) -> torch.Tensor:
        """|R_in - R_out| / (R_in + R_out) of the criterion for every group (NaN where it is
        undefined: frozen groups, zero sums, no gradients), on the model's device."""
        self._sync()
        return self._imbalance(SweepState(self._sums, *self._mass()))

    def _imbalance(self, state: SweepState) -> torch.Tensor:
        """The imbalance of every group at the state's masses."""
        incoming, outgoing = state.totals()
        out = (incoming - outgoing).abs() / (incoming + outgoing)
        return torch.where(self._frozen, torch.full_like(out, float("nan")), out)

    @torch.no_grad()
    def rebalance_(self) -> torch.Tensor:
        """Run ``sweeps`` sweeps now; returns the total factor lambda_g of every group.

        Raises
        ------
        RuntimeError
            Under ``criterion="relative_gradients"`` when no parameter has a gradient.
        """
        if not self._has_gradients():
            raise RuntimeError("Rebalancer.rebalance_(): no parameter has a gradient; the "
                               "relative-gradient criterion needs loss.backward() first")
        if not self._levels:
            self.last_factors = torch.ones(self.num_groups, dtype=self._dtype,
                                           device=self._frozen.device)
            return self.last_factors
        if self.optimizer is not None:  # read now: rebalancer.optimizer may have been replaced
            check_state(self.optimizer, self._index.params, state_powers(self.optimizer))
        started = time.perf_counter()
        mass, power = self._mass()
        state = SweepState(self._sums, mass, power)
        before = self._imbalance(state)
        total = mass.sum()  # finite when every mass is; entries are counted only when not
        log_total = torch.zeros(self.num_groups, dtype=mass.dtype, device=mass.device)
        exponent = 1 / 8 if self.criterion == "relative_gradients" else 1 / 4
        for _ in range(self.sweeps):
            for level in self._levels:
                incoming, outgoing = state.level_sums(level)
                ratio = incoming / outgoing if power < 0 else outgoing / incoming
                # Not finite (a zero sum, NaN gradients): lambda = 1.
                log_lambda = torch.nan_to_num(exponent * torch.log(ratio), nan=0.0, posinf=0.0,
                                              neginf=0.0).clamp(*self._log_clamp)
                state.shift(level, log_lambda)
                log_total[level.groups] += log_lambda
        self._apply(state.factors(self._index))
        self._record(log_total, before, self.imbalance(), mass, total)  # the model's; syncs
        self.last_factors = torch.exp(log_total)
        scalars = {k: v for k, v in self.history[-1].items() if k != "call"}
        write_scalars(self.writer, self.tag,
                      dict(scalars, seconds=time.perf_counter() - started), self.calls)
        return self.last_factors

    def _apply(self, factors: List[torch.Tensor]) -> None:
        """theta *= factor, grad /= factor, optimizer state along (a single pass, after the
        state was checked); one factor per parameter, in the sweep's dtype: each product is
        computed there and rounded once into the tensor's own dtype."""
        powers = {} if self.optimizer is None else state_powers(self.optimizer)
        for p, factor in zip(self._index.params, factors):
            f = factor.view_as(p)
            p.mul_(f)
            if p.grad is not None and p.grad.is_sparse:
                # sparse: no in-place division by a tensor
                p.grad = (p.grad.to(f.dtype) * f.reciprocal()).to(p.grad.dtype)
            elif p.grad is not None:
                p.grad.div_(f)
            if self.optimizer is not None:
                rescale_state_(self.optimizer, p, f, powers)

    def _record(self, log_total: torch.Tensor, before: torch.Tensor,
                after: torch.Tensor, mass: torch.Tensor, total: torch.Tensor) -> None:
        live = torch.isfinite(before) & torch.isfinite(after)
        b, a = before[live], after[live]
        nan = torch.tensor(float("nan"), dtype=before.dtype, device=before.device)
        stats = torch.stack([log_total.min(), log_total.max(),
                             *((b.max(), b.quantile(0.5), a.max(), a.quantile(0.5)) if b.numel()
                               else (nan,) * 4),  # none defined: NaN; median of an even
                             total.to(before.dtype)])  # count: the mean of the middle two
        low, high, b_max, b_med, a_max, a_med, total = stats.tolist()  # one device sync
        bad = 0 if math.isfinite(total) else int((~torch.isfinite(mass)).sum())
        self.history.append(dict(call=self.calls, lambda_min=math.exp(low),
                                 lambda_max=math.exp(high), imbalance_before_max=b_max,
                                 imbalance_before_median=b_med, imbalance_after_max=a_max,
                                 imbalance_after_median=a_med, nonfinite_entries=int(bad)))
        if bad:
            warnings.warn(f"Rebalancer call {self.calls}: {int(bad)} parameter entries have a "
                          f"non-finite {'gradient or ' if self.criterion != 'norms' else ''}"
                          "value (a diverged model?); their groups were left alone",
                          RuntimeWarning, stacklevel=4)


def _analyze_builder(model: nn.Module) -> SymmetryReport:
    if getattr(unwrap(model)[0], "probe_inputs", None) is None:
        raise TypeError(f"{type(model).__name__} cannot make its own probe inputs: pass "
                        "report=dglbal.analyze(model, graph, features) to Rebalancer")
    return analyze(model)
