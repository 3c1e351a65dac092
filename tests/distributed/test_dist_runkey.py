"""A run on partitions is keyed by the partitions (never confused with a full-graph run or a
run on other partitions) and takes the partitioned dataset's learning rate and stop rule."""
import json

import pytest

from dglbal.cli import main as cli_main
from dglbal.data import load_dataset
from dglbal.distributed import partition
from dglbal.distributed.runkey import dist_train_config
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.protocol import get_protocol, paper_learning_rate
from dglbal.experiments.runkey import run_name
from dglbal.experiments.runstore import RunFileWarning, load_run

BASE = ["--layers", "2", "--hidden", "8", "--epochs", "2", "--seeds", "1", "--init", "xavier",
        "--device", "cpu", "--quiet"]
ARGS = BASE + ["--batch-size", "64", "--fanout", "5"]  # sampling: --minibatch or --dist-config


@pytest.fixture(scope="module")
def texas_parts(tmp_path_factory):
    out = tmp_path_factory.mktemp("texas")
    return partition(load_dataset("texas"), "texas", out, num_parts=1, part_method="random",
                     dataset="texas", split=1)


def test_defaults_are_the_partitioned_datasets(texas_parts):
    config = dist_train_config(TrainConfig(layers=2), texas_parts)  # dataset: the default
    assert config.dataset == "texas" and config.minibatch
    assert config.learning_rate() == paper_learning_rate("texas", 2, "sgd")
    assert config.stop_loss() == get_protocol("dglbal").loss_threshold("texas")
    assert config.learning_rate() != TrainConfig(layers=2).learning_rate()


def test_dist_run_key_has_the_partitions(texas_parts, tmp_path):
    plain = TrainConfig(dataset="texas", layers=2, minibatch=True)
    dist = dist_train_config(plain, texas_parts)
    name = run_name(dist, "xavier", 0)
    assert name.startswith("dist-texas-gat-L2-xavier-s0-") and name != run_name(plain, "xavier", 0)
    other = partition(load_dataset("texas"), "texas", tmp_path / "other", num_parts=2,
                      part_method="random", dataset="texas", split=1)
    assert run_name(dist_train_config(plain, other), "xavier", 0) != name


def test_plain_train_never_reuses_a_dist_run(tmp_path, capsys):
    """The auditor's case: a partitioned Cora run was reused by a plain synthetic train."""
    parts = partition(load_dataset("texas"), "texas", tmp_path / "parts", num_parts=1,
                      part_method="random", dataset="texas", split=1)
    out = tmp_path / "out"
    assert cli_main(["train", "--dist-config", str(parts), "--metric", "accuracy", *ARGS,
                     "--out", str(out)]) == 0
    (dist_file,) = (out / "runs").glob("*.json")
    record = json.loads(dist_file.read_text())
    assert record["run_key"]["dataset"] == "texas" and record["run_key"]["partition"]
    assert record["lr"] == paper_learning_rate("texas", 2, "sgd")
    capsys.readouterr()
    for plain in (["--dataset", "synthetic"], ["--dataset", "texas", "--minibatch"]):
        options = ARGS if "--minibatch" in plain else BASE
        assert cli_main(["train", *plain, "--metric", "accuracy", *options,
                         "--out", str(out)]) == 0
    assert dist_file.exists()  # kept, and not taken for either full-graph run
    assert len(list((out / "runs").glob("*.json"))) == 3
    config = TrainConfig(dataset="texas", layers=2, hidden=8, epochs=2, minibatch=True,
                         batch_size=64, fanout=5, metric="accuracy")
    with pytest.warns(RunFileWarning, match="partition"):
        assert load_run(dist_file, config, "xavier", 0) is None


def test_refuses_paper_protocol_and_unknown_dataset(tmp_path, capsys):
    parts = partition(load_dataset("synthetic"), "syn", tmp_path / "p", num_parts=1,
                      part_method="random")  # another tool's partitions: no dataset recorded
    assert cli_main(["train", "--dist-config", str(parts), *ARGS, "--out",
                     str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "does not record which dataset" in err and "--lr and --loss-threshold" in err
    with pytest.raises(ValueError, match="--protocol paper cannot be used with --dist-config"):
        dist_train_config(TrainConfig(protocol="paper", lr=0.1, loss_threshold=0.0), parts)
    named = dist_train_config(TrainConfig(lr=0.1, loss_threshold=0.0), parts)
    assert named.dataset == "syn" and run_name(named, "xavier", 0).startswith("dist-syn-")


def test_a_dataset_named_with_the_partitions_must_be_theirs(texas_parts, tmp_path, capsys):
    """--dataset is not the data with --dist-config: naming another one is refused, not
    silently replaced by the partitions' (the same one is accepted)."""
    named = dist_train_config(TrainConfig(layers=2), texas_parts, named_dataset="texas")
    assert named.dataset == "texas"
    with pytest.raises(ValueError, match=r"--dataset cora with --dist-config: .* were "
                                         r"partitioned from 'texas'"):
        dist_train_config(TrainConfig(layers=2), texas_parts, named_dataset="cora")
    assert cli_main(["train", "--dist-config", str(texas_parts), "--dataset", "cora", *ARGS,
                     "--out", str(tmp_path / "o")]) == 2
    assert "partitioned from 'texas'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "runs").exists() or not any((tmp_path / "o" / "runs").iterdir())
    other = partition(load_dataset("synthetic"), "syn", tmp_path / "p", num_parts=1,
                      part_method="random")  # another tool's partitions: no dataset recorded
    with pytest.raises(ValueError, match="do not record which dataset"):
        dist_train_config(TrainConfig(lr=0.1, loss_threshold=0.0), other,
                          named_dataset="synthetic")
