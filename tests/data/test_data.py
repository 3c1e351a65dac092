"""Datasets: the synthetic default, local planetoid and heterophilous files, errors."""

import pickle
import shutil
import warnings

import pytest
import torch

from dglbal.data import (DatasetFileError, DatasetNotFoundError, load_dataset, make_synthetic,
                         num_classes, row_normalize)
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
    a, b, c = (load_dataset("synthetic"), load_dataset("synthetic"),
               load_dataset("synthetic", seed=1))
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
    one, two = (load_dataset("cornell", str(shared_data)),
                load_dataset("cornell", str(shared_data), split=2))
    assert one.num_nodes() == 183
    assert not torch.equal(one.ndata["train_mask"], two.ndata["train_mask"])
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


def _planetoid_file(shared_data, name, part):
    path = shared_data / "planetoid" / f"ind.{name}.{part}"
    if part == "test.index":
        return [int(line) for line in path.read_text().split()]
    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.sparse.csr in the pickles
        return torch.from_numpy(pickle.load(handle, encoding="latin1").toarray())


@pytest.mark.needs_data("planetoid")
@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_planetoid_default_features_are_the_ones_the_results_were_run_on(
        shared_data, assert_pinned_planetoid_features, name):
    assert_pinned_planetoid_features(name, load_dataset(name, str(shared_data)).ndata["feat"])
    assert_pinned_planetoid_features(
        name, load_dataset(name, str(shared_data), normalize=True).ndata["feat"])


@pytest.mark.needs_data("planetoid")
@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_planetoid_normalize_false_keeps_the_files_features(shared_data, name):
    raw = load_dataset(name, str(shared_data), normalize=False)
    normalized = load_dataset(name, str(shared_data))
    feat = raw.ndata["feat"]
    x, allx, tx = (_planetoid_file(shared_data, name, p) for p in ("x", "allx", "tx"))
    test_index = _planetoid_file(shared_data, name, "test.index")
    assert feat.dtype == torch.float32 and set(feat.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(feat[:len(x)], x) and torch.equal(feat[:len(allx)], allx)
    assert torch.equal(feat[test_index], tx)
    others = torch.ones(len(feat), dtype=torch.bool)
    others[:len(allx)] = others[test_index] = False
    assert not feat[others].any()  # Citeseer's test nodes missing from tx
    assert torch.allclose(row_normalize(feat), normalized.ndata["feat"], rtol=0, atol=1e-7)
    for key in ("label", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(raw.ndata[key], normalized.ndata[key])
    assert torch.equal(raw.edges()[0], normalized.edges()[0])


class _Downloaded:
    """Stands for a DGL planetoid class after a download into ``raw_path``."""

    def __init__(self, graph, raw_path):
        self.name, self.raw_path, self._graph = "cora_v2", str(raw_path), graph

    def __getitem__(self, index):
        return self._graph


@pytest.mark.needs_data("planetoid")
def test_planetoid_download_path_reads_the_raw_features_dgl_downloaded(
        tmp_path, shared_data, monkeypatch):
    graph = planetoid.load_planetoid("cora", shared_data)
    for source in (shared_data / "planetoid").glob("ind.cora.*"):
        shutil.copy(source, tmp_path / source.name.replace("cora", "cora_v2"))
    monkeypatch.setitem(planetoid.DGL_CLASSES, "cora",
                        lambda raw_dir, verbose: _Downloaded(graph.clone(), tmp_path))
    raw = load_dataset("cora", str(tmp_path / "elsewhere"), normalize=False).ndata["feat"]
    assert torch.equal(raw[:140], _planetoid_file(shared_data, "cora", "x"))
    (tmp_path / "ind.cora_v2.tx").unlink()
    with pytest.raises(DatasetFileError, match=rf"'cora': the raw features of {tmp_path}/ind"
                                               r"\.cora_v2\.allx, \.tx, \.test\.index could not"):
        load_dataset("cora", str(tmp_path / "elsewhere"), normalize=False)


@pytest.mark.needs_data("planetoid")
def test_planetoid_raw_features_out_of_line_with_dgls_are_refused(shared_data, monkeypatch):
    moved = planetoid.load_planetoid("cora", shared_data)
    moved.ndata["feat"] = moved.ndata["feat"].roll(1, dims=0)
    monkeypatch.setattr(planetoid, "_from_local_files", lambda name, folder: moved)
    with pytest.raises(DatasetFileError, match="'cora': the raw features of .*ind.cora.allx and "
                                               ".tx do not line up"):
        load_dataset("cora", str(shared_data), normalize=False)
