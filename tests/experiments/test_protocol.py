"""The ``paper`` protocol follows the authors' code point by point; ``dglbal`` keeps today's."""
import math

import dgl
import numpy as np
import pytest
import torch

from dglbal.balance.balancing import balance_, balance_constants, group_norms
from dglbal.cli import main
from dglbal.init import xavier_
from dglbal.nn import GAT
from dglbal.experiments.protocol import (PROTOCOLS, get_protocol, isolated_nodes,
    remove_isolated_from_masks_)
from dglbal.symmetry import analyze
from dglbal.experiments.config import TrainConfig, validate_config
from dglbal.experiments.train import build_model, train_node_classifier



def small_graph(n=40, edges=160, feats=12, seed=0):
    dgl.seed(seed)
    g = dgl.add_self_loop(dgl.remove_self_loop(dgl.rand_graph(n, edges)))
    generator = torch.Generator().manual_seed(seed)
    g.ndata["feat"] = torch.rand(n, feats, generator=generator)
    g.ndata["label"] = torch.arange(n) % 3
    for part, index in (("train", 0), ("val", 1), ("test", 2)):
        g.ndata[f"{part}_mask"] = torch.arange(n) % 3 == index
    return g


def config(protocol, **kwargs):
    return TrainConfig(protocol=protocol, **kwargs)


def test_protocols_are_named_and_unknown_names_are_rejected():
    assert set(PROTOCOLS) == {"paper", "dglbal"}
    with pytest.raises(ValueError, match="unknown protocol 'papr'"):
        get_protocol("papr")


def test_paper_xavier_has_gain_one_on_weights_and_attention():
    """Xav / XavZ: xavier_normal_ with gain 1 (the authors') against DGL's sqrt 2."""
    stds = {}
    for protocol in ("paper", "dglbal"):
        torch.manual_seed(0)
        model = build_model(config(protocol, hidden=128, heads=4, layers=3), "xavier", 256, 4,
                            None)
        hidden = model.layers[1]
        stds[protocol] = (float(hidden.fc_src.weight.std()),
                          float(torch.cat([l.attn.flatten() for l in model.layers[:2]]).std()))
    # a hidden weight is (512, 512): Xavier-normal std = gain * sqrt(2 / (512 + 512))
    assert stds["paper"][0] == pytest.approx(math.sqrt(2 / 1024), rel=0.02)
    assert stds["dglbal"][0] == pytest.approx(math.sqrt(2) * math.sqrt(2 / 1024), rel=0.02)
    # attention (1, 4, 128): fan_in = 4 * 128, fan_out = 128
    assert stds["paper"][1] == pytest.approx(math.sqrt(2 / 640), rel=0.1)
    assert stds["dglbal"][1] / stds["paper"][1] == pytest.approx(math.sqrt(2), rel=0.1)
    torch.manual_seed(0)
    xavz = build_model(config("paper", hidden=128, layers=3), "xavier_zero_attention", 256, 4,
                       None)
    assert float(xavz.layers[1].fc_src.weight.std()) == pytest.approx(math.sqrt(2 / 256), rel=0.03)
    assert all(not l.attn.any() for l in xavz.layers)


def test_balancing_removes_the_xavier_gain():
    """BalX is the same whatever the gain: balancing rescales every row and column."""
    model = GAT(20, 8, 3, num_layers=4)
    report = analyze(model)
    balanced = []
    for gain in (1.0, None):
        torch.manual_seed(3)
        xavier_(model, gain=gain)
        balance_(model, report, "init", beta=2.0)
        balanced.append({k: v.clone() for k, v in model.state_dict().items()})
    for name in balanced[0]:
        torch.testing.assert_close(balanced[0][name], balanced[1][name], rtol=1e-5, atol=1e-6)


def test_paper_last_layer_has_one_head():
    g = small_graph()
    heads = {}
    for protocol in ("paper", "dglbal"):
        model = build_model(config(protocol, heads=8, hidden=4, layers=3), "bal_o", 12, 3, g)
        assert [l._num_heads for l in model.layers[:-1]] == [8, 8]
        heads[protocol] = model.layers[-1]._num_heads
        assert model(g, g.ndata["feat"]).shape == (40, 3)
    assert heads == {"paper": 1, "dglbal": 8}
    with pytest.raises(ValueError, match="last_layer_heads must be a positive integer, got 0"):
        GAT(12, 4, 3, num_layers=3, last_layer_heads=0)


