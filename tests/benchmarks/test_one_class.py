"""benchmarks/one_class.py: the accuracy of predicting one class for every node."""

import numpy as np
import pytest
import torch



def test_rates_are_the_class_shares_largest_first(one_class):
    labels = torch.tensor([2, 0, 2, 2, 1, 2, 0, 2])
    assert one_class.rates_of(labels) == (62.5, 25.0, 12.5)
    assert one_class.rates_of(torch.tensor([1, 1, 1])) == (100.0, 0.0)  # class 0 absent
    assert one_class.rates_of(torch.tensor([1, 1, 1]), classes=3) == (100.0, 0.0, 0.0)


@pytest.mark.needs_data("heterophilous/texas.npz")
def test_texas_split_one_is_read_from_the_file(one_class, shared_data, monkeypatch):
    monkeypatch.setenv("DGLBAL_DATA", str(shared_data))
    data = np.load(shared_data / "heterophilous" / "texas.npz")
    test = data["node_labels"][data["test_masks"][1].astype(bool)]  # masks: (splits, nodes)
    shares = np.bincount(test) / len(test) * 100
    rates = one_class.one_class_rates("texas", "paper", 1)
    np.testing.assert_allclose(rates, sorted(shares, reverse=True))
    table = one_class.table(["texas"], "paper", 1)
    assert f"| texas | {len(test)} | {max(shares):.1f} |" in table
