"""``dglbal.diagnose``: what a deep GNN looks like at initialization, layer by layer and group
by group, and a verdict a user can act on."""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from dglbal._plotting import new_figure
from dglbal.symmetry import SymmetryReport, analyze
from dglbal.symmetry.arguments import keyword_inputs

from .groups import GroupStats, group_statistics
from .inputs import check_inputs, check_targets, diagnosis_loss, input_cosine
from .layers import LayerStats, layer_statistics

__all__ = ["Diagnosis", "diagnose", "THRESHOLDS"]

THRESHOLDS = {
    "scale": 1e4,       # a second moment 1e4 times smaller (larger) than the first layer's
    "collapse": 0.99,   # mean pairwise cosine of the nodes' features
    "imbalance": 0.1,   # largest |c_g| / (I_g + O_g)
}
"""When the verdict calls something a problem (see :meth:`Diagnosis.problems`)."""

_ADVICE = {
    "vanish": "try GNN He initialization (init='gnn_he', or dglbal.init.gnn_he_) or skip "
              "connections (skip=True)",
    "explode": "try GNN He initialization (init='gnn_he': it divides by the aggregation's "
               "spectral radius) or a smaller gain",
    "collapse": "try looks-linear orthogonal weights (init='bal_o', or 'looks_linear' "
                "unbalanced) or skip connections (skip=True)",
    "gradients": "try a balanced initialization (init='bal_o') or skip connections "
                 "(skip=True)",
    "imbalance": "balance it: dglbal.analyze_and_balance(model, graph, features, "
                 "mode='preserve') keeps the function",
    "nonfinite": "the forward pass overflows or divides by zero; try GNN He initialization "
                 "(init='gnn_he') or a smaller gain, and look for a division or log in the "
                 "model",
    "nonfinite_gradients": "the backward pass meets an infinite derivative (sqrt or a norm "
                           "at 0, log at 0, a division by a vanishing value); look for one "
                           "in the model",
}


