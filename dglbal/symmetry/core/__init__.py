"""The analyser's numpy-only core: symbols and exact elimination (:mod:`.algebra`), exponent
fields over a tensor's channel positions (:mod:`.fields`) and the exponent tables the groups
are read from (:mod:`.groups`). Nothing here imports torch or DGL."""
from .algebra import Eliminator, SymbolTable
from .fields import Field
from .groups import ExponentTable, FieldExponent, OuterExponent

__all__ = ["Eliminator", "SymbolTable", "Field", "ExponentTable", "FieldExponent",
           "OuterExponent"]
