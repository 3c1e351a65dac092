"""TrainConfig and SweepConfig values of the wrong type or out of range are refused up front,
naming the option; the output directory is checked before any work."""
import pytest

from dglbal.experiments import SweepConfig, TrainConfig, run_sweep, validate_config
from dglbal.experiments.environment import prepare_output_dir


@pytest.mark.parametrize("field, value, message", [
    ("dataset", None, "--dataset must be of type str, got None"),
    ("device", None, "--device must be of type str"),
    ("schemes", "xavier", r"--init must be of type List\[str\], got 'xavier'"),
    ("seeds", 3, r"--seeds must be of type List\[int\], got 3"),
    ("seeds", [1.5], r"--seeds must be of type List\[int\]"),
    ("seeds", [-1], r"seeds must lie in 0\.\.4294967295"),
    ("seeds", [2 ** 40], r"seeds must lie in 0\.\.4294967295"),
    ("seeds", [0, 0], "seeds lists 0 more than once"),
    ("schemes", ["bal_o", "bal_o"], "--init lists bal_o more than once"),
    ("epochs", "5", "--epochs must be of type int"),
    ("epochs", 10 ** 20, r"--epochs must be a positive integer \(at most 1e\+09\)"),
    ("hidden", True, "--hidden must be of type int"),
    ("lr", "0.1", r"--lr must be of type Optional\[float\]"),
    ("lr", 1e308, r"--lr must be a positive finite number \(at most 3.4e\+38\)"),
    ("bias", 1, "--bias must be of type bool"),
])
def test_a_value_of_the_wrong_type_or_range_is_refused_naming_the_option(field, value,
                                                                          message):
    with pytest.raises(ValueError, match=message):
        validate_config(TrainConfig(**{field: value}))


def test_the_defaults_pass():
    validate_config(TrainConfig())


