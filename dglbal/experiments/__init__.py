"""The papers' experiments, built on the library: the configuration and its checks
(:mod:`.config`, :mod:`.value_checks`, :mod:`.environment`), the training protocols
(:mod:`.protocol`) and the papers' reference numbers (:mod:`.reference`), metrics, the epoch
loop (:mod:`.loop`) and what runs at each step (:mod:`.step_hooks`), one training run
(:mod:`.train`), runs' identities (:mod:`dglbal.experiments.runkey`), the store of finished
runs (:mod:`.runstore`), resumable grids (:mod:`.sweep`) and their tables and plots
(:mod:`.tables`).

Nothing in the library imports this package; the command line (:mod:`dglbal.cli`) does.
"""
from .config import RunResult, TrainConfig, validate_config
from .sweep import SweepConfig, run_sweep, validate_sweep
from .train import build_model, run_experiment, run_once, train_node_classifier

__all__ = ["RunResult", "TrainConfig", "validate_config", "SweepConfig", "validate_sweep",
           "run_sweep", "build_model", "run_experiment", "run_once", "train_node_classifier"]
