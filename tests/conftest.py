"""Shared test setup: the test kit's pytest plugin, whose hypothesis profiles the suite runs
under (`quick` by default, see pyproject.toml; `thorough` with DGLBAL_PROFILE=thorough or
HYPOTHESIS_PROFILE=thorough, the older name, which some tests also read to widen their own
sweeps), and fixtures used by several test modules."""
import os
from typing import Callable, List

import pytest

# The plugin is registered by the package's pytest11 entry point; naming it here also loads
# it from a checkout whose installed entry points predate it (a no-op when it is loaded).
pytest_plugins = ["dglbal.testing.pytest_plugin", "pytester"]

if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
    os.environ.setdefault("DGLBAL_PROFILE", "thorough")


@pytest.fixture
def interrupt_run_once(monkeypatch) -> Callable[..., List[int]]:
    """A Ctrl-C in the middle of a sweep, for the tests that check finished runs are kept.

    ``interrupt_run_once(module, on_call)`` replaces ``module.run_once`` by one that records
    each run's seed and raises KeyboardInterrupt once, during call number ``on_call``; it
    returns the recorded seeds (clear the list to see which runs a resumed command trains).
    """
    def install(module, on_call: int) -> List[int]:
        real_run_once, calls, pressed = module.run_once, [], []

        def interrupted(*args, **kwargs):
            calls.append(args[2])
            if len(calls) == on_call and not pressed:
                pressed.append(True)
                raise KeyboardInterrupt
            return real_run_once(*args, **kwargs)

        monkeypatch.setattr(module, "run_once", interrupted)
        return calls

    return install
