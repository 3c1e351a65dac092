"""A graph's node data is checked in one place, for the loaders and the training API:
empty masks, fractional or negative labels, unlabelled nodes, empty graphs."""
import warnings

import dgl
import numpy as np
import pytest
import torch

from dglbal.data import (DatasetFileError, GraphDataError, OverlappingMasksWarning,
                         UnlabelledNodesWarning, check_node_data, load_dataset, make_synthetic)
from dglbal.experiments.train import train_node_classifier
from dglbal.nn import GCN


@pytest.fixture
def graph():
    return make_synthetic(num_nodes=150, num_features=30, seed=0)


def _with(graph, **ndata):
    graph = graph.local_var()
    graph.ndata.update(ndata)
    return graph


@pytest.mark.parametrize("mask", ["train_mask", "val_mask", "test_mask"])
def test_an_all_false_mask_is_refused_naming_it(graph, mask):
    empty = _with(graph, **{mask: torch.zeros(graph.num_nodes(), dtype=torch.bool)})
    with pytest.raises(GraphDataError, match=f"my graph: {mask} selects no node"):
        check_node_data(empty, "my graph")
    with pytest.raises(GraphDataError, match=f"{mask} selects no node"):  # the Python API
        train_node_classifier(GCN(30, 4, 5, num_layers=2), empty, epochs=1)


def test_fractional_labels_are_refused_and_whole_float_labels_accepted(graph):
    label = graph.ndata["label"].double()
    whole = check_node_data(_with(graph, label=label))
    assert whole.ndata["label"].dtype == torch.int64
    assert torch.equal(whole.ndata["label"], graph.ndata["label"])
    assert graph.ndata["label"].dtype == torch.int64  # the caller's graph is untouched
    label[7] = 1.5
    with pytest.raises(GraphDataError, match=r"not whole numbers \(first: node 7, 1.5\)"):
        check_node_data(_with(graph, label=label))
    label[7] = float("nan")
    with pytest.raises(GraphDataError, match="not whole numbers"):
        check_node_data(_with(graph, label=label))


def test_unlabelled_nodes_leave_the_masks_with_a_warning(graph):
    label = graph.ndata["label"].clone()
    train = torch.nonzero(graph.ndata["train_mask"]).squeeze(1)
    label[train[:3]] = -1
    marked = _with(graph, label=label)
    with pytest.warns(UnlabelledNodesWarning, match="train_mask 3 of 100"):
        checked = check_node_data(marked)
    assert int(checked.ndata["train_mask"].sum()) == 97
    assert int(marked.ndata["train_mask"].sum()) == 100  # not modified in place
    torch.manual_seed(0)
    with pytest.warns(UnlabelledNodesWarning):  # trains instead of dying in cross entropy
        out = train_node_classifier(GCN(30, 4, 5, num_layers=2), marked, epochs=2)
    assert out["epochs"] == 2


def test_a_mask_of_only_unlabelled_nodes_and_other_negative_labels_are_refused(graph):
    label = graph.ndata["label"].clone()
    label[graph.ndata["val_mask"]] = -1
    with pytest.raises(GraphDataError, match="every node of val_mask is unlabelled"):
        check_node_data(_with(graph, label=label))
    label = graph.ndata["label"].clone()
    label[4] = -2
    with pytest.raises(GraphDataError, match=r"negative classes \(first: node 4, -2\)"):
        check_node_data(_with(graph, label=label))


def test_labels_past_the_models_outputs_are_refused_naming_both(graph):
    torch.manual_seed(0)
    with pytest.raises(GraphDataError, match=r"labels go up to 4 \(5 classes\) but the model "
                                             "has 3 outputs"):
        train_node_classifier(GCN(30, 4, 3, num_layers=2), graph, epochs=1)


@pytest.mark.parametrize("change, message", [
    (dict(train_mask=lambda n: torch.full((n,), 2)), "train_mask must be boolean"),
    (dict(val_mask=lambda n: torch.ones(n, 2, dtype=torch.bool)), r"val_mask has shape \(150, 2\)"),
    (dict(label=lambda n: torch.zeros(n, 1, dtype=torch.long)), r"label has shape \(150, 1\)"),
    (dict(feat=lambda n: torch.ones(n)), "feat must be 2-D"),
    (dict(feat=lambda n: torch.full((n, 2), float("inf"))), "NaN or inf in 150 rows"),
])
def test_malformed_node_data_is_named(graph, change, message):
    (name, make), = change.items()
    with pytest.raises(GraphDataError, match=message):
        check_node_data(_with(graph, **{name: make(graph.num_nodes())}))


def test_zero_one_integer_masks_are_read_as_booleans(graph):
    checked = check_node_data(_with(graph, train_mask=graph.ndata["train_mask"].long()))
    assert torch.equal(checked.ndata["train_mask"], graph.ndata["train_mask"])


def test_missing_node_data_and_empty_graphs_are_refused(graph):
    del graph.ndata["test_mask"]
    with pytest.raises(GraphDataError, match="no node data 'test_mask'"):
        check_node_data(graph)
    with pytest.raises(GraphDataError, match="the graph has no nodes"):
        check_node_data(dgl.graph(([], []), num_nodes=0))
    with pytest.raises(GraphDataError, match="expected a dgl.DGLGraph"):
        check_node_data("cora")


def test_a_well_formed_graph_is_returned_unchanged(graph):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_node_data(graph) is graph


