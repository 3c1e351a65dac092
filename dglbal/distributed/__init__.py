"""Training past one machine: DistDGL (partitioned graphs, DGL's servers and samplers) and
data-parallel trainers with ``torch.nn.parallel.DistributedDataParallel``.

- :func:`partition` writes a dataset as DGL partitions; ``dglbal train --dist-config
  <part_config.json>`` (:func:`run_dist_experiment`) trains on them, in DGL's standalone mode
  or under DGL's launcher.
- :mod:`dglbal.distributed.ddp`: one balanced start for every replica, replica checks.
- :func:`launch_local` runs the server and trainer roles on this host.
"""
from .ddp import broadcast_module_, data_parallel, init_from_env, replica_divergence, unwrap
from .graph import initialize, open_graph, partition, read_part_config
from .local import LocalRun, dglbal_train_command, launch_local
from .trainer import run_dist_experiment

__all__ = ["partition", "read_part_config", "initialize", "open_graph", "run_dist_experiment",
           "launch_local", "dglbal_train_command", "LocalRun", "init_from_env",
           "broadcast_module_", "data_parallel", "replica_divergence", "unwrap"]
