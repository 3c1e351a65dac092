"""row_normalize's rows sum to 1 however large the entries (no float32 overflow of the sums),
and non-finite features are named instead of turned into NaN rows."""
import numpy as np
import pytest
import torch

from dglbal.data import row_normalize


def test_rows_whose_float32_sum_overflows_still_sum_to_one():
    """[3e38, 3e38] summed to inf in float32 and the row came back all zero."""
    feat = torch.tensor([[3e38, 3e38, 0.0], [1.0, 3.0, 0.0]])
    out = row_normalize(feat)
    assert out.dtype == torch.float32
    assert out.tolist() == [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]]


def test_float64_features_beyond_float32_are_normalized_not_nan():
    """A float64 row [1e300, 1] was cast to float32 first: [inf, 1], then a NaN row."""
    out = row_normalize(torch.tensor([[1e300, 1.0], [2.0, 2.0]], dtype=torch.float64))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert out.tolist() == [[1.0, 0.0], [0.5, 0.5]]


def test_ordinary_features_keep_their_float32_bits():
    gen = torch.Generator().manual_seed(0)
    feat = torch.rand(50, 7, generator=gen) * (torch.rand(50, 7, generator=gen) < 0.3)
    sums = feat.sum(dim=1, keepdim=True)
    expected = torch.where(sums > 0, feat / sums.clamp(min=np.finfo(np.float32).tiny), feat)
    assert torch.equal(row_normalize(feat), expected)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_features_are_named(bad):
    feat = torch.ones(4, 3)
    feat[2, 1] = bad
    with pytest.raises(ValueError, match=r"row_normalize: the features hold NaN or inf in 1 "
                                         r"rows \(first: row 2\)"):
        row_normalize(feat)
