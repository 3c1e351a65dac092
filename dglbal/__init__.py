"""dglbal: balanced initialization and rescale-invariance analysis for deep DGL GNNs."""
import os

# DGL reads its backend from here; set it so that `import dgl` writes no config file.
os.environ.setdefault("DGLBACKEND", "pytorch")

from . import init, nn  # noqa: E402
from .balance import (BalanceReport, ConservationMonitor, Rebalancer,  # noqa: E402
                      analyze_and_balance, balance_, balance_constants, conservation_residuals)
from .diagnostics import Diagnosis, diagnose  # noqa: E402
from .symmetry import NeuronGroup, SymmetryReport, analyze  # noqa: E402
from ._version import __version__  # noqa: E402

__all__ = ["analyze", "analyze_and_balance", "balance_", "balance_constants",
           "conservation_residuals", "ConservationMonitor", "SymmetryReport", "BalanceReport",
           "NeuronGroup", "Rebalancer", "diagnose", "Diagnosis", "init", "nn", "__version__"]