@pytest.mark.parametrize("sweep, message", [
    (SweepConfig(datasets="synthetic"), r"--dataset must be a non-empty List\[str\]"),
    (SweepConfig(datasets=["synthetic"], depths=2), r"--layers must be a non-empty List\[int\]"),
    (SweepConfig(datasets=["synthetic"], depths=[]), "--layers must be a non-empty"),
    (SweepConfig(datasets=["synthetic", "synthetic"]), "--dataset lists synthetic more than once"),
])
def test_a_malformed_sweep_grid_is_refused(tmp_path, sweep, message):
    with pytest.raises(ValueError, match=message):
        run_sweep(sweep, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_sweep_into_a_file_is_refused_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        run_sweep(SweepConfig(datasets=["synthetic"], depths=[2]), tmp_path / "file",
                  progress=False)


def test_prepare_output_dir_creates_and_checks_the_folders(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "b", folders=("runs",), files=("x.json",))
    assert (out / "runs").is_dir()
    (out / "x.json").mkdir()
    with pytest.raises(ValueError, match="x.json is a directory"):
        prepare_output_dir(out, files=("x.json",))


@pytest.mark.parametrize("settings, message", [
    (dict(model="gcn", heads=2), "--heads has no effect without --model gat"),
    (dict(model="sage", conv="gat"), "--conv has no effect without --model gat"),
    (dict(model="gcn", share_weights=False), "--no-share-weights has no effect without --model"),
    (dict(rebalance_every=3), "--rebalance-every has no effect without --rebalance"),
    (dict(conv="gat", share_weights=False), "--no-share-weights has no effect without --model "
                                            "gat --conv gatv2"),
    (dict(layers=2, skip=True), "--skip has no effect without --layers 3 or more"),
    (dict(layers=1, heads=4, protocol="paper"), r"--heads has no effect without --model gat "
                                                r"\(and, at --layers 1, --protocol dglbal"),
    (dict(model="gcn", layers=1, dropout=0.5), "--dropout has no effect without --layers 2"),
    (dict(model="sage", layers=1, dropout=0.5), "--dropout has no effect without --layers 2"),
    (dict(batch_size=7), "--batch-size has no effect without --minibatch"),
    (dict(fanout=3), "--fanout has no effect without --minibatch"),
    (dict(layers=10 ** 10), r"--layers must be a positive integer \(at most 1e\+09\)"),
    (dict(layers=0), r"--layers must be a positive integer"),
    (dict(logit_spread=0.1, schemes=["bal_o"]), "--logit-spread has no effect without a "
                                                "data-scaled --init scheme"),
    (dict(dataset="Cora"), r"--dataset must be one of .* \(lower-case\), got 'Cora'"),
    (dict(balance_beta=4.0), "--balance-beta has no effect without a balanced --init scheme"),
    (dict(balance_beta=4.0, schemes=["xavier", "ll_ortho", "he"]), "--balance-beta has no "
                                                                    "effect without"),
    (dict(balance_beta=4.0, schemes=["bal_o_data"]), "not bal_o_data, whose data scale undoes "
                                                     "any beta"),
    (dict(balance_beta=0.0, schemes=["bal_x"]), "--balance-beta must be a positive finite"),
    (dict(balance_beta=-2.0, schemes=["bal_x"]), "--balance-beta must be a positive finite"),
    (dict(balance_beta=float("nan"), schemes=["bal_o"]), "--balance-beta must be a positive"),
    (dict(balance_beta=float("inf"), schemes=["bal_o"]), "--balance-beta must be a positive"),
    (dict(balance_beta=True, schemes=["bal_o"]), r"--balance-beta must be of type "
                                                 r"Optional\[float\], got True"),
    # one layer maps the features to the classes: no hidden width, no rescale group
    *[(dict(model=model, layers=1, hidden=8), "--hidden has no effect without --layers 2")
      for model in ("gat", "gcn", "sage", "gin")],
    (dict(model="gcn", layers=1, rebalance="norms"), "--rebalance has no effect without "
                                                     "--layers 2 or more"),
    (dict(layers=1, rebalance="relgrad"), "--rebalance has no effect without --layers 2"),
    (dict(model="gcn", layers=1, schemes=["bal_x"], balance_beta=4.0),
     r"--balance-beta has no effect without .* and --layers 2 or more"),
])
def test_an_option_that_would_be_ignored_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        validate_config(TrainConfig(**settings))


@pytest.mark.parametrize("settings", [
    dict(model="gat", heads=2, conv="gat"),
    dict(model="gat", conv="gatv2", share_weights=False),
    dict(layers=3, skip=True),
    dict(layers=1, heads=2),  # the dglbal protocol's last layer has the heads
    dict(layers=2, heads=2, protocol="paper"),
    dict(layers=1, dropout=0.5),  # GAT: on the attention
    dict(model="gcn", layers=2, dropout=0.5),
    dict(minibatch=True, batch_size=7, fanout=3),
    dict(rebalance="norms", rebalance_every=3, rebalance_sweeps=2),
    dict(logit_spread=0.1, schemes=["xavier", "bal_o_data"]),
    dict(balance_beta=4.0, schemes=["xavier", "bal_x"]),
    dict(balance_beta=0.5, schemes=["bal_o", "bal_o_data"]),
])
def test_the_same_options_where_they_act_are_accepted(settings):
    validate_config(TrainConfig(**settings))


def test_sampling_options_are_accepted_for_a_distributed_run():
    """DistDGL samples with --batch-size and --fanout whether or not --minibatch is given."""
    validate_config(TrainConfig(batch_size=7, fanout=3), distributed=True)


def _model(settings, train=False):
    """The model build_model makes (seed 0) and its output on a small graph (dropout drawn
    with seed 1 in training mode)."""
    import dgl
    import torch
    from dglbal.data import make_synthetic
    from dglbal.experiments.train import build_model

    graph = dgl.add_self_loop(make_synthetic(num_nodes=200))
    torch.manual_seed(0)
    model = build_model(TrainConfig(hidden=4, **settings), "xavier",
                        graph.ndata["feat"].shape[1], 3, graph)
    model.train(train)
    torch.manual_seed(1)
    return model.state_dict(), model(graph, graph.ndata["feat"])


def _same(a, b):
    (state_a, out_a), (state_b, out_b) = a, b
    return (state_a.keys() == state_b.keys() and all(torch_equal(state_a[k], state_b[k])
                                                     for k in state_a)
            and torch_equal(out_a, out_b))


def torch_equal(x, y):
    import torch
    return x.shape == y.shape and torch.equal(x, y)


@pytest.mark.parametrize("base, option", [
    (dict(conv="gat", layers=3), dict(share_weights=False)),
    (dict(layers=2), dict(skip=True)),
    (dict(layers=1, protocol="paper"), dict(heads=4)),
    (dict(model="gcn", layers=1), dict(dropout=0.5)),
])
def test_the_refused_combinations_build_the_same_model(base, option):
    """What validate_config refuses truly has no effect: same weights, same outputs (dropout
    in training mode)."""
    train = "dropout" in option
    assert _same(_model(base, train), _model({**base, **option}, train))


@pytest.mark.parametrize("base, option", [
    (dict(conv="gatv2", layers=3), dict(share_weights=False)),
    (dict(layers=3), dict(skip=True)),
    (dict(layers=1), dict(heads=4)),
    (dict(layers=2, protocol="paper"), dict(heads=4)),
    (dict(model="gcn", layers=2), dict(dropout=0.5)),
    (dict(layers=1), dict(dropout=0.5)),
])
def test_the_accepted_neighbours_do_change_the_model(base, option):
    train = "dropout" in option
    assert not _same(_model(base, train), _model({**base, **option}, train))


@pytest.mark.parametrize("scheme, beta, expected", [
    ("bal_x", None, 2.0), ("bal_x", 4.0, 4.0), ("bal_o", 0.5, 0.5), ("xavier", 4.0, None),
    ("bal_o_data", 4.0, 2.0), ("ll_ortho", None, None)])
def test_beta_of_is_the_beta_each_run_balances_with(scheme, beta, expected):
    assert TrainConfig(balance_beta=beta).beta_of(scheme) == expected