def test_small_synthetic_graphs_still_have_validation_and_test_nodes():
    for nodes in (103, 300, 1000):
        g = make_synthetic(num_nodes=nodes)
        sizes = [int(g.ndata[f"{p}_mask"].sum()) for p in ("train", "val", "test")]
        assert sizes[0] == 100 and sizes[1] >= 1 and sizes[2] >= 2 and sum(sizes) <= nodes
    with pytest.raises(ValueError, match="too small"):
        make_synthetic(num_nodes=102)


def _npz(tmp_path, **changes):
    masks = np.zeros((2, 6), dtype=bool)
    masks[:, :2] = True
    arrays = dict(node_features=np.eye(6, 4, dtype=np.float32), node_labels=np.arange(6) % 2,
                  edges=np.array([[0, 1], [1, 2], [2, 3]]), train_masks=masks,
                  val_masks=np.roll(masks, 2, axis=1), test_masks=np.roll(masks, 4, axis=1))
    arrays.update(changes)
    np.savez(tmp_path / "texas.npz", **arrays)
    return tmp_path / "texas.npz"


@pytest.mark.parametrize("changes, message", [
    (dict(node_features=np.full((6, 4), "a")), "node_features must hold numbers, got dtype <U1"),
    (dict(node_labels=np.array(list("abcdef"))), "node_labels must hold numbers"),
    (dict(node_features=np.zeros((0, 4), np.float32), node_labels=np.zeros(0, int),
          edges=np.zeros((0, 2), int), train_masks=np.zeros((2, 0), bool),
          val_masks=np.zeros((2, 0), bool), test_masks=np.zeros((2, 0), bool)),
     r"node_features must be 2-D .* got shape \(0, 4\)"),
    (dict(node_features=np.zeros((6, 0), np.float32)), r"got shape \(6, 0\)"),
    (dict(node_labels=np.array([0, 1.5, 0, 1, 0, 1])), r"\(split 1\): label holds 1 values that "
                                                        "are not whole numbers"),
    (dict(train_masks=np.zeros((2, 6), bool)), r"\(split 1\): train_mask selects no node"),
])
def test_malformed_npz_content_names_the_file_and_array(tmp_path, changes, message):
    path = _npz(tmp_path, **changes)
    with pytest.raises(DatasetFileError, match=rf"dataset 'texas': {path}.*{message}"):
        load_dataset("texas", str(tmp_path))


def test_npz_with_unusual_but_valid_dtypes_loads(tmp_path):
    _npz(tmp_path, node_features=np.eye(6, 4, dtype=np.uint16),
         node_labels=np.array([0.0, 1, 0, 1, 0, 1]),
         train_masks=np.tile(np.array([1, 1, 0, 0, 0, 0], np.uint8), (2, 1)))
    g = load_dataset("texas", str(tmp_path))
    assert g.ndata["label"].tolist() == [0, 1, 0, 1, 0, 1]
    assert g.ndata["train_mask"].dtype == torch.bool
    assert g.ndata["train_mask"].tolist() == [True, True] + [False] * 4


@pytest.mark.parametrize("option, value", [("num_features", 12), ("num_classes", 1),
                                           ("homophily", 1.5), ("signal", -0.1),
                                           ("avg_degree", float("nan")), ("words_per_node", 0)])
def test_make_synthetic_refuses_settings_it_cannot_honour(option, value):
    with pytest.raises(ValueError, match=f"make_synthetic: {option} must be"):
        make_synthetic(num_nodes=300, **{option: value})


def test_a_graph_of_several_node_types_is_refused_naming_them(graph):
    """Its ndata holds one tensor per node type: an AttributeError from inside the check."""
    hetero = dgl.heterograph({("paper", "cites", "paper"): ([0, 1], [1, 2]),
                              ("author", "writes", "paper"): ([0, 1], [0, 2])})
    hetero.nodes["paper"].data["feat"] = torch.ones(3, 2)
    hetero.nodes["paper"].data["label"] = torch.tensor([0, 1, 0])
    for node, mask in enumerate(("train_mask", "val_mask", "test_mask")):
        hetero.nodes["paper"].data[mask] = torch.arange(3) == node
    with pytest.raises(GraphDataError, match=r"my graph: a graph of one node type is needed, "
                                             r"got 2: author, paper"):
        check_node_data(hetero, "my graph")
    with pytest.raises(GraphDataError, match="one node type"):  # the Python API
        train_node_classifier(GCN(2, 4, 2, num_layers=2), hetero, epochs=1)
    one_type = dgl.heterograph({("paper", "cites", "paper"): ([0, 1], [1, 2]),
                                ("paper", "extends", "paper"): ([2], [0])})
    one_type.ndata.update(hetero.nodes["paper"].data)
    assert check_node_data(one_type) is one_type  # several edge types, one node type


@pytest.mark.parametrize("first, second", [("train_mask", "test_mask"),
                                           ("train_mask", "val_mask"),
                                           ("val_mask", "test_mask")])
def test_masks_that_share_nodes_are_named_in_a_warning(graph, first, second):
    """A test mask holding training nodes scored them silently (an inflated accuracy)."""
    shared = graph.ndata[first] | graph.ndata[second]
    overlapping = _with(graph, **{first: shared, second: shared})
    count = int((graph.ndata[first] | graph.ndata[second]).sum())
    with pytest.warns(OverlappingMasksWarning,
                      match=rf"my graph: {first} and {second} share {count} of the graph's "
                            rf"nodes \(first: node \d+\)") as caught:
        checked = check_node_data(overlapping, "my graph")
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller
    assert checked is overlapping  # the masks are the user's, kept as they are
