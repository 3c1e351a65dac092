"""The partition and ip configs a distributed run reads: every defect named up front."""
import json
import socket

import pytest
import torch

from dglbal.data import load_dataset
from dglbal.distributed import partition, read_part_config
from dglbal.distributed.__main__ import main as dist_main
from dglbal.distributed.configs import PartConfigError, check_port_free, read_ip_config


@pytest.fixture(scope="module")
def part_config(tmp_path_factory):
    out = tmp_path_factory.mktemp("parts")
    return partition(load_dataset("synthetic"), "syn", out, num_parts=2)


def _edited(part_config, tmp_path, edit):
    meta = json.loads(part_config.read_text())
    edit(meta)
    for entry in part_config.parent.iterdir():
        target = tmp_path / entry.name
        if entry.is_dir() and not target.exists():
            target.symlink_to(entry)
    path = tmp_path / part_config.name
    path.write_text(json.dumps(meta))
    return path


def test_written_config_reads_back(part_config):
    meta = read_part_config(part_config)
    assert meta["num_parts"] == 2 and meta["dglbal"]["num_classes"] == 5


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(num_parts="2"), "num_parts must be a positive integer, got '2'"),
    (lambda m: m.update(num_parts=True), "num_parts must be a positive integer"),
    (lambda m: m.update(num_parts=0), "num_parts must be a positive integer"),
    (lambda m: m.update(num_parts=3), "no entry part-2"),
    (lambda m: m.pop("part-1"), "no entry part-1"),
    (lambda m: m["part-0"].update(part_graph="gone/graph.dgl"), "part-0's part_graph"),
    (lambda m: m["part-1"].pop("node_feats"), "part-1 has no 'node_feats'"),
    (lambda m: m["node_map"].update(_N=[[0, 10], [10, 20]]), "node_map covers 20 ids"),
    (lambda m: m["node_map"].update(_N=[[0, 10], [12, 20]]), "where 10 comes next"),
    (lambda m: m["node_map"].update(_N=[[0, 10]]), "must be 2 pairs"),
    (lambda m: m["dglbal"].update(num_classes="five"), "dglbal.num_classes"),
    (lambda m: m.update(graph_name=7), "graph_name"),
])
def test_hand_edited_part_config_is_named(part_config, tmp_path, edit, message):
    with pytest.raises(PartConfigError, match=message):
        read_part_config(_edited(part_config, tmp_path, edit))


def test_part_config_not_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(PartConfigError, match="JSON list"):
        read_part_config(path)


@pytest.mark.parametrize("text, message", [
    ("", "lists no machine"),
    ("127.0.0.1 port\n", "line 1"),
    ("127.0.0.1 70000\n", "1..65535"),
    ("127.0.0.1 1 2\n", "line 1"),
])
def test_malformed_ip_config(tmp_path, text, message):
    path = tmp_path / "ip.txt"
    path.write_text(text)
    with pytest.raises(PartConfigError, match=message):
        read_ip_config(path)


def test_ip_config_lines(tmp_path):
    path = tmp_path / "ip.txt"
    path.write_text("10.0.0.1 4000\n\n10.0.0.2\n")
    assert read_ip_config(path) == [("10.0.0.1", 4000), ("10.0.0.2", 30050)]


def test_server_port_in_use_is_named(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "ip.txt"
        path.write_text(f"127.0.0.1 {port}\n")
        with pytest.raises(PartConfigError, match=f"port {port} .* in use"):
            check_port_free(path, 0)
        with pytest.raises(PartConfigError, match="lists 1 machines"):
            check_port_free(path, 1)
    check_port_free(path, 0)  # free again


@pytest.mark.parametrize("parts, message", [
    (0, "positive integer"), (10_000, "more than the graph's"), (1.5, "positive integer")])
def test_impossible_partition_requests(parts, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        partition(load_dataset("synthetic"), "syn", tmp_path, num_parts=parts)


def test_partition_cli_errors_are_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert dist_main(["partition", "--num-parts", "1", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert dist_main(["partition", "--num-parts", "100000", "--out", str(tmp_path)]) == 2
    assert "more than the graph's" in capsys.readouterr().err


def test_partition_dgl_cannot_make_is_named(tmp_path):
    graph = load_dataset("synthetic")
    with pytest.raises(ValueError, match="could not split the graph .* use fewer partitions"):
        partition(graph, "syn", tmp_path, num_parts=graph.num_nodes() // 2)


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' must be a non-negative integer"),
    ({"WORLD_SIZE": "2", "RANK": "x", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "RANK='x'"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "RANK=2 is not below WORLD_SIZE=2"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR, MASTER_PORT not set"),
])
def test_launcher_environment_is_checked(monkeypatch, env, message):
    import torch

    from dglbal.distributed import init_from_env

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        init_from_env(torch.device("cpu"))


def test_partition_checks_node_data_as_training_does(tmp_path):
    graph = load_dataset("synthetic")
    graph.ndata["val_mask"] = torch.zeros(graph.num_nodes(), dtype=torch.bool)
    with pytest.raises(ValueError, match="val_mask"):
        partition(graph, "syn", tmp_path, num_parts=1)
