"""Dynamic rescaling in the training protocol: ROC-AUC, the hook, config fields and the CLI."""
import json

import pytest
import torch

import dglbal
from dglbal.cli import main
from dglbal.data import make_synthetic
from dglbal.data._common import finalize
from dglbal.experiments.step_hooks import BackwardHook
from dglbal.init import attention_parameters, feature_weights
from dglbal.experiments.metrics import resolve_metric, roc_auc
from dglbal.nn import GAT, SAGE
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.train import build_model, run_once


def _pairwise_auc(score, labels):
    pos, neg = score[labels == 1], score[labels == 0]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return float(wins.mean())


@pytest.mark.parametrize("seed", range(4))
def test_roc_auc_is_the_probability_a_positive_outranks_a_negative(seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (200,), generator=generator)
    # Rounded scores make ties, which count one half.
    logits = torch.randn(200, 2, generator=generator).mul(3).round() + labels[:, None] * 0.5
    expected = _pairwise_auc(logits[:, 1] - logits[:, 0], labels)
    assert roc_auc(logits, labels) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_edge_cases_and_metric_choice():
    assert roc_auc(torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.tensor([1, 1])) != \
        roc_auc(torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.tensor([1, 1]))  # NaN
    with pytest.raises(ValueError, match="binary"):
        roc_auc(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))
    assert resolve_metric("auto", 2) == "rocauc" and resolve_metric("auto", 5) == "accuracy"
    with pytest.raises(ValueError, match="binary"):
        resolve_metric("rocauc", 3)
    with pytest.raises(ValueError, match="metric"):
        resolve_metric("f1", 2)


@pytest.fixture(scope="module")
def binary_graph():
    return finalize(make_synthetic(num_nodes=200, num_classes=2, num_features=30, seed=1))


@pytest.mark.parametrize("model,scheme", [("gat", "ll_ortho"), ("gcn", "xavier"),
                                          ("sage", "xavier")])
def test_runs_rebalance_clip_and_score_roc_auc(binary_graph, model, scheme):
    config = TrainConfig(model=model, layers=3, hidden=8, optimizer="adam", lr=0.01, epochs=7,
                         skip=model == "gcn", rebalance="relgrad", rebalance_every=3,
                         rebalance_sweeps=2, grad_clip=3.0, loss_threshold=0)
    result = run_once(config, scheme, 0, binary_graph)
    assert result.metric == "rocauc" and result.epochs == 7
    assert [h["call"] for h in result.rebalance_history] == [1, 4, 7]
    assert all(0 <= v <= 1 for v in result.val_acc)


def test_defaults_keep_todays_protocol(binary_graph):
    result = run_once(TrainConfig(layers=2, hidden=8, epochs=2), "xavier", 0, binary_graph)
    assert result.rebalance_history == []
    assert result.metric == "rocauc"  # binary task: ROC-AUC, as the paper
    assert TrainConfig().rebalance == "none" and TrainConfig().grad_clip is None


def test_hook_clips_after_rebalancing(binary_graph):
    model = GAT(30, 8, 2, num_layers=3)
    feat = binary_graph.ndata["feat"]
    (1e3 * model(binary_graph, feat).sum()).backward()
    optimizer = torch.optim.Adam(model.parameters())
    hook = BackwardHook(model, optimizer, rebalance="norms", every=1, sweeps=2, grad_clip=0.5)
    hook()
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert float(total) == pytest.approx(0.5, rel=1e-5)
    assert len(hook.history) == 1
    with pytest.raises(ValueError, match="grad_clip"):
        BackwardHook(model, optimizer, grad_clip=0.0)
    with pytest.raises(ValueError, match="rebalance"):
        BackwardHook(model, optimizer, rebalance="sometimes")


def test_ll_ortho_and_sage_builders(binary_graph):
    """ll_ortho: the looks-linear feature weights, and Xavier-normal attention (not zero)."""
    config = TrainConfig(layers=4, hidden=8)
    torch.manual_seed(0)
    model = build_model(config, "ll_ortho", 30, 2, binary_graph)
    torch.manual_seed(0)
    looks_linear = build_model(config, "looks_linear", 30, 2, binary_graph)
    for ours, reference in zip(model.layers, looks_linear.layers):
        assert torch.equal(feature_weights(ours)[0], feature_weights(reference)[0])
        assert float(attention_parameters(ours)[0].abs().min()) > 0
        assert float(attention_parameters(reference)[0].abs().max()) == 0
    sage = SAGE(30, 8, 2, num_layers=3)
    assert len(dglbal.analyze(sage).groups) > 0
    with pytest.raises(ValueError, match="only in the attention vectors, and SAGE has none"):
        SAGE(30, 8, 2, num_layers=3, init="ll_ortho")


def test_cli_rebalance_options(tmp_path, capsys):
    assert main(["train", "--dataset", "synthetic", "--layers", "3", "--hidden", "8",
                 "--init", "ll_ortho", "--epochs", "3", "--seeds", "1", "--optimizer", "adam",
                 "--rebalance", "norms",
                 "--rebalance-every", "2", "--rebalance-sweeps", "3", "--grad-clip", "1",
                 "--quiet", "--out", str(tmp_path)]) == 0
    run = json.loads((tmp_path / "results.json").read_text())["runs"][0]
    assert run["metric"] == "accuracy" and [h["call"] for h in run["rebalance_history"]] == [1, 3]
    assert main(["train", "--dataset", "synthetic", "--layers", "3", "--rebalance", "relgrad",
                 "--rebalance-every", "0", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path)]) == 2
    assert "--rebalance-every must be a positive integer" in capsys.readouterr().err
    assert main(["train", "--dataset", "synthetic", "--grad-clip", "0", "--epochs", "1",
                 "--quiet", "--out", str(tmp_path)]) == 2
    assert "--grad-clip must be a positive" in capsys.readouterr().err
