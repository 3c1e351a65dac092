"""Data-scaled schemes: BalO (bal_o_data) or unbalanced looks-linear weights
(looks_linear_data) scaled by one factor from the data meet their target logit spread; BalO
stays balanced, looks-linear stays as unbalanced as it was drawn."""
import dgl
import pytest
import torch

from dglbal.balance.balancing import balance_constants, group_norms
from dglbal.init.data_scale import logit_spread, scale_to_logit_spread_
from dglbal.nn import GAT, GCN
from dglbal.symmetry import analyze
from dglbal.experiments.config import TrainConfig
from dglbal.experiments.train import build_model


def graph_and_features(n=50, feats=20, seed=0):
    dgl.seed(seed)
    g = dgl.add_self_loop(dgl.remove_self_loop(dgl.rand_graph(n, 4 * n)))
    feat = torch.rand(n, feats, generator=torch.Generator().manual_seed(seed)) / feats
    return g, feat


def relative_imbalance(model):
    report = analyze(model)
    c = balance_constants(model, report)
    norms = group_norms(model, report)
    return float((c.abs() / (norms["incoming"] + norms["outgoing"])).max())


@pytest.mark.parametrize("builder,kwargs", [(GAT, dict(num_heads=2)), (GCN, {})])
@pytest.mark.parametrize("target", [0.3, 1.0, 4.0])
def test_bal_o_data_is_balanced_and_meets_the_logit_spread(builder, kwargs, target):
    g, feat = graph_and_features()
    torch.manual_seed(0)
    plain = builder(20, 8, 3, num_layers=6, init="bal_o", **kwargs)
    torch.manual_seed(0)
    scaled = builder(20, 8, 3, num_layers=6, init="bal_o_data", init_data=(g, feat),
                     logit_spread=target, **kwargs)
    assert logit_spread(scaled(g, feat)) == pytest.approx(target, rel=1e-4)
    assert relative_imbalance(scaled) < 1e-6
    # the same draws, every weight multiplied by the one factor s
    s = scaled.data_scale
    assert s != pytest.approx(1.0, abs=1e-3)
    for (name, a), (_, b) in zip(plain.named_parameters(), scaled.named_parameters()):
        torch.testing.assert_close(b, s * a, rtol=1e-5, atol=1e-7, msg=name)
    assert logit_spread(scaled(g, feat)) == pytest.approx(
        s ** 6 * logit_spread(plain(g, feat)), rel=1e-4)


@pytest.mark.parametrize("builder,kwargs", [(GAT, dict(num_heads=2)), (GCN, {})])
def test_looks_linear_data_is_looks_linear_times_one_factor_and_stays_unbalanced(builder,
                                                                                 kwargs):
    """BalO's output scale without its balance: the control that tells balance from scale."""
    g, feat = graph_and_features()
    torch.manual_seed(0)
    plain = builder(20, 8, 3, num_layers=6, init="looks_linear", **kwargs)
    torch.manual_seed(0)
    balanced = builder(20, 8, 3, num_layers=6, init="bal_o", **kwargs)
    target = logit_spread(balanced(g, feat))
    torch.manual_seed(0)
    scaled = builder(20, 8, 3, num_layers=6, init="looks_linear_data", init_data=(g, feat),
                     logit_spread=target, **kwargs)
    assert logit_spread(scaled(g, feat)) == pytest.approx(target, rel=1e-4)
    s = scaled.data_scale
    for (name, a), (_, b) in zip(plain.named_parameters(), scaled.named_parameters()):
        torch.testing.assert_close(b, s * a, rtol=1e-5, atol=1e-7, msg=name)
    # scaling every weight by s multiplies every c_g by s^2: the relative imbalance is the
    # unbalanced draw's, far from BalO's 0
    assert relative_imbalance(scaled) == pytest.approx(relative_imbalance(plain), rel=1e-4)
    assert relative_imbalance(scaled) > 0.1 > 1e-6 > relative_imbalance(balanced)


def test_bal_o_data_raises_small_inputs_logits_to_order_one():
    g, feat = graph_and_features()
    torch.manual_seed(1)
    balo = GAT(20, 8, 3, num_layers=10, init="bal_o")
    assert logit_spread(balo(g, feat)) < 0.1
    model = GAT(20, 8, 3, num_layers=10, init="bal_o_data", init_data=(g, feat))
    assert logit_spread(model(g, feat)) == pytest.approx(1.0, rel=1e-4)


def test_reset_parameters_reuses_or_remeasures_the_scale():
    g, feat = graph_and_features()
    model = GAT(20, 8, 3, num_layers=4, init="bal_o_data", init_data=(g, feat))
    first = model.data_scale
    model.reset_parameters()
    assert model.data_scale == first and relative_imbalance(model) < 1e-6
    model.reset_parameters(init_data=(g, feat))
    assert logit_spread(model(g, feat)) == pytest.approx(1.0, rel=1e-4)


def test_bal_o_data_needs_data_and_a_plain_stack():
    g, feat = graph_and_features()
    with pytest.raises(ValueError, match="init_data=\\(graph, features\\)"):
        GAT(20, 8, 3, num_layers=4, init="bal_o_data")
    with pytest.raises(ValueError, match="skip=False"):
        GAT(20, 8, 3, num_layers=4, init="bal_o_data", init_data=(g, feat), skip=True)


def test_a_model_that_is_not_homogeneous_is_named_and_restored():
    g, feat = graph_and_features()
    torch.manual_seed(0)
    model = GAT(20, 8, 3, num_layers=4, init="bal_o", bias=True)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.uniform_(0.0, 1.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="not positively homogeneous of degree 4"):
        scale_to_logit_spread_(model, g, feat, num_layers=4)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])
    with pytest.raises(ValueError, match="do not vary"):
        scale_to_logit_spread_(GAT(20, 8, 3, num_layers=4, init="bal_o"), g,
                               torch.zeros_like(feat), num_layers=4)


def test_build_model_feeds_the_training_graph():
    g, feat = graph_and_features()
    g.ndata["feat"] = feat
    model = build_model(TrainConfig(layers=5, hidden=8), "bal_o_data", 20, 3, g)
    assert logit_spread(model(g, feat)) == pytest.approx(1.0, rel=1e-4)


def test_the_target_spread_is_a_training_option(tmp_path, capsys):
    g, feat = graph_and_features()
    g.ndata["feat"] = feat
    model = build_model(TrainConfig(layers=5, hidden=8, logit_spread=0.3), "bal_o_data", 20, 3, g)
    assert logit_spread(model(g, feat)) == pytest.approx(0.3, rel=1e-4)
    from dglbal.cli import main

    assert main(["train", "--init", "bal_o_data", "--logit-spread", "0", "--epochs", "1",
                 "--quiet", "--out", str(tmp_path)]) == 2
    assert "--logit-spread must be a positive finite number" in capsys.readouterr().err


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_features_are_named_not_called_constant(value):
    """NaN logits were reported as logits that 'do not vary across classes'."""
    g, feat = graph_and_features()
    feat[3, 2] = value
    with pytest.raises(ValueError, match="logits are NaN or infinite on these features"):
        GAT(20, 8, 3, num_layers=4, init="bal_o_data", init_data=(g, feat))
