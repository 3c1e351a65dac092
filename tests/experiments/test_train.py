"""The training protocol and the `dglbal train` command."""
import csv
import json
import subprocess
import sys

import pytest
import torch

import dglbal.experiments.train
from dglbal.cli import main
from dglbal.data import make_synthetic
from dglbal.data._common import finalize
from dglbal.nn import GAT
from dglbal.experiments.protocol import paper_learning_rate
from dglbal.experiments.config import MODELS, TrainConfig
from dglbal.experiments.train import run_once, train_node_classifier


@pytest.fixture(scope="module")
def small_graph():
    return finalize(make_synthetic(num_nodes=300, num_features=60, seed=0))


def test_training_reduces_the_loss(small_graph):
    torch.manual_seed(0)
    model = GAT(60, 16, 5, num_layers=2)
    out = train_node_classifier(model, small_graph, optimizer="adam", lr=0.02, epochs=40)
    assert out["epochs"] == 40 and out["stop_reason"] == "max_epochs"
    assert out["train_loss"][-1] < 0.7 * out["train_loss"][0]
    assert out["best_val_acc"] == max(out["val_acc"])
    assert out["val_acc"][out["best_epoch"]] == out["best_val_acc"]


def test_training_stops_at_the_loss_threshold(small_graph):
    out = train_node_classifier(GAT(60, 8, 5, num_layers=2), small_graph, epochs=50,
                                loss_threshold=100.0)
    assert (out["epochs"], out["stop_reason"]) == (1, "loss_threshold")


def test_non_finite_loss_stops_the_run(small_graph):
    model = GAT(60, 8, 5, num_layers=2)
    with torch.no_grad():
        model.layers[0].fc_src.weight.fill_(float("nan"))
    out = train_node_classifier(model, small_graph, epochs=5)
    assert (out["epochs"], out["stop_reason"]) == (0, "diverged")


def test_paper_learning_rates():
    assert paper_learning_rate("cora", 5) == 0.1
    assert paper_learning_rate("citeseer", 10) == 0.05
    assert paper_learning_rate("pubmed", 40) == 0.005
    assert paper_learning_rate("texas", 10) == 0.01
    assert paper_learning_rate("actor", 40) == 0.0005
    assert paper_learning_rate("cora", 10, "adam") == pytest.approx(0.0005)


def test_train_command_writes_results_and_plot(tmp_path, capsys):
    code = main(["train", "--dataset", "synthetic", "--layers", "3", "--hidden", "8", "--epochs",
                 "4", "--seeds", "2", "--init", "xavier", "looks_linear", "--quiet",
                 "--out", str(tmp_path)])
    assert code == 0
    table = capsys.readouterr().out
    assert "xavier" in table and "looks_linear" in table and "+-" in table
    results = json.loads((tmp_path / "results.json").read_text())
    assert [(r["scheme"], r["seed"]) for r in results["runs"]] == [
        ("xavier", 0), ("xavier", 1), ("looks_linear", 0), ("looks_linear", 1)]
    assert all(len(r["train_loss"]) == 4 for r in results["runs"])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_attention_option_selects_the_kernels(tmp_path, monkeypatch):
    from dglbal.nn.kernels import attention, attention_backend

    monkeypatch.setattr(attention_backend, "_backend", "eager")  # restored after the test
    monkeypatch.setattr(attention_backend, "COMPILE_MIN_EDGES", 10 ** 9)  # small graph: eager
    args = ["train", "--dataset", "synthetic", "--layers", "2", "--hidden", "4", "--epochs",
            "1", "--seeds", "1", "--quiet", "--out", str(tmp_path)]
    assert main(args + ["--attention", "compiled"]) == 0
    assert attention.get_backend() == "compiled"
    assert main(args + ["--attention", "eager"]) == 0
    assert attention.get_backend() == "eager"


def test_train_command_reports_bad_input(capsys):
    assert main(["train", "--model", "gat", "--layers", "3", "--hidden", "7", "--init",
                 "looks_linear", "--epochs", "1", "--quiet", "--out", "/tmp/unused"]) == 2
    assert "even number" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "dglbal", "train", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--init" in out and "--dataset" in out


