"""DistDGL (standalone, and a server + trainer run on 127.0.0.1) and DDP with two processes.

Every multi-process test has a hard timeout and kills what it started.
"""
import json
import os
import shutil

import pytest
import torch

from dglbal import Rebalancer, analyze, balance_constants
from dglbal.cli import main as cli_main
from dglbal.data import load_dataset
from dglbal.distributed import (dglbal_train_command, launch_local, partition, read_part_config,
    run_dist_experiment)
from dglbal.distributed.local import free_ports
from dglbal.experiments.config import TrainConfig

SMALL = dict(model="gat", layers=3, hidden=16, schemes=["bal_o"], seeds=[0], optimizer="adam",
             lr=0.02, epochs=3, batch_size=16, fanout=5, device="cpu", loss_threshold=0.0)


@pytest.fixture(scope="module")
def graph():
    return load_dataset("synthetic")


def test_partition_writes_dgl_config_with_shape(graph, tmp_path):
    config = partition(graph, "syn", tmp_path, num_parts=2, dataset="synthetic")
    meta = read_part_config(config)
    assert meta["num_parts"] == 2 and meta["graph_name"] == "syn"
    partition_id = meta["dglbal"].pop("partition_id")
    assert meta["dglbal"] == {"in_feats": 500, "num_classes": 5, "dataset": "synthetic",
                              "split": None}
    assert isinstance(partition_id, str) and len(partition_id) == 16
    sizes = [end - start for start, end in meta["node_map"]["_N"]]
    assert sum(sizes) == graph.num_nodes() and min(sizes) > 0


def test_partition_and_config_errors(graph, tmp_path, capsys):
    bare = graph.clone()
    del bare.ndata["label"]
    with pytest.raises(ValueError, match="label"):
        partition(bare, "syn", tmp_path, num_parts=1)
    assert cli_main(["train", "--dist-config", str(tmp_path / "none.json")]) == 2
    assert "partition config" in capsys.readouterr().err
    config = partition(graph, "syn", tmp_path / "p", num_parts=1, dataset="synthetic")
    assert cli_main(["train", "--dist-config", str(config), "--init", "gnn_he"]) == 2
    assert "spectral radius" in capsys.readouterr().err


def test_standalone_distdgl_trains_balanced_model(graph, tmp_path, monkeypatch):
    """DGL's standalone mode: partition_graph -> DistGraph -> DistNodeDataLoader."""
    import dgl

    monkeypatch.setenv("DGL_DIST_MODE", "standalone")
    config_path = partition(graph, "syn", tmp_path, num_parts=1)
    try:
        results = run_dist_experiment(TrainConfig(**SMALL), config_path, progress=False)
    finally:
        dgl.distributed.exit_client()
    (result,) = results
    assert result.epochs == 3 and result.stop_reason == "max_epochs"
    assert result.train_loss[-1] < 0.9 * result.train_loss[0]
    assert result.best_val_acc > 0.5  # 5 classes: chance is 0.2


def test_standalone_distdgl_rebalances_and_clips(graph, tmp_path, monkeypatch):
    """--rebalance and --grad-clip act on the partitioned-graph trainer, not only full batch."""
    import dgl

    import dglbal.experiments.step_hooks

    clipped = []
    original = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda params, norm: clipped.append(norm) or original(params, norm))
    monkeypatch.setenv("DGL_DIST_MODE", "standalone")
    config_path = partition(graph, "syn", tmp_path, num_parts=1)
    config = TrainConfig(**{**SMALL, "epochs": 2}, rebalance="norms", rebalance_every=1,
                         rebalance_sweeps=2, grad_clip=5.0)
    try:
        (result,) = run_dist_experiment(config, config_path, progress=False)
    finally:
        dgl.distributed.exit_client()
    assert result.rebalance_history and clipped and set(clipped) == {5.0}
    # --rebalance-every counts epochs (1: each epoch's first minibatch); clipping every step
    assert [h["call"] for h in result.rebalance_history] == [1, 2] and len(clipped) > 2
    assert dglbal.experiments.step_hooks.BackwardHook  # the hook the full-batch trainer uses


