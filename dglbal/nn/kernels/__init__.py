"""The attention kernels behind dglbal's GAT layers, and their rules for the analyser.

:mod:`.attention` (fused edge-softmax attention, eager or compiled by
:mod:`.attention_backend`), its primitives :mod:`.edge_ops` over the cached per-graph
:mod:`.adjacency`, sparse input features (:mod:`.sparse`), and :mod:`.attention_rules`, which
registers the kernels with :mod:`dglbal.symmetry` when this package is imported (the analyser
never imports the layers).
"""
from . import attention_rules  # noqa: F401  (registers the kernels' rules with the analyser)
from .attention import BACKENDS, attention_sum, gatv2_logits, get_backend, set_backend

__all__ = ["BACKENDS", "attention_sum", "gatv2_logits", "get_backend", "set_backend"]
