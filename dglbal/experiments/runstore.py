"""Run files: what one holds, atomic writes, verified loads, and claims on runs in progress.

A file records the run's result, its whole configuration and its identity (its run key,
:mod:`dglbal.experiments.runkey`); a file is reused only when its recorded identity, with
fields it predates filled in by their current defaults, equals the run's, and when it holds
nothing a run cannot have produced. Anything else (unreadable JSON, a foreign file, a stale
configuration, a hand-edited value) is moved to ``rejected/`` beside it, with a warning naming
it, and the run is trained again.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import typing
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

import numpy as np

from dglbal.init import DEFAULT_LOGIT_SPREAD, get_scheme, scheme_names

from .atomic import write_json_atomic
from .claims import CLAIM_SUFFIX, claim, describe, release_own
from .config import RunResult, TrainConfig
from .runkey import canonical, legacy_run_name, recorded_identity, run_identity, run_name
from .value_checks import conforms

__all__ = ["RunFileWarning", "RunClaimedWarning", "UnmonitoredRunWarning", "warn_unmonitored",
           "CLAIM_POLL_SECONDS", "epochs_to_fraction", "run_record", "set_aside", "load_run",
           "result_of", "Interrupted", "run_or_load", "distinct", "balance_beta_of",
           "logit_spread_of"]


class RunFileWarning(UserWarning):
    """A run file could not be reused and was set aside."""


class UnmonitoredRunWarning(UserWarning):
    """``--monitor`` was asked for runs that were loaded from their files, not trained."""


def warn_unmonitored(records: List[dict], trained: Set[str], runs_dir: Path) -> None:
    """Say which of ``records`` were loaded from ``runs_dir``, not trained (their run names
    are not in ``trained``), so ``--monitor``, which records a run as it trains, wrote nothing
    for them (the monitor is not part of a run's identity: a finished run is not trained
    again)."""
    loaded = [r["run"] for r in records if r["run"] not in trained]
    if loaded:
        warnings.warn(f"--monitor records runs as they train; {len(loaded)} run(s) finished "
                      f"earlier (or by another process) were loaded from {runs_dir}, so no "
                      f"monitor file was written for them: {', '.join(loaded)} (move their "
                      "run files away to train them again with the monitor)",
                      UnmonitoredRunWarning, stacklevel=3)


def epochs_to_fraction(val_acc: List[float], fraction: float = 0.95) -> int:
    """First epoch (1-based) whose validation accuracy reaches ``fraction`` of the best."""
    if not val_acc:
        return 0
    target = fraction * max(val_acc)
    return int(np.argmax(np.asarray(val_acc) >= target)) + 1


def run_record(config: TrainConfig, result: RunResult, device: str, **extra: Any) -> dict:
    """What a run file holds: the result, the run's whole configuration and its identity."""
    run_config = dataclasses.replace(config, schemes=[result.scheme], seeds=[result.seed])
    return dict(dataset=config.dataset, model=config.model, layers=config.layers,
                optimizer=config.optimizer, lr=config.learning_rate(), budget=config.epochs,
                epochs_to_95=epochs_to_fraction(result.val_acc), **extra, **result.to_dict(),
                device=device,
                config=canonical(dataclasses.asdict(run_config)),
                run_key=run_identity(config, result.scheme, result.seed))


_REQUIRED_RESULT_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunResult)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
"""RunResult fields every run file has; later ones (metric, rebalance_history) have defaults
that hold for files written before them."""


_RECORD_TYPES: Dict[str, Any] = {
    **typing.get_type_hints(RunResult), "epochs_to_95": int, "dataset": str, "model": str,
    "layers": int, "optimizer": str, "lr": float, "budget": int, "config": dict,
    "run_key": dict}
"""The type of every field a run file holds (RunResult's from its annotations)."""


def _problem(record: Any, identity: Dict[str, Any]) -> Optional[str]:
    """Why ``record`` is not the run ``identity`` (None when it is)."""
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a run record"
    missing = [k for k in ("run_key", "config", "epochs_to_95", *_REQUIRED_RESULT_FIELDS)
               if k not in record]
    if missing:
        return f"is not a dglbal run record (no {', '.join(missing)})"
    wrong = [f"{name}={record[name]!r:.40}" for name, kind in _RECORD_TYPES.items()
             if name in record and not conforms(record[name], kind)]
    if wrong:
        return f"has fields of the wrong type: {', '.join(wrong)}"
    if not len(record["train_loss"]) == len(record["val_acc"]) == record["epochs"]:
        return (f"is inconsistent: {len(record['train_loss'])} training losses, "
                f"{len(record['val_acc'])} validation scores, epochs={record['epochs']}")
    recorded = recorded_identity(record["run_key"])
    differ = sorted(k for k in set(identity) | set(recorded) if identity.get(k, "<absent>")
                    != recorded.get(k, "<absent>"))
    if differ:
        shown = ", ".join(f"{k}={recorded.get(k, '<absent>')!r} "
                          f"(now {identity.get(k, '<absent>')!r})" for k in differ[:4])
        return f"records another configuration: {shown}"
    return _impossible(record)


