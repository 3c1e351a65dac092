"""make_synthetic takes numpy's integers and floats as Python's, and names any other kind of
argument (before: a misleading "too small", numpy's or Python's own TypeError)."""
import numpy as np
import pytest
import torch

from dglbal.data import make_synthetic


def test_numpy_numbers_make_the_same_graph_as_python_numbers():
    plain = make_synthetic(num_nodes=300, num_classes=3, num_features=40, avg_degree=4.0,
                           seed=2)
    numpy = make_synthetic(num_nodes=np.int64(300), num_classes=np.int32(3),
                           num_features=np.int64(40), avg_degree=np.float32(4.0),
                           seed=np.int64(2))
    assert torch.equal(plain.edges()[0], numpy.edges()[0])
    for key in ("feat", "label", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(plain.ndata[key], numpy.ndata[key])


@pytest.mark.parametrize("option, value, wanted", [
    ("num_nodes", 300.0, "an integer"),
    ("num_nodes", "300", "an integer"),
    ("avg_degree", "8", "a finite number >= 0"),
    ("homophily", None, r"in \[0, 1\]"),
    ("signal", "0.3", r"in \[0, 1\]"),
    ("seed", -1, "an integer >= 0"),
    ("seed", 1.5, "an integer >= 0"),
    ("num_classes", True, "an integer >= 2"),
])
def test_an_argument_of_the_wrong_kind_is_named(option, value, wanted):
    with pytest.raises(ValueError, match=rf"make_synthetic: {option} must be {wanted}, "
                                         rf"got {value!r}"):
        make_synthetic(**{"num_nodes": 300, option: value})


def test_too_few_nodes_is_still_told_as_such():
    with pytest.raises(ValueError, match="num_nodes=102 is too small for 5 classes"):
        make_synthetic(num_nodes=np.int64(102))