def test_train_command_with_monitor_and_balanced_schemes(tmp_path):
    code = main(["train", "--layers", "3", "--hidden", "8", "--epochs", "3", "--seeds", "1",
                 "--init", "bal_o", "bal_x", "--monitor", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    for scheme in ("bal_o", "bal_x"):
        assert (tmp_path / f"monitor_{scheme}_seed0.png").read_bytes()[:4] == b"\x89PNG"
        summary = json.loads((tmp_path / f"monitor_{scheme}_seed0.json").read_text())
        assert len(summary["delta_max"]) == 3 and max(summary["delta_max"]) < 1e-4


def test_sweep_is_resumable_and_writes_the_papers_layout(tmp_path, capsys):
    argv = ["sweep", "--dataset", "synthetic", "--layers", "2", "3", "--init", "xavier", "bal_o",
            "--seeds", "2", "--epochs", "3", "--hidden", "8", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert len(runs) == 8
    stamps = [p.stat().st_mtime_ns for p in runs]
    summary = (tmp_path / "summary.md").read_text()
    assert "| scheme | L=2 | L=3 |" in summary and "| bal_o |" in summary
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[0].startswith("dataset,model,layers,scheme,seed")
    assert (tmp_path / "accuracy_vs_depth.png").read_bytes()[:4] == b"\x89PNG"
    assert main(argv) == 0  # again: every run is loaded, none is trained
    assert [p.stat().st_mtime_ns for p in runs] == stamps


def test_a_sweep_with_a_chosen_beta_balances_with_it_and_lists_it(tmp_path, monkeypatch):
    built = []
    original = dglbal.experiments.train.build_model

    def spy(config, scheme, *args):
        model = original(config, scheme, *args)
        built.append((scheme, getattr(model, "balance_beta", None)))
        return model

    monkeypatch.setattr(dglbal.experiments.train, "build_model", spy)
    argv = ["sweep", "--dataset", "synthetic", "--layers", "3", "--init", "xavier", "bal_x",
            "--seeds", "1", "--epochs", "2", "--hidden", "8", "--quiet", "--out", str(tmp_path)]

    def rows():
        with open(tmp_path / "results.csv") as handle:
            return sorted((r["scheme"], r["balance_beta"]) for r in csv.DictReader(handle))

    assert main([*argv, "--balance-beta", "4"]) == 0
    assert set(built) == {("xavier", None), ("bal_x", 4.0)}
    assert rows() == [("bal_x", "4.0"), ("xavier", "")]
    assert main(argv) == 0  # the scheme's own beta: other runs (the key holds a given beta)
    assert rows() == [("bal_x", "2.0"), ("xavier", "")]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 4


def test_minibatch_training_with_sampled_blocks(small_graph):
    torch.manual_seed(0)
    model = GAT(60, 16, 5, num_layers=3, init="bal_o")
    out = train_node_classifier(model, small_graph, optimizer="adam", lr=0.01, epochs=15,
                                minibatch=(32, 4))
    assert out["epochs"] == 15 and out["train_loss"][-1] < out["train_loss"][0]


def test_epochs_to_fraction():
    from dglbal.experiments.runstore import epochs_to_fraction
    assert epochs_to_fraction([0.1, 0.5, 0.9, 1.0, 0.8]) == 4  # 0.9 < 0.95 * 1.0
    assert epochs_to_fraction([]) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(lr=None), "lr must be a positive finite number, got None"),
    (dict(lr=float("inf")), "lr must be a positive finite number"),
    (dict(loss_threshold=-1.0), "loss_threshold must be a finite number >= 0"),
    (dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0"),
    (dict(minibatch=(0, 3)), "minibatch batch_size must be a positive integer"),
    (dict(minibatch=32), r"minibatch must be \(batch_size, fanout\)"),
    (dict(optimizer="rmsprop"), "optimizer must be one of sgd, adam"),
])
def test_train_node_classifier_refuses_bad_arguments_naming_them(small_graph, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_node_classifier(GAT(60, 4, 5, num_layers=2), small_graph, **kwargs)


def test_a_run_that_diverges_at_once_reports_no_score(tmp_path, capsys):
    """--lr 1e30: the first step makes the weights infinite; nothing is scored, the table
    says so instead of averaging in an accuracy of 0 or of NaN predictions."""
    assert main(["train", "--dataset", "synthetic", "--layers", "2", "--hidden", "4",
                 "--epochs", "3", "--seeds", "2", "--lr", "1e30", "--quiet",
                 "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "diverged x2 (2 of 2 runs diverged before any scored epoch)" in table
    runs = json.loads((tmp_path / "results.json").read_text())
    assert {(r["test_acc"], r["best_epoch"], r["stop_reason"]) for r in runs["runs"]} == {
        (None, -1, "diverged")}
    assert runs["summary"]["xavier"]["unscored_runs"] == 2


def test_roc_auc_on_a_mask_with_one_class_is_refused_before_training(tmp_path):
    """ROC-AUC is undefined when the validation (or test) nodes all have one class: every
    epoch would score NaN and no epoch would ever be the best."""
    from dglbal.experiments import TrainConfig, run_experiment

    graph = finalize(make_synthetic(num_nodes=300, num_classes=2, num_features=60, seed=0))
    labels = graph.ndata["label"].clone()
    labels[graph.ndata["val_mask"]] = 1
    graph.ndata["label"] = labels
    config = TrainConfig(layers=2, hidden=4, epochs=1, metric="auto")
    with pytest.raises(ValueError, match=r"--metric rocauc needs both classes in the val mask; "
                                         r"it holds only class \[1\]"):
        run_experiment(config, progress=False, graph=graph, runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_with_the_balanced_scheme(small_graph, model):
    """Each model family of ``--model`` builds with BalO (balanced over the analyser's groups)
    and trains: the loss falls under Adam."""
    config = TrainConfig(dataset="synthetic", model=model, layers=3, hidden=8, schemes=["bal_o"],
                         optimizer="adam", lr=0.01, epochs=30, loss_threshold=0.0)
    result = run_once(config, "bal_o", 0, small_graph)
    assert result.stop_reason == "max_epochs" and result.epochs == 30
    assert result.train_loss[-1] < result.train_loss[0]
