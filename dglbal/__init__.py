"""dglbal: balanced initialization and rescale-invariance analysis for deep DGL GNNs."""
import os
import sys

# DGL picks its backend when it is first imported: from DGLBACKEND, else from
# ~/.dgl/config.json, else it prints a notice and writes that file. dglbal needs PyTorch, so
# when neither DGL is loaded nor DGLBACKEND set, it sets the variable for its own import of
# DGL only and then removes it: no file is written, and the process environment (inherited
# by every subprocess) is left as the user had it.
_SET_BACKEND = "DGLBACKEND" not in os.environ and "dgl" not in sys.modules
if _SET_BACKEND:
    os.environ["DGLBACKEND"] = "pytorch"
try:
    import dgl  # noqa: E402
finally:
    if _SET_BACKEND:
        os.environ.pop("DGLBACKEND", None)
if dgl.backend.backend_name != "pytorch":
    raise ImportError(f"dglbal needs DGL's PyTorch backend, but DGL runs on "
                      f"{dgl.backend.backend_name!r} (DGLBACKEND or ~/.dgl/config.json); set "
                      "DGLBACKEND=pytorch")

from . import init, nn  # noqa: E402
from .balance import (BalanceReport, ConservationMonitor, Rebalancer,  # noqa: E402
                      analyze_and_balance, balance_, balance_constants, conservation_residuals)
from .diagnostics import Diagnosis, diagnose  # noqa: E402
from .symmetry import NeuronGroup, SymmetryReport, analyze  # noqa: E402
from ._version import __version__  # noqa: E402

__all__ = ["analyze", "analyze_and_balance", "balance_", "balance_constants",
           "conservation_residuals", "ConservationMonitor", "SymmetryReport", "BalanceReport",
           "NeuronGroup", "Rebalancer", "diagnose", "Diagnosis", "init", "nn", "__version__"]
