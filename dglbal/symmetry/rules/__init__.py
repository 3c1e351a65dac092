"""The analyser's per-op rules, one module per op family, and the registry they live in.

Importing this package registers the built-in rules: :mod:`.torch_ops` (elementwise),
:mod:`.indexing`, :mod:`.reduction`, :mod:`.linear`, :mod:`.contractions` (``outer``,
``tensordot``, ``addcmul`` and other products), :mod:`.recurrent`,
:mod:`.torch_sparse` (torch's sparse tensors), :mod:`.dgl_sparse` (``dgl.sparse``),
:mod:`.dgl_message_passing` (DGL's message passing) and :mod:`.hgt` (``HGTConv``).
:mod:`.registry` is where rules for custom ops and modules are registered, with the flag that
makes an op a gate; :mod:`.helpers` holds what rule authors reuse.
"""
from . import (contractions, dgl_message_passing, dgl_sparse, hgt, indexing,  # noqa: F401
               linear, recurrent, reduction, torch_ops, torch_sparse)
from .registry import is_gate, register_dgl_rule, register_module_rule, register_op_rule

__all__ = ["register_module_rule", "register_op_rule", "register_dgl_rule", "is_gate"]
