"""Summary tables: the paper's numbers only for the model family the paper measured, beside
runs of another setting only with the settings named, and the score named as what it is
(accuracy or ROC-AUC)."""
import pytest

from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.experiments.reference import reference_interval
from dglbal.experiments.runstore import run_record
from dglbal.experiments.tables import summary_tables


def _cora_record(model, scheme="bal_o", layers=5, **options):
    config = TrainConfig(dataset="cora", model=model, layers=layers, **{"hidden": 8, **options})
    result = RunResult(scheme=scheme, seed=0, test_acc=0.5, best_val_acc=0.5, best_epoch=0,
                       epochs=1, seconds=0.1, stop_reason="max_epochs", train_loss=[1.0],
                       val_acc=[0.5])
    return run_record(config, result, "cpu")


@pytest.mark.parametrize("model", ["sage", "gin"])
def test_a_model_the_paper_did_not_measure_gets_no_paper_value(model):
    assert reference_interval(model, "cora", "bal_o", 5) is None
    assert reference_interval(model, "citeseer", "bal_o", 5) is None
    assert reference_interval(model, "cora", "bal_o", 5, "adam") is None
    table = summary_tables([_cora_record(model)])
    assert "79.5 +- 0.4" not in table  # the GAT's BalO at L = 5 on Cora
    assert "Test accuracy (%), mean +- 95% CI:" in table and "paper" not in table
    assert f"### {model.upper()} on cora (sgd, at most 5000 epochs, 1 seed)" in table
    assert "| bal_o | 50.0 +- n/a |" in table


@pytest.mark.parametrize("model, paper", [("gat", "79.5 +- 0.4"), ("gcn", "79.6 +- 1.0")])
def test_the_paper_value_of_a_measured_model_is_its_own(model, paper):
    assert f"50.0 +- n/a ({paper})" in summary_tables([_cora_record(model)])


def test_a_sweep_of_roc_auc_runs_says_roc_auc_not_accuracy():
    config = TrainConfig(dataset="minesweeper", model="gcn", layers=2, hidden=8)
    result = RunResult(scheme="xavier", seed=0, test_acc=0.75, best_val_acc=0.7, best_epoch=0,
                       epochs=1, seconds=0.1, stop_reason="max_epochs", train_loss=[0.6],
                       val_acc=[0.7], metric="rocauc")
    table = summary_tables([run_record(config, result, "cpu")])
    assert "Test ROC-AUC (%), mean +- 95% CI" in table
    assert "Epochs to the best validation ROC-AUC / to 95% of it" in table
    assert "accuracy" not in table
    cora = summary_tables([_cora_record("gcn")])  # accuracy panels read as before
    assert "Test accuracy (%), mean +- 95% CI" in cora
    assert "Epochs to the best validation accuracy / to 95% of it" in cora


@pytest.mark.parametrize("options, named", [
    ({"protocol": "paper", "hidden": 64}, None),
    ({"protocol": "paper", "hidden": 64, "lr": 0.1}, None),  # the paper's rate at L = 5
    ({"protocol": "paper", "hidden": 64, "epochs": 600}, "epochs=600"),
    ({"protocol": "dglbal", "hidden": 64}, "protocol='dglbal'"),
    ({"protocol": "paper", "hidden": 64, "balance_beta": 4.0}, "balance_beta=4.0"),
    ({"protocol": "paper"}, "hidden=8"),
])
def test_the_paper_value_beside_runs_of_another_setting_says_which(options, named):
    """The 600-epoch tables under --protocol dglbal printed the paper's numbers in brackets
    as if they were the target of those runs; the heading now names how they differ."""
    table = summary_tables([_cora_record("gat", **options)])
    assert "50.0 +- n/a (79.5 +- 0.4)" in table
    heading = next(line for line in table.splitlines() if "mean +- 95% CI" in line)
    if named is None:
        assert heading.endswith("(the paper's in brackets):")
    else:
        assert "from its own setting: these runs have" in heading and named in heading
