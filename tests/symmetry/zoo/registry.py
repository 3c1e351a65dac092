"""A zoo case: how to build one small model and what the analyser must say about it."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .inputs import HIDDEN, IN, OUT


@dataclass(frozen=True)
class Case:
    """``make()`` builds a model ``forward(graph, feat)``; the checks run it in float64.

    expect: ``"exact"`` (sound, and the groups span every symmetry) or ``"refused"`` (sound;
    exact, or losing symmetries and naming why in ``report.unsupported``).
    names: regular expressions, each matching some entry of ``report.unsupported`` or
    ``report.notes`` (the non-homogeneous or opaque ops the model contains: honesty).
    blackbox: False where the Jacobian black box cannot see the truth (discrete decisions
    such as k-NN graphs are locally constant, so it counts per-channel "symmetries" that
    finite rescalings break); the finite soundness check still runs, and ``groups`` (the
    number of independent symmetries, derived by hand) replaces the black box.
    blackbox_step: a ``step`` for ``Around`` that computes the same function with the same
    parameters in a form ``torch.autograd.grad`` can differentiate (the black box uses it).
    xfail: what is wrong today; the test is a strict xfail until the analyser is fixed.
    """

    name: str
    make: Callable[[], nn.Module]
    covers: Tuple[str, ...]
    expect: str = "exact"
    names: Tuple[str, ...] = ()
    why: str = ""
    blackbox: bool = True
    groups: Optional[int] = None
    blackbox_step: Optional[Callable] = None
    xfail: str = ""


CASES: Dict[str, Case] = {}


def case(name: str, covers: Tuple[str, ...] = (), **options) -> Callable:
    """Register the decorated builder as a zoo case."""
    def register(make: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if name in CASES:
            raise ValueError(f"duplicate zoo case {name}")
        CASES[name] = Case(name, make, tuple(covers), **options)
        return make
    return register


class Around(nn.Module):
    """``post(relu(step(relu(pre(x)))))``: hidden ReLU neurons on both sides of the module
    under test, so that both its incoming and its outgoing constraints are exercised.

    ``step(model, graph, h)`` applies ``model.layer`` (and any ``model.extra`` modules) and
    returns a tensor whose rows are nodes or graphs and whose columns flatten to ``width``.
    """

    def __init__(self, layer: nn.Module, width: int, step: Callable = None,
                 extra: Dict[str, nn.Module] = None, in_width: int = HIDDEN) -> None:
        super().__init__()
        self.pre = nn.Linear(IN, in_width)
        self.layer = layer
        self.extra = nn.ModuleDict(extra or {})
        self.post = nn.Linear(width, OUT)
        self.step = step or (lambda model, graph, h: model.layer(graph, h))

    def forward(self, graph, feat):
        h = self.step(self, graph, F.relu(self.pre(feat)))
        if isinstance(h, (tuple, list)):
            h = h[0]
        return self.post(F.relu(h.reshape(h.shape[0], -1)))


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Perturb every parameter (zero-initialised biases included) by N(0, 0.5^2) noise."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model


def raise_eps(module: nn.Module, eps: float = 1.0) -> nn.Module:
    """Norm layers are scale-invariant only up to eps: a large eps keeps the black box from
    counting those near-symmetries (the analyser must not claim them either)."""
    for sub in module.modules():
        if isinstance(sub, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
            sub.eps = eps
    return module


def without_effect(module: nn.Module, *names: str) -> nn.Module:
    """Remove biases the outputs do not depend on at all: each adds one constant to every
    logit a softmax normalizes (a key bias, the bias of a scalar logit), which the softmax
    ignores. The black box would count such a parameter as free; it is no neuron, and the
    analyser reports no group for it. ``names`` are dotted paths of biases in ``module``."""
    for name in names:
        owner, _, attribute = name.rpartition(".")
        owner = module.get_submodule(owner)
        delattr(owner, attribute)
        owner.register_parameter(attribute, None)
    return module
