"""What identifies a run: its run key, its file name, and the setting a summary table is about.

A run's identity is every :class:`~dglbal.experiments.config.TrainConfig` field that can change
its result, read from the dataclass itself, so a field added later enters it without editing
this module. Fields whose metadata says ``run_key=False`` (the data directory, the device,
diagnostics) are left out; the grid axes ``schemes`` / ``seeds`` become the run's one
``scheme`` and ``seed``; ``lr`` is the learning rate actually used (the paper's when ``lr`` is
None).

The file name is readable, ``<dataset>-<model>-L<layers>-<scheme>-s<seed>-<hash>.json``: the
hash covers only the identity entries that differ from the defaults, so adding a field whose
default reproduces the old behaviour keeps every existing name.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from typing import Any, Dict, Iterable, List, Optional

from dglbal.data import dataset_names

from .config import TrainConfig
from .protocol import PROTOCOLS, get_protocol, paper_learning_rate

__all__ = ["GRID_AXES", "run_identity", "recorded_identity", "run_name", "legacy_run_name",
           "canonical", "table_setting", "describe_differences", "paper_differences"]

GRID_AXES = ("schemes", "seeds")


def canonical(value: Any) -> Any:
    """JSON-shaped (tuples become lists, paths strings), as a file would store it."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _in_key(f: dataclasses.Field) -> bool:
    return f.metadata.get("run_key", True) and f.name not in GRID_AXES


_REAL_FIELDS = frozenset(name for name, kind in typing.get_type_hints(TrainConfig).items()
                         if kind in (float, Optional[float]))


def _as_real(name: str, value: Any) -> Any:
    """A real-valued setting given as an integer (``balance_beta=4`` in Python) as the float
    the command line gives (4.0): one run, one name."""
    integer = isinstance(value, int) and not isinstance(value, bool)
    return float(value) if integer and name in _REAL_FIELDS else value


_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _normalised(settings: Dict[str, Any]) -> Dict[str, Any]:
    """``settings`` (a run key or a configuration) with settings that act as their default
    does written as the default: ``--batch-size`` / ``--fanout`` without minibatch sampling,
    and a ``--loss-threshold`` equal to the protocol's for the dataset. A run given them
    explicitly is the run without them (one key, one file). None of the committed run files
    holds such a setting, so no existing name changes."""
    settings = dict(settings)
    if not settings.get("minibatch") and settings.get("partition") is None:
        settings.update(batch_size=_FIELD_DEFAULTS["batch_size"],
                        fanout=_FIELD_DEFAULTS["fanout"])
    threshold, dataset = settings.get("loss_threshold"), settings.get("dataset")
    if threshold is not None and dataset in dataset_names():
        protocol = settings.get("protocol", _FIELD_DEFAULTS["protocol"])
        if protocol in PROTOCOLS and threshold == get_protocol(protocol).loss_threshold(dataset):
            settings["loss_threshold"] = None
    return settings


def _raw_identity(config: TrainConfig, scheme: str, seed: int) -> Dict[str, Any]:
    identity = {f.name: _as_real(f.name, getattr(config, f.name))
                for f in dataclasses.fields(config) if _in_key(f)}
    identity.update(lr=_as_real("lr", config.learning_rate()), scheme=scheme, seed=seed)
    return canonical(identity)


def run_identity(config: TrainConfig, scheme: str, seed: int) -> Dict[str, Any]:
    """Every setting that changes the result of run (``scheme``, ``seed``) of ``config``
    (settings that act as their defaults do written as the defaults, ``_normalised``)."""
    return _normalised(_raw_identity(config, scheme, seed))


def _defaults() -> Dict[str, Any]:
    return run_identity(TrainConfig(), scheme="", seed=0)


def recorded_identity(run_key: Dict[str, Any]) -> Dict[str, Any]:
    """The identity a run file's recorded ``run_key`` stands for today: fields added since
    the file was written take their defaults, settings acting as defaults are normalised."""
    return _normalised({**_defaults(), **run_key})