def test_standalone_interrupted_keeps_finished_runs_and_resumes(graph, tmp_path, monkeypatch):
    """Ctrl-C after a finished seed: that run is on disk, and the same call trains only the
    rest (as `dglbal train` without --dist-config does)."""
    import dgl

    from dglbal.distributed import trainer
    from dglbal.experiments.runstore import Interrupted

    monkeypatch.setenv("DGL_DIST_MODE", "standalone")
    config_path = partition(graph, "syn", tmp_path / "parts", num_parts=1)
    config = TrainConfig(**{**SMALL, "epochs": 1, "seeds": [0, 1, 2]})
    real, seeds, pressed = trainer.dist_run_once, [], []

    def pressed_on_second(config, scheme, seed, *args, **kwargs):
        seeds.append(seed)
        if len(seeds) == 2 and not pressed:
            pressed.append(True)
            raise KeyboardInterrupt
        return real(config, scheme, seed, *args, **kwargs)

    monkeypatch.setattr(trainer, "dist_run_once", pressed_on_second)
    runs = tmp_path / "runs"
    try:
        with pytest.raises(Interrupted, match="1 of 3 runs finished and are kept"):
            run_dist_experiment(config, config_path, progress=False, runs_dir=runs)
    finally:
        dgl.distributed.exit_client()
    assert len(list(runs.glob("*.json"))) == 1
    seeds.clear()
    try:
        results = run_dist_experiment(config, config_path, progress=False, runs_dir=runs)
    finally:
        dgl.distributed.exit_client()
    assert seeds == [1, 2] and [r.seed for r in results] == [0, 1, 2]
    assert len(list(runs.glob("*.json"))) == 3


def test_standalone_nan_model_is_never_scored(graph, tmp_path, monkeypatch):
    """A model whose weights turned NaN has no accuracy: evaluate says so instead of scoring
    the argmax of NaN logits."""
    import dgl

    from dglbal.distributed.graph import initialize, open_graph, split_nodes
    from dglbal.distributed.trainer import sampled_loop
    from dglbal.experiments.loop import NON_FINITE
    from dglbal.nn import GAT

    monkeypatch.setenv("DGL_DIST_MODE", "standalone")
    config_path = partition(graph, "syn", tmp_path, num_parts=1)
    initialize()
    try:
        dist_graph = open_graph(config_path)
        ids = {p: split_nodes(dist_graph, f"{p}_mask") for p in ("train", "val", "test")}
        model = GAT(500, 8, 5, num_layers=2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        _, evaluate = sampled_loop(model, dist_graph, ids, opt, 64, 5, torch.device("cpu"))
        healthy = evaluate()
        with torch.no_grad():
            model.layers[0].fc_src.weight[0, 0] = float("nan")
        poisoned = evaluate()
    finally:
        dgl.distributed.exit_client()
    assert isinstance(healthy, tuple) and all(0 <= a <= 1 for a in healthy)
    assert poisoned == NON_FINITE


def test_distdgl_refuses_options_it_cannot_honour(graph, tmp_path, capsys):
    config = partition(graph, "syn", tmp_path, num_parts=1, dataset="synthetic")
    assert cli_main(["train", "--dist-config", str(config), "--init", "bal_o_data"]) == 2
    assert "bal_o_data" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="two partitions on one host need root and unshare (private /dev/shm)")
