"""What a run on a partitioned graph is: the configuration, with the dataset's defaults taken
from the dataset the partitions were made of, and the partitions' identity in its run key.

A partitioned run differs from a full-graph run of the same options (it samples
neighbourhoods over DistDGL, on these partitions), so its run key carries a ``partition``
entry (``{"graph_name": ..., "id": ...}``) that no other run has: a plain ``dglbal train``
never loads a ``--dist-config`` run's file, nor a run on other partitions.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Union

from dglbal.data import dataset_names
from dglbal.experiments.config import TrainConfig

from .configs import read_part_config

__all__ = ["DistTrainConfig", "partition_identity", "dist_train_config"]


@dataclasses.dataclass
class DistTrainConfig(TrainConfig):
    """A :class:`TrainConfig` for partitioned-graph training: ``partition`` (the graph name and
    id of the partitions) enters its run key and its run files' names (``dist-...``)."""

    partition: Optional[Dict[str, Any]] = None


def _config_hash(meta: dict) -> str:
    """A hash of a partition config (without the paths of its part files, which move)."""
    kept = {k: v for k, v in meta.items() if not k.startswith("part-")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def partition_identity(part_config: Union[str, Path]) -> Dict[str, Any]:
    """``{"graph_name", "id"}`` of a partitioned graph: the ``partition_id`` that
    ``dglbal.distributed partition`` records (a hash of the config and of which node went
    to which partition), else a hash of the partition config."""
    meta = read_part_config(part_config)
    recorded = meta.get("dglbal", {}).get("partition_id")
    return {"graph_name": meta["graph_name"],
            "id": recorded if isinstance(recorded, str) and recorded else _config_hash(meta)}


def dist_train_config(config: TrainConfig, part_config: Union[str, Path], *,
                      named_dataset: Optional[str] = None) -> DistTrainConfig:
    """``config`` for training on the partitions of ``part_config``.

    Its ``dataset`` (and ``split``) become those the partitions were made of, as
    ``dglbal.distributed partition`` records them, so the paper's learning rate and the stop
    rule are that dataset's; ``minibatch`` is True (the trainer always samples); ``partition``
    names the partitions. ``config.dataset`` is not read; ``named_dataset`` is the dataset a
    user named explicitly (the command line's ``--dataset``), which must be the partitions'.

    Raises
    ------
    ValueError
        ``--protocol paper`` (its raw features and one-way edges are applied when loading a
        dataset, not to partitions made of the dglbal protocol's graph), or partitions that do
        not record their dataset while the learning rate or the stop loss is left to the
        dataset's default, or a ``named_dataset`` that is not the partitions' recorded one.
    PartConfigError
        ``part_config`` is not a usable partition config.
    """
    if isinstance(config, DistTrainConfig) and config.partition is not None:
        return config
    meta = read_part_config(part_config)
    entry = meta.get("dglbal", {})
    dataset = entry.get("dataset")
    if config.protocol == "paper":
        raise ValueError(
            "--protocol paper cannot be used with --dist-config: the paper's data handling "
            "(raw features, one-way edges) is applied when a dataset is loaded, and the "
            "partitions were made of the graph as dglbal loads it; use --protocol dglbal "
            "(with --lr / --loss-threshold for the paper's values)")
    if named_dataset is not None and named_dataset != dataset:
        recorded = (f"were partitioned from {dataset!r}" if dataset is not None
                    else "do not record which dataset they were partitioned from")
        raise ValueError(
            f"--dataset {named_dataset} with --dist-config: the partitions in {part_config} "
            f"{recorded}, and they are the data; drop --dataset, or partition "
            f"{named_dataset} with `python -m dglbal.distributed partition`")
    if dataset is None:
        needed = [flag for flag, value in (("--lr", config.lr),
                                           ("--loss-threshold", config.loss_threshold))
                  if value is None]
        if needed:
            raise ValueError(
                f"{part_config} does not record which dataset it was partitioned from (made "
                "by another tool or an older dglbal), so its default learning rate and stop "
                f"loss are unknown: pass {' and '.join(needed)}, or partition it again with "
                "`python -m dglbal.distributed partition`")
        dataset = meta["graph_name"]
    elif dataset not in dataset_names():
        raise ValueError(f"{part_config} records dataset {dataset!r}, which is not one of "
                         f"{', '.join(dataset_names())}")
    split = entry.get("split")
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainConfig)}
    fields.update(dataset=dataset, split=split if isinstance(split, int) else 1,
                  minibatch=True)
    return DistTrainConfig(**fields, partition=partition_identity(part_config))
