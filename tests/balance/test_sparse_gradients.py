"""Sparse gradients (nn.Embedding(sparse=True)): the residuals, the monitor and the Rebalancer
give what they give for the same model with dense gradients."""
import numpy as np
import torch
from torch import nn

import dglbal
from dglbal.balance import relative_residuals
from dglbal.balance.rebalance import Rebalancer

TOKENS = torch.tensor([1, 2, 3, 3, 7])


class Bag(nn.Module):
    def __init__(self, sparse: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(10, 4, sparse=sparse)
        self.hidden, self.out = nn.Linear(4, 5), nn.Linear(5, 2)

    def forward(self, tokens):
        return self.out(torch.relu(self.hidden(self.emb(tokens))))


def _pair():
    models = [Bag(sparse=True).double(), Bag(sparse=False).double()]
    report = dglbal.analyze(models[0], TOKENS)
    for model in models:
        model.zero_grad()
        (model(TOKENS) ** 2).sum().backward()
    assert models[0].emb.weight.grad.is_sparse
    return models, report


def test_residuals_and_monitor_match_dense_gradients():
    (sparse, dense), report = _pair()
    for function in (dglbal.conservation_residuals, relative_residuals):
        np.testing.assert_allclose(function(sparse, report), function(dense, report), atol=1e-12)
    monitors = [dglbal.ConservationMonitor(m, report) for m in (sparse, dense)]
    for monitor in monitors:
        monitor.record()
    a, b = (m.history for m in monitors)
    assert a["c"] == b["c"]
    np.testing.assert_allclose(a["delta"], b["delta"], atol=1e-12)
    np.testing.assert_allclose(list(a["rel_grad"][0].values()), list(b["rel_grad"][0].values()))


def test_rebalancer_matches_dense_gradients():
    (sparse, dense), report = _pair()
    for model in (sparse, dense):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        rebalancer = Rebalancer(model, report, every=1, optimizer=optimizer)
        assert rebalancer.step()
        assert float((rebalancer.last_factors.log()).abs().max()) > 1e-3  # it moved
        optimizer.step()
    assert sparse.emb.weight.grad.is_sparse
    for p, q in zip(sparse.parameters(), dense.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-14, atol=0)


def test_preserve_balancing_with_sparse_gradients_present_keeps_the_function():
    (sparse, _), _ = _pair()
    out = sparse(TOKENS).detach()
    report = dglbal.analyze_and_balance(sparse, TOKENS, mode="preserve")
    torch.testing.assert_close(sparse(TOKENS), out, rtol=1e-10, atol=1e-12)
    assert report.balance.max_relative_c < 1e-6
