"""Checks a user runs on their own model in their own CI: every reported group is an exact
symmetry (:func:`check_rescale_invariance`), Noether's identity holds (:func:`check_noether`),
nothing was missed (:func:`check_complete`) and the conserved quantities stay put under
training (:func:`check_conservation`); :func:`check_symmetries` runs the first three.

:mod:`.graphs` makes small random inputs for them, :mod:`.models` holds reference models of
DGL's layers, and :mod:`.strategies` (which needs hypothesis, ``dglbal[test]``) draws random
graphs and architectures.
"""
from . import graphs, models
from .checks import (as_double, blackbox_symmetry_dimension, check_complete, check_conservation,
                     check_noether, check_rescale_invariance, check_symmetries)

__all__ = ["graphs", "models", "as_double", "blackbox_symmetry_dimension", "check_complete",
           "check_conservation", "check_noether", "check_rescale_invariance", "check_symmetries"]
