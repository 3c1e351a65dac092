"""``dglbal train``'s summary: the printed table and results.json, checked by hand."""
import json

import pytest
from scipy import stats

from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.experiments.tables import save_results, summary_table


def _result(seed, test_acc, scheme="xavier", val_acc=(0.5,)):
    scored = test_acc is not None
    best = max(range(len(val_acc)), key=lambda i: (val_acc[i], -i))
    return RunResult(scheme=scheme, seed=seed, test_acc=test_acc,
                     best_val_acc=val_acc[best] if scored else None,
                     best_epoch=best if scored else -1, epochs=len(val_acc) if scored else 0,
                     seconds=0.1, stop_reason="max_epochs" if scored else "diverged",
                     train_loss=[1.0] * len(val_acc) if scored else [],
                     val_acc=list(val_acc) if scored else [])


@pytest.mark.parametrize("results", [[_result(0, 0.5)], [_result(0, 0.5), _result(1, None)]],
                         ids=["one run", "one scored of two"])
def test_one_scored_run_has_no_interval_not_one_of_width_zero(tmp_path, results):
    summary = json.loads(save_results(results, TrainConfig(), tmp_path / "r.json").read_text())
    assert summary["summary"]["xavier"]["test_acc_mean"] == pytest.approx(0.5)
    assert summary["summary"]["xavier"]["test_acc_ci95"] is None
    assert "50.0 +- n/a" in summary_table(results)


def test_the_interval_of_two_runs_is_students(tmp_path):
    results = [_result(0, 0.4), _result(1, 0.6)]
    summary = json.loads(save_results(results, TrainConfig(), tmp_path / "r.json").read_text())
    half = stats.t.ppf(0.975, 1) * 0.1414213562 / 2 ** 0.5  # sd of (0.4, 0.6) is 0.1414
    assert summary["summary"]["xavier"]["test_acc_ci95"] == pytest.approx(half, rel=1e-6)


def test_the_best_epoch_counts_from_one_as_the_epochs_do():
    # best at the last of 4 epochs (0-based 3) and at the 2nd of 4 (0-based 1): median 3
    results = [_result(0, 0.5, val_acc=(0.1, 0.2, 0.3, 0.4)),
               _result(1, 0.5, val_acc=(0.1, 0.4, 0.3, 0.2))]
    row = summary_table(results).splitlines()[2].split()
    assert row[0] == "xavier" and row[5:7] == ["3", "4"]  # best epoch, epochs
    last = summary_table(results[:1]).splitlines()[2].split()
    assert last[5:7] == ["4", "4"]  # the last epoch was the best: it is epoch 4 of 4