def _is_score(value: Any) -> bool:
    return isinstance(value, (int, float)) and 0.0 <= value <= 1.0


def _impossible(record: dict) -> Optional[str]:
    """What a well-typed record of the right run says that no run can have produced (a
    hand-edited or damaged file), or None. Scores are accuracies or ROC-AUCs in [0, 1]; NaN
    only where the metric can be undefined (ROC-AUC on a split with one class), never the
    best validation score; ``best_epoch`` is the 0-based epoch of that score (-1 with no
    scored epoch); ``scheme`` / ``seed`` / ``lr`` / ``budget`` are those of the run key."""
    key, epochs = record["run_key"], record["epochs"]
    contradicted = [f"{name}={record[name]!r} (run key: {key[k]!r})"
                    for name, k in (("scheme", "scheme"), ("seed", "seed"), ("lr", "lr"),
                                    ("budget", "epochs"), ("dataset", "dataset"),
                                    ("model", "model"), ("layers", "layers"))
                    if name in record and k in key and record[name] != key[k]]
    config = record["config"]
    for name, axis, value in (("scheme", "schemes", key.get("scheme")),
                              ("seed", "seeds", key.get("seed"))):
        if axis in config and config[axis] != [value]:
            contradicted.append(f"config.{axis}={config[axis]!r} (run key: {name}={value!r})")
    if contradicted:
        return f"contradicts its run key: {', '.join(contradicted)}"
    nan_allowed = record.get("metric", "accuracy") != "accuracy"
    bad = []
    if epochs < 0 or ("epochs" in key and epochs > key["epochs"]):
        bad.append(f"epochs={epochs} (budget {key.get('epochs')})")
    if record["stop_reason"] not in ("max_epochs", "loss_threshold", "diverged"):
        bad.append(f"stop_reason={record['stop_reason']!r}")
    if not all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0
               for x in record["train_loss"]):
        bad.append("a training loss that is negative or not finite")
    if not all(_is_score(x) or (nan_allowed and math.isnan(x)) for x in record["val_acc"]):
        bad.append("a validation score outside [0, 1]")
    best, val, test = record["best_epoch"], record["best_val_acc"], record["test_acc"]
    if best == -1:
        if val is not None or test is not None:
            bad.append(f"scores ({val!r}, {test!r}) with best_epoch=-1 (no scored epoch)")
    elif not 0 <= best < epochs:
        bad.append(f"best_epoch={best} of {epochs} epochs (0-based)")
    elif not (_is_score(val) and val == record["val_acc"][best]):
        bad.append(f"best_val_acc={val!r}, not epoch {best}'s validation score "
                   f"{record['val_acc'][best]!r}")
    if best != -1 and (test is None
                       or not (_is_score(test) or (nan_allowed and math.isnan(test)))):
        bad.append(f"test_acc={test!r}, not a score in [0, 1]"
                   + ("" if nan_allowed else " (accuracy is never NaN)"))
    if best != -1 and record["epochs_to_95"] != epochs_to_fraction(record["val_acc"]):
        bad.append(f"epochs_to_95={record['epochs_to_95']} (its validation scores say "
                   f"{epochs_to_fraction(record['val_acc'])})")
    return f"holds impossible values: {'; '.join(bad)}" if bad else None


def set_aside(path: Path, reason: str) -> Path:
    """Move ``path`` to ``rejected/`` beside it (never overwriting) and warn, naming both."""
    folder = path.parent / "rejected"
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.stem}.{n}{path.suffix}", n + 1
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another sweep on this directory set it aside first
        return target
    warnings.warn(f"run file {path} {reason}; moved it to {target} and running it again",
                  RunFileWarning, stacklevel=3)
    return target


def load_run(path: Path, config: TrainConfig, scheme: str, seed: int) -> Optional[dict]:
    """The record in ``path`` if it is this run; None if there is none or it was set aside."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        set_aside(path, f"is not readable JSON ({type(error).__name__}: {error})")
        return None
    reason = _problem(record, run_identity(config, scheme, seed))
    if reason is not None:
        set_aside(path, reason)
        return None
    return record


def result_of(record: dict) -> RunResult:
    """The :class:`RunResult` a run record holds (fields added to RunResult since the file
    was written take their defaults)."""
    return RunResult(**{k: record[k] for k in RunResult.__dataclass_fields__ if k in record})


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a set of runs; says how many finished runs are kept, and where."""

    def __init__(self, kept: int, total: int, folder: Path):
        super().__init__(f"interrupted: {kept} of {total} runs finished and are kept in "
                         f"{folder}; run the same command again to resume")
        self.kept, self.total, self.folder = kept, total, folder


CLAIM_POLL_SECONDS = 2.0
"""How often a sweep looks again for runs another sweep on the same directory is training."""