@dataclass
class Diagnosis:
    """The result of :func:`diagnose`.

    Parameters
    ----------
    layers, groups, notes, input_cosine
        The attributes below, in this order (:func:`diagnose` makes it).

    Attributes
    ----------
    layers : list of LayerStats
        One entry per watched layer, in the order they ran.
    groups : GroupStats or None
        Per-group balance and relative gradients (None when the model has no rescale group
        the analyser can see, or ``analyze=False``).
    notes : list of str
        What the diagnosis could not look at (for instance why there are no groups).
    input_cosine : float
        Mean pairwise cosine of the input features' rows (NaN when no input is a
        floating-point matrix of two rows or more): a collapse is one the input did not have.

    Examples
    --------
    >>> from dglbal import diagnose
    >>> from dglbal.nn import GCN
    >>> model = GCN(8, 16, 3, num_layers=4)
    >>> diagnosis = diagnose(model, *model.probe_inputs())
    >>> [layer.name for layer in diagnosis.layers]
    ['layers.0', 'layers.1', 'layers.2', 'layers.3']
    >>> len(diagnosis.groups.names), isinstance(diagnosis.verdict(), str)
    (48, True)
    """

    layers: List[LayerStats]
    groups: Optional[GroupStats] = None
    notes: List[str] = field(default_factory=list)
    input_cosine: float = math.nan

    def problems(self) -> List[str]:
        """Each problem found, most severe first, with the advice for it."""
        return (self._finiteness_problems() + self._scale_problems()
                + self._gradient_problems() + self._collapse_problems()
                + self._balance_problems())

    def _finiteness_problems(self) -> List[str]:
        found, n = [], len(self.layers)
        k = next((k for k, s in enumerate(self.layers)
                  if not math.isfinite(s.output_moment)), None)
        if k is not None:  # the inputs are finite (diagnose checks): the model made these
            found.append(f"outputs are not finite (E[h^2] = {self.layers[k].output_moment:g}) "
                         f"from layer {k + 1} of {n} ({self.layers[k].name}): "
                         f"{_ADVICE['nonfinite']}")
        bad = [k for k, s in enumerate(self.layers)
               if s.gradient_reached and not math.isfinite(s.gradient_moment)]
        if bad:  # the backward pass goes from the output: the last one is where it started
            k = bad[-1]
            found.append(f"gradients are not finite (E[g^2] = {self.layers[k].gradient_moment:g}"
                         f") at layer {k + 1} of {n} ({self.layers[k].name}), the nearest the "
                         f"output: {_ADVICE['nonfinite_gradients']}")
        return found

    def _scale_problems(self) -> List[str]:
        out = [s.output_moment for s in self.layers]
        first = out[0] if out and math.isfinite(out[0]) else math.nan
        k = _first(out, lambda v: v == 0)
        if k is not None:  # nothing to compare with when the first layer's output is zero
            return [f"outputs are all zero at layer {k + 1} of {len(out)} "
                    f"({self.layers[k].name}): {_ADVICE['vanish']}"]
        for kind, bad in (("vanish", lambda r: r < 1 / THRESHOLDS["scale"]),
                          ("explode", lambda r: r > THRESHOLDS["scale"])):
            k = _first(out, lambda v: first > 0 and bad(v / first))
            if k is not None:
                return [f"outputs {kind} by layer {k + 1} of {len(out)} (E[h^2] {out[k]:.2g} "
                        f"against {out[0]:.2g} at layer 1): {_ADVICE[kind]}"]
        return []

    def _measured_gradients(self) -> List[int]:
        """The layers whose gradient was measured (reached by the backward pass, finite)."""
        return [k for k, s in enumerate(self.layers)
                if s.gradient_reached and math.isfinite(s.gradient_moment)]

    def _gradient_problems(self) -> List[str]:
        measured = self._measured_gradients()  # a frozen first layer takes none: from the next
        if len(measured) < 2 or not self.layers[measured[-1]].gradient_moment > 0:
            return []
        first, last = measured[0], measured[-1]
        ratio = self.layers[first].gradient_moment / self.layers[last].gradient_moment
        if 1 / THRESHOLDS["scale"] <= ratio <= THRESHOLDS["scale"]:
            return []
        return [f"gradients {'vanish' if ratio < 1 else 'explode'} towards the input (E[g^2] "
                f"{self.layers[first].gradient_moment:.2g} at layer {first + 1} against "
                f"{self.layers[last].gradient_moment:.2g} at layer {last + 1}): "
                f"{_ADVICE['gradients']}"]

    def _collapse_problems(self) -> List[str]:
        cosines = [s.cosine for s in self.layers]
        known = not math.isnan(self.input_cosine)
        before = self.input_cosine if known else (cosines[0] if cosines else math.nan)
        k = _first(cosines, lambda c: c > THRESHOLDS["collapse"])
        if k is None or before > THRESHOLDS["collapse"]:  # the input was collapsed already
            return []
        against = f" against {self.input_cosine:.3f} for the input" if known else ""
        return [f"node features collapse to one direction by layer {k + 1} (mean pairwise "
                f"cosine {cosines[k]:.3f}{against}; oversmoothing): {_ADVICE['collapse']}"]

    def _balance_problems(self) -> List[str]:
        if self.groups is None or not len(self.groups.names):
            return []
        imbalance = self.groups.imbalance
        worst = np.nanmax(imbalance) if np.isfinite(imbalance).any() else 0.0
        if not worst > THRESHOLDS["imbalance"]:
            return []
        share = float(np.nanmean(imbalance > THRESHOLDS["imbalance"]))
        return [f"{share:.0%} of the {len(self.groups.names)} rescale groups are out of "
                f"balance (largest |c|/(in+out) {worst:.2f}): {_ADVICE['imbalance']}"]

    def verdict(self) -> str:
        """One line: the most severe problem and what to try, or that none was found."""
        found = self.problems()
        if found:
            return found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
        measured = bool(self.layers) and all(math.isfinite(s.cosine) for s in self.layers)
        apart = ("node features stay apart" if measured else "the node features' cosine is "
                 "undefined (fewer than two nodes with nonzero features at a layer)")
        reached = len(self._measured_gradients())
        scales = ("output and gradient scales stay" if reached > 1 else "output scales stay")
        unmeasured = ("" if reached else " (no gradient reached the layers: nothing they "
                      "depend on requires one)")
        return (f"no problem found at initialization: {scales} within a factor "
                f"{THRESHOLDS['scale']:g} across the layers{unmeasured}, {apart}"
                + (", and the groups are balanced" if self.groups is not None else ""))

    def table(self) -> str:
        """A plain-text table, one row per layer (after the input features' cosine)."""
        lines = [f"{'layer':<34}{'E[h^2]':>11}{'E[g^2]':>11}{'cosine':>9}"]
        if not math.isnan(self.input_cosine):
            lines.append(f"{'(input features)':<34}{'':>22}{self.input_cosine:>9.3f}")
        for s in self.layers:
            lines.append(f"{s.name[:33]:<34}{s.output_moment:>11.3g}{s.gradient_moment:>11.3g}"
                         f"{s.cosine:>9.3f}")
        if self.groups is not None and len(self.groups.names):
            imbalance = self.groups.imbalance
            lines.append(f"{len(self.groups.names)} rescale groups: |c|/(in+out) median "
                         f"{np.nanmedian(imbalance):.3g}, max {np.nanmax(imbalance):.3g}; "
                         "relative gradient in/out median "
                         f"{_nanmedian(self.groups.relative_gradient_in):.3g} / "
                         f"{_nanmedian(self.groups.relative_gradient_out):.3g}")
        return "\n".join(lines + [f"verdict: {self.verdict()}"] + self.notes)

    def to_dict(self) -> dict:
        """Plain values, for JSON."""
        groups = None if self.groups is None else {
            key: (value.tolist() if isinstance(value, np.ndarray) else value)
            for key, value in asdict(self.groups).items()}
        return {"layers": [asdict(s) for s in self.layers], "groups": groups,
                "input_cosine": self.input_cosine, "problems": self.problems(),
                "verdict": self.verdict(), "notes": self.notes}

    def plot(self, path: Union[str, Path], title: str = "") -> Path:
        """Three panels across the layers: E[h^2] and E[g^2] (log scale), the mean pairwise
        cosine, and each group's |c|/(in+out); written to ``path`` (PNG)."""
        fig, (scale, cosine, balance) = new_figure(1, 3, figsize=(14, 4))
        depth = np.arange(1, len(self.layers) + 1)
        scale.plot(depth, [s.output_moment for s in self.layers], marker="o", label="E[h^2]")
        scale.plot(depth, [s.gradient_moment for s in self.layers], marker="s", label="E[g^2]")
        scale.set(yscale="log", xlabel="layer", title="output and gradient scale")
        scale.legend()
        cosine.plot(depth, [s.cosine for s in self.layers], marker="o")
        cosine.axhline(THRESHOLDS["collapse"], color="grey", linestyle=":")
        if not math.isnan(self.input_cosine):
            cosine.axhline(self.input_cosine, color="tab:green", linestyle="--",
                           label="input features")
            cosine.legend()
        cosine.set(xlabel="layer", ylim=(-0.05, 1.05), title="mean pairwise cosine of nodes")
        if self.groups is not None and len(self.groups.names):
            balance.plot(np.sort(self.groups.imbalance)[::-1], marker=".", linestyle="none")
        balance.set(xlabel="group (sorted)", ylabel="|c| / (in + out)", ylim=(-0.05, 1.05),
                    title="imbalance per rescale group")
        fig.suptitle(title or self.verdict()[:110])
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        return path


