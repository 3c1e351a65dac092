"""The analyser zoo: small float64 models around every module of ``dgl.nn.pytorch``.

``CASES`` maps a case name to a :class:`Case` (how to build the model and what the analyser
must say about it); ``EXCLUDED`` names the ``dgl.nn.pytorch`` classes that cannot be in the
zoo, with the reason. ``classify`` runs the three checks and names the outcome. Print the
whole table with ``PYTHONPATH=tests/symmetry python -m zoo``.
"""
from .cases import CASES, EXCLUDED, KNOWN_FAILURES, ORDER_DEPENDENT, Case
from .classify import Outcome, classify

__all__ = ["CASES", "EXCLUDED", "KNOWN_FAILURES", "ORDER_DEPENDENT", "Case", "Outcome", "classify"]
