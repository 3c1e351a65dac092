"""Bad dataset files and arguments name the file and the dataset."""
import shutil
import warnings

import numpy as np
import pytest

from dglbal.data import DatasetFileError, load_dataset



def _arrays(nodes=6, splits=3):
    rng = np.random.default_rng(0)
    masks = np.zeros((splits, nodes), dtype=bool)
    masks[:, :2] = True
    return dict(node_features=rng.random((nodes, 4)).astype(np.float32),
                node_labels=np.arange(nodes) % 2,
                edges=np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]),
                train_masks=masks, val_masks=np.roll(masks, 2, axis=1),
                test_masks=np.roll(masks, 4, axis=1))


def _write(tmp_path, **changes):
    arrays = {**_arrays(), **changes}
    np.savez(tmp_path / "texas.npz", **{k: v for k, v in arrays.items() if v is not None})
    return tmp_path / "texas.npz"


def test_a_well_formed_file_loads(tmp_path):
    _write(tmp_path)
    graph = load_dataset("texas", str(tmp_path))
    assert graph.num_nodes() == 6 and graph.num_edges() == 2 * 5 + 6


def test_edges_stored_as_2_by_e_are_read_as_e_edges(tmp_path):
    rows = load_dataset("texas", str(_write(tmp_path).parent))
    _write(tmp_path, edges=_arrays()["edges"].T.copy())
    columns = load_dataset("texas", str(tmp_path))
    assert columns.num_edges() == rows.num_edges() == 16
    assert sorted(zip(*map(list, columns.edges()))) == sorted(zip(*map(list, rows.edges())))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"])
def test_a_corrupted_npz_names_the_file_and_dataset(tmp_path, content):
    (tmp_path / "texas.npz").write_bytes(content)
    with pytest.raises(DatasetFileError, match=rf"dataset 'texas': {tmp_path}/texas.npz is not a "
                                               "readable npz"):
        load_dataset("texas", str(tmp_path))


def test_a_truncated_npz_names_the_file(tmp_path):
    path = _write(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetFileError, match=f"{path}"):
        load_dataset("texas", str(tmp_path))


@pytest.mark.parametrize("changes, message", [
    (dict(node_features=np.full((6, 4), np.nan, dtype=np.float32)), "NaN or inf in 6 rows"),
    (dict(node_features=np.full((6, 4), 1e300)), r"node_features hold values beyond float32 "
                                                 r"\(largest magnitude 1e\+300\) in 6 rows"),
    (dict(node_labels=np.zeros(5, dtype=np.int64)),
     r"node_labels has shape \(5,\), expected \(6,\)"),
    (dict(train_masks=np.zeros((3, 7), dtype=bool)), r"train_masks has shape \(3, 7\)"),
    (dict(test_masks=np.zeros(6, dtype=bool)), r"test_masks has shape \(6,\)"),
    (dict(edges=np.array([[0, 9]])), r"node ids 0\.\.9, the file has 6 nodes"),
    (dict(edges=np.arange(12).reshape(3, 4)), r"edges has shape \(3, 4\)"),
    (dict(edges=np.array([[0.0, 1.0], [1.0, 2.0]])), "integer node ids"),
    (dict(val_masks=None), r"lacks the arrays \['val_masks'\]"),
    (dict(node_labels=np.array([0, 1, 0, 10**12, 0, 1])),
     r"node_labels use classes 0\.\.1000000000000 but only 3 of them occur \(first missing: "
     r"2\)"),
    (dict(node_labels=np.array([0, 1, 2**63 + 5, 1, 0, 1], dtype=np.uint64)),
     r"node_labels hold 9223372036854775813, beyond int64"),
])
def test_malformed_arrays_name_the_file(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(DatasetFileError, match=rf"dataset 'texas': {path}: .*{message}|{message}"):
        load_dataset("texas", str(tmp_path))


@pytest.mark.parametrize("split", [0, 2])
def test_overlapping_masks_are_refused(tmp_path, split):
    masks = _arrays()["train_masks"].copy()
    masks[split, 4] = True  # node 4 is also a test node of every split
    path = _write(tmp_path, train_masks=masks)
    with pytest.raises(DatasetFileError, match=rf"{path} \(split {split}\): train_masks and "
                                               r"test_masks share 1 node \(first: node 4\)"), \
            warnings.catch_warnings():
        warnings.simplefilter("error")  # the error, not a warning of the same overlap first
        load_dataset("texas", str(tmp_path), split=split)
    load_dataset("texas", str(tmp_path), split=1)  # the other splits are sound


@pytest.mark.parametrize("changes, message", [
    (dict(val_masks=np.ones((2, 6), dtype=bool)), r"the mask arrays hold different numbers "
                                                  r"of splits: train 3, val 2, test 3"),
    (dict(train_masks=np.zeros((0, 6), dtype=bool), val_masks=np.zeros((0, 6), dtype=bool),
          test_masks=np.zeros((0, 6), dtype=bool)), "the mask arrays hold no split")])
def test_mask_arrays_must_hold_the_same_splits(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    for split in (0, 2):
        with pytest.raises(DatasetFileError, match=rf"dataset 'texas': {path}: {message}"):
            load_dataset("texas", str(tmp_path), split=split)


@pytest.mark.parametrize("name", [None, 3, "imagenet"])
def test_an_unknown_dataset_name_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"unknown dataset {name!r}; choose from synthetic"):
        load_dataset(name)


@pytest.mark.parametrize("split", [1.5, "1", True, None])
def test_a_split_that_is_not_an_integer_is_a_clear_error(split):
    with pytest.raises(ValueError, match="split must be an integer"):
        load_dataset("synthetic", split=split)


@pytest.mark.needs_data("planetoid")
@pytest.mark.parametrize("part", ["graph", "x", "test.index"])
def test_a_corrupted_planetoid_file_is_named(tmp_path, shared_data, part):
    for source in (shared_data / "planetoid").glob("ind.cora.*"):
        shutil.copy(source, tmp_path / source.name)
    (tmp_path / f"ind.cora.{part}").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetFileError, match=rf"dataset 'cora': {tmp_path}/ind\.cora\.{part} "
                                               "could not be read"):
        load_dataset("cora", str(tmp_path))


@pytest.mark.parametrize("kwargs, message", [
    (dict(root=123), "root must be a directory path"),
    (dict(root=""), r"root must be a directory path .*got '' \(leave it None"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(seed=1.5), "seed must be an integer >= 0"),
])
def test_a_bad_root_or_seed_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("synthetic", **kwargs)


@pytest.mark.parametrize("name", ["synthetic", "cora", "citeseer", "pubmed"])
@pytest.mark.parametrize("split", [77, -5, 0, 2])
def test_a_split_of_a_set_with_a_single_split_is_refused(name, split):
    with pytest.raises(ValueError, match=rf"dataset {name!r} has a single split: leave split at "
                                         rf"its default 1, got split={split} \(only the "
                                         r"heterophilous sets .*: actor, chameleon"):
        load_dataset(name, split=split)


def test_the_default_split_of_a_set_with_a_single_split_loads():
    assert load_dataset("synthetic", split=1).num_nodes() == load_dataset("synthetic").num_nodes()
