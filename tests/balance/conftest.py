"""Fixtures of the balance tests: torch.compile's patch of the optimizer classes undone."""
import sys

import pytest
import torch


@pytest.fixture
def compile_patch_undone():
    """torch 2.2's torch.compile takes the step-hook wrapper off every torch.optim class for
    the rest of the process (torch._dynamo's TorchPatcher); put the classes back afterwards,
    so that later tests see torch as a fresh process does."""
    classes = [c for c in vars(torch.optim).values()
               if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)]
    saved = {(c, name): c.__dict__[name] for c in classes for name in ("step", "_init_group")
             if name in c.__dict__}
    # It also marks a step not wrapped yet as wrapped (``step.hooked = True``).
    marks = {step: vars(step).get("hooked") for (_, name), step in saved.items()
             if name == "step"}
    yield
    for (cls, name), value in saved.items():
        setattr(cls, name, value)
    for step, mark in marks.items():
        if mark is None:
            vars(step).pop("hooked", None)
        else:
            step.hooked = mark
    # It patches once per process: the next torch.compile patches again, as in a fresh one.
    patcher = getattr(sys.modules.get("torch._dynamo.eval_frame"), "TorchPatcher", None)
    if patcher is not None and hasattr(patcher.patch, "cache_clear"):
        patcher.patch.cache_clear()
