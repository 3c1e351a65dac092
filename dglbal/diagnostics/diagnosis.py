"""``dglbal.diagnose``: what a deep GNN looks like at initialization, layer by layer and group
by group, and a verdict a user can act on."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dglbal._plotting import new_figure
from dglbal.symmetry import SymmetryReport, analyze

from .groups import GroupStats, group_statistics
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
}


@dataclass
class Diagnosis:
    """The result of :func:`diagnose`.

    Parameters
    ----------
    layers, groups, notes
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

    def problems(self) -> List[str]:
        """Each problem found, most severe first, with the advice for it."""
        found = []
        first = self.layers[0] if self.layers else None
        out = [s.output_moment for s in self.layers]
        k = next((k for k, v in enumerate(out) if not math.isfinite(v)), None)
        if k is not None:  # the inputs are finite (diagnose checks): the model made these
            found.append(f"outputs are not finite (E[h^2] = {out[k]:g}) from layer {k + 1} "
                         f"of {len(out)} ({self.layers[k].name}): {_ADVICE['nonfinite']}")
        for kind, bad in (("vanish", lambda r: r < 1 / THRESHOLDS["scale"]),
                          ("explode", lambda r: r > THRESHOLDS["scale"])):
            k = _first(out, lambda v: first.output_moment > 0 and bad(v / first.output_moment))
            if k is not None:
                verb = "vanish" if kind == "vanish" else "explode"
                found.append(f"outputs {verb} by layer {k + 1} of {len(out)} (E[h^2] "
                             f"{out[k]:.2g} against {out[0]:.2g} at layer 1): {_ADVICE[kind]}")
                break
        grads = [s.gradient_moment for s in self.layers]
        last = grads[-1] if grads else math.nan
        if grads and last > 0 and not math.isnan(grads[0]):
            ratio = grads[0] / last
            if ratio < 1 / THRESHOLDS["scale"] or ratio > THRESHOLDS["scale"]:
                way = "vanish" if ratio < 1 else "explode"
                found.append(f"gradients {way} towards the input (E[g^2] {grads[0]:.2g} at "
                             f"layer 1 against {last:.2g} at layer {len(grads)}): "
                             f"{_ADVICE['gradients']}")
        cosines = [s.cosine for s in self.layers]
        if cosines and not cosines[0] > THRESHOLDS["collapse"]:
            k = _first(cosines, lambda c: c > THRESHOLDS["collapse"])
            if k is not None:
                found.append(f"node features collapse to one direction by layer {k + 1} (mean "
                             f"pairwise cosine {cosines[k]:.3f}; oversmoothing): "
                             f"{_ADVICE['collapse']}")
        if self.groups is not None and len(self.groups.names):
            worst = np.nanmax(self.groups.imbalance) if np.isfinite(
                self.groups.imbalance).any() else 0.0
            if worst > THRESHOLDS["imbalance"]:
                share = float(np.nanmean(self.groups.imbalance > THRESHOLDS["imbalance"]))
                found.append(f"{share:.0%} of the {len(self.groups.names)} rescale groups are "
                             f"out of balance (largest |c|/(in+out) {worst:.2f}): "
                             f"{_ADVICE['imbalance']}")
        return found

    def verdict(self) -> str:
        """One line: the most severe problem and what to try, or that none was found."""
        found = self.problems()
        if found:
            return found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
        return ("no problem found at initialization: output and gradient scales stay within "
                f"a factor {THRESHOLDS['scale']:g} across the layers, node features stay apart"
                + (", and the groups are balanced" if self.groups is not None else ""))

    def table(self) -> str:
        """A plain-text table, one row per layer."""
        lines = [f"{'layer':<34}{'E[h^2]':>11}{'E[g^2]':>11}{'cosine':>9}"]
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
                "problems": self.problems(), "verdict": self.verdict(), "notes": self.notes}

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
             groups: bool = True, seed: int = 0) -> Diagnosis:
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

    Returns
    -------
    Diagnosis
        ``print(d.table())``, ``d.verdict()``, ``d.plot("diag.png")``, ``d.to_dict()``.

    Raises
    ------
    TypeError
        ``model`` is not a module, its output is not a tensor, or ``labels`` or ``mask`` are
        not tensors.
    ValueError
        ``labels`` or ``mask`` do not fit the output (labels: 1-D integer classes within the
        output's columns; mask: boolean, selecting at least one row); an input tensor has NaN
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
    _check_inputs(inputs)
    _check_targets(labels, mask)
    # the model's function is measured, not the inputs': no gradient accumulates into them
    inputs = tuple(x.detach() if isinstance(x, torch.Tensor) else x for x in inputs)
    notes: List[str] = []
    saved = {p: p.grad for p in model.parameters()}
    modes = {module: module.training for module in model.modules()}
    model.eval()  # no dropout: the diagnosis is of the function itself
    try:
        stats = layer_statistics(model, lambda: model(*inputs), _loss(labels, mask, seed))
        group_stats = None
        if groups:
            report = report if report is not None else analyze(model, *inputs)
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
    return Diagnosis(stats, group_stats, notes)


def _check_inputs(inputs: tuple) -> None:
    """Refuse inputs whose statistics would be NaN: what is measured is the model."""
    for position, x in enumerate(inputs, start=1):
        if isinstance(x, torch.Tensor):
            if x.numel() == 0:
                raise ValueError(f"diagnose: input {position} is an empty tensor of shape "
                                 f"{tuple(x.shape)}: there is nothing to measure")
            if x.is_floating_point() or x.is_complex():
                bad = int((~torch.isfinite(x)).sum())
                if bad:
                    raise ValueError(f"diagnose: input {position} has {bad} NaN or infinite "
                                     f"entries of {x.numel()}; pass finite features")
        elif callable(getattr(x, "num_nodes", None)) and x.num_nodes() == 0:
            raise ValueError(f"diagnose: input {position} is a graph without nodes: there is "
                             "nothing to measure")


def _check_targets(labels: Optional[torch.Tensor], mask: Optional[torch.Tensor]) -> None:
    """Refuse labels and masks of the wrong kind before the forward pass."""
    for name, value in (("labels", labels), ("mask", mask)):
        if value is not None and not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if labels is not None:
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integer classes, one per output row; got "
                             f"{tuple(labels.shape)} {labels.dtype}")
        if labels.dim() != 1:
            raise ValueError(f"labels must be a 1-D tensor of integer classes, one per output "
                             f"row; got shape {tuple(labels.shape)}")


