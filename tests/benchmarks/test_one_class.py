"""benchmarks/one_class.py: the accuracy of predicting one class for every node."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(os.environ.get("DGLBAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def test_rates_are_the_class_shares_largest_first(one_class):
    labels = torch.tensor([2, 0, 2, 2, 1, 2, 0, 2])
    assert one_class.rates_of(labels) == (62.5, 25.0, 12.5)
    assert one_class.rates_of(torch.tensor([1, 1, 1])) == (100.0, 0.0)  # class 0 absent
    assert one_class.rates_of(torch.tensor([1, 1, 1]), classes=3) == (100.0, 0.0, 0.0)


@pytest.mark.skipif(not (SHARED / "heterophilous" / "texas.npz").exists(),
                    reason=f"no local datasets at {SHARED} (set DGLBAL_DATA)")
def test_texas_split_one_is_read_from_the_file(one_class, monkeypatch):
    monkeypatch.setenv("DGLBAL_DATA", str(SHARED))
    data = np.load(SHARED / "heterophilous" / "texas.npz")
    test = data["node_labels"][data["test_masks"][1].astype(bool)]  # masks: (splits, nodes)
    shares = np.bincount(test) / len(test) * 100
    rates = one_class.one_class_rates("texas", "paper", 1)
    np.testing.assert_allclose(rates, sorted(shares, reverse=True))
    table = one_class.table(["texas"], "paper", 1)
    assert f"| texas | {len(test)} | {max(shares):.1f} |" in table
