"""benchmarks/epoch_summary.py: the summary tables again from committed results.csv files and
run directories, epochs as median [quartiles]."""
import csv
import json

import pytest


def _row(seed, best_epoch, test_acc):
    return {"dataset": "cora", "model": "gat", "layers": 10, "scheme": "bal_o", "seed": seed,
            "optimizer": "sgd", "lr": 0.05, "budget": 600, "test_acc": test_acc,
            "best_val_acc": test_acc, "best_epoch": best_epoch, "epochs_to_95": best_epoch // 2,
            "epochs": 600, "seconds": 1.0, "stop_reason": "max_epochs"}


def test_csv_rows_give_medians_not_means(epoch_summary, tmp_path, capsys):
    rows = [_row(0, 99, 0.7), _row(1, 199, 0.8), _row(2, 599, 0.9)]  # 0-based best epochs
    path = tmp_path / "results.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert epoch_summary.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "200 [150-400]" in out  # median [quartiles] of 100, 200, 600 (mean would be 300)
    assert "80.0 +- " in out and "3 budget" in out
    assert "First epoch with training loss" not in out  # a results.csv has no curves


def test_run_files_give_the_first_epoch_below_loss_one(epoch_summary, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    curves = [[2.0, 1.5, 0.9, 0.5], [2.0, 0.8, 0.5, 0.4], [2.0, 1.9, 1.8, 1.7]]
    for seed, curve in enumerate(curves):
        record = {**_row(seed, 3, 0.5), "budget": 4, "epochs": 4, "train_loss": curve,
                  "run": f"cora-gat-L10-bal_o-s{seed}"}
        (runs / f"run{seed}.json").write_text(json.dumps(record))
    assert epoch_summary.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| cora | 10 | bal_o | 3 | 2 [2-3] | 1 |" in out  # epochs 3 and 2; one never


def test_a_path_that_is_neither_is_refused_before_any_output(epoch_summary, tmp_path, capsys):
    with pytest.raises(SystemExit):
        epoch_summary.main([str(tmp_path / "missing")])
    assert "neither a results.csv nor a directory with runs/" in capsys.readouterr().err


def test_per_seed_rows_read_each_runs_curve(epoch_summary, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    curves = {0: [2.0, 0.5, 0.1, 0.3], 1: [2.0, 1.9, 1.8, 1.7]}
    for seed, curve in curves.items():
        record = {**_row(seed, 2, 0.75), "budget": 4, "epochs": 4, "train_loss": curve,
                  "epochs_to_95": 2, "config": {"balance_beta": 4.0},
                  "run": f"cora-gat-L10-bal_o-s{seed}"}
        (runs / f"run{seed}.json").write_text(json.dumps(record))
    assert epoch_summary.main(["--per-seed", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # best epoch 1-based, 95% epoch as recorded, loss below 1 first at epoch 2, lowest 0.1 at 3
    assert ("| cora | 10 | bal_o | 0.05 | 4 | - | 0 | 75.0 | budget at 4 | 3 | 2 | 2 | 0.1 (3) "
            "| 0.3 |") in out
    assert "| 1 | 75.0 | budget at 4 | 3 | 2 | never | 1.7 (4) | 1.7 |" in out
    assert "First epoch with training loss" not in out  # per run, not the summary


def test_per_seed_rows_of_a_results_csv_have_no_curve_columns(epoch_summary, tmp_path, capsys):
    path = tmp_path / "results.csv"
    row = {**_row(0, 9, 0.5), "stop_reason": "diverged", "epochs": 40}
    converged = {**_row(1, 9, 0.5), "stop_reason": "loss_threshold", "epochs": 30}
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerows([row, converged])
    assert epoch_summary.main(["--per-seed", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 50.0 | div at 40 | 10 | 4 | - | - | - |" in out
    assert "| 1 | 50.0 | conv at 30 | 10 | 4 | - | - | - |" in out
