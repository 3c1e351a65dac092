"""Run the three checks on one zoo case and name the outcome.

- soundness: random lambdas on every reported group leave the outputs unchanged on other
  graphs and features (1e-9 relative), and sum_k e_k theta_k dL/dtheta_k = 0;
- completeness: the groups span the black-box symmetry space (several parameter points);
- honesty: the non-homogeneous ops the case declares are named in ``report.unsupported`` (or,
  for what a decision or a lookup requires exactly, in ``report.notes``).
"""
import contextlib
import copy
import os
import re
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

import torch

import dglbal
from dglbal.testing import blackbox_symmetry_dimension, check_noether, check_rescale_invariance

from .inputs import input_sets, probe
from .registry import Case, randomize_

#: worst first: the outcome of a case over several seeds is the worst one seen
STATUSES = ("FALSE SYMMETRY", "crash", "MISSED SYMMETRY", "UNNAMED REFUSAL", "refused", "exact")


@dataclass
class Outcome:
    status: str
    groups: int = 0
    blackbox: Optional[int] = None
    unsupported: List[str] = field(default_factory=list)
    detail: str = ""

    def describe(self) -> str:
        counts = f"{self.groups} groups" + (
            f", black box {self.blackbox}" if self.blackbox is not None else "")
        named = f"; names: {', '.join(self.unsupported)}" if self.unsupported else ""
        return f"{self.status} ({counts}{named}){': ' + self.detail if self.detail else ''}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


@contextlib.contextmanager
def float64_by_default() -> Iterator[None]:
    """Some DGL modules make float tensors without a dtype (APPNPConv's edge weights)."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)


def classify_once(case: Case, seed: int = 0, points: int = 3, sets: int = 2) -> Outcome:
    with float64_by_default():
        return _classify_once(case, seed, points, sets)


def _classify_once(case: Case, seed: int, points: int, sets: int) -> Outcome:
    torch.manual_seed(seed)
    model = randomize_(case.make(), seed).double()  # train mode: norms use batch statistics
    try:
        report = dglbal.analyze(model, *probe())
    except Exception as error:  # noqa: BLE001 - any failure of the analyser is the finding
        return Outcome("crash", detail=f"analyze raised {_first_line(error)}")
    found = Outcome("exact", len(report.groups), unsupported=list(report.unsupported))
    graphs = input_sets(max(sets, 2), seed=seed)
    try:
        check_rescale_invariance(model, *graphs[0], report=report, seed=seed)
        if case.blackbox:  # autograd is as blind as the Jacobian black box otherwise
            check_noether(model, *graphs[1], report=report, seed=seed)
    except AssertionError as error:
        found.status, found.detail = "FALSE SYMMETRY", _first_line(error)
        return found
    except Exception as error:  # noqa: BLE001
        found.status, found.detail = "crash", f"check raised {_first_line(error)}"
        return found
    return _complete(case, model, report, found, graphs[:sets], seed, points)


def _complete(case: Case, model, report, found: Outcome, graphs, seed: int,
              points: int) -> Outcome:
    named = report.unsupported + report.notes  # refusals, and what decisions require
    missing = [n for n in case.names if not any(re.search(n, u, re.I) for u in named)]
    if missing:
        found.status, found.detail = "UNNAMED REFUSAL", (f"nothing in unsupported or notes "
                                                         f"matches {missing}")
        return found
    if case.blackbox:
        points = max(points, _points_needed(model, graphs))
        reference = model
        if case.blackbox_step is not None:
            reference = copy.deepcopy(model)
            reference.step = case.blackbox_step
        blackbox, symbolic = blackbox_symmetry_dimension(
            reference, graphs, report, points=points, seed=seed)
    else:
        blackbox, symbolic = case.groups, len(report.groups)
    found.blackbox = blackbox
    if symbolic != len(report.groups):
        found.status, found.detail = "crash", f"groups are dependent (rank {symbolic})"
    elif blackbox < symbolic:
        found.status, found.detail = "FALSE SYMMETRY", "more groups than symmetries"
    elif blackbox > symbolic:
        found.status = "refused" if report.unsupported else "MISSED SYMMETRY"
        found.detail = f"{blackbox - symbolic} symmetries lost"
    return found


def _points_needed(model: torch.nn.Module, graphs) -> int:
    """Parameter points at which the Jacobian has at least twice as many rows (outputs over
    all graphs) as there are rescaling atoms (rows and columns of matrices, other entries):
    graph-level readouts have few outputs per graph."""
    atoms = sum(sum(p.shape) if p.dim() == 2 else p.numel() for p in model.parameters())
    with torch.no_grad():
        outputs = sum(model(*inputs).numel() for inputs in graphs)
    return -(-2 * atoms // outputs)


def profile() -> Tuple[Tuple[int, ...], int, int]:
    """(seeds, parameter points, input graphs): wider with HYPOTHESIS_PROFILE=thorough."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
        return (0, 1, 2), 8, 3
    return (0,), 5, 2


def classify(case: Case, seeds: Optional[Sequence[int]] = None, points: Optional[int] = None,
             sets: Optional[int] = None) -> Outcome:
    """The worst outcome over ``seeds`` (each its own weights and graphs); the defaults
    come from :func:`profile`."""
    default_seeds, default_points, default_sets = profile()
    seeds, points, sets = seeds or default_seeds, points or default_points, sets or default_sets
    outcomes = [classify_once(case, seed, points, sets) for seed in seeds]
    return min(outcomes, key=lambda o: STATUSES.index(o.status))
