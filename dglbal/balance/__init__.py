"""Balancing along the symmetries the analyser finds: at initialization and function-preserving
(:mod:`~dglbal.balance.balancing`, with the orbit's minimum-norm point in :mod:`.orbit`), the
conservation law (:mod:`.residuals`) and its monitor (:mod:`.conservation`), and dynamic
rescaling during training (:mod:`.rebalance`). :mod:`.index` is the one flat index of parameters
and exponents they all read; :mod:`.flat` the float64 working copy balancing moves,
:mod:`.init_walk` init mode's walk.
"""
from .balancing import (BalanceReport, BalanceSummary, analyze_and_balance, balance_,
                        balance_constants, group_norms)
from .conservation import ConservationMonitor
from .index import ExponentIndex
from .rebalance import Rebalancer
from .residuals import conservation_residuals, relative_residuals

__all__ = ["BalanceReport", "BalanceSummary", "analyze_and_balance", "balance_",
           "balance_constants", "group_norms", "ConservationMonitor", "conservation_residuals",
           "relative_residuals", "ExponentIndex", "Rebalancer"]