def test_paper_balo_without_weight_sharing_zeros_w_t_and_balances_w_s():
    g = small_graph()
    norms = {}
    for protocol in ("paper", "dglbal"):
        model = build_model(config(protocol, share_weights=False, hidden=8, layers=4), "bal_o",
                            12, 3, g)
        w_t = [l.fc_dst.weight for l in model.layers]
        assert all(l.fc_dst is not l.fc_src for l in model.layers)
        report = analyze(model)
        c = balance_constants(model, report)
        scale = sum(group_norms(model, report).values())
        assert float((c.abs() / scale).max()) < 1e-6, "balanced"
        norms[protocol] = (float(model.layers[0].fc_src.weight.pow(2).sum(1).mean()),
                           max(float(w.abs().max()) for w in w_t))
    assert norms["paper"][0] == pytest.approx(2.0) and norms["paper"][1] == 0.0
    assert norms["dglbal"][0] == pytest.approx(1.0) and norms["dglbal"][1] > 0.1


def _layer_inputs(model, g, feat):
    seen = []
    hooks = [layer.register_forward_hook(lambda m, args, out: seen.append(args[1].detach()))
             for layer in model.layers]
    model(g, feat)
    for h in hooks:
        h.remove()
    return seen


def test_dropout_on_attention_and_hidden_features_not_on_inputs():
    g = small_graph()
    model = GAT(12, 16, 3, num_layers=3, dropout=0.5)
    assert all(l.attn_drop.p == 0.5 and l.feat_drop.p == 0.0 for l in model.layers)
    feat = g.ndata["feat"]
    model.train()
    torch.manual_seed(0)
    inputs = _layer_inputs(model, g, feat)
    assert torch.equal(inputs[0], feat), "the input features are not dropped"
    hidden = inputs[1]
    assert ((hidden == 0).float().mean() > 0.3), "hidden features are dropped"
    kept = hidden[hidden != 0]
    model.eval()
    clean = _layer_inputs(model, g, feat)[1]
    assert torch.all(clean >= 0) and (clean > 0).float().mean() > 0.3
    assert torch.all(kept > 0), "dropout acts after the ReLU"
    assert torch.equal(model(g, feat), model(g, feat)), "no dropout in eval mode"


def test_weight_decay_is_an_optimizer_option():
    g = small_graph()
    steps = []
    for decay in (0.0, 0.1):
        torch.manual_seed(0)
        model = GAT(12, 8, 3, num_layers=2)
        start = model.layers[0].fc_src.weight.detach().clone()
        train_node_classifier(model, g, lr=0.5, weight_decay=decay, epochs=1)
        steps.append((model.layers[0].fc_src.weight.detach(), start))
    (plain, start), (decayed, _) = steps
    torch.testing.assert_close(decayed - plain, -0.5 * 0.1 * start, rtol=1e-4, atol=1e-7)


def test_stop_rule_values():
    assert config("paper", dataset="cora").stop_loss() == 1e-5
    assert config("paper", dataset="citeseer").stop_loss() == 1e-5
    assert config("paper", dataset="texas").stop_loss() == 1e-3
    assert config("dglbal", dataset="cora").stop_loss() == 1e-4
    assert config("dglbal", dataset="texas").stop_loss() == 1e-4
    assert config("paper", dataset="texas", loss_threshold=0.5).stop_loss() == 0.5


def test_isolated_nodes_leave_the_masks_only():
    g = dgl.add_self_loop(dgl.graph((torch.tensor([0, 1]), torch.tensor([1, 2])), num_nodes=5))
    for part in ("train", "val", "test"):
        g.ndata[f"{part}_mask"] = torch.ones(5, dtype=torch.bool)
    assert isolated_nodes(g).tolist() == [False, False, False, True, True]
    remove_isolated_from_masks_(g)
    assert g.ndata["test_mask"].tolist() == [True, True, True, False, False]
    assert g.num_nodes() == 5


