"""The run files committed under benchmarks/results still name and identify their runs: a
rerun of any of them with the same settings would load the file instead of training."""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from dglbal.experiments.config import TrainConfig
from dglbal.experiments.runkey import run_name
from dglbal.experiments.runstore import load_run

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
RUN_FILES = sorted(p for p in RESULTS.rglob("runs/*.json"))
FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def _config(record: dict) -> TrainConfig:
    recorded = {k: v for k, v in record["config"].items() if k in FIELDS}
    return TrainConfig(**recorded)


def test_there_are_committed_run_files():
    assert len(RUN_FILES) > 50


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_a_committed_run_keeps_its_name_and_identity(path, tmp_path):
    record = json.loads(path.read_text())
    config = _config(record)
    assert f"{run_name(config, record['scheme'], record['seed'])}.json" == path.name
    copy = tmp_path / path.name  # load_run sets a stale file aside: never on the real one
    shutil.copy(path, copy)
    assert load_run(copy, config, record["scheme"], record["seed"]) == record
