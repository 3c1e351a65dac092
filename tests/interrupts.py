"""A Ctrl-C in the middle of a sweep, for the probes that check finished runs are kept."""
from typing import List


def interrupt_run_once(monkeypatch, module, on_call: int) -> List[int]:
    """Replace ``module.run_once`` by one that records each run's seed and raises
    KeyboardInterrupt (a Ctrl-C) once, during call number ``on_call``; returns the recorded
    seeds (clear it to see which runs a resumed command trains)."""
    real_run_once, calls, pressed = module.run_once, [], []

    def interrupted(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == on_call and not pressed:
            pressed.append(True)
            raise KeyboardInterrupt
        return real_run_once(*args, **kwargs)

    monkeypatch.setattr(module, "run_once", interrupted)
    return calls
