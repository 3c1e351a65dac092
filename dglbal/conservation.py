"""The conservation law and the paper's training diagnostics.

Theorem 2.2 of "Are GATs Out of Balance?", for every rescale group g:
``delta_g = sum_k e_gk theta_k dL/dtheta_k = 0`` for any loss (an identity of the gradient,
so it holds under SGD and Adam alike), hence ``c_g = sum_k e_gk theta_k ** 2`` is constant
under gradient flow (Eq. 5).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import nn

from .balance import FlatExponents
from .symmetry import SymmetryReport


def _residuals(flat: FlatExponents) -> Tuple[np.ndarray, np.ndarray]:
    """Per group: sum_k e_gk theta_k grad_k and sum_k |e_gk theta_k grad_k|."""
    terms = flat.value * flat.theta[flat.entry] * flat.gradients()[flat.entry]
    return (np.bincount(flat.group, weights=terms, minlength=flat.num_groups),
            np.bincount(flat.group, weights=np.abs(terms), minlength=flat.num_groups))


def conservation_residuals(model: nn.Module, report: SymmetryReport) -> torch.Tensor:
    """delta_g = sum_k e_gk theta_k grad_k for every group; call after ``loss.backward()``."""
    return torch.from_numpy(_residuals(FlatExponents(model, report))[0])


def relative_residuals(model: nn.Module, report: SymmetryReport) -> torch.Tensor:
    """|delta_g| / sum_k |e_gk theta_k grad_k|: 0 up to rounding for a true symmetry."""
    total, scale = _residuals(FlatExponents(model, report))
    return torch.from_numpy(np.abs(total) / np.maximum(scale, 1e-300))


def monitored_parameters(model: nn.Module) -> List[str]:
    """The parameters a monitor watches: weight matrices and attention vectors."""
    return [n for n, p in model.named_parameters() if p.dim() >= 2 or "attn" in n]


class ConservationMonitor:
    """Records, per epoch, c_g, delta_g and the paper's diagnostics; plots them.

    Call :meth:`record` after ``loss.backward()`` and before ``optimizer.step()``.
    Per weight matrix (2-D parameters and attention vectors) it keeps the relative gradient
    norm ||grad W||_F / ||W||_F (NaN while W is 0) and the fraction of entries whose relative
    change since the start, |theta - theta_0| / |theta_0|, exceeds ``threshold`` (0.05 in the
    paper); entries that started at 0 count their absolute change.

    Example
    -------
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
                 tracked_groups: int = 8) -> None:
        self.model = model
        self.report = report
        self.threshold = threshold
        self.watched = monitored_parameters(model)
        params = dict(model.named_parameters())
        self._initial = {n: params[n].detach().clone() for n in self.watched}
        self.tracked = np.linspace(0, max(len(report.groups) - 1, 0),
                                   min(tracked_groups, len(report.groups))).astype(int).tolist()
        self.history: Dict[str, list] = {"c": [], "delta": [], "rel_grad": [], "changed": []}
        self._flat = FlatExponents(model, report)  # the index is built once; theta per epoch

    @torch.no_grad()
    def record(self) -> None:
        """Record the current epoch (gradients must be those of the current parameters)."""
        flat = self._flat.refresh()
        if flat.params and all(p.grad is None for p in flat.params):
            raise RuntimeError("ConservationMonitor.record(): no parameter has a gradient; call "
                               "it after loss.backward() and before optimizer.step()")
        incoming, outgoing = flat.norms()
        delta, scale = _residuals(flat)
        self.history["c"].append((incoming - outgoing).tolist())
        self.history["delta"].append((np.abs(delta) / np.maximum(scale, 1e-300)).tolist())
        params = dict(self.model.named_parameters())
        rel_grad, changed = {}, {}
        for name in self.watched:
            p, p0 = params[name], self._initial[name]
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            norm = float(p.norm())
            rel_grad[name] = float(grad.norm()) / norm if norm > 0 else float("nan")
            # Relative change; entries that started at 0 (attention after balancing) have
            # none, so their absolute change counts, as in the paper's Figure 11.
            reference = torch.where(p0 == 0, torch.ones_like(p0), p0.abs())
            moved = (p - p0).abs() > self.threshold * reference
            changed[name] = float(moved.double().mean())
        self.history["rel_grad"].append(rel_grad)
        self.history["changed"].append(changed)

    def save_json(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "groups": [g.name for g in self.report.groups],
            "c_drift_max": self.c_drift(),
            "delta_max": [max(d) if d else 0.0 for d in self.history["delta"]],
            "rel_grad": self.history["rel_grad"],
            "changed": self.history["changed"],
        }
        path.write_text(json.dumps(summary))
        return path

    def c_drift(self) -> List[float]:
        """max_g |c_g(t) - c_g(0)| per recorded epoch."""
        if not self.history["c"]:
            return []
        c = np.asarray(self.history["c"])
        return np.abs(c - c[:1]).max(axis=1).tolist() if c.size else [0.0] * len(c)

    def plot(self, path: Path, title: str = "") -> Path:
        """Four panels: c_g of some groups, max relative delta, relative gradient norms per
        layer, fraction of changed entries per layer."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        epochs = np.arange(1, len(self.history["c"]) + 1)
        c = np.asarray(self.history["c"])
        for g in self.tracked:
            if c.size:
                axes[0, 0].plot(epochs, c[:, g], label=self.report.groups[g].name)
        axes[0, 0].set(title="c_g = ||in||^2 - ||out||^2", xlabel="epoch")
        if self.tracked:
            axes[0, 0].legend(fontsize=6)
        delta = [max(d) if d else 0.0 for d in self.history["delta"]]
        axes[0, 1].semilogy(epochs, np.maximum(delta, 1e-18))
        axes[0, 1].set(title="max_g |delta_g| / scale (Thm 2.2)", xlabel="epoch")
        for key, ax, label in (("rel_grad", axes[1, 0], "||grad W|| / ||W||"),
                               ("changed", axes[1, 1],
                                f"fraction with relative change > {self.threshold}")):
            for name in self.watched:
                ax.plot(epochs, [h[name] for h in self.history[key]], label=name)
            ax.set(title=label, xlabel="epoch")
        axes[1, 0].set_yscale("log")
        axes[1, 1].legend(fontsize=6, ncol=2)
        fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