@pytest.mark.needs_data("planetoid")
def test_citeseer_masks_without_isolated_nodes(shared_data):
    paper, ours = (get_protocol(p).load("citeseer", str(shared_data)) for p in ("paper", "dglbal"))
    iso = isolated_nodes(paper)
    assert int(iso.sum()) == 48
    assert not any((paper.ndata[f"{p}_mask"] & iso).any() for p in ("train", "val", "test"))
    assert [int(paper.ndata[f"{p}_mask"].sum())
            for p in ("train", "val", "test")] == [120, 494, 988]
    assert [int(ours.ndata[f"{p}_mask"].sum())
            for p in ("train", "val", "test")] == [120, 500, 1000]
    cora = get_protocol("paper").load("cora", str(shared_data))
    assert int(isolated_nodes(cora).sum()) == 0


@pytest.mark.needs_data("heterophilous/texas.npz")
def test_heterophilous_raw_features_one_way_edges_split_one(shared_data):
    with np.load(shared_data / "heterophilous" / "texas.npz") as data:
        raw, edges = data["node_features"], data["edges"]
        test_mask = data["test_masks"][1]
    paper = get_protocol("paper").load("texas", str(shared_data))
    assert torch.equal(paper.ndata["feat"], torch.from_numpy(raw).float())
    assert paper.num_edges() == len(edges) + paper.num_nodes()  # one-way, plus self-loops
    src, dst = paper.edges()
    stored = set(map(tuple, edges.tolist()))
    assert {(int(s), int(d)) for s, d in zip(src, dst) if s != d} == stored
    assert torch.equal(paper.ndata["test_mask"], torch.from_numpy(test_mask).bool())
    ours = get_protocol("dglbal").load("texas", str(shared_data))
    assert ours.num_edges() > paper.num_edges()
    assert torch.allclose(ours.ndata["feat"].sum(1)[ours.ndata["feat"].sum(1) > 0],
                          torch.tensor(1.0))


def test_sweep_defaults_to_the_paper_protocol_and_train_to_dglbal(tmp_path, capsys, monkeypatch):
    from dglbal.experiments import sweep

    protocols = []
    real_run_once = sweep.run_once

    def recording_run_once(config, *args, **kwargs):
        protocols.append(config.protocol)
        return real_run_once(config, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_once", recording_run_once)
    common = ["--layers", "2", "--init", "bal_o", "--seeds", "1", "--epochs", "2", "--quiet"]
    assert main(["sweep", "--dataset", "synthetic", "--out", str(tmp_path / "s")] + common) == 0
    assert main(["sweep", "--dataset", "synthetic", "--out", str(tmp_path / "d"),
                 "--protocol", "dglbal"] + common) == 0
    assert protocols == ["paper", "dglbal"]
    assert main(["train", "--out", str(tmp_path / "t")] + common) == 0
    assert "stop at loss < 0.0001 (dglbal protocol)" in capsys.readouterr().out


@pytest.mark.parametrize("option,value,message", [
    ("--dropout", "1.0", "--dropout must lie in [0, 1)"),
    ("--weight-decay", "-1", "--weight-decay must be a finite number >= 0")])
def test_bad_protocol_options_are_named(tmp_path, capsys, option, value, message):
    assert main(["train", "--out", str(tmp_path), option, value, "--quiet"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.needs_data("planetoid")
@pytest.mark.parametrize("protocol", ["paper", "dglbal"])
def test_both_protocols_keep_the_planetoid_features_the_results_were_run_on(
        shared_data, assert_pinned_planetoid_features, protocol):
    for name in ("cora", "citeseer"):
        graph = get_protocol(protocol).load(name, str(shared_data))
        assert_pinned_planetoid_features(name, graph.ndata["feat"])
    graph = config(protocol, dataset="cora", root=str(shared_data)).load_graph()
    assert_pinned_planetoid_features("cora", graph.ndata["feat"])


@pytest.mark.parametrize("dataset", ["synthetic", "cora"])
def test_split_is_refused_with_a_dataset_without_fixed_splits(dataset):
    validate_config(config("paper", dataset=dataset))  # the default split 1 every caller passes
    with pytest.raises(ValueError, match="--split has no effect without a heterophilous "
                                         r"--dataset .* \(got 2\); leave it out"):
        validate_config(config("paper", dataset=dataset, split=2))
    validate_config(config("paper", dataset="texas", split=2))
