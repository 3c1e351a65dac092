"""dglbal: balanced initialization and rescale-invariance analysis for deep DGL GNNs."""
import os

# DGL reads its backend from here; set it so that `import dgl` writes no config file.
os.environ.setdefault("DGLBACKEND", "pytorch")

from . import init, nn  # noqa: E402
from .balance import BalanceReport, analyze_and_balance, balance_, balance_constants  # noqa: E402
from .conservation import ConservationMonitor, conservation_residuals  # noqa: E402
from .rebalance import Rebalancer  # noqa: E402
from .symmetry import NeuronGroup, SymmetryReport, analyze  # noqa: E402

__version__ = "0.1.0"
__all__ = ["analyze", "analyze_and_balance", "balance_", "balance_constants",
           "conservation_residuals", "ConservationMonitor", "SymmetryReport", "BalanceReport",
           "NeuronGroup", "Rebalancer", "init", "nn", "__version__"]
