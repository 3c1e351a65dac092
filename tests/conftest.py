"""Shared test setup: hypothesis profiles, `ci` (default, fast) and `thorough`
(HYPOTHESIS_PROFILE=thorough), and fixtures used by several test modules."""
import os
from typing import Callable, List

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
