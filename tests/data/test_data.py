"""Datasets: the synthetic default, local planetoid and heterophilous files, errors."""

import pytest
import torch

from dglbal.data import (DatasetNotFoundError, load_dataset, make_synthetic, num_classes,
    row_normalize)
from dglbal.data import planetoid



def assert_well_formed(g):
    n = g.num_nodes()
    src, dst = g.edges()
    assert int((src == dst).sum()) == n, "every node has exactly one self-loop"
    sums = g.ndata["feat"].sum(1)
    assert torch.all(((sums - 1).abs() < 1e-5) | (sums == 0))
    masks = [g.ndata[f"{p}_mask"] for p in ("train", "val", "test")]
    assert not any((a & b).any() for i, a in enumerate(masks) for b in masks[i + 1:])


def test_synthetic_is_deterministic_and_well_formed():
    a, b, c = load_dataset("synthetic"), load_dataset("synthetic"), load_dataset("synthetic", seed=1)
    assert torch.equal(a.ndata["feat"], b.ndata["feat"]) and torch.equal(a.edges()[0], b.edges()[0])
    assert not torch.equal(a.ndata["label"], c.ndata["label"])
    assert_well_formed(a)
    labels = a.ndata["label"][a.ndata["train_mask"]]
    assert torch.bincount(labels).tolist() == [20] * num_classes(a)


def test_synthetic_is_homophilous():
    g = make_synthetic(seed=3)
    src, dst = g.edges()
    same = (g.ndata["label"][src] == g.ndata["label"][dst]).float().mean()
    assert 0.6 < same < 0.9


def test_row_normalize_is_idempotent_and_keeps_zero_rows():
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    once = row_normalize(x)
    assert torch.equal(once, torch.tensor([[0.25, 0.75], [0.0, 0.0]]))
    assert torch.equal(row_normalize(once), once)


@pytest.mark.needs_data("planetoid")
@pytest.mark.parametrize("name,nodes,edges,feats,classes,split", [
    ("cora", 2708, 10556, 1433, 7, (140, 500, 1000)),
    ("citeseer", 3327, 9104, 3703, 6, (120, 500, 1000))])
def test_planetoid_from_local_files(shared_data, name, nodes, edges, feats, classes, split):
    g = load_dataset(name, str(shared_data))
    assert (g.num_nodes(), g.num_edges() - nodes, g.ndata["feat"].shape[1]) == (nodes, edges, feats)
    assert num_classes(g) == classes
    assert tuple(int(g.ndata[f"{p}_mask"].sum()) for p in ("train", "val", "test")) == split
    assert_well_formed(g)


@pytest.mark.needs_data("heterophilous/cornell.npz")
def test_heterophilous_splits(shared_data):
    one, two = load_dataset("cornell", str(shared_data)), load_dataset("cornell", str(shared_data), split=2)
    assert one.num_nodes() == 183 and not torch.equal(one.ndata["train_mask"], two.ndata["train_mask"])
    assert_well_formed(one)
    with pytest.raises(ValueError, match="splits 0..9"):
        load_dataset("cornell", str(shared_data), split=10)


def test_missing_npz_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"{tmp_path}.*texas.npz.*DGLBAL_DATA"):
        load_dataset("texas", str(tmp_path))


def test_missing_planetoid_says_where_it_looked(tmp_path, monkeypatch):
    class Offline:
        def __init__(self, **kwargs):
            raise ConnectionError("no network")

    monkeypatch.setitem(planetoid.DGL_CLASSES, "pubmed", Offline)
    with pytest.raises(DatasetNotFoundError, match=f"{tmp_path}/ind.pubmed.*download failed"):
        load_dataset("pubmed", str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'karate'"):
        load_dataset("karate")