def legacy_run_name(config: TrainConfig, scheme: str, seed: int) -> str:
    """The name the run had before ``_normalised`` (a file written then is renamed)."""
    return _name(config, _raw_identity(config, scheme, seed), scheme, seed)


def run_name(config: TrainConfig, scheme: str, seed: int) -> str:
    """``<dataset>-<model>-L<layers>-<scheme>-s<seed>-<8 hex digits>``, with ``dist-`` in
    front for a run on partitions (a config whose identity has a ``partition`` entry,
    :class:`dglbal.distributed.runkey.DistTrainConfig`)."""
    return _name(config, run_identity(config, scheme, seed), scheme, seed)


def _name(config: TrainConfig, identity: Dict[str, Any], scheme: str, seed: int) -> str:
    defaults = _defaults()
    changed = {k: v for k, v in identity.items() if k not in defaults or defaults[k] != v}
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
    dist = "dist-" if identity.get("partition") is not None else ""  # on DistDGL partitions
    return f"{dist}{config.dataset}-{config.model}-L{config.layers}-{scheme}-s{seed}-{digest}"


def table_setting(record: dict) -> str:
    """The configuration a summary table is about: everything but the table's own axes.
    Fields the record predates take their current defaults, as in the run identity: a run
    written before a field existed is the same setting as one written with its default.
    A rate given explicitly that is the paper's default for the run's dataset and depth is
    the default (as in the run key): one setting, one panel, whose depths keep their own
    default rates side by side; any other rate is its own setting."""
    config = _normalised({**canonical(dataclasses.asdict(TrainConfig())),
                          **record.get("config", {})})
    lr = config.get("lr")
    if lr is not None:
        default = paper_learning_rate(config["dataset"], config["layers"], config["optimizer"])
        config["lr"] = None if math.isclose(float(lr), default) else _as_real("lr", lr)
    settings = {k: v for k, v in config.items()
                if k not in ("dataset", "model", "layers", *GRID_AXES)
                and k not in _EXCLUDED_FROM_TABLES}
    return json.dumps(settings, sort_keys=True)


_EXCLUDED_FROM_TABLES = frozenset(f.name for f in dataclasses.fields(TrainConfig)
                                  if not f.metadata.get("run_key", True))


def describe_differences(settings: Iterable[str]) -> Dict[str, str]:
    """For each table setting, a short label of the fields where the settings differ."""
    parsed = {s: json.loads(s) for s in settings}
    keys = sorted({k for p in parsed.values() for k in p})
    varying = [k for k in keys if len({json.dumps(p.get(k)) for p in parsed.values()}) > 1]
    return {s: ", ".join(f"{k}={p.get(k)!r}" for k in varying) for s, p in parsed.items()}


_PAPER_SETTING = {k: v for k, v in json.loads(table_setting({"config": {"protocol": "paper"}})
                                              ).items() if k != "optimizer"}
"""The paper's experiments as a table setting: ``--protocol paper`` with every other option
at its default (GATv2 or GCN of width 64, one head, no bias, no dropout, 5000 epochs, the
paper's learning rates); the optimizer is a table axis of the paper's own (SGD, Adam)."""


def paper_differences(records: Iterable[dict]) -> List[str]:
    """The settings in which ``records`` differ from the paper's experiments, as
    ``name=value`` (one entry per name and value), so that a table printing the paper's
    numbers beside them can say they come from another setting; empty when every record is
    a run of the paper's setting.

    Parameters
    ----------
    records : iterable of dict
        Run records (run files' contents).

    Returns
    -------
    list of str
        E.g. ``["epochs=600", "protocol='dglbal'"]``.

    Examples
    --------
    >>> paper_differences([{"config": {"protocol": "paper"}}])
    []
    >>> paper_differences([{"config": {"protocol": "dglbal", "epochs": 600}}])
    ['epochs=600', "protocol='dglbal'"]
    """
    found = set()
    for record in records:
        setting = json.loads(table_setting(record))
        found.update(f"{k}={setting.get(k)!r}" for k in _PAPER_SETTING
                     if setting.get(k) != _PAPER_SETTING[k])
    return sorted(found)
