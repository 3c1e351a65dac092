"""The epoch loop: one forward pass per epoch where train and eval mode agree."""
import copy

import pytest
import torch
from torch import nn

import dglbal.experiments.loop as epochs
from dglbal.data import make_synthetic
from dglbal.data._common import finalize
from dglbal.nn import GAT, GCN
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
