"""The test kit: checks a user runs on their own DGL model in their own CI.

- :func:`check_model` (needs hypothesis, ``pip install 'dglbal[testing]'``) runs every check
  below as one property over drawn graphs and parameter points, and shrinks a failure to a
  small graph;
- the parts, each callable alone on fixed inputs: every reported group is an exact symmetry
  (:func:`check_rescale_invariance`), Noether's identity holds (:func:`check_noether`), nothing
  was missed (:func:`check_complete`), delta_g = 0 along SGD and Adam
  (:func:`check_training`), a ConservationMonitor does not drift (:func:`check_monitor`),
  balancing keeps the function (:func:`check_balancing`); :func:`check_conservation` runs all
  but completeness on one input, :func:`check_symmetries` the first three on random graphs;
- :mod:`.strategies` (hypothesis) draws DGL inputs: homogeneous, bipartite, sampled, batched
  and heterogeneous graphs, edge weights, features; :mod:`.graphs` makes fixed small inputs,
  :mod:`.models` holds reference models of DGL's layers;
- the pytest plugin (:mod:`.pytest_plugin`, registered by the package) adds fixtures and the
  ``--dglbal-profile quick|thorough`` option.
"""
from typing import Any

from . import graphs, models
from .checks import VacuousCheckError, check_noether, check_rescale_invariance
from .graphs import as_double
from .completeness import blackbox_symmetry_dimension, check_complete, check_symmetries
from .balancing import check_balancing
from .training import check_conservation, check_monitor, check_training

__all__ = ["graphs", "models", "VacuousCheckError", "as_double", "blackbox_symmetry_dimension",
           "check_balancing", "check_complete", "check_conservation", "check_model", "PARTS",
           "check_monitor", "check_noether", "check_rescale_invariance", "check_symmetries",
           "check_training"]


def __getattr__(name: str) -> Any:
    """``check_model`` (and its ``PARTS``) need hypothesis, which the checks on fixed inputs
    do not: imported when first asked for, with a clear error when hypothesis is missing."""
    if name not in ("check_model", "PARTS"):
        raise AttributeError(f"module 'dglbal.testing' has no attribute {name!r}")
    try:
        from . import property as kit
    except ModuleNotFoundError as error:
        if error.name != "hypothesis":
            raise
        raise ImportError(f"dglbal.testing.{name} needs hypothesis: "
                          "pip install 'dglbal[testing]'") from error
    return getattr(kit, name)
