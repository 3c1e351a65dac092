"""The analyser over DGL's module zoo: every ``dgl.nn.pytorch`` class that runs on
a homogeneous graph or a single-relation heterograph, plus plain-torch and ``dgl.sparse``
models, each in a small float64 ReLU model with random non-zero weights.

Each case must be sound (random lambdas on every group leave the outputs unchanged on another
graph, 1e-9 relative), complete (the groups span the black-box symmetry space over several
parameter points) and honest (the non-homogeneous ops it contains are named in
``report.unsupported``); see tests/zoo. Cases that fail today are strict xfails with what is
wrong: when the analyser is fixed they fail, and the marker must go.

HYPOTHESIS_PROFILE=thorough runs three seeds (weights and graphs), eight parameter points and
three input graphs per case instead of one seed, five points and two graphs.
"""
import dgl.nn.pytorch as dglnn
import pytest
import torch
from torch import nn

from zoo import CASES, EXCLUDED, KNOWN_FAILURES, ORDER_DEPENDENT, classify

@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: threads only add overhead (and the CI machine has two cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _case(name):
    marks = []
    if name in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
    if name in ORDER_DEPENDENT:
        marks.append(pytest.mark.xfail(strict=False, reason=ORDER_DEPENDENT[name]))
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_case(name) for name in CASES])
def test_zoo(name):
    case = CASES[name]
    outcome = classify(case)
    allowed = ("exact",) if case.expect == "exact" else ("exact", "refused")
    assert outcome.status in allowed, f"{name}: expected {case.expect}, got {outcome.describe()}"


def test_zoo_covers_every_dgl_module():
    """A class added to dgl.nn.pytorch (or a case removed) must be decided on, not skipped."""
    public = {name for name, obj in vars(dglnn).items()
              if isinstance(obj, type) and issubclass(obj, nn.Module)}
    covered = {cls for case in CASES.values() for cls in case.covers}
    assert not covered & EXCLUDED.keys(), "a class is both covered and excluded"
    assert not (covered | EXCLUDED.keys()) - public, "the zoo names classes DGL does not have"
    missing = public - covered - EXCLUDED.keys()
    assert not missing, f"dgl.nn.pytorch classes neither in the zoo nor excluded: {sorted(missing)}"
    assert not (KNOWN_FAILURES.keys() | ORDER_DEPENDENT.keys()) - CASES.keys(), \
        "known failures of cases that do not exist"