def test_server_and_trainers_on_localhost(graph, tmp_path):
    """Two partitions: DGL's server and trainer roles as separate processes (as
    tools/launch.py starts them), DDP between the two trainers."""
    config = partition(graph, "syn", tmp_path / "parts", num_parts=2, dataset="synthetic")
    args = ["--layers", "3", "--hidden", "16", "--init", "bal_o", "--seeds", "1", "--epochs",
            "3", "--optimizer", "adam", "--lr", "0.02", "--batch-size", "16", "--fanout", "5",
            "--device", "cpu", "--quiet", "--out", str(tmp_path / "out")]
    run = launch_local(config, dglbal_train_command(config, args), tmp_path / "work",
                       timeout=240)
    assert run.ok, run.tail(60)
    assert len(run.trainer_codes) == 2 and len(run.server_codes) == 2
    logs = {log.stem: log.read_text() for log in run.logs}
    assert "start graph service on server 1 for part 1" in logs["server1"]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    (record,) = saved["runs"]
    assert record["epochs"] == 3 and record["best_val_acc"] > 0.4
    (run_file,) = (tmp_path / "out" / "runs").glob("*.json")  # rank 0 keeps each run
    assert json.loads(run_file.read_text())["best_val_acc"] == record["best_val_acc"]


def _ddp_worker(rank: int, world: int, port: int, steps: int, out: str) -> None:
    """One DDP trainer: balanced start, DGL's DataLoader(use_ddp=True) gives each rank other
    nodes, dynamic rescaling (dglbal.Rebalancer, relative gradients, momentum carried along)
    after every backward, on the all-reduced gradients."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    import dgl
    import torch.nn.functional as F

    from dglbal.distributed import ddp
    from dglbal.nn import GAT

    ddp.init_from_env(torch.device("cpu"))
    g = load_dataset("synthetic")
    torch.manual_seed(rank)  # different draws per rank: only the broadcast makes them agree
    model = GAT(500, 8, 5, num_layers=3, init="bal_o")
    report = analyze(model)
    trained = ddp.data_parallel(model, torch.device("cpu"))
    start_spread = ddp.replica_divergence(model)
    start_c = float(balance_constants(model, report).abs().max())
    alone = GAT(500, 8, 5, num_layers=3, init="bal_o")  # control: no gradient all-reduce
    ddp.broadcast_module_(alone)
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (trained, alone)]
    rebalancer = Rebalancer(model, report, every=1, optimizer=opts[0])
    ids = torch.nonzero(g.ndata["train_mask"]).squeeze(1)
    dgl.seed(0)
    loader = dgl.dataloading.DataLoader(g, ids, dgl.dataloading.NeighborSampler([5] * 3),
                                        batch_size=10, shuffle=True, use_ddp=True)
    done = 0
    while done < steps:
        for input_nodes, output_nodes, blocks in loader:
            for net, opt in zip((trained, alone), opts):
                loss = F.cross_entropy(net(blocks, g.ndata["feat"][input_nodes]),
                                       g.ndata["label"][output_nodes])
                opt.zero_grad()
                loss.backward()
                if net is trained:
                    rebalancer.step()
                opt.step()
            done += 1
            if done == steps:
                break
    result = {"start_spread": start_spread, "start_c": start_c,
              "rebalances": len(rebalancer.history),
              "spread": ddp.replica_divergence(model),
              "control_spread": ddp.replica_divergence(alone)}
    with open(out, "w") as f:
        json.dump(result, f)
    torch.distributed.destroy_process_group()
    # Leave without running destructors: about one run in ten hung here, in native code, in
    # tearing down the worker's locals (the DataLoader, the DDP reducer, gloo's threads), after
    # the result was written (faulthandler showed no Python frame below the target's call).
    os._exit(0)


def test_ddp_replicas_stay_identical(tmp_path, run_processes):
    """Two gloo processes: the replicas start balanced and equal, and stay bit-identical
    through DDP training with dynamic rescaling after every backward; without DDP they drift."""
    (port,) = free_ports(1)
    outs = [str(tmp_path / f"rank{r}.json") for r in range(2)]
    codes = run_processes(_ddp_worker, [(r, 2, port, 6, outs[r]) for r in range(2)],
                          timeout=180)
    assert codes == [0, 0], f"DDP workers exited with {codes}"
    results = [json.loads(open(out).read()) for out in outs]
    for result in results:
        assert result["start_spread"] == 0.0
        assert result["start_c"] < 1e-4
        assert result["rebalances"] == 6
        assert result["spread"] == 0.0
        assert result["control_spread"] > 1e-6