class RunClaimedWarning(UserWarning):
    """A run is being trained by another process; this one waits for its file."""


def _save(path: Path, record: dict, kept: int, total: int, runs_dir: Path) -> dict:
    """Write a run file; a failure (a full disk, ...) names the file and what is kept."""
    try:
        return write_json_atomic(path, record)
    except OSError as error:
        raise OSError(error.errno, f"{error.strerror}; the run just trained is lost, {kept} of "
                      f"{total} runs finished and are kept in {runs_dir}; free space (or fix "
                      "the cause) and run the same command again to resume") from None


def run_or_load(runs: List[Tuple[TrainConfig, str, int]], runs_dir: Path,
                train: Callable[[TrainConfig, str, int], Tuple[RunResult, str]],
                on_done: Callable[[], object] = lambda: None) -> List[dict]:
    """One record per (config, scheme, seed), in order: its run file's when that file is
    this run, else ``train(config, scheme, seed) -> (result, device)``'s, written as soon as
    it finishes. Each run is claimed (:mod:`dglbal.experiments.claims`) while it trains, so
    processes sharing ``runs_dir`` split the runs; runs another process holds are waited for
    after this one's own. A ``KeyboardInterrupt`` becomes :class:`Interrupted`; every
    finished run is on disk. A run file that cannot be written is an ``OSError`` naming it."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    records: Dict[int, dict] = {}
    pending = list(enumerate(runs))
    announced = set()
    try:
        while pending:
            others = []
            for index, (config, scheme, seed) in pending:
                path = runs_dir / f"{run_name(config, scheme, seed)}.json"
                _adopt_legacy(path, runs_dir / f"{legacy_run_name(config, scheme, seed)}.json")
                record = load_run(path, config, scheme, seed)
                if record is None:
                    record = _train_claimed(path, config, scheme, seed, train,
                                            len(records), len(runs))
                if record is None:
                    others.append((index, (config, scheme, seed)))
                    if path.stem not in announced:
                        announced.add(path.stem)
                        warnings.warn(f"run {path.stem} is being trained by another process "
                                      f"({describe(_claim_path(path))}); waiting for its file "
                                      f"(delete {_claim_path(path)} if that process is gone)",
                                      RunClaimedWarning, stacklevel=2)
                    continue
                records[index] = record
                on_done()
            if others and len(others) == len(pending):
                time.sleep(CLAIM_POLL_SECONDS)
            pending = others
    except KeyboardInterrupt:
        raise Interrupted(len(records), len(runs), runs_dir) from None
    return [records[index] for index in range(len(runs))]


def _adopt_legacy(path: Path, legacy: Path) -> None:
    """A run file written under the run's name before its key was normalised takes the
    current name (load_run then checks it is this run): finished work is kept."""
    if legacy != path and legacy.exists() and not path.exists():
        try:
            os.replace(legacy, path)
        except FileNotFoundError:  # another sweep renamed it first
            pass


def _claim_path(path: Path) -> Path:
    return path.with_suffix(CLAIM_SUFFIX)


def _train_claimed(path: Path, config: TrainConfig, scheme: str, seed: int, train, kept: int,
                   total: int) -> Optional[dict]:
    """Train and write the run under a claim; None if another process holds the claim."""
    claim_path, token = _claim_path(path), uuid.uuid4().hex
    try:  # entered before claiming, so an interrupt right after `claim` returns releases it
        if not claim(claim_path, token):
            return None
        record = load_run(path, config, scheme, seed)  # written while we looked elsewhere
        if record is None:
            result, device = train(config, scheme, seed)
            record = _save(path, run_record(config, result, device, run=path.stem), kept,
                           total, path.parent)
        return record
    finally:
        release_own(claim_path, token)


def distinct(records: Iterable[dict]) -> List[dict]:
    """``records`` without repeats of one run (same run key), in order: a run loaded twice is
    counted once."""
    seen, unique = set(), []
    for record in records:
        key = json.dumps(record.get("run_key", record.get("run")), sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def balance_beta_of(record: dict) -> Optional[float]:
    """The beta a recorded run balanced with (its configuration's ``balance_beta``, else its
    scheme's own; runs written before the field existed ran with their scheme's own); None
    when its scheme does not balance or is no longer registered."""
    if record.get("scheme") not in scheme_names():
        return None
    chosen = record.get("config", {}).get("balance_beta")
    return TrainConfig(balance_beta=chosen).beta_of(record["scheme"])


def logit_spread_of(record: dict) -> Optional[float]:
    """The initial logit spread a recorded run of a data-scaled scheme was scaled to (its
    configuration's ``logit_spread``; runs written before the field existed used the
    default); None when its scheme is not data-scaled or is no longer registered."""
    scheme = record.get("scheme")
    if scheme not in scheme_names() or not get_scheme(scheme).data_scaled:
        return None
    return record.get("config", {}).get("logit_spread", DEFAULT_LOGIT_SPREAD)


