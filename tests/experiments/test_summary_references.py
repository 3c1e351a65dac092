"""The paper's numbers printed beside ours: only for the model family the paper measured."""
import pytest

from dglbal.experiments.config import RunResult, TrainConfig
from dglbal.experiments.reference import reference_interval
from dglbal.experiments.runstore import run_record
from dglbal.experiments.tables import summary_tables


def _cora_record(model, scheme="bal_o", layers=5):
    config = TrainConfig(dataset="cora", model=model, layers=layers, hidden=8)
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
    assert "| bal_o | 50.0 +- n/a |" in table


@pytest.mark.parametrize("model, paper", [("gat", "79.5 +- 0.4"), ("gcn", "79.6 +- 1.0")])
def test_the_paper_value_of_a_measured_model_is_its_own(model, paper):
    assert f"50.0 +- n/a ({paper})" in summary_tables([_cora_record(model)])
