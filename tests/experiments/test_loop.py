"""The epoch loop: one forward pass per epoch where train and eval mode agree."""
import copy

import pytest
import torch
from torch import nn

import dglbal.experiments.loop as epochs
from dglbal.data import make_synthetic
from dglbal.data._common import finalize
from dglbal.nn import GAT, GCN
from dglbal.experiments.metrics import accuracy
from dglbal.experiments.train import train_node_classifier


@pytest.fixture(scope="module")
def small_graph():
    return finalize(make_synthetic(num_nodes=200, num_features=30, seed=1))


def _train(model, graph, reuse, monkeypatch, **kwargs):
    monkeypatch.setattr(epochs, "mode_free", lambda m: reuse)
    out = train_node_classifier(model, graph, **kwargs)
    out.pop("seconds")
    return out


@pytest.mark.parametrize("stop_early", [False, True])
def test_reusing_the_training_forward_records_the_same_run(small_graph, monkeypatch,
                                                          stop_early):
    torch.manual_seed(0)
    model = GAT(30, 8, 5, num_layers=3)
    threshold = 0.0
    if stop_early:  # a threshold the loss first crosses within 11 epochs
        full = _train(copy.deepcopy(model), small_graph, False, monkeypatch, optimizer="adam",
                      lr=0.05, epochs=30, loss_threshold=0.0)
        threshold = full["train_loss"][10] * (1 + 1e-6)
    runs = [_train(copy.deepcopy(model), small_graph, reuse, monkeypatch, optimizer="adam",
                   lr=0.05, epochs=30, loss_threshold=threshold) for reuse in (False, True)]
    assert runs[0] == runs[1]
    if stop_early:
        assert runs[0]["stop_reason"] == "loss_threshold" and runs[0]["epochs"] <= 11
    else:
        assert runs[0]["epochs"] == 30 and runs[0]["stop_reason"] == "max_epochs"


def test_reuse_keeps_the_record_of_a_diverging_run(small_graph, monkeypatch):
    torch.manual_seed(0)
    model = GAT(30, 8, 5, num_layers=2)
    runs = [_train(copy.deepcopy(model), small_graph, reuse, monkeypatch, optimizer="sgd",
                   lr=1e6, epochs=40) for reuse in (False, True)]
    assert runs[0]["stop_reason"] == "diverged"
    assert str(runs[0]) == str(runs[1])  # NaN-safe equality


def test_mode_free_names_models_whose_train_and_eval_agree():
    assert epochs.mode_free(GAT(5, 4, 3, num_layers=3))
    assert epochs.mode_free(GCN(5, 4, 3, num_layers=3))
    assert not epochs.mode_free(GAT(5, 4, 3, num_layers=3, dropout=0.5))
    assert not epochs.mode_free(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)))
    assert not epochs.mode_free(nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.1)))
    assert epochs.mode_free(nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.0)))
    assert not epochs.mode_free(nn.Sequential(nn.Linear(5, 4), nn.RReLU()))  # unknown module


@pytest.mark.parametrize("dropout", [0.0, 0.5])  # the forward-reusing and the evaluating loop
@pytest.mark.parametrize("poisoned_at", [1, 3])
def test_a_weight_turning_nan_mid_training_is_never_scored(small_graph, dropout, poisoned_at):
    """The epoch whose step made a weight NaN is not recorded; the record up to it is the
    uninterrupted run's, and the best epoch is one of those."""
    torch.manual_seed(0)
    model = GCN(30, 8, 5, num_layers=3, dropout=dropout)
    clean = copy.deepcopy(model)
    calls = []

    def poison():
        calls.append(1)
        if len(calls) == poisoned_at:
            model.layers[0].weight.grad.fill_(float("nan"))

    torch.manual_seed(1)
    out = train_node_classifier(model, small_graph, epochs=10, on_backward=poison)
    torch.manual_seed(1)
    reference = train_node_classifier(clean, small_graph, epochs=poisoned_at - 1 or 1)
    assert out["stop_reason"] == "diverged"
    assert out["epochs"] == len(out["val_acc"]) == len(out["train_loss"]) == poisoned_at - 1
    if poisoned_at == 1:  # no epoch ended with finite logits: no score at all
        assert (out["best_val_acc"], out["test_acc"], out["best_epoch"]) == (None, None, -1)
    else:
        assert out["val_acc"] == reference["val_acc"][:poisoned_at - 1]
        assert out["best_val_acc"] == max(out["val_acc"]) and out["best_epoch"] < poisoned_at - 1


def test_finite_scores_refuses_nan_logits():
    labels = torch.tensor([0, 1])
    good, bad = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[float("nan"), 0.0],
                                                                       [0.0, 1.0]])
    assert epochs.finite_scores(accuracy, (good, labels), (good, labels)) == (1.0, 1.0)
    assert epochs.finite_scores(accuracy, (good, labels), (bad, labels)) == epochs.NON_FINITE
