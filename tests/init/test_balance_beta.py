"""The beta of the balanced schemes (``balance_beta``): what it sets, where it is refused."""
import math

import pytest
import torch

from dglbal.init import feature_weights, get_scheme
from dglbal.nn import GAT, GCN, GIN, SAGE

from test_data_scale import graph_and_features, relative_imbalance


@pytest.mark.parametrize("builder", [GAT, GCN, SAGE, GIN])
@pytest.mark.parametrize("scheme", ["bal_x", "bal_o"])
@pytest.mark.parametrize("beta", [0.5, 4.0])
def test_balance_beta_scales_every_weight_by_sqrt_beta_over_two_and_keeps_the_balance(
        builder, scheme, beta):
    torch.manual_seed(0)
    own = builder(12, 8, 3, num_layers=5, init=scheme)
    torch.manual_seed(0)
    chosen = builder(12, 8, 3, num_layers=5, init=scheme, balance_beta=beta)
    assert (own.balance_beta, chosen.balance_beta) == (2.0, beta)
    for (name, a), (_, b) in zip(own.named_parameters(), chosen.named_parameters()):
        torch.testing.assert_close(b, math.sqrt(beta / 2) * a, rtol=1e-5, atol=1e-7, msg=name)
    assert relative_imbalance(chosen) < 1e-6
    # each of the 8 first neurons has incoming squared norm beta (Procedure 2.6)
    first = sum(float((w ** 2).sum()) for w in feature_weights(chosen.layers[0]))
    assert first == pytest.approx(8 * beta, rel=1e-5)


def test_the_default_is_the_schemes_own_beta():
    torch.manual_seed(3)
    default = GAT(12, 8, 3, num_layers=4, init="bal_x")
    torch.manual_seed(3)
    explicit = GAT(12, 8, 3, num_layers=4, init="bal_x", balance_beta=2.0)
    for a, b in zip(default.parameters(), explicit.parameters()):
        assert torch.equal(a, b)


def test_bal_o_data_undoes_any_beta_so_it_takes_none():
    """Balancing with beta multiplies every weight by sqrt(beta / 2); the data scale then
    sets one overall factor, so bal_o_data's model is the same for every beta: a beta given
    to it would be ignored, and is refused."""
    assert not get_scheme("bal_o_data").tunable_beta
    assert get_scheme("bal_x").tunable_beta and get_scheme("bal_o").tunable_beta
    g, feat = graph_and_features()
    with pytest.raises(ValueError, match=r"balance_beta=4.0 has no effect with "
                                         r"init='bal_o_data': its data scale"):
        GAT(20, 8, 3, num_layers=4, init="bal_o_data", init_data=(g, feat), balance_beta=4.0)


@pytest.mark.parametrize("init", ["xavier", "he", "looks_linear", "ll_ortho"])
def test_a_beta_for_a_scheme_that_does_not_balance_is_refused(init):
    with pytest.raises(ValueError, match=rf"balance_beta=3.0 has no effect with init='{init}': "
                                         "it does not balance"):
        GAT(12, 8, 3, num_layers=4, init=init, balance_beta=3.0)


@pytest.mark.parametrize("init", ["xavier", "bal_o", "he"])
def test_a_logit_spread_for_a_scheme_without_a_data_scale_is_refused(init):
    """It was ignored: a model built as if its logits were set to another spread."""
    with pytest.raises(ValueError, match=rf"logit_spread=0.5 has no effect with init='{init}'"):
        GAT(12, 8, 3, num_layers=4, init=init, logit_spread=0.5)


@pytest.mark.parametrize("beta", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_a_beta_that_is_not_a_positive_finite_number_is_refused_before_any_draw(beta):
    with pytest.raises(ValueError, match="balance_beta must be a positive finite number"):
        GAT(12, 8, 3, num_layers=4, init="bal_o", balance_beta=beta)



def test_reset_parameters_balances_with_the_chosen_beta_again():
    model = GAT(12, 8, 3, num_layers=4, init="bal_x", balance_beta=4.0)
    model.reset_parameters()
    first = sum(float((w ** 2).sum()) for w in feature_weights(model.layers[0]))
    assert first == pytest.approx(8 * 4.0, rel=1e-5)
    assert relative_imbalance(model) < 1e-6