def _first(values: List[float], test) -> Optional[int]:
    return next((k for k, v in enumerate(values) if not math.isnan(v) and test(v)), None)


def _nanmedian(values: np.ndarray) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else math.nan


def diagnose(model: nn.Module, *inputs: Any, labels: Optional[torch.Tensor] = None,
             mask: Optional[torch.Tensor] = None, report: Optional[SymmetryReport] = None,
             groups: bool = True, seed: int = 0,
             forward_kwargs: Optional[Mapping[str, Any]] = None) -> Diagnosis:
    """Look at ``model`` as it is (typically at initialization) on ``inputs``.

    One forward and one backward pass: per watched layer (the graph layers, else every module
    with parameters of its own), the second moments of the output and of its gradient and
    the mean pairwise cosine of the nodes' output rows; per rescale group (from
    :func:`dglbal.analyze`), the imbalance |c_g| / (I_g + O_g) and the relative gradients of
    its incoming and outgoing weights. :meth:`Diagnosis.verdict` names the most severe
    problem (vanishing or exploding outputs or gradients, collapsing node features, groups
    out of balance) with what to try.

    Parameters
    ----------
    model : nn.Module
        Any model :func:`dglbal.analyze` accepts; its output must be a tensor.
    *inputs
        What ``model`` is called with, e.g. ``(graph, features)``.
    labels : torch.Tensor, optional
        Integer class labels of the output rows: the backward pass is of the cross-entropy
        (over ``mask``). Without labels it is of a fixed random projection of the output,
        which measures how the gradient scale changes across layers just as well.
    mask : torch.Tensor, optional
        Boolean rows of the output that the loss uses (default: all).
    report : SymmetryReport, optional
        The model's analysis, if already made.
    groups : bool
        Analyse the rescale groups (default True); False skips the analysis.
    seed : int
        Seed of the random projection.
    forward_kwargs : mapping of str to object, optional
        Keyword arguments for ``model``'s forward, e.g. ``{"edge_weight": w}``: the model runs
        as ``model(*inputs, **forward_kwargs)``.

    Returns
    -------
    Diagnosis
        ``print(d.table())``, ``d.verdict()``, ``d.plot("diag.png")``, ``d.to_dict()``.

    Raises
    ------
    TypeError
        ``model`` is not a module, its output is not a tensor, ``labels`` or ``mask`` are not
        tensors, ``report`` is not a :class:`~dglbal.symmetry.SymmetryReport`, ``seed`` is not
        an integer, or
        ``forward_kwargs`` is not a mapping of argument names.
    ValueError
        ``labels`` or ``mask`` do not fit the output (labels: 1-D integer classes within the
        output's columns, of an output with one row of scores per node, ``(N, C)`` or
        ``(N, 1, C)``; mask: boolean, selecting at least one row); an input tensor has NaN
        or infinite entries or no entries; an input graph has no nodes.

    Examples
    --------
    >>> import dgl, torch
    >>> from dglbal.nn import GCN
    >>> graph = dgl.add_self_loop(dgl.rand_graph(50, 200))
    >>> d = diagnose(GCN(8, 16, 3, num_layers=12), graph, torch.randn(50, 8))
    >>> len(d.layers)
    12
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"diagnose needs an nn.Module, got {type(model).__name__}")
    if report is not None and not isinstance(report, SymmetryReport):
        raise TypeError(f"report must be a SymmetryReport (dglbal.analyze(model, ...)), got "
                        f"{type(report).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"diagnose: seed (of the random projection) must be an integer, got "
                        f"{seed!r}")
    keywords = keyword_inputs(forward_kwargs)
    check_inputs(inputs, keywords)
    check_targets(labels, mask)
    # the model's function is measured, not the inputs': no gradient accumulates into them
    inputs = tuple(x.detach() if isinstance(x, torch.Tensor) else x for x in inputs)
    keywords = {k: x.detach() if isinstance(x, torch.Tensor) else x for k, x in keywords.items()}
    notes: List[str] = []
    saved = {p: p.grad for p in model.parameters()}
    modes = {module: module.training for module in model.modules()}
    model.eval()  # no dropout: the diagnosis is of the function itself
    try:
        stats = layer_statistics(model, lambda: model(*inputs, **keywords),
                                 diagnosis_loss(labels, mask, seed))
        group_stats = None
        if groups:
            report = report if report is not None else analyze(model, *inputs,
                                                               forward_kwargs=keywords)
            if report.groups:
                group_stats = group_statistics(model, report)
            else:
                notes.append("no rescale group found: " + ("; ".join(
                    str(u) for u in report.unsupported[:3]) or "the model has none"))
    finally:
        for module, training in modes.items():  # each submodule's own mode, as it was
            module.training = training
        for p, grad in saved.items():
            p.grad = grad
    if not stats:
        notes.append("no layer output was a tensor: nothing to show per layer")
    return Diagnosis(stats, group_stats, notes, input_cosine(inputs))
