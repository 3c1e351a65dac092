"""Checks on single option values, and the annotated-type test for run files.

The checks table names what a :class:`~dglbal.experiments.config.TrainConfig` field's metadata
may ask for (``check="positive_int"``, ...); :func:`check_value` applies one and raises a
``ValueError`` naming the option. :func:`conforms` and :func:`type_name` read a field's type
annotation, for the configuration's checks and for run files read back from disk.
"""
from __future__ import annotations

import math
import typing
from typing import Any, Dict, Sequence, Union

import torch

__all__ = ["MAX_COUNT", "MAX_REAL", "MAX_SEED", "CHECKS", "check_value", "conforms",
           "type_name", "refuse_duplicates"]

MAX_COUNT = 10 ** 9  # epochs, widths, batch sizes: past this, a typo, not an experiment
MAX_REAL = float(torch.finfo(torch.float32).max)  # larger rates overflow float32 parameters
MAX_SEED = 2 ** 32 - 1  # numpy's seeds


def _integer(v: Any, low: int, high: int) -> bool:
    return not isinstance(v, bool) and isinstance(v, int) and low <= v <= high


def _real(v: Any, low: float, inclusive: bool) -> bool:
    return (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
            and (v >= low if inclusive else v > low) and v <= MAX_REAL)


# Checks a field's metadata can name: (predicate, what the value must do).
CHECKS: Dict[str, tuple] = {
    "positive_int": (lambda v: _integer(v, 1, MAX_COUNT),
                     f"be a positive integer (at most {MAX_COUNT:.0e})"),
    "nonnegative_int": (lambda v: _integer(v, 0, MAX_COUNT), "be an integer >= 0"),
    "positive": (lambda v: v is None or _real(v, 0.0, inclusive=False),
                 f"be a positive finite number (at most {MAX_REAL:.1e})"),
    "nonnegative": (lambda v: v is None or _real(v, 0.0, inclusive=True),
                    f"be a finite number >= 0 (at most {MAX_REAL:.1e})"),
    "dropout": (lambda v: isinstance(v, (int, float)) and 0.0 <= v < 1.0, "lie in [0, 1)"),
    "unit": (lambda v: isinstance(v, (int, float)) and 0.0 <= v <= 1.0, "lie in [0, 1]"),
}


def check_value(name: str, value: Any, check: str) -> None:
    """Refuse ``value`` unless it passes ``check`` (a key of the checks table), naming it."""
    accept, wanted = CHECKS[check]
    if not accept(value):
        raise ValueError(f"{name} must {wanted}, got {value!r}")


def conforms(value: Any, kind: Any) -> bool:
    """Whether a (JSON-like) value has the annotated type ``kind``: ``Optional[...]``,
    ``List[...]``, classes; floats take ints, and bools are not numbers."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union:
        return any(conforms(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value)
    if kind is type(None):
        return value is None
    if kind in (int, float):
        return (isinstance(value, (int,) if kind is int else (int, float))
                and not isinstance(value, bool))
    return isinstance(value, kind)


def type_name(kind: Any) -> str:
    """``int``, ``List[str]``, ``Optional[float]``: an annotation as a user reads it."""
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")


def refuse_duplicates(option: str, values: Sequence[Any]) -> None:
    """Refuse a grid axis that lists a value twice: its runs would be counted twice."""
    repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
    if repeated:
        raise ValueError(f"{option} lists {', '.join(map(str, repeated))} more than once; "
                         "each run is one cell of the grid")