def _loss(labels: Optional[torch.Tensor], mask: Optional[torch.Tensor], seed: int):
    def loss(output: torch.Tensor) -> torch.Tensor:
        if labels is not None and output.dim() < 2:
            raise ValueError(f"labels need an output of one row of class scores per node, got "
                             f"shape {tuple(output.shape)}")
        if mask is not None and output.dim() == 0:
            raise ValueError("mask needs an output of one row per node, got shape ()")
        rows = output if mask is None else _masked(output, mask, "mask")
        if mask is not None and rows.shape[0] == 0:
            raise ValueError("mask selects no row of the output: there is no loss to "
                             "backpropagate")
        if labels is None:
            generator = torch.Generator().manual_seed(seed)
            projection = torch.randn(rows.shape, generator=generator, dtype=torch.float64)
            return (rows.double() * projection.to(rows.device)).sum() / math.sqrt(rows.numel())
        target = labels if mask is None else _masked(labels, mask, "mask")
        if target.shape[0] != rows.shape[0]:
            raise ValueError(f"labels must be integer classes, one per output row; got "
                             f"{tuple(labels.shape)} {labels.dtype} for an output of "
                             f"{output.shape[0]} rows")
        scores = rows.reshape(rows.shape[0], -1)
        low, high, classes = int(target.min()), int(target.max()), scores.shape[1]
        if low < 0 or high >= classes:
            raise ValueError(f"labels must be classes 0..{classes - 1} of the output's "
                             f"{classes} columns, got labels {low}..{high}"
                             + (" (leave unlabelled nodes out with mask)" if low < 0 else ""))
        return F.cross_entropy(scores, target.to(scores.device))
    return loss


def _masked(tensor: torch.Tensor, mask: torch.Tensor, name: str) -> torch.Tensor:
    if mask.dtype != torch.bool or mask.shape != tensor.shape[:1]:
        raise ValueError(f"{name} must be a boolean vector with one entry per output row "
                         f"({tensor.shape[0]}), got {tuple(mask.shape)} {mask.dtype}")
    return tensor[mask.to(tensor.device)]
